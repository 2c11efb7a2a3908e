#!/usr/bin/env python
"""Latency of Kronvex's embedded default with 1,000,000 memories over 1,000 agents.

Starts `manage.py serve` on its own data folder, fills it with --total memories (agents of
100,000, 10,000 and 1,000 memories measured, the rest spread over the other agents; texts
drawn from a pool of sentences embedded once with the local model), then times recall,
inject-context and remember over real HTTP per measured agent, the query embedding alone,
and checks the large agent's recall against an exact brute-force search.

    .venv/bin/python bench/scale_latency.py --data-dir /work/bench-scale

See bench/README.md for what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
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

EMAIL = "scale-bench@example.com"
LARGE, MEDIUM, SMALL = "scale-large", "scale-medium", "scale-small"
MEASURED = (SMALL, MEDIUM, LARGE)  # measured in this order, smallest first
FILL_MARKER = "scale-fill.json"
# Memories written by the remember measurements carry this session prefix: the fill's
# counts ignore them, and the end of the run deletes them through the API.
REMEMBER_SESSION_PREFIX = "scale-remember-"
ENDPOINTS = ("recall", "inject_context", "remember")
ENDPOINT_PATHS = {"recall": "recall", "inject_context": "inject-context", "remember": "remember"}
RECALL_TOP_K = 10
# Targets (ms), client-side, sequential: agents up to 10,000 memories, and the large agent.
SMALL_P50, SMALL_P99, LARGE_P99 = 10.0, 30.0, 50.0
MIN_EXACT_RECALL = 0.98
EXACT_POOL = 50  # the HTTP check counts returned ids found in the exact top-50 by cosine
YEAR = timedelta(days=365)


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalePlan:
    total: int
    large: int
    medium: int
    small: int
    agents: int
    seed: int
    pool: int
    sizes: list[tuple[str, int]]  # (slug, memories), the measured agents first

    @classmethod
    def make(
        cls, *, total: int, large: int, medium: int, small: int, agents: int, seed: int, pool: int
    ) -> ScalePlan:
        if agents < 3:
            raise SystemExit("--agents must be at least 3 (large, medium and small)")
        rest = total - large - medium - small
        others = agents - 3
        if rest < 0 or (rest and not others) or (others and rest < others):
            raise SystemExit(
                f"--total {total:,} cannot hold {large:,} + {medium:,} + {small:,} memories "
                f"and at least one memory in each of {others:,} other agents"
            )
        sizes = [(LARGE, large), (MEDIUM, medium), (SMALL, small)]
        base, extra = divmod(rest, others) if others else (0, 0)
        width = max(3, len(str(others)))
        sizes += [
            (f"scale-o{index + 1:0{width}d}", base + (1 if index < extra else 0))
            for index in range(others)
        ]
        biggest = max(size for _, size in sizes)
        if pool < biggest:
            raise SystemExit(f"--pool {pool:,} is smaller than the largest agent ({biggest:,})")
        return cls(
            total=total,
            large=large,
            medium=medium,
            small=small,
            agents=agents,
            seed=seed,
            pool=pool,
            sizes=sizes,
        )

    def key(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "large": self.large,
            "medium": self.medium,
            "small": self.small,
            "agents": self.agents,
            "seed": self.seed,
            "pool": self.pool,
        }


@dataclass
class PlannedRows:
    """Every row of the fill in insertion order, as columns; the same for a given plan."""

    agent: np.ndarray  # index into plan.sizes
    occurrence: np.ndarray  # how many rows of the same agent come before this one
    pool_index: np.ndarray  # the pool sentence (and vector) of the row
    created_seconds: np.ndarray  # after the start of the year
    session: np.ndarray  # session number, -1 for none
    accesses: np.ndarray
    accessed_share: np.ndarray  # where last_accessed_at falls between created_at and the epoch
    uuids: bytes  # 16 random bytes a row


def plan_rows(plan: ScalePlan) -> PlannedRows:
    """Rows of all agents interleaved, as in a service taking memories from many agents
    for a year: each agent's texts are distinct pool entries, drawn without repeats."""
    rng = np.random.default_rng(plan.seed + 1)
    sizes = np.array([size for _, size in plan.sizes], dtype=np.int64)
    draws = np.concatenate(
        [rng.choice(plan.pool, size=int(size), replace=False) for size in sizes]
    ).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    agent = rng.permutation(np.repeat(np.arange(len(sizes), dtype=np.int32), sizes))
    # Each row's rank among its agent's rows, in insertion order.
    grouped = np.argsort(agent, kind="stable")
    occurrence = np.empty(plan.total, dtype=np.int64)
    occurrence[grouped] = np.arange(plan.total) - np.repeat(starts, sizes)
    positions = np.arange(plan.total, dtype=np.float64)
    created_seconds = (positions + rng.random(plan.total)) / plan.total * YEAR.total_seconds()
    with_session = rng.random(plan.total) < 0.4
    sessions_per_agent = np.maximum(1, sizes // 25)
    session = np.where(
        with_session,
        (rng.random(plan.total) * sessions_per_agent[agent]).astype(np.int64),
        -1,
    )
    accessed = rng.random(plan.total) >= 0.7
    accesses = np.where(accessed, rng.integers(1, 31, plan.total), 0)
    return PlannedRows(
        agent=agent,
        occurrence=occurrence,
        pool_index=draws[starts[agent] + occurrence],
        created_seconds=created_seconds,
        session=session,
        accesses=accesses,
        accessed_share=rng.random(plan.total),
        uuids=rng.bytes(16 * plan.total),
    )


# -- the pool of sentences and their vectors --------------------------------------------------


def pool_vectors(
    *, data_dir: Path, texts: list[str], embedder: Any, chunk: int = 2_000
) -> tuple[np.ndarray, dict[str, Any]]:
    """The pool's vectors, from `<data dir>/scale-pool-*.npy` if an earlier run made them.

    The file name carries the model and a hash of the texts, so a changed corpus or model
    is embedded again; an interrupted embedding resumes from its partial file.
    """
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    model = re.sub(r"[^A-Za-z0-9.-]+", "_", embedder.model_name)
    path = data_dir / f"scale-pool-{model}-{len(texts)}-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        log(f"Pool vectors from {path.name} ({len(vectors):,} x {vectors.shape[1]}).")
        return vectors, {"cached": True, "file": str(path)}
    partial = path.with_name(path.stem + ".partial.npy")
    done_vectors = np.load(partial) if partial.exists() else np.zeros((0, 0), dtype=np.float32)
    pieces = [done_vectors] if len(done_vectors) else []
    done = len(done_vectors)
    log(
        f"Embedding the pool: {len(texts) - done:,} sentences"
        + (f" ({done:,} from an interrupted run)" if done else "")
        + f", embedder {embedder.model_name}..."
    )
    began = time.perf_counter()
    embedded = 0
    last_saved = done
    while done < len(texts):
        vectors = np.asarray(embedder.embed(texts[done : done + chunk]), dtype=np.float32)
        pieces.append(vectors)
        done += len(vectors)
        embedded += len(vectors)
        rate = embedded / (time.perf_counter() - began)
        if done - last_saved >= 20_000 or done == len(texts):
            np.save(partial, np.concatenate(pieces))
            last_saved = done
        if embedded % 10_000 < chunk or done == len(texts):
            log(
                f"  {done:>9,}/{len(texts):,}  {rate:6,.0f} embeddings/s  "
                f"ETA {fmt_duration((len(texts) - done) / rate)}"
            )
    seconds = time.perf_counter() - began
    result = np.concatenate(pieces)
    np.save(path, result)
    partial.unlink(missing_ok=True)
    return result, {
        "cached": False,
        "file": str(path),
        "embedded": embedded,
        "seconds": seconds,
        "per_second": embedded / seconds if seconds else None,
    }


# -- filling the database -------------------------------------------------------------------


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


def ensure_agents(account: Any, plan: ScalePlan) -> dict[str, Any]:
    from memories.models import Agent

    found = {agent.slug: agent for agent in Agent.objects.filter(account=account)}
    missing = [
        Agent(account=account, slug=slug, name=slug) for slug, _ in plan.sizes if slug not in found
    ]
    if missing:
        Agent.objects.bulk_create(missing, batch_size=1_000)
        found = {agent.slug: agent for agent in Agent.objects.filter(account=account)}
    return found


def fill_database(
    *, data_dir: Path, account: Any, plan: ScalePlan, fill_threads: int, batch_size: int
) -> dict[str, Any]:
    """Bring every planned agent up to its size; rows already there (an earlier run) are kept."""
    from django.db import connection

    began = time.perf_counter()
    embedder = fill_embedder(fill_threads)
    marker = read_marker(data_dir, FILL_MARKER)
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
            "runs": [],
        }
        write_marker(data_dir, marker, FILL_MARKER)
    if marker.get("model") != embedder.model_name:
        raise SystemExit(
            f"{data_dir} was filled with {marker.get('model')}, not {embedder.model_name}"
        )
    epoch = datetime.fromisoformat(marker["epoch"])
    start = epoch - YEAR

    agents = ensure_agents(account, plan)
    have = existing_counts(account)
    if all(have.get(slug, 0) >= size for slug, size in plan.sizes):
        log(f"Fill already present in {data_dir} ({sum(have.values()):,} memories): skipping it.")
        if not marker.get("complete"):
            marker["complete"] = True
            write_marker(data_dir, marker, FILL_MARKER)
        return {"skipped": True, "memories": sum(have.values()), "earlier": marker}

    log(f"Generating {plan.pool:,} distinct pool sentences...")
    sentences = corpus.generate_sentences(plan.pool, plan.seed)
    vectors, pool_stats = pool_vectors(
        data_dir=data_dir, texts=[s.text for s in sentences], embedder=embedder
    )
    del embedder
    log(f"Planning {plan.total:,} rows over {len(plan.sizes):,} agents...")
    rows = plan_rows(plan)
    have_by_index = np.array([have.get(slug, 0) for slug, _ in plan.sizes], dtype=np.int64)
    todo = np.flatnonzero(rows.occurrence >= have_by_index[rows.agent])
    agent_pks = [agents[slug].pk for slug, _ in plan.sizes]
    model_name = marker["model"]
    metadata = [{"source": "bench-scale", "kind": s.category} for s in sentences]

    copier = MemoryCopy.open()
    log(
        f"Filling {len(todo):,} memories ({plan.total - len(todo):,} already there) with "
        f"binary COPY, batches of {batch_size:,}..."
    )
    copy_began = time.perf_counter()
    done = last_logged = 0
    build_seconds = copy_seconds = 0.0
    try:
        for batch_start in range(0, len(todo), batch_size):
            t0 = time.perf_counter()
            batch = []
            for position in todo[batch_start : batch_start + batch_size].tolist():
                pool_index = int(rows.pool_index[position])
                sentence = sentences[pool_index]
                created = start + timedelta(seconds=float(rows.created_seconds[position]))
                accesses = int(rows.accesses[position])
                session = int(rows.session[position])
                batch.append(
                    (
                        uuid.UUID(bytes=rows.uuids[16 * position : 16 * position + 16], version=4),
                        account.pk,
                        agent_pks[rows.agent[position]],
                        sentence.text,
                        sentence.memory_type,
                        f"session-{session}" if session >= 0 else None,
                        metadata[pool_index],
                        False,
                        accesses,
                        created + (epoch - created) * float(rows.accessed_share[position])
                        if accesses
                        else None,
                        created,
                        created,
                        vectors[pool_index],
                        model_name,
                        "ready",
                        "",
                        0,
                    )
                )
            t1 = time.perf_counter()
            copier.write(batch)
            t2 = time.perf_counter()
            build_seconds += t1 - t0
            copy_seconds += t2 - t1
            done += len(batch)
            if done - last_logged >= 50_000 or done == len(todo):
                last_logged = done
                rate = done / (t2 - copy_began)
                log(
                    f"  {done:>9,}/{len(todo):,}  {rate:7,.0f} memories/s  "
                    f"(rows built {done / build_seconds:7,.0f}/s, COPY {done / copy_seconds:7,.0f}"
                    f"/s)  ETA {fmt_duration((len(todo) - done) / rate)}"
                )
    finally:
        copier.close()
    copy_elapsed = time.perf_counter() - copy_began

    log("Setting the account's memory counter (billing_account.memories_held)...")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_account SET memories_held = "
            "(SELECT count(*) FROM memories_memory WHERE account_id = %s) WHERE id = %s "
            "RETURNING memories_held",
            [account.pk, account.pk],
        )
        (held,) = cursor.fetchone() or (None,)
    log("VACUUM ANALYZE memories_memory...")
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) memories_memory")
    vacuum_seconds = time.perf_counter() - t0
    elapsed = time.perf_counter() - began
    run = {
        "inserted": done,
        "seconds": elapsed,
        "pool": pool_stats,
        "copy_seconds_wall": copy_elapsed,
        "copy_seconds": copy_seconds,
        "row_build_seconds": build_seconds,
        "copy_memories_per_second": done / copy_elapsed if copy_elapsed else None,
        "vacuum_analyze_seconds": vacuum_seconds,
        "memories_held": held,
    }
    marker["runs"] = [*marker.get("runs", []), run]
    marker["complete"] = True
    write_marker(data_dir, marker, FILL_MARKER)
    log(
        f"Fill done in {fmt_duration(elapsed)}: {done:,} memories "
        f"(pool embedding {pool_stats.get('seconds', 0):.0f}s, COPY {copy_elapsed:.0f}s at "
        f"{run['copy_memories_per_second'] or 0:,.0f}/s, VACUUM ANALYZE {vacuum_seconds:.0f}s)."
    )
    return {"skipped": False, "memories": sum(existing_counts(account).values()), **run}


# -- HTTP measurements -------------------------------------------------------------------------


@dataclass
class Workload:
    queries: list[str]
    contents: list[corpus.Sentence]
    run_session: str

    def payload(self, endpoint: str, index: int) -> dict[str, Any]:
        # Each endpoint walks its own offset into the lists, so no two requests repeat a text.
        if endpoint == "recall":
            return {"query": self.queries[index % len(self.queries)], "top_k": RECALL_TOP_K}
        if endpoint == "inject_context":
            query = self.queries[(index + len(self.queries) // 2) % len(self.queries)]
            return {"query": query, "top_k": 6, "max_tokens": 300}
        content = self.contents[index % len(self.contents)]
        return {
            "content": content.text,
            "type": content.memory_type,
            "session_id": self.run_session,
            "metadata": {"source": "bench-scale-remember"},
        }


def check_response(endpoint: str, slug: str, body: dict[str, Any]) -> None:
    if endpoint == "recall":
        memories = body["memories"]
        if len(memories) != RECALL_TOP_K or any(m["agent_id"] != slug for m in memories):
            raise RuntimeError(f"recall returned {len(memories)} memories, not {RECALL_TOP_K}")
    elif endpoint == "inject_context":
        if not body.get("context") or not body.get("memories_used"):
            raise RuntimeError(f"inject-context returned no context: {body}")
    elif body.get("status") != "ready":
        raise RuntimeError(f"remember did not embed in-process: {body}")


def call(client: Client, slug: str, endpoint: str, payload: dict[str, Any]) -> float:
    """One request; its client-side time in ms."""
    body = json.dumps(payload).encode()
    t0 = time.perf_counter()
    status, content = client.post(f"/api/v1/agents/{slug}/{ENDPOINT_PATHS[endpoint]}", body)
    elapsed = (time.perf_counter() - t0) * 1000
    if status != 200:
        raise RuntimeError(f"{endpoint} on {slug}: HTTP {status} {content[:500]!r}")
    check_response(endpoint, slug, json.loads(content))
    return elapsed


def recall_round(
    *, base_url: str, api_key: str, slug: str, workload: Workload, first: int, count: int
) -> list[float]:
    """`count` recalls from 4 threads, each request on a connection of its own."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    indexes = iter(range(first, first + count))

    def worker() -> None:
        try:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                client = Client(base_url, api_key)
                try:
                    ms = call(client, slug, "recall", workload.payload("recall", index))
                finally:
                    client.close()
                with lock:
                    latencies.append(ms)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return latencies


def warm_up(
    *, base_url: str, api_key: str, slug: str, workload: Workload, first: int, per_round: int
) -> dict[str, Any]:
    """Rounds of recalls on fresh connections until a round (the second at the earliest)
    has no slow request.

    The first recall in each gunicorn worker loads the agent's vectors; a keep-alive
    connection stays with one worker, so every request opens its own connection to let
    the kernel hand them to both workers.
    """
    rounds: list[dict[str, float]] = []
    offset = first
    for _ in range(6):
        latencies = recall_round(
            base_url=base_url,
            api_key=api_key,
            slug=slug,
            workload=workload,
            first=offset,
            count=per_round,
        )
        offset += per_round
        stats = summarise(latencies)
        rounds.append(stats)
        # A vector load takes hundreds of ms to seconds; a round without one is flat.
        if len(rounds) >= 2 and stats["max"] < max(250.0, 5 * stats["p50"]):
            break
    return {"rounds": rounds, "requests": offset - first}


def measure(
    *,
    server: Server,
    client: Client,
    slug: str,
    endpoint: str,
    workload: Workload,
    first: int,
    count: int,
) -> dict[str, Any]:
    time.sleep(0.3)  # gunicorn logs after responding: let the calls before land first
    mark = server.log_offset()
    began = time.perf_counter()
    client_ms = [
        call(client, slug, endpoint, workload.payload(endpoint, first + index))
        for index in range(count)
    ]
    wall = time.perf_counter() - began
    suffix = f"agents/{slug}/{ENDPOINT_PATHS[endpoint]}"
    server_ms = server.access_ms(mark, suffix, method="POST")
    return {
        "client": summarise(client_ms, wall),
        "server": summarise(server_ms or [math.nan]),
    }


def delete_remembered(base_url: str, api_key: str, run_session: str) -> dict[str, int]:
    session = new_session(api_key)
    deleted = {}
    for slug in MEASURED:
        response = session.delete(
            f"{base_url}/api/v1/agents/{slug}/memories",
            params={"session_id": run_session},
            timeout=120,
        )
        response.raise_for_status()
        deleted[slug] = int(response.json()["deleted"])
    return deleted


# -- in-process figures ------------------------------------------------------------------------


def query_embedding_times(count: int, seed: int) -> dict[str, Any]:
    """`embedder.embed([query])` alone, with one ONNX thread (as a server thread when both
    cores are busy) and with every core."""
    queries = corpus.generate_queries(count + 20, seed + 5)
    result = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        embedder = fill_embedder(threads)
        for query in queries[:20]:
            embedder.embed([query])
        times = []
        for query in queries[20:]:
            t0 = time.perf_counter()
            embedder.embed([query])
            times.append((time.perf_counter() - t0) * 1000)
        result[f"threads_{threads}"] = summarise(times)
    return result


def agent_vectors(agent: Any, model_name: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """All the agent's live ready vectors, normalised, with their ids (pk) and uuid -> row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, uuid, vector_send(embedding) FROM memories_memory "
            "WHERE agent_id = %s AND status = 'ready' AND embedding_model = %s "
            "AND (expires_at IS NULL OR pinned OR expires_at > now()) ORDER BY id",
            [agent.pk, model_name],
        )
        rows = cursor.fetchall()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    data = b"".join(bytes(row[2]) for row in rows)
    width = len(bytes(rows[0][2])) if rows else 4
    # vector_send: int16 dimensions, int16 unused, then big-endian float4s.
    raw = np.frombuffer(data, dtype=np.uint8).reshape(len(rows), width)[:, 4:]
    vectors = raw.copy().view(">f4").astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    by_uuid = {str(row[1]): index for index, row in enumerate(rows)}
    return ids, vectors, by_uuid


def top_k(similarities: np.ndarray, k: int) -> np.ndarray:
    """Row indexes of the k highest similarities, best first."""
    k = min(k, len(similarities))
    best = np.argpartition(-similarities, k - 1)[:k]
    return best[np.argsort(-similarities[best])]


def vector_score(memory: dict[str, Any]) -> tuple[str, float] | None:
    """The vector part of a recalled memory's score, from `explain` if the API offers it."""
    explain = memory.get("explain")
    sources = [explain, memory] if isinstance(explain, dict) else [memory]
    for key in ("vector", "similarity"):
        for source in sources:
            if source.get(key) is not None:
                return key, float(source[key])
    return None


def candidate_search(
    agent: Any, query: str, vector: np.ndarray, model: str, limit: int, lexical_weight: float
) -> Any:
    """memories.selectors.recall_candidates as recall calls it, whatever its current keywords."""
    from memories import selectors

    accepted = inspect.signature(selectors.recall_candidates).parameters
    arguments = {
        "agent": agent,
        "query": query,
        "query_vector": vector,
        "model_name": model,
        "limit": limit,
        "lexical_weight": lexical_weight,
    }
    return selectors.recall_candidates(**{k: v for k, v in arguments.items() if k in accepted})


def configured_lexical_weight() -> float:
    """The weight of the lexical (BM25) score in recall's relevance; 0 before hybrid recall."""
    from memories import services

    return float(getattr(services.ranking_weights(), "lexical", 0.0))


def exactness(
    *, base_url: str, api_key: str, agent: Any, count: int, seed: int, sql_queries: int
) -> dict[str, Any]:
    """The large agent's recall against brute force over its vectors read from the database.

    Over HTTP, recall's order mixes relevance with recency and frequency (and relevance may
    fuse a lexical score with the vector's), so the check is whether each result's vector
    score is its exact cosine (`explain` gives the parts) and how many results are among the
    exact top-50 by cosine. In-process, the candidate search recall runs before ranking
    (`recall_candidates`), with the lexical weight at 0, is compared id for id with the exact
    top-k by cosine: recall@k.
    """
    from django.test import override_settings

    from memories import services
    from memories.vector_cache import get_vector_cache

    embedder = fill_embedder(os.cpu_count() or 1)
    model = embedder.model_name
    weight = configured_lexical_weight()
    log(f"  reading {agent.slug}'s vectors from the database...")
    ids, vectors, by_uuid = agent_vectors(agent, model)
    queries = corpus.generate_queries(count, seed + 4)
    query_vectors = np.asarray(embedder.embed(queries), dtype=np.float32)
    exact = [vectors @ query_vector for query_vector in query_vectors]

    # Over HTTP.
    client = Client(base_url, api_key)
    found_shares: list[float] = []
    ranks: list[int] = []
    score_gaps: list[float] = []
    score_key = None
    explain_offered = False
    for query, similarities in zip(queries, exact, strict=True):
        status, content = client.post(
            f"/api/v1/agents/{agent.slug}/recall",
            json.dumps({"query": query, "top_k": RECALL_TOP_K, "explain": True}).encode(),
        )
        if status != 200:
            raise RuntimeError(f"recall: HTTP {status} {content[:300]!r}")
        memories = json.loads(content)["memories"]
        order = np.argsort(-similarities)
        rank_of = np.empty(len(order), dtype=np.int64)
        rank_of[order] = np.arange(len(order))
        best = set(order[:EXACT_POOL].tolist())
        rows = [by_uuid.get(m["id"]) for m in memories]
        found_shares.append(sum(row in best for row in rows) / max(1, len(rows)))
        ranks.extend(int(rank_of[row]) for row in rows if row is not None)
        for memory, row in zip(memories, rows, strict=True):
            explain_offered = explain_offered or isinstance(memory.get("explain"), dict)
            found = vector_score(memory)
            if found is not None and row is not None:
                score_key = score_key or found[0]
                cosine = min(1.0, max(0.0, float(similarities[row])))
                score_gaps.append(abs(found[1] - cosine))
    client.close()
    http = {
        "queries": count,
        "lexical_weight": weight,
        "share_in_exact_top50": float(np.mean(found_shares)),
        "worst_share": float(np.min(found_shares)),
        "returned_rank_p50": float(np.percentile(ranks, 50)) if ranks else None,
        "returned_rank_max": int(max(ranks)) if ranks else None,
        "score_key": score_key,
        "max_score_vs_exact_cosine": float(max(score_gaps)) if score_gaps else None,
        "explain_offered": explain_offered,
    }

    # In-process, the candidate search recall runs before its ranking.
    pool_size = max(services.MIN_CANDIDATES, RECALL_TOP_K * services.CANDIDATES_PER_RESULT)

    def candidate_recall(queries_used: int, lexical_weight: float) -> dict[str, Any]:
        at_k, in_pool, times = [], [], []
        for query, query_vector, similarities in list(
            zip(queries, query_vectors, exact, strict=True)
        )[:queries_used]:
            truth = set(ids[top_k(similarities, RECALL_TOP_K)].tolist())
            t0 = time.perf_counter()
            found = candidate_search(
                agent, query, query_vector, model, RECALL_TOP_K, lexical_weight
            )
            times.append((time.perf_counter() - t0) * 1000)
            at_k.append(len(truth & {c.memory_id for c in found}) / len(truth))
            pool = candidate_search(agent, query, query_vector, model, pool_size, lexical_weight)
            in_pool.append(len(truth & {c.memory_id for c in pool}) / len(truth))
        return {
            "queries": queries_used,
            "lexical_weight": lexical_weight,
            "recall_at_10": float(np.mean(at_k)),
            "worst_recall_at_10": float(np.min(at_k)),
            f"exact_top10_in_{pool_size}_candidates": float(np.mean(in_pool)),
            "candidate_search_ms": summarise(times),
        }

    # The first call loads the agent's vectors into this process's copy, as in a worker.
    candidate_search(agent, queries[0], query_vectors[0], model, RECALL_TOP_K, 0.0)
    cache = get_vector_cache()
    result: dict[str, Any] = {"agent": agent.slug, "vectors": len(ids), "http": http}
    result["in_process"] = candidate_recall(count, 0.0)
    result["in_process"]["vector_cache_holds_agent"] = cache.holds(
        agent_pk=agent.pk, model_name=model
    )
    if weight:
        # As recall runs it: how much of the cosine top-10 is still among the candidates.
        result["in_process_as_configured"] = candidate_recall(count, weight)
    with override_settings(KRONVEX_VECTOR_CACHE_MB=0):
        # Without the in-process copy: the scan in PostgreSQL a worker falls back to.
        if sql_queries:
            result["postgresql_scan"] = candidate_recall(sql_queries, 0.0)
            if weight:
                result["postgresql_scan_as_configured"] = candidate_recall(sql_queries, weight)
    return result


def report_exactness(exact: dict[str, Any]) -> None:
    http = exact["http"]
    log(
        f"  HTTP recall top_k {RECALL_TOP_K} (lexical weight {http['lexical_weight']}): "
        f"{http['share_in_exact_top50']:.3f} of the returned memories are in the exact "
        f"top-{EXACT_POOL} by cosine (worst query {http['worst_share']:.2f}; their cosine rank "
        f"p50 {http['returned_rank_p50']}, max {http['returned_rank_max']}); returned "
        f"'{http['score_key']}' vs exact cosine: max gap {http['max_score_vs_exact_cosine']}"
    )
    for key, what in (
        ("in_process", "in-process vector search"),
        ("in_process_as_configured", "in-process, as recall runs it"),
        ("postgresql_scan", "without the vector copy (PostgreSQL)"),
        ("postgresql_scan_as_configured", "without the vector copy, as recall runs it"),
    ):
        if key not in exact:
            continue
        part = exact[key]
        pool = next(v for k, v in part.items() if k.startswith("exact_top10_in_"))
        log(
            f"  {what} (lexical weight {part['lexical_weight']}, {part['queries']} queries) vs "
            f"numpy over {exact['vectors']:,} vectors: recall@10 {part['recall_at_10']:.3f} "
            f"(worst {part['worst_recall_at_10']:.2f}), exact top-10 among the candidates "
            f"{pool:.3f}; candidate search p50 {part['candidate_search_ms']['p50']:.2f} ms"
            + (
                f"; agent held in the vector copy: {part['vector_cache_holds_agent']}"
                if "vector_cache_holds_agent" in part
                else ""
            )
        )


# -- plots ------------------------------------------------------------------------------------


def plot(
    *, results: dict[str, Any], sizes: dict[str, int], total: int, path: Path, note: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [sizes[slug] for slug in MEASURED]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
    styles = {"recall": "o-", "inject_context": "s-", "remember": "^-"}
    for axis, percentile in zip(axes, ("p50", "p99"), strict=True):
        for endpoint in ENDPOINTS:
            ys = [results[slug][endpoint]["client"][percentile] for slug in MEASURED]
            axis.plot(xs, ys, styles[endpoint], label=endpoint.replace("_", "-"))
        axis.set_xscale("log")
        axis.set_xlabel("memories in the agent")
        axis.set_ylabel(f"{percentile} latency, ms (client, sequential)")
        axis.set_title(f"{percentile}, {total:,} memories in the database")
        axis.grid(True, which="both", alpha=0.3)
        axis.set_ylim(bottom=0)
    low, high = min(xs) / 1.5, max((x for x in xs if x <= 10_000), default=min(xs)) * 1.5
    label = "recall target, agents <= 10,000"
    axes[0].hlines(SMALL_P50, low, high, colors="red", linestyles="--", label=label)
    axes[1].hlines(SMALL_P99, low, high, colors="red", linestyles="--", label=label)
    if max(xs) > 10_000:
        axes[1].hlines(
            LARGE_P99,
            max(xs) / 1.5,
            max(xs) * 1.5,
            colors="darkred",
            linestyles=":",
            label=f"recall target, {max(xs):,} memories",
        )
    for axis in axes:
        # Room above the highest point or target line, whichever is higher.
        axis.set_ylim(0, max(axis.get_ylim()[1], LARGE_P99 if max(xs) > 10_000 else 0) * 1.08)
        axis.legend(loc="best", fontsize=8)
    figure.suptitle(note, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the run ------------------------------------------------------------------------------------


def verdicts(
    rows: dict[str, dict[str, Any]], sizes: dict[str, int], exact: dict[str, Any] | None
) -> list[tuple[str, bool]]:
    found = []
    for slug in MEASURED:
        stats = rows[slug]["recall"]["client"]
        if sizes[slug] <= 10_000:
            ok = stats["p50"] <= SMALL_P50 and stats["p99"] <= SMALL_P99
            text = (
                f"recall {slug} ({sizes[slug]:,}): p50 {stats['p50']:6.2f} ms, "
                f"p99 {stats['p99']:6.2f} ms   target p50 <= {SMALL_P50:.0f}, "
                f"p99 <= {SMALL_P99:.0f}"
            )
        else:
            ok = stats["p99"] <= LARGE_P99
            text = (
                f"recall {slug} ({sizes[slug]:,}): p99 {stats['p99']:6.2f} ms   "
                f"target p99 <= {LARGE_P99:.0f}"
            )
        found.append((text, ok))
    if exact:
        http = exact["http"]
        if not http["lexical_weight"]:
            # With a lexical part, results may rightly leave the cosine top-50: no target then.
            share = http["share_in_exact_top50"]
            found.append(
                (
                    f"HTTP recall of {exact['agent']}: {share:.3f} of results in the exact "
                    f"top-{EXACT_POOL}   target >= {MIN_EXACT_RECALL}",
                    share >= MIN_EXACT_RECALL,
                )
            )
        value = exact["in_process"]["recall_at_10"]
        found.append(
            (
                f"recall@10 of {exact['agent']}'s vector search vs exact: {value:.3f}   "
                f"target >= {MIN_EXACT_RECALL}",
                value >= MIN_EXACT_RECALL,
            )
        )
    return found


def git_state() -> dict[str, Any]:
    def run(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=30
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {
        "source": str(REPO),
        "commit": run("rev-parse", "HEAD") or None,
        "changed": run("status", "--porcelain").splitlines(),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--total", type=int, default=1_000_000, help="memories in the database")
    parser.add_argument("--large", type=int, default=100_000, help=f"memories of {LARGE}")
    parser.add_argument("--medium", type=int, default=10_000, help=f"memories of {MEDIUM}")
    parser.add_argument("--small", type=int, default=1_000, help=f"memories of {SMALL}")
    parser.add_argument(
        "--agents", type=int, default=1_000, help="agents in all (the measured three included)"
    )
    parser.add_argument(
        "--pool",
        type=int,
        help="distinct sentences embedded for the fill (default: 1.2 x the largest agent)",
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="measured requests per agent and endpoint"
    )
    parser.add_argument(
        "--warmup", type=int, default=40, help="warm-up recalls per agent and round"
    )
    parser.add_argument(
        "--exact-queries", type=int, default=100, help="queries of the exactness check"
    )
    parser.add_argument(
        "--sql-queries",
        type=int,
        default=20,
        help="of them, also checked without the vector cache (0: skip)",
    )
    parser.add_argument(
        "--embedding-queries", type=int, default=200, help="query-embedding samples"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="data folder to fill or reuse (default: a temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument("--publish", action="store_true", help="also copy the plot to bench/plots/")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--batch-size", type=int, default=5_000, help="rows per COPY")
    parser.add_argument(
        "--fill-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="ONNX threads for the pool's embeddings",
    )
    args = parser.parse_args()
    if args.pool is None:
        args.pool = math.ceil(1.2 * max(args.large, args.medium, args.small))
    return args


def main() -> int:
    args = parse_args()
    plan = ScalePlan.make(
        total=args.total,
        large=args.large,
        medium=args.medium,
        small=args.small,
        agents=args.agents,
        seed=args.seed,
        pool=args.pool,
    )
    temporary = args.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="kronvex-scale-")) if temporary else args.data_dir.resolve()
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(data_dir, port)
    # This process reads and fills the same embedded PostgreSQL (serve owns it) through
    # Django, so it gets the server's settings.
    use_server_settings(env)
    server = Server(data_dir, env, port)
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    run_session = f"{REMEMBER_SESSION_PREFIX}{stamp}"
    api_key = ""
    cleaned = False
    sigterm_as_interrupt()
    try:
        log(
            f"Data folder: {data_dir}\nStarting `manage.py serve` on port {server.port} "
            f"(log: {server.log_path})..."
        )
        t0 = time.perf_counter()
        server.start()
        # Long: serve migrates first, which on a full folder may rewrite a million rows.
        health = server.wait_healthy(timeout=1_800)
        log(
            f"Healthy after {time.perf_counter() - t0:.1f}s: embedder "
            f"{health['embedder'].get('model')}, pgvector {health['database'].get('pgvector')}"
        )
        api_key = create_api_key(env, email=EMAIL, agent=LARGE)

        import django

        django.setup()
        logging.getLogger("celery").setLevel(logging.WARNING)
        logging.getLogger("kombu").setLevel(logging.ERROR)
        from django.conf import settings
        from django.db import connection

        from api.models import ApiKey
        from api.services import hash_key
        from memories.models import Agent

        account = ApiKey.objects.select_related("account").get(key_hash=hash_key(api_key)).account
        fill = fill_database(
            data_dir=data_dir,
            account=account,
            plan=plan,
            fill_threads=args.fill_threads,
            batch_size=args.batch_size,
        )
        if fill["skipped"]:
            # Earlier runs leave dead rows (recall counts accesses, remembered memories are
            # deleted): vacuum now, or autovacuum may take a core in the middle of a pass.
            log("VACUUM ANALYZE memories_memory...")
            began = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE) memories_memory")
            log(f"  done in {time.perf_counter() - began:.1f}s")
        counts = existing_counts(account)
        sizes = {slug: counts.get(slug, 0) for slug in MEASURED}
        log(
            f"Database: {sum(counts.values()):,} memories in {len(counts):,} agents; "
            + ", ".join(f"{slug} {size:,}" for slug, size in sizes.items())
        )
        agents = {slug: Agent.objects.get(account=account, slug=slug) for slug in MEASURED}
        connection.close()  # idle during the HTTP passes

        pool_texts = {s.text for s in corpus.generate_sentences(plan.pool, plan.seed)}
        workload = Workload(
            queries=corpus.generate_queries(5_000, args.seed + 2),
            contents=corpus.generate_sentences(5_000, args.seed + 3, exclude=pool_texts),
            run_session=run_session,
        )
        load_before = os.getloadavg()
        log(
            f"Load average before measuring: {load_before[0]:.2f} "
            "(others' work on this machine shows up as noise)"
        )
        warmups: dict[str, Any] = {}
        offset = 0
        for slug in MEASURED:
            warmups[slug] = warm_up(
                base_url=server.base_url,
                api_key=api_key,
                slug=slug,
                workload=workload,
                first=offset,
                per_round=args.warmup,
            )
            offset += warmups[slug]["requests"]
            rounds = warmups[slug]["rounds"]
            log(
                f"Warm-up {slug}: {warmups[slug]['requests']} recalls in {len(rounds)} rounds "
                f"on fresh connections; slowest per round (ms): "
                + ", ".join(f"{r['max']:.0f}" for r in rounds)
            )

        results: dict[str, dict[str, Any]] = {}
        client = Client(server.base_url, api_key)
        for slug in MEASURED:
            log(f"Measuring {slug} ({sizes[slug]:,} memories): {args.requests} requests each...")
            results[slug] = {}
            for endpoint in ENDPOINTS:
                # A few unmeasured calls: the first remember of a pass refreshes caches.
                for index in range(5):
                    call(client, slug, endpoint, workload.payload(endpoint, offset + index))
                results[slug][endpoint] = measure(
                    server=server,
                    client=client,
                    slug=slug,
                    endpoint=endpoint,
                    workload=workload,
                    first=offset + 5,
                    count=args.requests,
                )
            offset += args.requests + 5
        client.close()
        load_after = os.getloadavg()
        for side in ("client", "server"):
            what = (
                "client-side latency (ms), one keep-alive connection"
                if side == "client"
                else "server-side time from the gunicorn access log (ms, whole ms)"
            )
            print_table(
                f"Sequential, {what}",
                {
                    f"{endpoint} {slug[6:]} {sizes[slug]:,}": results[slug][endpoint][side]
                    for slug in MEASURED
                    for endpoint in ENDPOINTS
                },
                first="endpoint agent memories",
            )

        deleted = delete_remembered(server.base_url, api_key, run_session)
        cleaned = True
        log(f"\nDeleted the remembered memories: {deleted}")

        log(f"\nQuery embedding alone ({args.embedding_queries} queries, server idle)...")
        embedding = query_embedding_times(args.embedding_queries, args.seed)
        for name, stats in embedding.items():
            log(f"  {name.replace('_', ' ')}: p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms")

        log(f"\nExactness of {LARGE}'s recall ({args.exact_queries} queries)...")
        exact = exactness(
            base_url=server.base_url,
            api_key=api_key,
            agent=agents[LARGE],
            count=args.exact_queries,
            seed=args.seed,
            sql_queries=min(args.sql_queries, args.exact_queries),
        )
        report_exactness(exact)

        checks = verdicts(results, sizes, exact)
        figures = {
            "started": started.isoformat(timespec="seconds"),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "plan": {**plan.key(), "agent_sizes": sizes},
            "data_dir": str(data_dir),
            "serve_log": str(server.log_path),
            "git": git_state(),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "server": {
                "workers": env.get("KRONVEX_WEB_WORKERS", "2"),
                "threads": env.get("KRONVEX_WEB_THREADS", "4"),
                "onnx_threads": health.get("embedder", {}).get("threads"),
                "vector_cache_mb": settings.KRONVEX_VECTOR_CACHE_MB,
                "health": health,
            },
            "fill": fill,
            "warmup": warmups,
            "sequential": results,
            "remembered_deleted": deleted,
            "query_embedding": embedding,
            "exactness": exact,
            "targets": {text: ok for text, ok in checks},
        }
        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        out_path = out_dir / f"scale_latency-{stamp}.json"
        out_path.write_text(json.dumps(figures, indent=2, default=str))
        plot_path = out_dir / f"scale_latency-{stamp}.png"
        plot(
            results=results,
            sizes=sizes,
            total=sum(counts.values()),
            path=plot_path,
            note=(
                f"Kronvex embedded default (manage.py serve), {os.cpu_count()} cores, "
                f"{started:%Y-%m-%d}; {args.requests} sequential keep-alive requests per "
                "point; dashed: recall targets"
            ),
        )
        if args.publish:
            published = REPO / "bench" / "plots" / "scale_latency.png"
            published.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plot_path, published)
            log(f"Published the plot to {published}")

        log("\nSummary")
        runs = (fill.get("earlier") or {}).get("runs", []) if fill["skipped"] else [fill]
        for run in runs:
            pool = run.get("pool", {})
            log(
                f"  fill{' (an earlier run; reused now)' if fill['skipped'] else ''}: "
                f"{run['inserted']:,} memories in {fmt_duration(run['seconds'])}: pool "
                + (
                    "vectors from an earlier run"
                    if pool.get("cached")
                    else f"of {pool.get('embedded', 0):,} embedded in "
                    f"{fmt_duration(pool.get('seconds', 0))}"
                )
                + f", COPY {fmt_duration(run['copy_seconds_wall'])} "
                f"({run['copy_memories_per_second'] or 0:,.0f}/s), VACUUM ANALYZE "
                f"{fmt_duration(run['vacuum_analyze_seconds'])}"
            )
        for name, stats in embedding.items():
            log(
                f"  query embedding, {name.replace('_', ' ')}: p50 {stats['p50']:.2f} ms, "
                f"p99 {stats['p99']:.2f} ms"
            )
        log("  targets (client-side, sequential):")
        for text, ok in checks:
            log(f"    {'PASS' if ok else 'FAIL'}  {text}")
        log(f"  results: {out_path}\n  plot: {plot_path}")
        return 0 if all(ok for _, ok in checks) else 1
    except KeyboardInterrupt:
        log("\nInterrupted.")
        return 130
    finally:
        shielded_cleanup()  # a second Ctrl-C must not skip the clean-up
        if api_key and not cleaned:
            with contextlib.suppress(Exception):
                delete_remembered(server.base_url, api_key, run_session)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        log("Stopping the server...")
        server.stop()
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif temporary:
            log(f"Kept {data_dir} (reuse it with --data-dir).")


if __name__ == "__main__":
    sys.exit(main())
