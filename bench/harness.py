"""What the HTTP benchmarks share: the server under test, its API key, the bulk fill's COPY,
a keep-alive client and the figures' summaries.

Import it after putting the repository on sys.path (the scripts do this first); nothing
here imports Django at module level, so a script can set its environment before
`django.setup()`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
FILL_MARKER = "bench-fill.json"
ACCESS_LOG = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ (?P<ms>\d+)ms'
)


# -- small helpers -------------------------------------------------------------------------


def log(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summarise(ms: Sequence[float], wall_seconds: float | None = None) -> dict[str, float]:
    values = np.asarray(ms, dtype=np.float64)
    stats = {
        "n": len(values),
        "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }
    if wall_seconds:
        stats["rps"] = len(values) / wall_seconds
    return stats


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def print_table(title: str, rows: dict[str, dict[str, float]], first: str = "endpoint") -> None:
    width = max([16, *(len(name) + 2 for name in rows)])
    log(f"\n{title}")
    header = (
        f"  {first:<{width}}{'n':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'mean':>9}{'max':>9}{'req/s':>9}"
    )
    log(header)
    log("  " + "-" * (len(header) - 2))
    for name, s in rows.items():
        rps = f"{s['rps']:>9.1f}" if "rps" in s else f"{'':>9}"
        log(
            f"  {name:<{width}}{s['n']:>6}{s['p50']:>9.2f}{s['p90']:>9.2f}{s['p99']:>9.2f}"
            f"{s['mean']:>9.2f}{s['max']:>9.2f}{rps}"
        )


def sigterm_as_interrupt() -> None:
    """SIGTERM as KeyboardInterrupt: a script's `finally` stops the server as on Ctrl-C."""

    def on_term(signum: int, frame: Any) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def shielded_cleanup() -> None:
    """At the start of a `finally`: no second signal may cut the clean-up short."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the server under test -------------------------------------------------------------------


class Server:
    """`manage.py serve` as a child; its output (with the gunicorn access log) goes to a file."""

    def __init__(self, data_dir: Path, env: dict[str, str], port: int) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.log_path = data_dir / f"bench-serve-{stamp}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from kronvex.process import die_with_parent

        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve"],
                cwd=REPO,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal reaches us only, and we stop serve
                # in order (gunicorn, then PostgreSQL) instead of everything at once.
                start_new_session=True,
                # If this script is killed outright, the kernel still stops serve.
                preexec_fn=die_with_parent(signal.SIGTERM),
            )

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(
                    f"serve exited early; last lines of {self.log_path}:\n{self.tail()}"
                )
            try:
                response = requests.get(f"{self.base_url}/healthz", timeout=5)
                if response.status_code == 200:
                    return dict(response.json())
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"/healthz not healthy within {timeout:.0f}s ({last}):\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(40)  # serve allows gunicorn 25 s, then stops PostgreSQL
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def access_ms(self, start: int, path_suffix: str, method: str | None = None) -> list[float]:
        """Server-side request times (gunicorn's %(M)s, whole ms) logged since `start`."""
        # gunicorn logs after the response is sent, so give the last lines a moment to land.
        time.sleep(0.3)
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        return [
            float(match["ms"])
            for match in ACCESS_LOG.finditer(text)
            if match["path"].rstrip("/").endswith(path_suffix)
            and (method is None or match["method"] == method)
        ]


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The embedded default: our own PostgreSQL and in-process tasks, whatever the shell says.
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        KRONVEX_DATA_DIR=str(data_dir),
        PORT=str(port),
        KRONVEX_MODEL_DIR=str(REPO / ".data" / "models"),
        DJANGO_SETTINGS_MODULE="kronvex.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def use_server_settings(env: dict[str, str]) -> None:
    """Point this process's Django at the server's embedded PostgreSQL (serve owns it).

    Call before anything imports kronvex.settings.
    """
    os.environ.update({k: v for k, v in env.items() if k.startswith(("KRONVEX_", "DJANGO_"))})
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)


def manage(env: dict[str, str], *args: str) -> str:
    """Run one `manage.py` command against the bench's data folder; its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_api_key(env: dict[str, str], *, email: str, agent: str) -> str:
    """A new key for `email`'s account (made if need be, with `agent`), on the enterprise plan."""
    output = manage(env, "createapikey", "--email", email, "--agent", agent, "--name", "bench")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("kv-"):
        raise RuntimeError(f"createapikey printed no key:\n{output}")
    # The bench measures the service, not the free plan's quotas and rate limits.
    manage(env, "setplan", email, "enterprise")
    return lines[-1]


# -- filling the database -------------------------------------------------------------------


def fill_embedder(threads: int) -> Any:
    """The configured embedder, but with `threads` ONNX threads (a batch job wants every core)."""
    from django.conf import settings

    from memories.embedding import LocalEmbedder, get_embedder

    if str(settings.KRONVEX_EMBEDDER).lower() == "local":
        return LocalEmbedder(
            Path(settings.KRONVEX_MODEL_DIR),
            threads=threads,
            batch_size=settings.KRONVEX_EMBEDDING_BATCH_SIZE,
        )
    return get_embedder()


def read_marker(data_dir: Path, name: str = FILL_MARKER) -> dict[str, Any] | None:
    try:
        return dict(json.loads((data_dir / name).read_text()))
    except (OSError, ValueError):
        return None


def write_marker(data_dir: Path, marker: dict[str, Any], name: str = FILL_MARKER) -> None:
    (data_dir / name).write_text(json.dumps(marker, indent=2))


# The columns a bulk fill writes, in the order of each row given to MemoryCopy.
COPY_COLUMNS = [
    "uuid",
    "account_id",
    "agent_id",
    "content",
    "type",
    "session_id",
    "metadata",
    "pinned",
    "access_count",
    "last_accessed_at",
    "created_at",
    "updated_at",
    "embedding",
    "embedding_model",
    "status",
    "embedding_error",
    # NOT NULL without a database default (Django's defaults live in Python).
    "vector_version",
]


@dataclass
class MemoryCopy:
    """A psycopg connection of its own for binary COPY into memories_memory.

    Not Django's connection: pgvector's psycopg adapters would change what Django's
    connection returns for vector columns.
    """

    raw: Any
    sql: str
    types: list[int]

    @classmethod
    def open(cls) -> MemoryCopy:
        import psycopg
        from django.db import connection
        from pgvector.psycopg import register_vector

        db = connection.settings_dict
        raw = psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            host=db["HOST"],
            port=db["PORT"],
            autocommit=True,
        )
        register_vector(raw)
        with raw.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = "
                "'memories_memory'::regclass AND attnum > 0 AND NOT attisdropped"
            )
            column_types: dict[str, int] = dict(cursor.fetchall())
        # Binary COPY needs each column's exact type; reading them from the catalogue keeps
        # this in step with the migrations.
        return cls(
            raw=raw,
            sql=f"COPY memories_memory ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)",
            types=[column_types[name] for name in COPY_COLUMNS],
        )

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """One COPY (its own transaction: autocommit) of rows in COPY_COLUMNS order."""
        with self.raw.cursor() as cursor, cursor.copy(self.sql) as copy:
            copy.set_types(self.types)
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self.raw.close()


# -- HTTP measurements -------------------------------------------------------------------------


def new_session(api_key: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"X-API-Key": api_key, "Content-Type": "application/json"})
    return session


class Client:
    """One keep-alive HTTP/1.1 connection carrying the API key.

    Plain http.client rather than requests for the measured calls: the client shares the
    machine's cores with the server, and requests' own work (about 1 ms a call here)
    would be counted as the service's latency.
    """

    # gunicorn closes a keep-alive connection after 2 s without a request.
    IDLE_SECONDS = 1.0

    def __init__(self, base_url: str, api_key: str) -> None:
        address = urllib.parse.urlsplit(base_url)
        self.connection = http.client.HTTPConnection(
            address.hostname or "127.0.0.1", address.port, timeout=60
        )
        self.headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
        self.last_used = 0.0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if time.monotonic() - self.last_used > self.IDLE_SECONDS:
            self.connection.close()  # the server may have closed it: open a fresh one
        try:
            self.connection.request(method, path, body=body, headers=self.headers)
            response = self.connection.getresponse()
            content = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()  # reconnects on the next call
            raise
        self.last_used = time.monotonic()
        return response.status, content

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return self.request("POST", path, body)

    def close(self) -> None:
        self.connection.close()
