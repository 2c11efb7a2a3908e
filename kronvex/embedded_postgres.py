"""The embedded PostgreSQL 16 + pgvector that runs when no DATABASE_URL is set.

The binaries come from the `pgserver` package. We do not use its `pg_ctl`-based
server handle: `pg_ctl` daemonises postgres, so a launcher killed with SIGKILL
would leave it orphaned. Instead the owning process starts `postgres` as its own
child with a parent-death signal, so the kernel stops postgres whenever its owner
dies, however it dies, and stops it itself on every orderly exit path.

Only one process owns a data folder's server; any other process (a second
`manage.py` command, the test suite while `make run` is up) finds it running
and connects to its unix socket without owning it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from kronvex.process import die_with_parent

logger = logging.getLogger(__name__)

DATABASE_NAME = "kronvex"
SUPERUSER = "postgres"
PORT = 5432
# Unix socket paths are limited to 107 bytes; deep checkouts put the socket in /tmp.
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 30.0


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or reached."""


def cluster_dir(data_dir: Path) -> Path:
    return data_dir / "postgres"


def socket_dir(data_dir: Path) -> Path:
    """Where the server's unix socket lives; a pure function of the data folder."""
    pgdata = cluster_dir(data_dir).resolve()
    if len(str(pgdata / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
        return pgdata
    digest = hashlib.sha1(str(pgdata).encode()).hexdigest()[:12]  # noqa: S324 - a name, not a secret
    return Path("/tmp") / f"kronvex-pg-{digest}"  # noqa: S108


def django_database(data_dir: Path) -> dict[str, object]:
    """The Django DATABASES entry that reaches the embedded server."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "PASSWORD": "",
        "HOST": str(socket_dir(data_dir)),
        "PORT": str(PORT),
    }


def _binaries() -> Path:
    # Located without importing pgserver, whose import has side effects we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver package is not installed; run `make run`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _running_as_root() -> bool:
    return os.geteuid() == 0


class EmbeddedPostgres:
    """One data folder's server: started by `start()`, stopped by `stop()` if we own it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = cluster_dir(self.data_dir)
        self.socket_dir = socket_dir(self.data_dir)
        self.log_path = self.data_dir / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        # Postgres refuses to run as root; pgserver's convention is a `pgserver` user.
        self.system_user = "pgserver" if _running_as_root() else None

    @property
    def owned(self) -> bool:
        return self.process is not None

    def start(self) -> None:
        """Start the server, or attach to the one its current owner runs."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            pid = self._live_postmaster_pid()
            if pid is not None and self._has_live_owner(pid):
                logger.info("embedded postgres already running (pid %s), attaching", pid)
                self._wait_until_ready(None)
                return
            if pid is not None:
                # Left behind by an owner that died without the kernel's help
                # (e.g. a server started by an older launcher): take it down first.
                logger.warning("stopping orphaned embedded postgres (pid %s)", pid)
                self._stop_pid(pid)
            self._prepare_filesystem()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._spawn()
            self._wait_until_ready(self.process)
            self._ensure_database()

    def stop(self) -> None:
        """Fast shutdown of a server we own: clients are disconnected, data is checkpointed."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGQUIT)
                process.wait(10)

    # -- internals -------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.data_dir / ".postgres.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _live_postmaster_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if not cmdline or not cmdline[0].endswith(b"postgres"):
            return None  # a stale pid file whose pid was reused by something else
        return pid

    def owner_pid(self) -> int | None:
        """The pid of the process that runs this folder's server, or None if none runs."""
        pid = self._live_postmaster_pid()
        return None if pid is None else _parent_pid(pid)

    @staticmethod
    def _has_live_owner(pid: int) -> bool:
        parent = _parent_pid(pid)
        return parent is not None and parent > 1

    def _stop_pid(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _prepare_filesystem(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user is None:
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(self.system_user)
        entry = pwd.getpwnam(self.system_user)
        # The postgres user must traverse the folders above the data folder and
        # read the binaries; pgserver's helpers open exactly that.
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(_binaries())
        ensure_folder_permissions(_binaries(), 0o555)
        ensure_folder_permissions(_binaries().parent / "lib", 0o444)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.socket_dir != self.pgdata:
            self.socket_dir.chmod(0o777)

    def _run_as_owner_kwargs(self) -> dict[str, object]:
        return {"user": self.system_user} if self.system_user else {}

    def _initdb(self) -> None:
        logger.info("initialising embedded postgres in %s", self.pgdata)
        result = subprocess.run(
            [
                str(_binaries() / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                SUPERUSER,
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as_owner_kwargs(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.pgdata}:\n{result.stdout}\n{result.stderr}"
            )

    def _spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(
                [
                    str(_binaries() / "postgres"),
                    "-D",
                    str(self.pgdata),
                    "-p",
                    str(PORT),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                    "-c",
                    "max_connections=200",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Own session: a terminal's Ctrl-C reaches the launcher, which then
                # stops the web server before the database, not all at once.
                start_new_session=True,
                # SIGINT is postgres's fast shutdown. Set after setuid, so it survives.
                preexec_fn=die_with_parent(signal.SIGINT),
                **self._run_as_owner_kwargs(),  # type: ignore[call-overload]
            )
        finally:
            log.close()

    def _wait_until_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        import psycopg

        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                self.process = None
                raise EmbeddedPostgresError(
                    f"embedded postgres exited with code {process.returncode}; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            try:
                with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
            time.sleep(0.1)
        self.stop()
        raise EmbeddedPostgresError(
            f"embedded postgres did not accept connections within {_START_TIMEOUT_SECONDS:.0f}s "
            f"({last_error}); last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _conninfo(self, dbname: str) -> str:
        from psycopg.conninfo import make_conninfo

        # make_conninfo quotes, so a data folder with spaces still works.
        return make_conninfo(dbname=dbname, user=SUPERUSER, host=str(self.socket_dir), port=PORT)

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[EmbeddedPostgres | None]:
    """Run the body with the embedded server up, unless DATABASE_URL names another one."""
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
