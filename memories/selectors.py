"""Reads that are more than a one-line queryset."""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Field,
    Max,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from pgvector.django import CosineDistance

from billing.models import Account
from memories import lexical
from memories.exceptions import AgentNotFound, BatchNotFound, MemoryNotFound
from memories.models import (
    SEARCH_CONFIG,
    Agent,
    EmbeddingStatus,
    Memory,
    MemoryBatch,
    MemoryQuerySet,
    live_condition,
)
from memories.periods import Period
from memories.ranking import Candidate, RankingWeights
from memories.ranking import relevance as ranking_relevance
from memories.vector_cache import get_vector_cache


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def agent_get(*, account: Account, agent_id: str) -> Agent:
    """The account's agent by slug or UUID; AgentNotFound for anything else, others' included."""
    agents = Agent.objects.for_account(account)
    as_uuid = _as_uuid(agent_id)
    # Slugs can never be UUID-shaped, so a UUID-shaped id is looked up as a UUID only.
    if as_uuid:
        agent = agents.filter(uuid=as_uuid).first()
    elif "\x00" in agent_id:
        agent = None  # PostgreSQL refuses U+0000 in a query, and no slug holds one.
    else:
        agent = agents.filter(slug=agent_id).first()
    if agent is None:
        raise AgentNotFound(f"No agent {agent_id!r} in this account.")
    return agent


def memory_get(*, agent: Agent, memory_id: str) -> Memory:
    as_uuid = _as_uuid(memory_id)
    memory = Memory.objects.live().filter(agent=agent, uuid=as_uuid).first() if as_uuid else None
    if memory is None:
        raise MemoryNotFound(f"No memory {memory_id!r} in agent {agent.slug!r}.")
    return memory


def memory_batch_get(*, agent: Agent, batch_id: str) -> MemoryBatch:
    as_uuid = _as_uuid(batch_id)
    batch = MemoryBatch.objects.filter(agent=agent, uuid=as_uuid).first() if as_uuid else None
    if batch is None:
        raise BatchNotFound(f"No batch {batch_id!r} in agent {agent.slug!r}.")
    return batch


def memory_batch_progress(*, batch: MemoryBatch) -> dict[str, int]:
    """How many of the memories the batch created are waiting for their vector, embedded,
    or failed (memories deleted since are not counted)."""
    counts = dict(
        Memory.objects.filter(batch=batch)
        .values_list("status")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {status: counts.get(status, 0) for status in EmbeddingStatus.values}


MEMORY_SORTS = {
    "recent": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "most_used": ("-access_count", "-created_at", "-id"),
}


def memory_list(
    *,
    agent: Agent,
    session_id: str | None = None,
    memory_type: str | None = None,
    text: str | None = None,
    sort: str = "recent",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Memory], int]:
    """One page of an agent's live memories and how many match in all."""
    now = timezone.now()
    matching = Memory.objects.filter(agent=agent)
    if session_id is not None:
        matching = matching.filter(session_id=session_id)
    if memory_type is not None:
        matching = matching.filter(type=memory_type)
    if text:
        matching = matching.filter(content__icontains=text)
    live = matching.filter(live_condition(now))
    page = list(live.defer("embedding").order_by(*MEMORY_SORTS[sort])[offset : offset + limit])
    return page, live_count(matching, now=now)


def live_count(memories: MemoryQuerySet, *, now: datetime) -> int:
    """How many of these memories are live: all of them less the expired ones.

    Counting all is an index-only scan (no table row is read), and expired memories
    are few (purged every few minutes) and indexed, where counting the live ones
    directly reads every row to check its expiry.
    """
    return memories.count() - memories.expired(now).count()


def session_list(*, agent: Agent) -> list[dict[str, Any]]:
    rows = (
        Memory.objects.live()
        .filter(agent=agent, session_id__isnull=False)
        .values("session_id")
        .annotate(count=Count("id"), last_at=Max("created_at"))
        .order_by("-last_at")
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class RecallCandidate(Candidate):
    """What ranking needs of a memory; its whole row is read for the winners only
    (`memories_by_id`)."""

    memory_id: int = 0
    embedding: Sequence[float] | np.ndarray | None = None


_RECALLED_FIELDS = (
    "id",
    "uuid",
    "agent_id",
    "content",
    "type",
    "session_id",
    "metadata",
    "pinned",
    "expires_at",
    "access_count",
    "last_accessed_at",
    "created_at",
    "refreshed_at",
    "superseded_by",
    "updated_at",
    "status",
    "embedding_model",
)


@dataclass(frozen=True)
class _RowQuery:
    sql: str
    attnames: list[str]
    converters: list[tuple[int, list[Any]]]


@functools.cache
def _row_query() -> _RowQuery:
    """Built once: the SQL, the attribute names and the value converters."""
    wanted = set(_RECALLED_FIELDS)
    # In the model's field order, which Model.from_db expects.
    fields = [
        cast("Field[Any, Any]", field)
        for field in Memory._meta.concrete_fields
        if field.attname in wanted or field.name in wanted
    ]
    # Column names come from the model, never from input; ids travel as a parameter.
    sql = (
        f"SELECT {', '.join(str(field.column) for field in fields)} "  # noqa: S608
        f"FROM {Memory._meta.db_table} WHERE id = ANY(%s)"
    )
    converters = [
        (index, field.get_db_converters(connection)) for index, field in enumerate(fields)
    ]
    return _RowQuery(
        sql=sql,
        attnames=[field.attname for field in fields],
        converters=[(index, functions) for index, functions in converters if functions],
    )


def memories_by_id(ids: list[int]) -> dict[int, Memory]:
    """Recall's winners' rows, read with one plain query: on recall's hot path the ORM's
    query building and row handling cost more than PostgreSQL's part."""
    if not ids:
        return {}
    query = _row_query()
    with connection.cursor() as cursor:
        cursor.execute(query.sql, [ids])
        rows = cursor.fetchall()
    memories = {}
    for row in rows:
        values = list(row)
        for index, functions in query.converters:
            for convert in functions:
                values[index] = convert(values[index], None, connection)
        memory = Memory.from_db(connection.alias, query.attnames, values)
        memories[memory.pk] = memory
    return memories


def recall_candidates(
    *,
    agent: Agent,
    query: str,
    query_vector: np.ndarray | None,
    model_name: str,
    limit: int,
    lexical_weight: float,
    session_id: str | None = None,
    memory_type: str | None = None,
    with_vectors: bool = False,
    period: Period | None = None,
    period_weight: float = 0.0,
) -> list[RecallCandidate]:
    """The agent's `limit` memories most relevant to the query, each with its vector
    similarity and its lexical (BM25) score, fused at `lexical_weight` to choose them,
    and, when the query names a `period`, with being made inside it at `period_weight`.

    Both searches are exact over all of the agent's memories: in the process's copy of
    the agent (memories/vector_cache.py), or in PostgreSQL, by a scan ordered by cosine
    distance (with pgvector < 0.8 an HNSW index under an agent filter returns fewer rows
    than asked) and the full-text index. Memories still waiting for their vector are
    found by their words alone, and so is every memory when the query has no vector (the
    embedding provider is down).
    """
    now = timezone.now()
    base = Memory.objects.live(now).filter(agent=agent)
    if session_id is not None:
        base = base.filter(session_id=session_id)
    if memory_type is not None:
        base = base.filter(type=memory_type)

    found = (
        None
        if query_vector is None
        else get_vector_cache().nearest(
            agent=agent,
            model_name=model_name,
            dimensions=len(query_vector),
            query=query_vector,
            limit=limit,
            now=now,
            session_id=session_id,
            memory_type=memory_type,
            query_text=query,
            lexical_weight=lexical_weight,
            period=period,
            period_weight=period_weight,
        )
    )
    vectors: dict[int, Any] = {}
    scored: dict[int, tuple[float | None, float]]
    if found is not None:
        scored = {item.memory_id: (item.similarity, item.lexical) for item in found.neighbours}
        vectors = {item.memory_id: item.vector for item in found.neighbours}
        if found.unembedded:
            scored.update(
                _lexical_unembedded(
                    base,
                    lexemes=found.lexemes,
                    stats=found.stats,
                    limit=limit,
                    period=period,
                    period_weight=period_weight,
                )
            )
    else:
        scored = _search_in_postgres(
            base,
            agent=agent,
            query=query,
            query_vector=query_vector,
            model_name=model_name,
            limit=limit,
            lexical_weight=lexical_weight,
            now=now,
            session_id=session_id,
            memory_type=memory_type,
            period=period,
            period_weight=period_weight,
        )
    # Two steps: the most relevant ids, then what ranking needs of them.
    facts = _ranking_facts(list(scored), with_vectors=with_vectors and found is None)
    return [
        RecallCandidate(
            vector=similarity,
            lexical=lexical_score,
            type=facts[pk].type,
            # Recency counts from the last time the memory was stated.
            created_at=facts[pk].refreshed_at or facts[pk].created_at,
            access_count=facts[pk].access_count,
            pinned=facts[pk].pinned,
            superseded=facts[pk].superseded,
            in_period=None if period is None else facts[pk].created_at in period,
            memory_id=pk,
            embedding=(
                (vectors[pk] if pk in vectors else facts[pk].embedding) if with_vectors else None
            ),
        )
        for pk, (similarity, lexical_score) in scored.items()
        if pk in facts  # deleted between the two steps
    ]


@dataclass(frozen=True)
class _RankingFacts:
    type: str
    created_at: datetime
    refreshed_at: datetime | None
    access_count: int
    pinned: bool
    superseded: bool
    embedding: Any


def _ranking_facts(ids: list[int], *, with_vectors: bool) -> dict[int, _RankingFacts]:
    """What ranking needs of each candidate, without the content and metadata that only
    the winners' rows carry to the response."""
    if not ids:
        return {}
    table = Memory._meta.db_table
    embedding = Memory._meta.get_field("embedding")
    # Column names come from the model, never from input; ids travel as a parameter.
    sql = (
        "SELECT id, type, created_at, refreshed_at, access_count, pinned, "  # noqa: S608
        f"superseded_by IS NOT NULL{', embedding' if with_vectors else ''} "
        f"FROM {table} WHERE id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        rows = cursor.fetchall()
    converters = embedding.get_db_converters(connection) if with_vectors else []
    facts = {}
    for row in rows:
        vector = row[7] if with_vectors else None
        for convert in converters:
            vector = convert(vector, None, connection)
        facts[row[0]] = _RankingFacts(
            type=row[1],
            created_at=row[2],
            refreshed_at=row[3],
            access_count=row[4],
            pinned=row[5],
            superseded=row[6],
            embedding=vector,
        )
    return facts


def query_lexemes(query: str) -> list[str]:
    """The query's lexemes, as PostgreSQL's text search makes them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [SEARCH_CONFIG, query]
        )
        row = cursor.fetchone()
    return list(row[0]) if row else []


def _matching(lexemes: list[str]) -> RawSQL:
    """Memories holding any of the lexemes, through the full-text GIN index."""
    # Constant SQL: the query's lexemes travel as a bound parameter.
    return RawSQL(
        "search_vector @@ %s::tsquery", [lexical.tsquery_text(lexemes)], output_field=BooleanField()
    )


# Every memory of the agent holding a query word, with what BM25 needs: the query's
# lexemes and the agent's corpus statistics come along on every row (and on the one row
# of NULLs when nothing matches). Ready vectors of another model are left out: they wait
# to be embedded again, marked pending first. Values only ever travel as parameters.
_LEXICAL_SQL = """
WITH query AS (
    SELECT tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query)s)) AS lexemes,
           replace(strip(to_tsvector(%(config)s::regconfig, %(query)s))::text,
                   ''' ''', ''' | ''')::tsquery AS tsquery
),
corpus AS (
    SELECT count(*) AS documents, coalesce(avg(length(search_vector)), 0) AS average_length
    FROM memories_memory
    WHERE agent_id = %(agent)s AND status = 'ready' AND embedding_model = %(model)s
)
SELECT query.lexemes, corpus.documents, corpus.average_length,
       memory.id, tsvector_to_array(memory.search_vector),
       memory.status = 'ready' AND memory.embedding_model = %(model)s,
       CASE WHEN memory.status = 'ready' AND memory.embedding_model = %(model)s
            THEN memory.embedding <=> %(vector)s::vector END,
       memory.pinned, memory.expires_at, memory.session_id, memory.type, memory.created_at
FROM query CROSS JOIN corpus
LEFT JOIN memories_memory AS memory
    ON memory.agent_id = %(agent)s
    AND memory.search_vector @@ query.tsquery
    AND NOT (memory.status = 'ready' AND memory.embedding_model <> %(model)s)
"""


def _search_in_postgres(
    base: MemoryQuerySet,
    *,
    agent: Agent,
    query: str,
    query_vector: np.ndarray | None,
    model_name: str,
    limit: int,
    lexical_weight: float,
    now: datetime,
    session_id: str | None,
    memory_type: str | None,
    period: Period | None,
    period_weight: float,
) -> dict[int, tuple[float | None, float]]:
    """The SQL path of recall_candidates: the `limit` nearest vectors, the `limit` nearest
    made inside the period the query names, and every memory holding a query word, fused;
    {id: (vector similarity, lexical score)}. Without a query vector, the words alone."""
    searches = []
    if query_vector is not None:
        embedded = base.filter(status=EmbeddingStatus.READY, embedding_model=model_name).annotate(
            distance=CosineDistance("embedding", query_vector)
        )
        searches.append(embedded)
        if period is not None:
            searches.append(
                embedded.filter(created_at__gte=period.start, created_at__lt=period.end)
            )
    scored: dict[int, tuple[float | None, float]] = {}
    created: dict[int, datetime] = {}
    for search in searches:
        rows = search.order_by("distance").values_list("id", "distance", "created_at")[:limit]
        for pk, distance, created_at in rows:
            scored[pk] = (1.0 - float(distance), 0.0)
            created[pk] = created_at
    with connection.cursor() as cursor:
        cursor.execute(
            _LEXICAL_SQL,
            {
                "config": SEARCH_CONFIG,
                "query": query,
                "agent": agent.pk,
                "model": model_name,
                "vector": Memory._meta.get_field("embedding").get_prep_value(query_vector),
            },
        )
        rows = cursor.fetchall()
    lexemes, documents, average_length = rows[0][:3]
    matches = [row[3:] for row in rows if row[3] is not None]
    # The statistics count every match; the filters choose among them.
    frequency: Counter[str] = Counter()
    for _, terms, indexed, *_ in matches:
        if indexed:
            frequency.update(set(terms) & set(lexemes))
    stats = lexical.CorpusStats(
        documents=documents,
        average_length=float(average_length),
        document_frequency=dict(frequency),
    )
    wanted = [
        row
        for row in matches
        if (row[4] or row[5] is None or row[5] > now)
        and (session_id is None or row[6] == session_id)
        and (memory_type is None or row[7] == memory_type)
    ]
    for indexed, score_documents in ((True, lexical.scores), (False, lexical.scores_outside)):
        kept = [row for row in wanted if row[2] == indexed]
        lexical_scores = score_documents(
            query_lexemes=lexemes, documents=[set(row[1]) for row in kept], stats=stats
        )
        for row, lexical_score in zip(kept, lexical_scores, strict=True):
            similarity = 1.0 - float(row[3]) if row[3] is not None else None
            scored[row[0]] = (similarity, float(lexical_score))
            created[row[0]] = row[8]
    weights = RankingWeights(lexical=lexical_weight, period=period_weight)

    def fused(item: tuple[int, tuple[float | None, float]]) -> tuple[float, float]:
        pk, (similarity, lexical_score) = item
        relevance = ranking_relevance(
            vector=similarity,
            lexical=lexical_score,
            weights=weights,
            in_period=None if period is None else created[pk] in period,
        )
        # As in the process's copy: equal relevance goes to the more similar vector.
        return (-relevance, -(similarity or 0.0))

    return dict(sorted(scored.items(), key=fused)[:limit])


def _lexical_unembedded(
    base: MemoryQuerySet,
    *,
    lexemes: list[str],
    stats: lexical.CorpusStats,
    limit: int,
    period: Period | None,
    period_weight: float,
) -> dict[int, tuple[float | None, float]]:
    """Memories still waiting for their vector that hold a query word, scored lexically
    against the agent's statistics, so a memory is findable the moment remember returns.
    One query; the partial index on unembedded memories keeps it cheap when there are none.
    """
    if not lexemes:
        return {}
    pending = list(
        base.exclude(status=EmbeddingStatus.READY)
        .filter(_matching(lexemes))
        .annotate(lexemes=RawSQL("tsvector_to_array(search_vector)", [], output_field=Field()))
        .order_by("-created_at")
        .values_list("id", "lexemes", "created_at")[: limit * 10]
    )
    if not pending:
        return {}
    scores = lexical.scores_outside(
        query_lexemes=lexemes, documents=[set(terms) for _, terms, _ in pending], stats=stats
    )
    weights = RankingWeights(lexical=0.0, period=period_weight)

    def relevance(item: tuple[tuple[int, list[str], datetime], float]) -> float:
        (_, _, created_at), score = item
        in_period = None if period is None else created_at in period
        return ranking_relevance(
            vector=None, lexical=float(score), weights=weights, in_period=in_period
        )

    best = sorted(zip(pending, scores, strict=True), key=relevance, reverse=True)[:limit]
    return {pk: (None, float(score)) for (pk, _, _), score in best}


def agent_list(*, account: Account) -> list[tuple[Agent, int]]:
    """The account's agents, oldest first, each with how many live memories it holds."""
    now = timezone.now()
    agents = list(Agent.objects.for_account(account).order_by("created_at"))
    # As live_count, per agent: all less the expired, each an index-only count.
    held = Memory.objects.filter(agent__in=[agent.pk for agent in agents])
    counts = Counter(dict(held.values_list("agent_id").annotate(n=Count("*")).order_by()))
    counts.subtract(
        dict(held.expired(now).values_list("agent_id").annotate(n=Count("*")).order_by())
    )
    return [(agent, counts[agent.pk]) for agent in agents]


def agent_memory_count(*, agent: Agent) -> int:
    return live_count(Memory.objects.filter(agent=agent), now=timezone.now())


def account_memory_count(*, account: Account) -> int:
    return live_count(Memory.objects.filter(account=account), now=timezone.now())
