#!/usr/bin/env python
"""Retrieval quality on the committed evaluation set (bench/evalset/conversations.json).

Starts `manage.py serve` on its own data folder, stores every turn of every conversation
through the API (one agent per conversation, each turn's date as `created_at`), asks
every question through recall, and scores the answers against the questions' evidence
turns: recall@1/5/10, MRR and nDCG@10, overall, per question kind and per split. Two
reference retrievers run on the same stored memories: lexical-only (Okapi BM25 over
PostgreSQL's `english` lexemes of each memory's content) and vector-only (cosine with
the same embedding model, brute force).

    .venv/bin/python bench/retrieval_quality.py                  # score recall and the references
    .venv/bin/python bench/retrieval_quality.py --tune           # also sweep the lexical weight
    .venv/bin/python bench/retrieval_quality.py --data-dir /work/bench-quality   # keep the load

See bench/README.md for what it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 - needs the path above
import numpy as np  # noqa: E402

EVALSET = Path(__file__).resolve().parent / "evalset" / "conversations.json"
EMAIL = "quality@example.com"
LOAD_MARKER = "quality-load.json"
KS = (1, 5, 10)
TOP_K = 10
KINDS = ("exact", "paraphrase", "temporal", "update", "preference", "multi_session")
RETRIEVERS = ("kronvex", "lexical", "vector")
# Okapi BM25 of the lexical reference.
BM25_K1 = 1.2
BM25_B = 0.75
YEAR = re.compile(r"\b(20\d\d)\b")


# -- the evaluation set, moved to the present --------------------------------------------------


@dataclass
class Conversation:
    id: str
    split: str
    user: str
    years: int  # how many years its dates were moved forward
    turns: list[dict[str, Any]]


@dataclass
class Question:
    id: str
    conversation: str
    split: str
    kind: str
    text: str
    evidence: set[str]


def shifted(moment: str, years: int) -> datetime:
    value = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if value.month == 2 and value.day == 29:
        value = value.replace(day=28)
    return value.replace(year=value.year + years)


def years_moved(text: str, years: int) -> str:
    return YEAR.sub(lambda match: str(int(match[1]) + years), text)


def load_evalset(now: datetime) -> tuple[list[Conversation], list[Question], str]:
    """The set, each conversation moved forward by whole years to end as close before now
    as it can: the service ranks by its own clock, so memories must be as old at question
    time as the set says they are. Years named in questions move with them; months stay."""
    raw = EVALSET.read_bytes()
    data = json.loads(raw)
    conversations = []
    years_of = {}
    for item in data["conversations"]:
        turns = [turn for session in item["sessions"] for turn in session["turns"]]
        for session in item["sessions"]:
            for turn in session["turns"]:
                turn["session"] = session["id"]
        asked = [q["asked_at"] for q in data["questions"] if q["conversation"] == item["id"]]
        last = max([turns[-1]["at"], *asked])
        years = 0
        while shifted(last, years + 1) < now:
            years += 1
        years_of[item["id"]] = years
        conversations.append(
            Conversation(
                id=item["id"], split=item["split"], user=item["user"], years=years, turns=turns
            )
        )
    splits = {conversation.id: conversation.split for conversation in conversations}
    questions = [
        Question(
            id=item["id"],
            conversation=item["conversation"],
            split=splits[item["conversation"]],
            kind=item["kind"],
            text=years_moved(item["question"], years_of[item["conversation"]]),
            evidence=set(item["evidence"]),
        )
        for item in data["questions"]
    ]
    return conversations, questions, hashlib.sha256(raw).hexdigest()[:16]


# -- metrics ------------------------------------------------------------------------------------


def question_metrics(ranked: list[str], evidence: set[str]) -> dict[str, float]:
    """Turn-level metrics of one ranked list of turn ids (best first)."""
    metrics = {f"recall@{k}": len(evidence & set(ranked[:k])) / len(evidence) for k in KS}
    first = next((rank for rank, turn in enumerate(ranked, 1) if turn in evidence), None)
    metrics["mrr"] = 1.0 / first if first else 0.0
    gains = sum(
        1.0 / math.log2(rank + 1) for rank, turn in enumerate(ranked[:TOP_K], 1) if turn in evidence
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(evidence), TOP_K) + 1))
    metrics["ndcg@10"] = gains / ideal
    return metrics


def averaged(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


def summary(
    questions: list[Question], results: dict[str, dict[str, dict[str, float]]]
) -> dict[str, dict[str, dict[str, float]]]:
    """{retriever: {group: averaged metrics}}, groups: all, each kind, each split."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for retriever, by_question in results.items():
        groups: dict[str, list[dict[str, float]]] = defaultdict(list)
        for question in questions:
            if question.id not in by_question:
                continue
            row = by_question[question.id]
            for group in ("all", question.kind, f"split:{question.split}"):
                groups[group].append(row)
        table[retriever] = {group: averaged(rows) for group, rows in groups.items()}
        for group, rows in groups.items():
            table[retriever][group]["questions"] = len(rows)
    return table


def print_summary(table: dict[str, dict[str, dict[str, float]]], title: str) -> None:
    harness.log(f"\n{title}")
    metric_names = [f"recall@{k}" for k in KS] + ["mrr", "ndcg@10"]
    groups = ["all", *KINDS, "split:tune", "split:heldout"]
    header = f"{'group':<16}{'n':>5}  " + "  ".join(
        f"{retriever + ' ' + name:>22}" for name in ("recall@5", "mrr") for retriever in table
    )
    harness.log(header)
    for group in groups:
        first = next(iter(table.values())).get(group)
        if not first:
            continue
        cells = "  ".join(
            f"{table[retriever].get(group, {}).get(name, float('nan')):>22.3f}"
            for name in ("recall@5", "mrr")
            for retriever in table
        )
        harness.log(f"{group:<16}{int(first['questions']):>5}  {cells}")
    harness.log("\nAll metrics, all questions:")
    harness.log(f"{'retriever':<10}" + "".join(f"{name:>11}" for name in metric_names))
    for retriever, groups_of in table.items():
        harness.log(
            f"{retriever:<10}"
            + "".join(f"{groups_of['all'][name]:>11.3f}" for name in metric_names)
        )


def verdict(table: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, bool]]:
    """The targets: recall beats both references on every kind (recall@5, ties broken by
    MRR), and the better reference overall by at least 5 points of recall@5."""
    checks = []
    ours = table["kronvex"]
    for group in [*KINDS, "all"]:
        if group not in ours:
            continue
        for reference in ("lexical", "vector"):
            mine = (ours[group]["recall@5"], ours[group]["mrr"])
            theirs = (table[reference][group]["recall@5"], table[reference][group]["mrr"])
            checks.append(
                (
                    f"{group}: kronvex recall@5/MRR {mine[0]:.3f}/{mine[1]:.3f} "
                    f"> {reference} {theirs[0]:.3f}/{theirs[1]:.3f}",
                    mine > theirs,
                )
            )
    best = max(table["lexical"]["all"]["recall@5"], table["vector"]["all"]["recall@5"])
    margin = ours["all"]["recall@5"] - best
    checks.append(
        (
            f"overall recall@5 {margin * 100:+.1f} points over the better reference (>= +5)",
            margin >= 0.05,
        )
    )
    return checks


# -- loading the conversations through the API -----------------------------------------------------


def load_conversations(
    base_url: str, api_key: str, conversations: list[Conversation]
) -> dict[str, dict[str, list[str]]]:
    """Store every turn through the API; {agent: {memory id: [turn ids]}}."""
    session = harness.new_session(api_key)
    memories: dict[str, dict[str, list[str]]] = {}
    total = sum(len(conversation.turns) for conversation in conversations)
    stored = 0
    started = time.monotonic()
    for conversation in conversations:
        response = session.post(
            f"{base_url}/api/v1/agents",
            json={"id": conversation.id, "name": conversation.user},
            timeout=60,
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating agent {conversation.id}: {response.text}")
        by_memory: dict[str, list[str]] = defaultdict(list)
        for turn in conversation.turns:
            response = session.post(
                f"{base_url}/api/v1/agents/{conversation.id}/remember",
                json={
                    "content": turn["content"],
                    "created_at": shifted(turn["at"], conversation.years).isoformat(),
                    "session_id": turn["session"],
                    "metadata": {"turn": turn["id"], "role": turn["role"]},
                },
                timeout=60,
            )
            if response.status_code != 200:
                raise RuntimeError(f"remember {turn['id']}: {response.status_code} {response.text}")
            by_memory[response.json()["id"]].append(turn["id"])
            stored += 1
        memories[conversation.id] = dict(by_memory)
        elapsed = time.monotonic() - started
        harness.log(
            f"  {conversation.id}: {len(conversation.turns)} turns stored "
            f"({stored}/{total}, {stored / elapsed:.0f} turns/s)"
        )
    return memories


def ask(
    base_url: str,
    api_key: str,
    questions: list[Question],
    turns_of: dict[str, dict[str, list[str]]],
) -> dict[str, list[str]]:
    """Every question through recall (top 10); {question id: ranked turn ids}."""
    client = harness.Client(base_url, api_key)
    ranked = {}
    try:
        for question in questions:
            status, body = client.post(
                f"/api/v1/agents/{question.conversation}/recall",
                json.dumps({"query": question.text, "top_k": TOP_K}).encode(),
            )
            if status != 200:
                raise RuntimeError(f"recall {question.id}: {status} {body[:300]!r}")
            memories = json.loads(body)["memories"]
            ranked[question.id] = [
                turn
                for memory in memories
                for turn in turns_of[question.conversation][memory["id"]]
            ][:TOP_K]
    finally:
        client.close()
    return ranked


# -- the reference retrievers -------------------------------------------------------------------


@dataclass
class AgentCorpus:
    memory_ids: list[str]
    vectors: np.ndarray
    lexemes: list[dict[str, int]]  # lexeme -> term frequency
    lengths: np.ndarray
    frequency: dict[str, int] = field(default_factory=dict)


def agent_corpus(account_id: int, agent_slug: str) -> AgentCorpus:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT memory.uuid::text, memory.embedding::text,
                   ARRAY(SELECT lexeme FROM unnest(to_tsvector('english', memory.content))),
                   ARRAY(SELECT cardinality(positions)
                         FROM unnest(to_tsvector('english', memory.content)))
            FROM memories_memory AS memory
            JOIN memories_agent AS agent ON agent.id = memory.agent_id
            WHERE agent.slug = %s AND agent.account_id = %s AND memory.status = 'ready'
            ORDER BY memory.id
            """,
            [agent_slug, account_id],
        )
        rows = cursor.fetchall()
    lexemes = [dict(zip(terms, counts, strict=True)) for _, _, terms, counts in rows]
    vectors = np.array([json.loads(row[1]) for row in rows], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    corpus = AgentCorpus(
        memory_ids=[row[0] for row in rows],
        vectors=vectors,
        lexemes=lexemes,
        lengths=np.array([sum(terms.values()) for terms in lexemes], dtype=np.float64),
    )
    for terms in lexemes:
        for lexeme in terms:
            corpus.frequency[lexeme] = corpus.frequency.get(lexeme, 0) + 1
    return corpus


def bm25_top(corpus: AgentCorpus, query_lexemes: list[str], k: int) -> list[str]:
    """Okapi BM25 (term frequencies, k1 1.2, b 0.75) over the content's lexemes."""
    documents = len(corpus.memory_ids)
    average = float(corpus.lengths.mean()) if documents else 1.0
    scores = np.zeros(documents)
    for lexeme in set(query_lexemes):
        frequency = corpus.frequency.get(lexeme, 0)
        if not frequency:
            continue
        idf = math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))
        for index, terms in enumerate(corpus.lexemes):
            tf = terms.get(lexeme)
            if tf:
                norm = tf + BM25_K1 * (1 - BM25_B + BM25_B * corpus.lengths[index] / average)
                scores[index] += idf * tf * (BM25_K1 + 1) / norm
    order = np.argsort(-scores, kind="stable")[:k]
    return [corpus.memory_ids[i] for i in order if scores[i] > 0]


def vector_top(corpus: AgentCorpus, query_vector: np.ndarray, k: int) -> list[str]:
    similarities = corpus.vectors @ (query_vector / np.linalg.norm(query_vector))
    return [corpus.memory_ids[i] for i in np.argsort(-similarities, kind="stable")[:k]]


def references(
    account_id: int, questions: list[Question], turns_of: dict[str, dict[str, list[str]]]
) -> dict[str, dict[str, list[str]]]:
    from memories.embedding import get_embedder
    from memories.selectors import query_lexemes

    embedder = get_embedder()
    ranked: dict[str, dict[str, list[str]]] = {"lexical": {}, "vector": {}}
    by_conversation: dict[str, list[Question]] = defaultdict(list)
    for question in questions:
        by_conversation[question.conversation].append(question)
    for conversation, asked in by_conversation.items():
        corpus = agent_corpus(account_id, conversation)
        vectors = embedder.embed([question.text for question in asked])
        for question, vector in zip(asked, vectors, strict=True):
            for name, memory_ids in (
                ("lexical", bm25_top(corpus, query_lexemes(question.text), TOP_K)),
                ("vector", vector_top(corpus, vector, TOP_K)),
            ):
                ranked[name][question.id] = [
                    turn for memory in memory_ids for turn in turns_of[conversation][memory]
                ][:TOP_K]
    return ranked


# -- tuning --------------------------------------------------------------------------------------


def recall_in_process(
    account_id: int, questions: list[Question], turns_of: dict[str, dict[str, list[str]]]
) -> dict[str, list[str]]:
    """Every question through the recall service in this process, counting no access."""
    from memories import services
    from memories.models import Agent

    agents = {agent.slug: agent for agent in Agent.objects.filter(account_id=account_id)}
    ranked = {}
    for question in questions:
        recalled = services.recall(
            agent=agents[question.conversation],
            query=question.text,
            top_k=TOP_K,
            count_access=False,
        )
        ranked[question.id] = [
            turn
            for item in recalled
            for turn in turns_of[question.conversation][str(item.memory.uuid)]
        ][:TOP_K]
    return ranked


# Grid names -> settings; recency and frequency, unless given, share what similarity leaves.
GRID_SETTINGS = {
    "lexical": "KRONVEX_WEIGHT_LEXICAL",
    "similarity": "KRONVEX_WEIGHT_SIMILARITY",
    "recency": "KRONVEX_WEIGHT_RECENCY",
    "frequency": "KRONVEX_WEIGHT_FREQUENCY",
    "ratio": "KRONVEX_RELEVANCE_RATIO",
    "period": "KRONVEX_WEIGHT_PERIOD",
    "newness": "KRONVEX_WEIGHT_NEWNESS",
    "crowding": "KRONVEX_WEIGHT_CROWDING",
    "neighbours": "KRONVEX_CROWDING_NEIGHBOURS",
    "midpoint": "KRONVEX_RECENCY_MIDPOINT_DAYS",
    "scale": "KRONVEX_RECENCY_SCALE_DAYS",
}
# Settings that take whole numbers.
WHOLE_SETTINGS = {"neighbours"}
DEFAULT_GRID = ["lexical=0,0.1,0.2,0.3,0.5"]


def parse_grid(specs: list[str]) -> list[dict[str, float]]:
    """["lexical=0,0.1", "similarity=0.6,1"] -> every combination, as {name: value}."""
    axes = []
    for spec in specs:
        name, _, values = spec.partition("=")
        if name not in GRID_SETTINGS or not values:
            raise SystemExit(
                f"--tune takes NAME=V1,V2,... with NAME one of {sorted(GRID_SETTINGS)}"
            )
        kind = int if name in WHOLE_SETTINGS else float
        try:
            axes.append([(name, kind(value)) for value in values.split(",")])
        except ValueError:
            raise SystemExit(
                f"--tune {name} takes {kind.__name__} values, not {values!r}"
            ) from None
    return [dict(combination) for combination in itertools.product(*axes)]


def tune(
    account_id: int,
    questions: list[Question],
    turns_of: dict[str, dict[str, list[str]]],
    grid: list[dict[str, float]],
) -> list[dict[str, Any]]:
    """Score every combination of the grid on the tune split only; the held-out split is
    never looked at."""
    from django.conf import settings

    tuning = [question for question in questions if question.split == "tune"]
    rows = []
    original = {name: getattr(settings, name) for name in GRID_SETTINGS.values()}
    harness.log(f"\nSweep on the tune split ({len(tuning)} questions, in-process, no accesses):")
    harness.log(
        f"{'setting':<44}{'recall@1':>9}{'recall@5':>9}{'recall@10':>10}{'mrr':>7}  "
        + " ".join(f"{kind[:6]:>6}" for kind in KINDS)
    )
    try:
        for point in grid:
            for name, value in original.items():
                setattr(settings, name, value)
            for name, value in point.items():
                setattr(settings, GRID_SETTINGS[name], value)
            if "similarity" in point and not {"recency", "frequency"} & set(point):
                rest = round((1.0 - point["similarity"]) / 2, 6)
                settings.KRONVEX_WEIGHT_RECENCY = settings.KRONVEX_WEIGHT_FREQUENCY = rest
            ranked = recall_in_process(account_id, tuning, turns_of)
            table = summary(
                tuning,
                {"kronvex": {q.id: question_metrics(ranked[q.id], q.evidence) for q in tuning}},
            )["kronvex"]
            rows.append({"setting": point, **table["all"], "kinds": table})
            label = " ".join(f"{name}={value:g}" for name, value in point.items())
            harness.log(
                f"{label:<44}{table['all']['recall@1']:>9.3f}{table['all']['recall@5']:>9.3f}"
                f"{table['all']['recall@10']:>10.3f}{table['all']['mrr']:>7.3f}  "
                + " ".join(f"{table[kind]['recall@5']:>6.3f}" for kind in KINDS)
            )
    finally:
        for name, value in original.items():
            setattr(settings, name, value)
    best = max(rows, key=lambda row: (row["recall@5"], row["mrr"]))
    harness.log(f"Best on the tune split: {best['setting']}")
    return rows


# -- main ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def data_folder(path: str | None, keep: bool) -> Iterator[Path]:
    if path:
        folder = Path(path).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="kronvex-quality-"))
    try:
        yield folder
    finally:
        if keep:
            harness.log(f"Kept the data folder {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", help="fill or reuse this folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--tune",
        nargs="*",
        metavar="NAME=V1,V2",
        help="sweep ranking settings on the tune split (every combination); names: "
        + ", ".join(GRID_SETTINGS)
        + f"; bare --tune sweeps {' '.join(DEFAULT_GRID)}",
    )
    parser.add_argument(
        "--skip-api", action="store_true", help="only tune (needs an already loaded --data-dir)"
    )
    parser.add_argument("--output", help="write the figures as JSON here (default bench/results/)")
    args = parser.parse_args(argv)

    harness.sigterm_as_interrupt()
    now = datetime.now(UTC)
    conversations, questions, digest = load_evalset(now)
    harness.log(
        f"Evaluation set {digest}: {len(conversations)} conversations, "
        f"{sum(len(c.turns) for c in conversations)} turns, {len(questions)} questions"
    )
    with data_folder(args.data_dir, args.keep) as folder:
        port = harness.free_port()
        env = harness.server_env(folder, port)
        server = harness.Server(folder, env, port)
        try:
            server.start()
            health = server.wait_healthy(300)
            harness.log(f"Serving on {server.base_url}: {health.get('embedding', health)}")
            harness.use_server_settings(env)
            import django

            django.setup()
            marker = harness.read_marker(folder, LOAD_MARKER)
            if (
                marker
                and marker.get("evalset") == digest
                and marker.get("years") == {c.id: c.years for c in conversations}
            ):
                api_key = marker["api_key"]
                turns_of = marker["memories"]
                harness.log("Conversations already stored in this folder: reusing them.")
            else:
                if marker:
                    raise SystemExit(f"{folder} holds another load of the set; use a new folder")
                api_key = harness.create_api_key(env, email=EMAIL, agent="quality-probe")
                started = time.monotonic()
                turns_of = load_conversations(server.base_url, api_key, conversations)
                harness.log(f"Stored in {harness.fmt_duration(time.monotonic() - started)}")
                harness.write_marker(
                    folder,
                    {
                        "evalset": digest,
                        "years": {c.id: c.years for c in conversations},
                        "api_key": api_key,
                        "memories": turns_of,
                    },
                    LOAD_MARKER,
                )
            from memories.models import Memory

            # Recall counts accesses, which rank later answers: every run starts from none.
            first = next(iter(next(iter(turns_of.values()))))
            account_id = Memory.objects.get(uuid=first).account_id
            Memory.objects.filter(account_id=account_id).update(
                access_count=0, last_accessed_at=None
            )
            table: dict[str, dict[str, dict[str, float]]] = {}
            ranked: dict[str, dict[str, list[str]]] = {}
            if not args.skip_api:
                started = time.monotonic()
                ranked = {"kronvex": ask(server.base_url, api_key, questions, turns_of)}
                harness.log(
                    f"Asked {len(questions)} questions through the API in "
                    f"{harness.fmt_duration(time.monotonic() - started)}"
                )
                ranked.update(references(account_id, questions, turns_of))
                results = {
                    retriever: {
                        q.id: question_metrics(ranked[retriever][q.id], q.evidence)
                        for q in questions
                    }
                    for retriever in RETRIEVERS
                }
                table = summary(questions, results)
                print_summary(
                    table, "recall@5 and MRR per group (kronvex, lexical-only, vector-only):"
                )
            sweep = (
                tune(account_id, questions, turns_of, parse_grid(args.tune or DEFAULT_GRID))
                if args.tune is not None
                else []
            )
        finally:
            server.stop()

    checks = verdict(table) if table else []
    harness.log("\nTargets:")
    for text, passed in checks:
        harness.log(f"  {'PASS' if passed else 'FAIL'}  {text}")
    output = (
        Path(args.output)
        if args.output
        else (REPO / "bench" / "results" / f"retrieval_quality-{now:%Y%m%d-%H%M%S}.json")
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "evalset": digest,
                "at": now.isoformat(),
                "table": table,
                "sweep": sweep,
                "targets": [{"check": text, "passed": passed} for text, passed in checks],
                "ranked": ranked,
            },
            indent=1,
        )
    )
    harness.log(f"\nFigures written to {output}")
    return 0 if checks and all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
