#!/usr/bin/env python
"""End-to-end API latency of Kronvex's embedded default at a realistic size.

Starts `manage.py serve` on its own data folder, fills it with --total memories
(real local-model embeddings, one agent of --agent-size), then times remember,
recall and inject-context over real HTTP against the large agent, and explains
where the time goes (query embedding, per-SQL timings, EXPLAIN ANALYZE).

    .venv/bin/python bench/api_latency.py --data-dir /work/bench-data

See bench/README.md for what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# As in the server, before numpy loads: one BLAS thread (see kronvex/__init__.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# corpus and harness are found through the path above.
import corpus
import numpy as np
import requests
from harness import (
    REPO,
    Client,
    MemoryCopy,
    Server,
    create_api_key,
    fill_embedder,
    fmt_duration,
    free_port,
    log,
    new_session,
    print_table,
    read_marker,
    server_env,
    shielded_cleanup,
    sigterm_as_interrupt,
    summarise,
    use_server_settings,
    write_marker,
)

BIG_AGENT = "bench-large"
EMAIL = "bench@example.com"
OTHER_AGENT_SIZE = 1_000
# Memories written by the remember measurements carry this session prefix, so the fill
# counts ignore them and the end of the run can delete them again.
REMEMBER_SESSION_PREFIX = "bench-remember-"
TARGETS = {
    # endpoint: (p50 ms, p99 ms or None)
    "remember": (20.0, None),
    "recall_k5": (20.0, 50.0),
    "recall_k10": (20.0, 50.0),
    "inject_context": (20.0, 50.0),
}
# -- filling the database -------------------------------------------------------------------


@dataclass(frozen=True)
class FillPlan:
    total: int
    agent_size: int
    seed: int
    agents: list[tuple[str, int]]  # (slug, how many memories), the large agent first

    @classmethod
    def make(cls, total: int, agent_size: int, seed: int) -> FillPlan:
        if agent_size > total:
            raise SystemExit("--agent-size cannot exceed --total")
        agents = [(BIG_AGENT, agent_size)]
        rest = total - agent_size
        for index in range(math.ceil(rest / OTHER_AGENT_SIZE)):
            agents.append((f"bench-a{index + 1:03d}", min(OTHER_AGENT_SIZE, rest)))
            rest -= OTHER_AGENT_SIZE
        return cls(total=total, agent_size=agent_size, seed=seed, agents=agents)

    def key(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "agent_size": self.agent_size,
            "seed": self.seed,
            "other_agent_size": OTHER_AGENT_SIZE,
        }


def existing_counts(account: Any) -> dict[str, int]:
    from django.db.models import Count

    from memories.models import Memory

    rows = (
        Memory.objects.filter(account=account)
        .exclude(session_id__startswith=REMEMBER_SESSION_PREFIX)
        .values("agent__slug")
        .annotate(n=Count("id"))
    )
    return {row["agent__slug"]: row["n"] for row in rows}


def fill_database(
    *, data_dir: Path, account: Any, plan: FillPlan, embedder: Any, batch_size: int
) -> dict[str, Any]:
    """Bring every planned agent up to its size; rows already there (an earlier run) are kept.

    Rows of all agents are interleaved and created_at grows with insertion order, as in a
    service that has been taking memories from many agents for a year: the large agent's
    rows are spread over the whole table, not packed together.
    """
    from django.db import connection

    from memories.models import Agent

    marker = read_marker(data_dir)
    if marker is not None and {k: marker.get(k) for k in plan.key()} != plan.key():
        raise SystemExit(
            f"{data_dir} was filled with {marker}, not {plan.key()}: use another --data-dir"
        )
    if marker is None:
        marker = {
            **plan.key(),
            "epoch": datetime.now(UTC).isoformat(),
            "complete": False,
            "model": embedder.model_name,
        }
        write_marker(data_dir, marker)
    if marker.get("model") != embedder.model_name:
        raise SystemExit(
            f"{data_dir} was filled with {marker.get('model')}, not {embedder.model_name}"
        )
    epoch = datetime.fromisoformat(marker["epoch"])

    agents = {
        slug: Agent.objects.get_or_create(account=account, slug=slug, defaults={"name": slug})[0]
        for slug, _ in plan.agents
    }
    have = existing_counts(account)
    sizes = dict(plan.agents)
    if all(have.get(slug, 0) >= size for slug, size in plan.agents):
        log(f"Fill already present in {data_dir} ({sum(have.values()):,} memories): skipping it.")
        marker["complete"] = True
        write_marker(data_dir, marker)
        return {"skipped": True, "memories": sum(have.values()), **marker.get("fill", {})}

    log(f"Generating {plan.total:,} distinct sentences...")
    sentences = corpus.generate_sentences(plan.total, plan.seed)
    # Every per-row attribute is drawn for every row, so a resumed fill makes the same rows.
    rng = random.Random(plan.seed + 1)
    order = [index for index, (_, size) in enumerate(plan.agents) for _ in range(size)]
    rng.shuffle(order)
    year = timedelta(days=365)
    start = epoch - year
    rows: list[tuple[Any, ...]] = []
    occurrence: dict[int, int] = defaultdict(int)
    todo: list[int] = []
    for position, agent_index in enumerate(order):
        slug = plan.agents[agent_index][0]
        sentence = sentences[position]
        created = start + year * ((position + rng.random()) / plan.total)
        session = (
            f"session-{rng.randrange(max(1, sizes[slug] // 25))}" if rng.random() < 0.4 else None
        )
        accesses = 0 if rng.random() < 0.7 else rng.randint(1, 30)
        accessed = created + (epoch - created) * rng.random() if accesses else None
        memory_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
        rows.append((memory_uuid, slug, sentence, session, accesses, accessed, created))
        if occurrence[agent_index] >= have.get(slug, 0):
            todo.append(position)
        occurrence[agent_index] += 1

    copier = MemoryCopy.open()

    log(
        f"Filling {len(todo):,} memories ({plan.total - len(todo):,} already there), "
        f"batches of {batch_size:,}, embedder {embedder.model_name}..."
    )
    began = time.perf_counter()
    embed_seconds = copy_seconds = 0.0
    done = 0
    for batch_start in range(0, len(todo), batch_size):
        batch = todo[batch_start : batch_start + batch_size]
        texts = [rows[position][2].text for position in batch]
        t0 = time.perf_counter()
        vectors = embedder.embed(texts)
        t1 = time.perf_counter()
        copy_rows = []
        for position, vector in zip(batch, vectors, strict=True):
            memory_uuid, slug, sentence, session, accesses, accessed, created = rows[position]
            copy_rows.append(
                (
                    memory_uuid,
                    account.pk,
                    agents[slug].pk,
                    sentence.text,
                    sentence.memory_type,
                    session,
                    {"source": "bench", "kind": sentence.category},
                    False,
                    accesses,
                    accessed,
                    created,
                    created,
                    vector,
                    embedder.model_name,
                    "ready",
                    "",
                    0,
                )
            )
        copier.write(copy_rows)
        t2 = time.perf_counter()
        embed_seconds += t1 - t0
        copy_seconds += t2 - t1
        done += len(batch)
        elapsed = t2 - began
        rate = done / elapsed
        log(
            f"  {done:>8,}/{len(todo):,}  {rate:7,.0f} memories/s  "
            f"(embedding {done / embed_seconds:6,.0f}/s, COPY {done / copy_seconds:8,.0f}/s)  "
            f"ETA {fmt_duration((len(todo) - done) / rate)}"
        )
    elapsed = time.perf_counter() - began
    copier.close()
    log("VACUUM ANALYZE memories_memory (so autovacuum does not start mid-measurement)...")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) memories_memory")
    stats = {
        "inserted": done,
        "seconds": elapsed,
        "memories_per_second": done / elapsed if elapsed else None,
        "embed_seconds": embed_seconds,
        "embeddings_per_second": done / embed_seconds if embed_seconds else None,
        "copy_seconds": copy_seconds,
    }
    marker["complete"] = True
    marker["fill"] = stats
    write_marker(data_dir, marker)
    return {"skipped": False, "memories": sum(existing_counts(account).values()), **stats}


# -- HTTP measurements -------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    path: str  # below /api/v1/agents/<agent>/
    payload: Callable[[int], dict[str, Any]]
    check: Callable[[dict[str, Any]], None]


@dataclass
class PassResult:
    client_ms: list[float]
    wall_seconds: float


def run_pass(clients: list[Client], endpoint: Endpoint, first: int, count: int) -> PassResult:
    """`count` requests spread over len(clients) client threads (one thread: sequential)."""
    path = f"/api/v1/agents/{BIG_AGENT}/{endpoint.path}"
    latencies = [0.0] * count
    counter = itertools.count()
    errors: list[BaseException] = []

    def client(connection: Client) -> None:
        try:
            while not errors:
                index = next(counter)  # itertools.count is atomic under the GIL
                if index >= count:
                    return
                body = json.dumps(endpoint.payload(first + index)).encode()
                t0 = time.perf_counter()
                status, content = connection.post(path, body)
                latencies[index] = (time.perf_counter() - t0) * 1000
                if status != 200:
                    raise RuntimeError(f"{endpoint.name}: HTTP {status} {content[:500]!r}")
                endpoint.check(json.loads(content))
        except BaseException as exc:  # handed to the main thread, which re-raises it
            errors.append(exc)

    began = time.perf_counter()
    if len(clients) == 1:
        client(clients[0])
    else:
        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise errors[0]
    return PassResult(client_ms=latencies, wall_seconds=wall)


def make_endpoints(run_session: str, seed: int, exclude: set[str]) -> list[Endpoint]:
    queries = corpus.generate_queries(5_000, seed + 2)
    contents = corpus.generate_sentences(5_000, seed + 3, exclude=exclude)

    def recall_check(top_k: int) -> Callable[[dict[str, Any]], None]:
        def check(body: dict[str, Any]) -> None:
            memories = body["memories"]
            if len(memories) != top_k or any(m["agent_id"] != BIG_AGENT for m in memories):
                raise RuntimeError(f"recall returned {len(memories)} memories, not {top_k}")

        return check

    def remember_check(body: dict[str, Any]) -> None:
        if body.get("status") != "ready":
            raise RuntimeError(f"remember did not embed in-process: {body}")

    def inject_check(body: dict[str, Any]) -> None:
        if not body.get("context") or not body.get("memories_used"):
            raise RuntimeError(f"inject-context returned no context: {body}")

    # Each endpoint walks its own offset into the lists so no two requests repeat a text.
    return [
        Endpoint(
            "remember",
            "remember",
            lambda i: {
                "content": contents[i % len(contents)].text,
                "type": contents[i % len(contents)].memory_type,
                "session_id": run_session,
                "metadata": {"source": "bench-remember"},
            },
            remember_check,
        ),
        Endpoint(
            "recall_k5",
            "recall",
            lambda i: {"query": queries[i % len(queries)], "top_k": 5},
            recall_check(5),
        ),
        Endpoint(
            "recall_k10",
            "recall",
            lambda i: {"query": queries[(i + 1_500) % len(queries)], "top_k": 10},
            recall_check(10),
        ),
        Endpoint(
            "inject_context",
            "inject-context",
            lambda i: {"query": queries[(i + 3_000) % len(queries)], "top_k": 6, "max_tokens": 300},
            inject_check,
        ),
    ]


def verify_recall(
    base_url: str, session: requests.Session, big_agent: Any, seed: int
) -> dict[str, Any]:
    """20 recalls with top_k=10: exactly 10 results, all of them the large agent's memories."""
    from memories.models import Memory

    queries = corpus.generate_queries(20, seed + 4)
    problems: list[str] = []
    top_similarity: list[float] = []
    for query in queries:
        response = session.post(
            f"{base_url}/api/v1/agents/{BIG_AGENT}/recall",
            data=json.dumps({"query": query, "top_k": 10}),
            timeout=60,
        )
        memories = response.json().get("memories", []) if response.ok else []
        ids = [m["id"] for m in memories]
        owned = Memory.objects.filter(agent=big_agent, uuid__in=ids).count()
        if response.status_code != 200 or len(ids) != 10 or owned != 10:
            problems.append(
                f"{query!r}: HTTP {response.status_code}, {len(ids)} results, "
                f"{owned} of them the agent's"
            )
        if memories:
            top_similarity.append(max(m["similarity"] for m in memories))
    return {
        "queries": len(queries),
        "ok": not problems,
        "problems": problems,
        "mean_best_similarity": float(np.mean(top_similarity)) if top_similarity else None,
    }


# -- in-process breakdown ----------------------------------------------------------------------


def sql_label(sql: str) -> str:
    if "<=>" in sql:
        return "vector candidates"
    if "to_tsvector" in sql or "@@" in sql:
        return "lexical pending"
    if sql.startswith('UPDATE "memories_memory" SET "access_count"'):
        return "count access"
    if sql.startswith('INSERT INTO "memories_memory"'):
        return "insert memory"
    if "FOR UPDATE" in sql:
        return "claim (select for update)"
    if sql.startswith('UPDATE "memories_memory"'):
        return "store vector (bulk_update)"
    if sql.startswith("SELECT") and '"memories_memory"' in sql:
        return "refresh memory"
    return sql[:50]


@contextlib.contextmanager
def sql_timer(
    timings: dict[str, list[float]], statements: dict[str, tuple[str, Any]]
) -> Iterator[None]:
    """Time every SQL statement Django runs in this block, by kind; keep one of each kind."""
    from django.db import connection

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            label = sql_label(sql)
            timings[label].append((time.perf_counter() - t0) * 1000)
            statements.setdefault(label, (sql, params))

    with connection.execute_wrapper(wrapper):
        yield


def in_process_breakdown(big_agent: Any, count: int, seed: int, run_session: str) -> dict[str, Any]:
    """The service layer without HTTP: embedding alone, then recall/inject/remember by SQL kind."""
    from django.db import connection, transaction

    from memories import services
    from memories.embedding import get_embedder

    embedder = get_embedder()  # the server's configuration (KRONVEX_ONNX_THREADS)
    queries = corpus.generate_queries(count + 20, seed + 5)
    for query in queries[:20]:
        embedder.embed([query])
    embed_ms = []
    for query in queries[20:]:
        t0 = time.perf_counter()
        embedder.embed([query])
        embed_ms.append((time.perf_counter() - t0) * 1000)

    result: dict[str, Any] = {"query_embedding": summarise(embed_ms), "calls": {}}
    explain: dict[str, str] = {}
    calls: dict[str, Callable[[str], Any]] = {
        "recall_k5": lambda q: services.recall(agent=big_agent, query=q, top_k=5),
        "recall_k10": lambda q: services.recall(agent=big_agent, query=q, top_k=10),
        "inject_context": lambda q: services.inject_context(
            agent=big_agent, query=q, top_k=6, max_tokens=300
        ),
        "remember": lambda q: services.remember(
            agent=big_agent, content=f"In-process note: {q}", session_id=run_session
        ),
    }
    for name, call in calls.items():
        timings: dict[str, list[float]] = defaultdict(list)
        statements: dict[str, tuple[str, Any]] = {}
        total_ms: list[float] = []
        outside_sql_ms: list[float] = []
        for index, query in enumerate(queries[: min(count, 100) + 5]):
            per_call: dict[str, list[float]] = defaultdict(list)
            t0 = time.perf_counter()
            with sql_timer(per_call, statements):
                call(query)
            elapsed_ms = (time.perf_counter() - t0) * 1000
            if index < 5:  # the first calls warm caches and plans
                continue
            total_ms.append(elapsed_ms)
            outside_sql_ms.append(elapsed_ms - sum(sum(v) for v in per_call.values()))
            for label, values in per_call.items():
                timings[label].append(sum(values))
        sql = {label: summarise(values) for label, values in timings.items()}
        result["calls"][name] = {
            "total": summarise(total_ms),
            # Embedding, ORM row building (vector text parsing), ranking, context building.
            "outside_sql": summarise(outside_sql_ms),
            "sql": sql,
        }
        for label, (statement, params) in statements.items():
            if label in explain or not statement.lstrip().upper().startswith("SELECT"):
                continue
            if "FOR UPDATE" in statement:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                explain[label] = "\n".join(row[0] for row in cursor.fetchall())
    result["explain"] = explain
    return result


def batched_embedding_rate(threads_list: Sequence[int], seed: int) -> dict[str, float]:
    """Embeddings per second of the local model on 1,024 memory-like texts, in batches."""
    texts = [s.text for s in corpus.generate_sentences(1_024, seed + 6)]
    rates = {}
    for threads in threads_list:
        embedder = fill_embedder(threads)
        embedder.embed(texts[:64])
        t0 = time.perf_counter()
        embedder.embed(texts)
        rates[f"threads_{threads}"] = len(texts) / (time.perf_counter() - t0)
    return rates


# -- the run ------------------------------------------------------------------------------------


def verdicts(rows: dict[str, dict[str, float]]) -> list[tuple[str, bool]]:
    found = []
    for name, (p50, p99) in TARGETS.items():
        if name not in rows:
            continue
        s = rows[name]
        ok = s["p50"] <= p50 and (p99 is None or s["p99"] <= p99)
        limits = f"p50 <= {p50:.0f} ms" + (f", p99 <= {p99:.0f} ms" if p99 else "")
        text = (
            f"{name:<16} p50 {s['p50']:6.2f} ms"
            + (f", p99 {s['p99']:6.2f} ms" if p99 else "")
            + f"   target {limits}"
        )
        found.append((text, ok))
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--total", type=int, default=100_000, help="memories in the database")
    parser.add_argument(
        "--agent-size", type=int, default=10_000, help="memories of the measured agent"
    )
    parser.add_argument("--requests", type=int, default=300, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per endpoint")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="client threads of the second pass (0: skip it)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="data folder to fill or reuse (default: a fresh temporary one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--batch-size", type=int, default=2_000, help="rows per COPY while filling")
    parser.add_argument(
        "--fill-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="ONNX threads for the fill's embeddings",
    )
    parser.add_argument(
        "--breakdown",
        type=int,
        default=200,
        help="in-process query-embedding samples (0: skip the breakdown)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    temporary = args.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="kronvex-bench-")) if temporary else args.data_dir.resolve()
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(data_dir, port)
    # This process talks to the same embedded PostgreSQL (serve owns it) through Django, so
    # it gets the server's settings; set before anything imports kronvex.settings.
    use_server_settings(env)
    server = Server(data_dir, env, port)
    started = datetime.now()
    run_session = f"{REMEMBER_SESSION_PREFIX}{started.strftime('%Y%m%d-%H%M%S')}"
    big_agent = None

    # SIGTERM becomes an exception, so the finally below stops the server as Ctrl-C does.
    sigterm_as_interrupt()
    try:
        log(
            f"Data folder: {data_dir}\nStarting `manage.py serve` on port {server.port} "
            f"(log: {server.log_path})..."
        )
        t0 = time.perf_counter()
        server.start()
        health = server.wait_healthy(timeout=600)
        log(
            f"Healthy after {time.perf_counter() - t0:.1f}s: embedder "
            f"{health['embedder'].get('model')}, pgvector {health['database'].get('pgvector')}"
        )
        api_key = create_api_key(env, email=EMAIL, agent=BIG_AGENT)

        import django

        django.setup()
        # The in-process breakdown runs eager Celery tasks, which log every success at INFO.
        logging.getLogger("celery").setLevel(logging.WARNING)
        # kombu warns that an eager app has no broker hostname: true and irrelevant here.
        logging.getLogger("kombu").setLevel(logging.ERROR)
        from django.db import connection

        from api.models import ApiKey
        from api.services import hash_key
        from memories.models import Agent

        account = ApiKey.objects.select_related("account").get(key_hash=hash_key(api_key)).account
        plan = FillPlan.make(args.total, args.agent_size, args.seed)
        embedder = fill_embedder(args.fill_threads)
        fill = fill_database(
            data_dir=data_dir,
            account=account,
            plan=plan,
            embedder=embedder,
            batch_size=args.batch_size,
        )
        del embedder
        # Earlier runs leave dead rows (recall counts accesses, remembered memories are
        # deleted): vacuum now, or autovacuum may take a core in the middle of a pass.
        log("VACUUM ANALYZE memories_memory...")
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) memories_memory")
        log(f"  done in {time.perf_counter() - began:.1f}s")
        big_agent = Agent.objects.get(account=account, slug=BIG_AGENT)
        agent_rows = existing_counts(account).get(BIG_AGENT, 0)
        log(f"Database: {fill['memories']:,} memories; {BIG_AGENT} has {agent_rows:,}.")

        log("Batched embedding rate of the local model (1,024 texts)...")
        rates = batched_embedding_rate(sorted({1, args.fill_threads}), args.seed)
        log("  " + ", ".join(f"{k.replace('_', ' ')}: {v:,.0f}/s" for k, v in rates.items()))

        corpus_texts = {s.text for s in corpus.generate_sentences(args.total, args.seed)}
        endpoints = make_endpoints(run_session, args.seed, corpus_texts)
        clients = max(1, args.concurrency)
        http_clients = [Client(server.base_url, api_key) for _ in range(clients)]
        log(
            f"Warm-up: {args.warmup} requests per endpoint over {clients} connections "
            f"(both gunicorn workers load their ONNX session on first use)..."
        )
        offset = 0
        for endpoint in endpoints:
            run_pass(http_clients, endpoint, offset, args.warmup)
            run_pass(http_clients[:1], endpoint, offset + args.warmup, 10)
        offset += args.warmup + 10

        passes: dict[str, dict[str, Any]] = {}
        labels = [("sequential", 1)] + (
            [(f"concurrent_{clients}", clients)] if args.concurrency else []
        )
        for label, threads in labels:
            log(f"Measuring: {args.requests} requests per endpoint, {threads} client thread(s)...")
            rows: dict[str, Any] = {}
            for endpoint in endpoints:
                mark = server.log_offset()
                result = run_pass(http_clients[:threads], endpoint, offset, args.requests)
                rows[endpoint.name] = {
                    "client": summarise(result.client_ms, result.wall_seconds),
                    "server": summarise(server.access_ms(mark, endpoint.path) or [math.nan]),
                }
            offset += args.requests
            passes[label] = rows
            print_table(
                f"{label}: client-side latency (ms), keep-alive HTTP",
                {name: row["client"] for name, row in rows.items()},
            )
            print_table(
                f"{label}: server-side time from the gunicorn access log (ms, whole ms)",
                {name: row["server"] for name, row in rows.items()},
            )

        for http_client in http_clients:
            http_client.close()
        verification = verify_recall(server.base_url, new_session(api_key), big_agent, args.seed)
        log(
            f"\nCorrectness: {verification['queries']} recalls with top_k=10 -> "
            f"{'OK' if verification['ok'] else 'PROBLEMS: ' + '; '.join(verification['problems'])}"
            f" (mean best similarity {verification['mean_best_similarity']:.3f})"
        )

        breakdown: dict[str, Any] = {}
        if args.breakdown:
            log(
                f"\nIn-process breakdown (server idle; {args.breakdown} single-query embeddings)..."
            )
            breakdown = in_process_breakdown(big_agent, args.breakdown, args.seed, run_session)
            qe = breakdown["query_embedding"]
            log(
                f"  embedder.embed([query]) alone: p50 {qe['p50']:.2f} ms, p99 {qe['p99']:.2f} ms, "
                f"mean {qe['mean']:.2f} ms"
            )
            for name, call in breakdown["calls"].items():
                log(
                    f"  {name}: service call p50 {call['total']['p50']:.2f} ms "
                    f"(p99 {call['total']['p99']:.2f}), outside SQL p50 "
                    f"{call['outside_sql']['p50']:.2f}; SQL p50 by kind: "
                    + ", ".join(f"{label} {s['p50']:.2f}" for label, s in call["sql"].items())
                )
            for label, plan_text in breakdown["explain"].items():
                last = [line for line in plan_text.splitlines() if "Execution Time" in line]
                log(f"  EXPLAIN ANALYZE {label}: {last[0].strip() if last else '?'}")

        sequential = {name: row["client"] for name, row in passes["sequential"].items()}
        results = {
            "started": started.isoformat(timespec="seconds"),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "data_dir": str(data_dir),
            "serve_log": str(server.log_path),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "server": {
                "workers": env.get("KRONVEX_WEB_WORKERS", "2"),
                "threads": env.get("KRONVEX_WEB_THREADS", "4"),
                "onnx_threads": health.get("embedder", {}).get("threads"),
                "vector_cache_mb": env.get("KRONVEX_VECTOR_CACHE_MB", "256"),
                "health": health,
            },
            "fill": fill,
            "agent_memories": agent_rows,
            "batched_embeddings_per_second": rates,
            "passes": passes,
            "verification": verification,
            "breakdown": breakdown,
            "targets": {text: ok for text, ok in verdicts(sequential)},
        }
        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        out_path = out_dir / f"api_latency-{started.strftime('%Y%m%d-%H%M%S')}.json"
        out_path.write_text(json.dumps(results, indent=2, default=str))

        log("\nSummary")
        if fill.get("inserted"):
            log(
                f"  fill{' (an earlier run; reused now)' if fill['skipped'] else ''}: "
                f"{fill['inserted']:,} memories in {fill['seconds']:.0f}s "
                f"({fill['memories_per_second']:,.0f}/s; embedding "
                f"{fill['embeddings_per_second']:,.0f}/s)"
            )
        log("  batched embedding: " + ", ".join(f"{k}: {v:,.0f}/s" for k, v in rates.items()))
        if breakdown:
            qe = breakdown["query_embedding"]
            log(f"  query embedding alone: p50 {qe['p50']:.2f} ms, p99 {qe['p99']:.2f} ms")
        log("  targets (sequential client):")
        for text, ok in verdicts(sequential):
            log(f"    {'PASS' if ok else 'FAIL'}  {text}")
        for label in passes:
            if label != "sequential":
                log(f"  {label} (informational):")
                rows = {name: row["client"] for name, row in passes[label].items()}
                for text, ok in verdicts(rows):
                    log(f"    {'pass' if ok else 'fail'}  {text}")
        log(f"  results: {out_path}")
        return 0 if all(ok for _, ok in verdicts(sequential)) and verification["ok"] else 1
    except KeyboardInterrupt:
        log("\nInterrupted.")
        return 130
    finally:
        shielded_cleanup()  # a second Ctrl-C must not skip the clean-up
        if big_agent is not None:
            with contextlib.suppress(Exception):
                from django.db import connections

                from memories.models import Memory

                Memory.objects.filter(agent=big_agent, session_id=run_session).delete()
                connections.close_all()
        log("Stopping the server...")
        server.stop()
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif temporary:
            log(f"Kept {data_dir} (reuse it with --data-dir).")


if __name__ == "__main__":
    sys.exit(main())
