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
from django.db.models import Count, Field, IntegerField, Max, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from pgvector.django import CosineDistance

from billing.models import Account
from memories.exceptions import AgentNotFound, MemoryNotFound
from memories.models import (
    SEARCH_CONFIG,
    Agent,
    EmbeddingStatus,
    Memory,
    MemoryQuerySet,
    live_condition,
)
from memories.ranking import Candidate
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
    memory: Memory | None = None
    embedding: Sequence[float] | np.ndarray | None = None


_CANDIDATE_FIELDS = (
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
def _row_query(with_vectors: bool) -> _RowQuery:
    """Built once per shape: the SQL, the attribute names and the value converters."""
    wanted = {*_CANDIDATE_FIELDS, *(["embedding"] if with_vectors else [])}
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


def _memories_by_id(ids: list[int], *, with_vectors: bool) -> dict[int, Memory]:
    """The candidates' rows, read with one plain query: on recall's hot path the ORM's
    query building and row handling cost more than PostgreSQL's part."""
    if not ids:
        return {}
    query = _row_query(with_vectors)
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
    query_vector: np.ndarray,
    model_name: str,
    limit: int,
    session_id: str | None = None,
    memory_type: str | None = None,
    with_vectors: bool = False,
) -> list[RecallCandidate]:
    """The agent's memories most relevant to the query: exact vector search, plus lexical
    matches among memories whose vector has not landed yet.

    The vector search is exact: a brute-force search of the agent's vectors held in
    memory (memories/vector_cache.py), or a filtered scan ordered by cosine distance in
    PostgreSQL. With pgvector < 0.8 an HNSW index under an agent filter returns fewer
    rows than asked.
    """
    now = timezone.now()
    base = Memory.objects.live(now).filter(agent=agent)
    if session_id is not None:
        base = base.filter(session_id=session_id)
    if memory_type is not None:
        base = base.filter(type=memory_type)

    # Two steps: the nearest ids, then the winners' rows.
    found = get_vector_cache().nearest(
        agent=agent,
        model_name=model_name,
        dimensions=len(query_vector),
        query=query_vector,
        limit=limit,
        now=now,
        session_id=session_id,
        memory_type=memory_type,
    )
    vectors: dict[int, Any] = {}
    if found is not None:
        nearest = [(item.memory_id, item.similarity) for item in found.neighbours]
        vectors = {item.memory_id: item.vector for item in found.neighbours}
    else:
        # From the covering index alone (an index-only scan).
        nearest = [
            (pk, 1.0 - float(distance))
            for pk, distance in base.filter(
                status=EmbeddingStatus.READY, embedding_model=model_name
            )
            .annotate(distance=CosineDistance("embedding", query_vector))
            .order_by("distance")
            .values_list("id", "distance")[:limit]
        ]
    rows = _memories_by_id([pk for pk, _ in nearest], with_vectors=with_vectors and found is None)
    candidates = [
        RecallCandidate(
            similarity=similarity,
            type=rows[pk].type,
            created_at=rows[pk].created_at,
            access_count=rows[pk].access_count,
            pinned=rows[pk].pinned,
            memory=rows[pk],
            embedding=(
                (vectors[pk] if pk in vectors else rows[pk].embedding) if with_vectors else None
            ),
        )
        for pk, similarity in nearest
        if pk in rows  # deleted between the two steps
    ]
    if found is None or found.unembedded:
        candidates.extend(_lexical_pending(base, query=query, limit=limit))
    return candidates


def _lexical_pending(base: QuerySet[Memory], *, query: str, limit: int) -> list[RecallCandidate]:
    """Memories still waiting for their vector that share words with the query.

    Their similarity stands in as the share of the query's words they contain, so
    a memory is findable the moment remember returns, before its vector lands.
    One query; the partial index on unembedded memories keeps it cheap when
    there are none.
    """
    # The SQL is constant; the query text only ever travels as a bound parameter.
    lexemes = "tsvector_to_array(to_tsvector(%s::regconfig, %s))"
    pending = list(
        base.exclude(status=EmbeddingStatus.READY)
        .annotate(
            shared_words=RawSQL(  # noqa: S611
                "cardinality(ARRAY(SELECT unnest(tsvector_to_array(search_vector)) "
                f"INTERSECT SELECT unnest({lexemes})))",
                [SEARCH_CONFIG, query],
                output_field=IntegerField(),
            ),
            query_words=RawSQL(  # noqa: S611
                f"cardinality({lexemes})", [SEARCH_CONFIG, query], output_field=IntegerField()
            ),
        )
        .filter(shared_words__gt=0)
        .defer("embedding")
        .order_by("-shared_words", "-created_at")[:limit]
    )
    return [
        RecallCandidate(
            similarity=memory.shared_words / memory.query_words,
            type=memory.type,
            created_at=memory.created_at,
            access_count=memory.access_count,
            pinned=memory.pinned,
            memory=memory,
        )
        for memory in pending
    ]


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
