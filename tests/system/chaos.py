"""What the chaos tests share: the production-shaped stack, streams of remembers, counts.

The stack is gunicorn and Celery workers on a Redis broker with a database of the test
cluster reached by DATABASE_URL (as tests/system/test_worker.py starts it); embeddings
come from a loopback OpenAI-compatible server (tests/fakes/openai_server.py) so that a
test can make the provider slow or failing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gunicorn
import psutil
import psycopg
import requests

from tests.system.processes import (
    PYTHON,
    ManagedProcess,
    PostgresCluster,
    Processes,
    free_port,
    wait_for_health,
    wait_for_output,
)

DIMENSIONS = 8


def fresh_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database in the test cluster, reached like an external one, by DATABASE_URL;
    dropped when the generator is closed (a fixture's body)."""
    name = f"kronvex_chaos_{secrets.token_hex(4)}"
    postgres_cluster.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def provider_settings(base_url: str) -> dict[str, str]:
    """Settings that make Kronvex embed with the loopback provider at `base_url`."""
    return {
        "KRONVEX_EMBEDDER": "openai",
        "KRONVEX_EMBEDDING_BASE_URL": base_url,
        "KRONVEX_EMBEDDING_DIMENSIONS": str(DIMENSIONS),
        "KRONVEX_EMBEDDING_MODEL": "chaos-embedding",
        "KRONVEX_EMBEDDING_MAX_RETRIES": "0",
        "KRONVEX_EMBEDDING_TIMEOUT": "5",
        "OPENAI_API_KEY": "sk-chaos",
    }


def start_web(processes: Processes, env: dict[str, str]) -> tuple[ManagedProcess, str]:
    """gunicorn as a deployment runs it: 2 workers of 4 threads; returns it and its URL."""
    port = free_port()
    web = processes.command(
        "gunicorn",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "kronvex.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            *(["--no-control-socket"] if gunicorn.version_info >= (25, 1) else []),
        ],
        env=env,
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_for_health(web, url, timeout=120)
    return web, url


def start_worker(
    processes: Processes, env: dict[str, str], *, name: str = "worker", beat: bool = False
) -> ManagedProcess:
    """A Celery worker (with beat, the sweeper's schedule too), once it takes tasks."""
    command = [PYTHON, "-m", "celery", "-A", "kronvex", "worker", "-l", "info", "-c", "2"]
    if beat:
        command += ["-B", "-s", str(processes.directory / f"{name}-beat-schedule")]
    worker = processes.command(name, command, env=env).start()
    wait_for_output(worker, " ready.", timeout=120)
    return worker


@dataclass
class Answers:
    """What a stream of requests was answered: statuses, and the bodies of the others."""

    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, body: str, *, expected: int = 200) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status != expected and len(self.unexpected) < 20:
                self.unexpected.append(f"{status}: {body[:300]}")

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def remember_stream(
    url: str,
    key: str,
    agent: str,
    contents: Iterable[str],
    *,
    answers: Answers,
    threads: int = 8,
    per_second: float | None = None,
) -> None:
    """POST remember once per content from `threads` clients; `per_second` paces them."""
    items = list(contents)
    cursor = iter(range(len(items)))
    lock = threading.Lock()
    started = time.monotonic()

    def client() -> None:
        session = requests.Session()
        session.headers["X-API-Key"] = key
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            if per_second:
                delay = started + index / per_second - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                response = session.post(
                    f"{url}/api/v1/agents/{agent}/remember",
                    json={"content": items[index], "session_id": "chaos"},
                    timeout=30,
                )
                answers.record(response.status_code, response.text)
            except requests.RequestException as exc:
                answers.record(0, repr(exc))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def in_background(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class MemoryCounts:
    rows: int
    distinct_contents: int
    by_status: dict[str, int]

    @property
    def ready(self) -> int:
        return self.by_status.get("ready", 0)


def memory_counts(conninfo: str | dict[str, Any]) -> MemoryCounts:
    """The memories in a Kronvex database, counted in SQL."""
    params = {"conninfo": conninfo} if isinstance(conninfo, str) else conninfo
    with psycopg.connect(**params, autocommit=True) as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT content) FROM memories_memory"
        ).fetchone()  # type: ignore[misc]
        by_status = dict(
            conn.execute("SELECT status, count(*) FROM memories_memory GROUP BY status").fetchall()
        )
    return MemoryCounts(rows=rows, distinct_contents=distinct, by_status=by_status)


def wait_until_ready(
    conninfo: str | dict[str, Any], *, expected: int, timeout: float
) -> tuple[MemoryCounts, float]:
    """Wait until `expected` memories are ready; their counts then, and the seconds it took."""
    started = time.monotonic()
    counts = memory_counts(conninfo)
    while counts.ready < expected and time.monotonic() - started < timeout:
        time.sleep(0.5)
        counts = memory_counts(conninfo)
    return counts, time.monotonic() - started


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def log_lines(process: ManagedProcess, text: str) -> int:
    """How many lines of the process's output contain `text`."""
    return sum(1 for line in process.output(last_lines=1_000_000).splitlines() if text in line)
