"""Every action that changes agents or memories: remember, recall, inject_context, forget."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from audit.models import AuditEvent
from audit.services import SYSTEM, audit_record
from billing import quotas
from billing.models import Account
from memories import context, periods, ranking, selectors
from memories.embedding import EmbeddingError, get_embedder
from memories.exceptions import (
    AgentAlreadyExists,
    InvalidInput,
    MemoryAlreadyEmbedded,
    SessionNotFound,
)
from memories.models import (
    CONTENT_KEY_SQL,
    VECTOR_VERSION_SEQUENCE,
    Agent,
    EmbeddingStatus,
    Memory,
    MemoryBatch,
    MemoryType,
)
from memories.vector_cache import get_vector_cache
from webhooks.services import webhooks_emit

logger = logging.getLogger(__name__)

AGENT_SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Recall looks at this many times top_k by relevance before ranking by confidence, and at
# no fewer than MIN_CANDIDATES: the pool whose crowding (memories/ranking.py) is measured.
CANDIDATES_PER_RESULT = 4
MIN_CANDIDATES = 40


def ranking_weights() -> ranking.RankingWeights:
    return ranking.RankingWeights(
        lexical=settings.KRONVEX_WEIGHT_LEXICAL,
        similarity=settings.KRONVEX_WEIGHT_SIMILARITY,
        recency=settings.KRONVEX_WEIGHT_RECENCY,
        frequency=settings.KRONVEX_WEIGHT_FREQUENCY,
        recency_midpoint_days=settings.KRONVEX_RECENCY_MIDPOINT_DAYS,
        recency_scale_days=settings.KRONVEX_RECENCY_SCALE_DAYS,
        frequency_saturation=settings.KRONVEX_FREQUENCY_SATURATION,
        relevance_ratio=settings.KRONVEX_RELEVANCE_RATIO,
        period=settings.KRONVEX_WEIGHT_PERIOD,
        newness=settings.KRONVEX_WEIGHT_NEWNESS,
        crowding=settings.KRONVEX_WEIGHT_CROWDING,
        crowding_neighbours=settings.KRONVEX_CROWDING_NEIGHBOURS,
    )


def _vectors_changed(*, agent_ids: set[int], pruned: bool = False) -> dict[int, int]:
    """Give each agent a new vector version in the current transaction; agent id -> version.

    Call it after the change, inside its transaction. The rows are locked in id order and
    the value drawn once the lock is held, so one agent's versions commit in increasing
    order (what memories/vector_cache.py relies on). `pruned` marks deletions.
    """
    if not agent_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE memories_agent AS agent
            SET vector_version = drawn.version,
                vector_pruned_version = CASE WHEN %s THEN drawn.version
                                             ELSE agent.vector_pruned_version END
            FROM (
                SELECT id, nextval(%s) AS version
                FROM (
                    SELECT id FROM memories_agent WHERE id = ANY(%s) ORDER BY id FOR UPDATE
                ) AS locked
            ) AS drawn
            WHERE agent.id = drawn.id
            RETURNING agent.id, agent.vector_version
            """,
            [pruned, VECTOR_VERSION_SEQUENCE, sorted(agent_ids)],
        )
        return dict(cursor.fetchall())


# -- agents ----------------------------------------------------------------------


def validate_agent_slug(slug: str) -> str:
    if not AGENT_SLUG_PATTERN.match(slug):
        raise InvalidInput(
            "Agent ids are 1-100 characters: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit.",
            field="id",
        )
    if selectors._as_uuid(slug) is not None:
        raise InvalidInput("An agent id cannot have the form of a UUID.", field="id")
    return slug


def _free_slug(account: Account, name: str) -> str:
    base = slugify(name)[:90].strip("-_.") or "agent"
    if selectors._as_uuid(base) is not None or not AGENT_SLUG_PATTERN.match(base):
        base = "agent"
    taken = set(
        Agent.objects.for_account(account)
        .filter(slug__startswith=base)
        .values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def agent_create(
    *,
    account: Account,
    name: str,
    slug: str | None = None,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    retention_days: int | None = None,
    actor: str = SYSTEM,
    ip: str | None = None,
) -> Agent:
    """Create an agent; its slug is given, or derived from the name. A `retention_days`
    of 0 or None keeps its memories until deleted."""
    slug = validate_agent_slug(slug) if slug else _free_slug(account, name)
    try:
        with transaction.atomic():
            # The account row's lock makes concurrent creations count one at a time.
            locked = Account.objects.select_for_update().get(pk=account.pk)
            quotas.agent_quota_check(
                account=locked, agents=Agent.objects.for_account(account).count()
            )
            agent = Agent.objects.create(
                account=account,
                slug=slug,
                name=name,
                description=description,
                metadata=metadata or {},
                retention_days=retention_days or None,
            )
            audit_record(
                account=account,
                kind=AuditEvent.Kind.AGENT_CREATED,
                actor=actor,
                target=agent.slug,
                data={"uuid": str(agent.uuid), "retention_days": agent.retention_days},
                ip=ip,
            )
            return agent
    except IntegrityError:
        raise AgentAlreadyExists(
            f"An agent with id {slug!r} already exists in this account.", field="id"
        ) from None


def agent_update(
    *,
    agent: Agent,
    name: str | None = None,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    retention_days: int | None = None,
    actor: str = SYSTEM,
    ip: str | None = None,
) -> Agent:
    """Change the fields given; a `retention_days` of 0 keeps memories until deleted."""
    changed = []
    for field, value in (("name", name), ("description", description), ("metadata", metadata)):
        if value is not None:
            setattr(agent, field, value)
            changed.append(field)
    retention_before = agent.retention_days
    if retention_days is not None and (retention_days or None) != retention_before:
        agent.retention_days = retention_days or None
        changed.append("retention_days")
    if changed:
        with transaction.atomic():
            agent.save(update_fields=[*changed, "updated_at"])
            if "retention_days" in changed:
                audit_record(
                    account=agent.account,
                    kind=AuditEvent.Kind.AGENT_RETENTION_CHANGED,
                    actor=actor,
                    target=agent.slug,
                    data={"from": retention_before, "to": agent.retention_days},
                    ip=ip,
                )
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, actor: str = SYSTEM, ip: str | None = None) -> int:
    """Delete the agent and all its memories, vectors included; returns how many memories
    went with it."""
    erased = _erase(Memory.objects.filter(agent=agent))
    audit_record(
        account=agent.account,
        kind=AuditEvent.Kind.AGENT_DELETED,
        actor=actor,
        target=agent.slug,
        data={"uuid": str(agent.uuid), **_audited_ids(erased)},
        ip=ip,
    )
    agent_pk = agent.pk
    agent.delete()
    # The other processes drop their copies within a minute (vector_cache.prune_erased).
    transaction.on_commit(partial(get_vector_cache().agent_drop, agent_pk))
    return len(erased)


# -- remember --------------------------------------------------------------------


def expiry(*, now: datetime, ttl_days: int | None, ttl_seconds: int | None) -> datetime | None:
    if ttl_days is not None and ttl_seconds is not None:
        raise InvalidInput("Give ttl_days or ttl_seconds, not both.", field="ttl_seconds")
    if ttl_days is not None:
        return now + timedelta(days=ttl_days)
    if ttl_seconds is not None:
        return now + timedelta(seconds=ttl_seconds)
    return None


# A broker or an embedding provider that is down fails every remember's queuing or every
# recall's query: said once a minute, with a count, not each time.
FAILURE_WARNING_INTERVAL_SECONDS = 60.0


class _RepeatedFailure:
    """A failure logged once a minute with how many times it happened since."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.lock = threading.Lock()
        self.warned_at: float | None = None
        self.unreported = 0

    def happened(self, exc: Exception, *, count: int = 1) -> None:
        now = time.monotonic()
        with self.lock:
            self.unreported += count
            if self.warned_at is not None and now - self.warned_at < (
                FAILURE_WARNING_INTERVAL_SECONDS
            ):
                return
            self.warned_at, unreported, self.unreported = now, self.unreported, 0
        logger.warning(self.message, unreported, exc)


_enqueue_failures = _RepeatedFailure(
    "cannot queue the embedding of %d memories (%s): they stay pending, and the sweeper "
    "queues them again once the broker answers"
)
_query_embedding_failures = _RepeatedFailure(
    "%d recall queries could not be embedded (%s): they were answered from the memories' "
    "words alone"
)


def _enqueue_embedding(memory_ids: list[int], embedded: list[int] | None = None) -> bool:
    """Queue the embedding of these memories; False when the broker cannot take it (the
    memories stay pending, for the sweeper). In-process, the task runs here."""
    from memories.tasks import embed_memories

    if settings.CELERY_TASK_ALWAYS_EAGER:
        result = embed_memories.delay(memory_ids)
        if embedded is not None and result.successful():
            embedded.append(result.result)
        return True
    try:
        embed_memories.delay(memory_ids)
    except Exception as exc:
        _enqueue_failures.happened(exc, count=len(memory_ids))
        return False
    return True


def remember(
    *,
    agent: Agent,
    content: str,
    memory_type: str = "episodic",
    session_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    pinned: bool = False,
    ttl_days: int | None = None,
    ttl_seconds: int | None = None,
    created_at: datetime | None = None,
    supersedes: Sequence[uuid.UUID] = (),
) -> Memory:
    """Store a memory durably, then have it embedded (in-process, or by a worker); a live
    duplicate in the same session is refreshed and returned instead (`deduplicated`).
    The live memories of the agent named in `supersedes` are marked superseded by it."""
    memory = _new_memory(
        agent=agent,
        now=timezone.now(),
        content=content,
        memory_type=memory_type,
        session_id=session_id,
        metadata=metadata,
        pinned=pinned,
        ttl_days=ttl_days,
        ttl_seconds=ttl_seconds,
        created_at=created_at,
    )
    embedded: list[int] = []
    # Superseding happens with the insert or not at all; a plain remember needs no
    # transaction of its own.
    with transaction.atomic() if supersedes else contextlib.nullcontext():
        superseded = _supersedable(agent=agent, memory_ids=supersedes) if supersedes else []
        # One statement takes the quota and inserts, committed on its own (or with the
        # caller's transaction) before the embedding is queued.
        duplicate = _insert_within_quota(memory)
        if duplicate is not None:
            memory = _refresh_duplicate(
                memory_id=duplicate,
                stated_at=memory.created_at,
                pinned=pinned,
                ttl_days=ttl_days,
                ttl_seconds=ttl_seconds,
            )
        else:
            # robust: a broker that cannot take the task must not undo an accepted memory.
            transaction.on_commit(partial(_enqueue_embedding, [memory.pk], embedded), robust=True)
        if superseded:
            _supersede(superseded, by=memory)
    if duplicate is not None:
        return memory
    _memories_stored_emit(agent, [memory])
    if embedded == [1]:
        # The in-process task has just embedded exactly this memory, and nothing else.
        memory.status = EmbeddingStatus.READY
        memory.embedding_model = get_embedder().model_name
    elif settings.CELERY_TASK_ALWAYS_EAGER:
        memory.refresh_from_db(fields=["status", "embedding_model", "embedding_error"])
    return memory


def _new_memory(
    *,
    agent: Agent,
    now: datetime,
    content: str,
    memory_type: str = "episodic",
    session_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    pinned: bool = False,
    ttl_days: int | None = None,
    ttl_seconds: int | None = None,
    created_at: datetime | None = None,
    batch: MemoryBatch | None = None,
) -> Memory:
    return Memory(
        account_id=agent.account_id,
        agent=agent,
        content=content,
        type=memory_type,
        session_id=session_id,
        metadata=metadata or {},
        pinned=pinned,
        expires_at=expiry(now=now, ttl_days=ttl_days, ttl_seconds=ttl_seconds),
        created_at=created_at or now,
        status=EmbeddingStatus.PENDING,
        batch=batch,
    )


def _supersedable(*, agent: Agent, memory_ids: Sequence[uuid.UUID]) -> list[int]:
    """The ids of these live memories of the agent; InvalidInput naming any other."""
    found = dict(
        Memory.objects.live().filter(agent=agent, uuid__in=memory_ids).values_list("uuid", "pk")
    )
    missing = [str(memory_id) for memory_id in memory_ids if memory_id not in found]
    if missing:
        raise InvalidInput(
            f"No memory {missing[0]!r} in agent {agent.slug!r} to supersede.", field="supersedes"
        )
    return list(found.values())


def _supersede(memory_pks: list[int], *, by: Memory) -> None:
    Memory.objects.filter(pk__in=memory_pks).exclude(pk=by.pk).update(
        superseded_by=by.uuid, updated_at=timezone.now()
    )


def _supersessions_released(*, agent_ids: set[int]) -> None:
    """Memories superseded by deleted ones are superseded no more. The partial index on
    superseded memories keeps this cheap when there are none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE memories_memory AS older SET superseded_by = NULL"
            " WHERE older.agent_id = ANY(%s) AND older.superseded_by IS NOT NULL"
            " AND NOT EXISTS (SELECT FROM memories_memory AS newer"
            " WHERE newer.uuid = older.superseded_by)",
            [list(agent_ids)],
        )


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one item of a batch: created, deduplicated or rejected."""

    status: str
    memory: Memory | None = None
    error: quotas.QuotaExceeded | InvalidInput | None = None


def remember_batch(
    *, agent: Agent, memories: dict[int, dict[str, Any]], total: int
) -> tuple[MemoryBatch, dict[int, BatchOutcome]]:
    """Store the valid items of a batch call (`memories`: {index in the call: remember's
    arguments}; `total` counts the rejected ones too) in one transaction, then have the new
    ones embedded in batches. Duplicates are refreshed as remember does; items past the
    plan's memory limit are rejected, and the others still stored."""
    now = timezone.now()
    outcomes: dict[int, BatchOutcome] = {}
    new_ids: list[int] = []
    with transaction.atomic():
        batch = MemoryBatch.objects.create(account_id=agent.account_id, agent=agent, total=total)
        for index, item in memories.items():
            fields = dict(item)
            supersedes = fields.pop("supersedes", ())
            memory = _new_memory(agent=agent, now=now, batch=batch, **fields)
            try:
                superseded = _supersedable(agent=agent, memory_ids=supersedes) if supersedes else []
                duplicate = _insert_within_quota(memory)
            except (quotas.QuotaExceeded, InvalidInput) as refused:
                outcomes[index] = BatchOutcome("rejected", error=refused)
                continue
            if duplicate is None:
                new_ids.append(memory.pk)
                outcomes[index] = BatchOutcome("created", memory)
            else:
                outcomes[index] = BatchOutcome(
                    "deduplicated",
                    _refresh_duplicate(
                        memory_id=duplicate,
                        stated_at=memory.created_at,
                        pinned=fields.get("pinned", False),
                        ttl_days=fields.get("ttl_days"),
                        ttl_seconds=fields.get("ttl_seconds"),
                    ),
                )
            stored = outcomes[index].memory
            if superseded and stored is not None:
                _supersede(superseded, by=stored)
        batch.created = len(new_ids)
        batch.deduplicated = sum(1 for o in outcomes.values() if o.status == "deduplicated")
        batch.rejected = total - batch.created - batch.deduplicated
        batch.save(update_fields=["created", "deduplicated", "rejected"])
        _memories_stored_emit(
            agent, [o.memory for o in outcomes.values() if o.status == "created" and o.memory]
        )
        size = settings.KRONVEX_EMBEDDING_BATCH_SIZE
        for start in range(0, len(new_ids), size):
            # robust: a broker that cannot take the task must not undo accepted memories.
            transaction.on_commit(
                partial(_enqueue_embedding, new_ids[start : start + size], []), robust=True
            )
    if settings.CELERY_TASK_ALWAYS_EAGER and new_ids:
        # Embedded in-process on commit: the answer shows where each one stands.
        states = dict(
            (pk, (status, model, error))
            for pk, status, model, error in Memory.objects.filter(pk__in=new_ids).values_list(
                "pk", "status", "embedding_model", "embedding_error"
            )
        )
        for outcome in outcomes.values():
            if outcome.status == "created" and outcome.memory is not None:
                memory = outcome.memory
                memory.status, memory.embedding_model, memory.embedding_error = states[memory.pk]
    return batch, outcomes


def _insert_within_quota(memory: Memory) -> int | None:
    """INSERT the memory if its account's plan has room and its agent holds no live
    duplicate of it (same content as normalised by `content_key`, same session), adding it
    to the account's count in the same statement.

    Returns None once inserted, the duplicate's id if there is one, and raises
    QuotaExceeded (nothing written) if the plan has no room. The UPDATE locks the account
    row until commit, so concurrent inserts for one account take the last places one at
    a time and never overshoot.
    """
    fields = _insert_fields()
    values = [field.get_db_prep_save(field.pre_save(memory, True), connection) for field in fields]
    limit, limit_params = quotas.memory_limit_sql("plan")
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"""
        WITH existing AS (
            SELECT id FROM memories_memory
            WHERE agent_id = %s AND content_key = {CONTENT_KEY_SQL}
                AND session_id IS NOT DISTINCT FROM %s
                AND (pinned OR expires_at IS NULL OR expires_at > %s)
            ORDER BY id LIMIT 1
        ),
        quota AS (
            UPDATE billing_account SET memories_held = memories_held + 1
            WHERE id = %s AND NOT EXISTS (SELECT FROM existing)
                AND ({limit} IS NULL OR memories_held < {limit})
            RETURNING id, memories_held, {limit} AS memory_limit
        ),
        inserted AS (
            INSERT INTO memories_memory ({columns}) SELECT {placeholders} FROM quota
            RETURNING id
        )
        SELECT (SELECT id FROM inserted), (SELECT id FROM existing),
            (SELECT memories_held FROM quota), (SELECT memory_limit FROM quota)
    """  # noqa: S608 - columns come from the model, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                memory.agent_id,
                memory.content,
                memory.session_id,
                timezone.now(),
                memory.account_id,
                *limit_params,
                *limit_params,
                *limit_params,
                *values,
            ],
        )
        inserted, existing, held, limit_held = cursor.fetchone()
    if existing is not None:
        return int(existing)
    if inserted is None:
        raise quotas.memory_quota_exceeded(account_id=memory.account_id)
    memory.pk = inserted
    memory._state.adding = False
    memory._state.db = connection.alias
    quotas.memories_taken(account_id=memory.account_id, held=held, limit=limit_held)
    return None


def _refresh_duplicate(
    *,
    memory_id: int,
    stated_at: datetime,
    pinned: bool,
    ttl_days: int | None,
    ttl_seconds: int | None,
) -> Memory:
    """The live memory a remember repeated, stated again: recency counts from `stated_at`,
    a pin or a TTL given with the repeat applies, content and metadata stay."""
    memory = Memory.objects.defer("embedding").get(pk=memory_id)
    memory.refreshed_at = max(memory.refreshed_at or memory.created_at, stated_at)
    memory.save(update_fields=["refreshed_at", "updated_at"])
    if (pinned and not memory.pinned) or ttl_days is not None or ttl_seconds is not None:
        memory = memory_update(
            memory=memory,
            pinned=True if pinned else None,
            ttl_days=ttl_days,
            ttl_seconds=ttl_seconds,
        )
    memory.deduplicated = True
    return memory


@functools.cache
def _insert_fields() -> list[Any]:
    return [
        field
        for field in Memory._meta.concrete_fields
        if not field.primary_key and not field.generated
    ]


# Plain statements: remember runs this in-process on every call, where the ORM's query
# building costs more than PostgreSQL's part, and one UPDATE stores any batch.
_CLAIM_SQL = """
    SELECT id, agent_id, content FROM memories_memory
    WHERE id = ANY(%s) AND status = 'pending'
    ORDER BY id FOR UPDATE SKIP LOCKED
"""
_CLAIM_MORE_SQL = """
    SELECT id, agent_id, content FROM memories_memory
    WHERE status = 'pending' AND NOT id = ANY(%s)
    ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED
"""
_STORE_VECTORS_SQL = """
    UPDATE memories_memory AS memory
    SET embedding = stored.embedding::vector, vector_version = stored.version,
        embedding_model = %s, status = 'ready', embedding_error = '',
        embedding_attempts = 0, embedding_retry_at = NULL
    FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS stored(id, embedding, version)
    WHERE memory.id = stored.id
"""


def memories_embed(*, memory_ids: list[int], fill_to: int = 0) -> int:
    """Embed the given pending memories, plus older waiting ones up to `fill_to` in all.

    Rows are claimed with SKIP LOCKED so concurrent workers split a backlog
    instead of embedding the same rows twice. Returns how many were embedded.
    """
    embedder = get_embedder()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [list(memory_ids)])
        claimed = cursor.fetchall()
        if len(claimed) < fill_to:
            cursor.execute(_CLAIM_MORE_SQL, [list(memory_ids), fill_to - len(claimed)])
            claimed += cursor.fetchall()
        if not claimed:
            return 0
        vectors = embedder.embed([content for _, _, content in claimed])
        # After the slow part, so the agents' rows are locked only for the writes.
        versions = _vectors_changed(agent_ids={agent_id for _, agent_id, _ in claimed})
        embedding_field = Memory._meta.get_field("embedding")
        cursor.execute(
            _STORE_VECTORS_SQL,
            [
                embedder.model_name,
                [memory_id for memory_id, _, _ in claimed],
                [embedding_field.get_prep_value(vector) for vector in vectors],
                [versions[agent_id] for _, agent_id, _ in claimed],
            ],
        )
    return len(claimed)


# The provider's answers that say the request itself is wrong (such as a text too long for
# the model): sending it again cannot help. Any other failure may pass.
_PERMANENT_FAILURE_STATUSES = frozenset({400, 413, 422})


def embedding_failure_is_transient(exc: BaseException) -> bool:
    """Whether the same embedding may succeed later (a provider down, slow, misconfigured)."""
    return getattr(exc.__cause__, "status_code", None) not in _PERMANENT_FAILURE_STATUSES


# The delay before the sweeper's next try: the pending timeout, doubled at each attempt
# already made, up to the cap. In SQL, for the row's own count of attempts.
_BACKOFF_SQL = (
    "%(now)s + make_interval(secs => LEAST(%(base)s * power(2, LEAST(embedding_attempts, 30)),"
    " %(cap)s))"
)


def _backoff_params(now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "base": settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS,
        "cap": settings.KRONVEX_SWEEP_MAX_DELAY_SECONDS,
        "max_attempts": settings.KRONVEX_SWEEP_MAX_ATTEMPTS,
    }


_MARK_FAILED_SQL = f"""
    UPDATE memories_memory
    SET status = 'failed', embedding_error = %(reason)s, updated_at = %(now)s,
        embedding_retry_at = CASE
            WHEN %(transient)s AND embedding_attempts < %(max_attempts)s THEN {_BACKOFF_SQL}
        END
    WHERE id = ANY(%(ids)s) AND status = 'pending'
"""  # noqa: S608 - a constant


def memories_mark_failed(*, memory_ids: list[int], reason: str, transient: bool = True) -> int:
    """Mark these pending memories failed with the reason; a transient failure is tried
    again by the sweeper later, up to KRONVEX_SWEEP_MAX_ATTEMPTS times. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_FAILED_SQL,
            {
                **_backoff_params(timezone.now()),
                "reason": reason[:2000],
                "transient": transient,
                "ids": list(memory_ids),
            },
        )
        return int(cursor.rowcount)


def memories_embedding_failed(*, memory_ids: list[int], error: Exception) -> int:
    """What becomes of memories whose embedding failed for good in a task: marked failed;
    a batch the provider refused for what one of them holds is split first, so that only
    the memories that fail alone are marked. Returns how many were marked."""
    transient = embedding_failure_is_transient(error)
    if transient or len(memory_ids) == 1:
        return memories_mark_failed(memory_ids=memory_ids, reason=str(error), transient=transient)
    _, failures = _reembed_ids(memory_ids)
    return len(failures)


# -- the sweeper -------------------------------------------------------------------------
# Every accepted memory is stored before its embedding is queued, so a task lost on the way
# (broker down, worker killed, provider failing past the task's retries) leaves a row that
# says so: pending, or failed with a reason. The sweeper queues those again.

# Memories queued per sweep; a larger backlog is taken by the next sweeps.
SWEEP_LIMIT = 2000

_SWEEP_SQL = f"""
    WITH due AS (
        SELECT id, status FROM memories_memory
        WHERE (
            status = 'pending' AND COALESCE(
                embedding_retry_at, updated_at + make_interval(secs => %(pending_after)s)
            ) <= %(now)s
        ) OR (
            status = 'failed' AND embedding_retry_at <= %(now)s
            AND embedding_attempts < %(max_attempts)s
        )
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE memories_memory AS memory
    SET status = 'pending', embedding_retry_at = {_BACKOFF_SQL},
        embedding_attempts = memory.embedding_attempts + 1
    FROM due WHERE memory.id = due.id
    RETURNING memory.id, due.status
"""  # noqa: S608 - a constant

# Queued nothing after all (the broker is down): as if this sweep had not taken them.
_UNSWEEP_SQL = """
    UPDATE memories_memory
    SET embedding_attempts = GREATEST(embedding_attempts - 1, 0), embedding_retry_at = %s
    WHERE id = ANY(%s) AND status = 'pending'
"""


@dataclass(frozen=True)
class Sweep:
    """What one sweep did: memories queued again, by the state it found them in."""

    pending: int
    failed: int
    # Taken but not queued, the broker being down: the next sweep takes them again.
    unqueued: int

    @property
    def queued(self) -> int:
        return self.pending + self.failed - self.unqueued


def memories_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> Sweep:
    """Queue again the embedding of memories left pending past KRONVEX_SWEEP_PENDING_AFTER_SECONDS
    and of failed ones due for another try. Safe to run anywhere, any number of times at
    once: an embedding only ever embeds pending memories."""
    now = now or timezone.now()
    params = {
        **_backoff_params(now),
        "pending_after": settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS,
        "limit": limit,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SWEEP_SQL, params)
        rows = cursor.fetchall()
    ids = sorted(memory_id for memory_id, _ in rows)
    unqueued: list[int] = []
    size = settings.KRONVEX_EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        if not _enqueue_embedding(chunk):
            unqueued += chunk
    if unqueued:
        with connection.cursor() as cursor:
            cursor.execute(_UNSWEEP_SQL, [now, unqueued])
    failed = sum(1 for _, status in rows if status == EmbeddingStatus.FAILED)
    sweep = Sweep(pending=len(rows) - failed, failed=failed, unqueued=len(unqueued))
    if rows:
        logger.info(
            "sweeper: %d pending and %d failed memories queued again, %d could not be queued",
            sweep.pending,
            sweep.failed,
            sweep.unqueued,
        )
    return sweep


def memory_embedding_retry(*, memory: Memory) -> Memory:
    """Queue the embedding of a failed or pending memory again, its count of attempts
    started again; MemoryAlreadyEmbedded for a ready one."""
    with transaction.atomic():
        updated = Memory.objects.filter(pk=memory.pk).exclude(status=EmbeddingStatus.READY)
        if not updated.update(
            status=EmbeddingStatus.PENDING,
            embedding_attempts=0,
            embedding_retry_at=None,
            updated_at=timezone.now(),
        ):
            raise MemoryAlreadyEmbedded(
                f"Memory '{memory.uuid}' is embedded already (status ready); nothing to retry."
            )
        transaction.on_commit(partial(_enqueue_embedding, [memory.pk]), robust=True)
    memory.refresh_from_db()
    return memory


# -- recall and inject-context -----------------------------------------------------


@dataclass(frozen=True)
class Recalled:
    memory: Memory
    score: ranking.Score
    embedding: Sequence[float] | np.ndarray | None


@dataclass(frozen=True)
class Recall:
    memories: list[Recalled]
    # The query could not be embedded (the provider is down): the memories were found and
    # ranked by their words alone.
    words_only: bool = False


def recall(
    *,
    agent: Agent,
    query: str,
    top_k: int = 5,
    session_id: str | None = None,
    memory_type: str | None = None,
    threshold: float | None = None,
    with_vectors: bool = False,
    count_access: bool = True,
) -> list[Recalled]:
    """The agent's `top_k` memories for the query, best first; each one's access is counted
    unless `count_access` is off."""
    return recall_ranked(
        agent=agent,
        query=query,
        top_k=top_k,
        session_id=session_id,
        memory_type=memory_type,
        threshold=threshold,
        with_vectors=with_vectors,
        count_access=count_access,
    ).memories


def recall_ranked(
    *,
    agent: Agent,
    query: str,
    top_k: int = 5,
    session_id: str | None = None,
    memory_type: str | None = None,
    threshold: float | None = None,
    with_vectors: bool = False,
    count_access: bool = True,
) -> Recall:
    """recall, saying whether it had to do without the query's vector: when the embedding
    provider fails, the memories are still found by their words rather than not at all."""
    now = timezone.now()
    embedder = get_embedder()
    query_vector: np.ndarray | None
    try:
        query_vector = embedder.embed_query(query)
    except EmbeddingError as exc:
        _query_embedding_failures.happened(exc)
        query_vector = None
    weights = ranking_weights()
    candidates = selectors.recall_candidates(
        agent=agent,
        query=query,
        query_vector=query_vector,
        model_name=embedder.model_name,
        limit=max(MIN_CANDIDATES, top_k * CANDIDATES_PER_RESULT),
        lexical_weight=weights.lexical,
        session_id=session_id,
        memory_type=memory_type,
        with_vectors=with_vectors or weights.crowding > 0,
        period=periods.named_period(query, now=now),
        period_weight=weights.period,
    )
    if weights.crowding > 0:
        candidates = _with_crowding(candidates, neighbours=weights.crowding_neighbours)
    ranked = ranking.rank(
        candidates,
        now=now,
        weights=weights,
        limit=len(candidates),
        present=periods.asks_about_present(query),
    )
    if threshold is not None:
        # On the fused similarity, the score the results report.
        ranked = [item for item in ranked if item.score.similarity >= threshold]
    recalled: list[Recalled] = []
    # The winners' rows; one deleted since it was ranked gives its place to the next.
    while ranked and len(recalled) < top_k:
        batch, ranked = ranked[: top_k - len(recalled)], ranked[top_k - len(recalled) :]
        rows = selectors.memories_by_id([item.candidate.memory_id for item in batch])
        recalled += [
            Recalled(
                memory=rows[item.candidate.memory_id],
                score=item.score,
                embedding=item.candidate.embedding if with_vectors else None,
            )
            for item in batch
            if item.candidate.memory_id in rows
        ]
    if count_access:
        _count_access([item.memory for item in recalled], now=now)
    return Recall(memories=recalled, words_only=query_vector is None)


def _with_crowding(
    candidates: list[selectors.RecallCandidate], *, neighbours: int
) -> list[selectors.RecallCandidate]:
    """The candidates, those the query's vector was compared with given their crowding
    among each other (memories/ranking.py)."""
    compared = [
        index
        for index, candidate in enumerate(candidates)
        if candidate.vector is not None and candidate.embedding is not None
    ]
    if len(compared) < 2:
        return candidates
    crowding = ranking.crowding_scores(
        np.array([candidates[index].embedding for index in compared], dtype=np.float32),
        neighbours,
    )
    result = list(candidates)
    for index, value in zip(compared, crowding, strict=True):
        result[index] = dataclasses.replace(candidates[index], crowding=float(value))
    return result


# Inside a request, the access counts a recall adds are written once the response has
# gone (request_finished): the client does not wait for them. Elsewhere (tasks, commands,
# the MCP stdio server) they are written at once.
_deferred_accesses: ContextVar[list[tuple[list[int], datetime]] | None] = ContextVar(
    "kronvex_deferred_accesses", default=None
)


def defer_access_counts(**kwargs: Any) -> None:
    """`request_started` receiver: this request's access counts wait for its end."""
    _deferred_accesses.set([])


def write_deferred_access_counts(**kwargs: Any) -> None:
    """`request_finished` receiver: write the access counts the request deferred. Never
    raises: the response is already sent, and a lost count only ranks a memory lower."""
    pending = _deferred_accesses.get()
    _deferred_accesses.set(None)
    for ids, now in pending or []:
        try:
            _write_access(ids, now=now)
        except Exception:
            logger.exception("could not count %d recalled memories' accesses", len(ids))


def _count_access(memories: list[Memory], *, now: datetime) -> None:
    if not memories:
        return
    ids = [memory.pk for memory in memories]
    pending = _deferred_accesses.get()
    if pending is None:
        _write_access(ids, now=now)
    else:
        pending.append((ids, now))
    for memory in memories:
        memory.access_count += 1
        memory.last_accessed_at = now


def _write_access(ids: list[int], *, now: datetime) -> None:
    # A plain statement: on recall's hot path the ORM's UPDATE building costs more than
    # PostgreSQL's part.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE memories_memory SET access_count = access_count + 1, last_accessed_at = %s "
            "WHERE id = ANY(%s)",
            [now, ids],
        )


@dataclass(frozen=True)
class InjectedContext:
    context: str
    used: list[Recalled]
    words_only: bool = False


def inject_context(
    *,
    agent: Agent,
    query: str,
    top_k: int = 5,
    session_id: str | None = None,
    memory_type: str | None = None,
    max_tokens: int | None = None,
    threshold: float | None = None,
) -> InjectedContext:
    """Prompt-ready lines for the query's best memories, near-duplicates collapsed."""
    found = recall_ranked(
        agent=agent,
        query=query,
        top_k=top_k,
        session_id=session_id,
        memory_type=memory_type,
        threshold=threshold,
        # The vectors let near-duplicates that are worded differently collapse.
        with_vectors=True,
        # Only the memories that make it into the context count as accessed, below.
        count_access=False,
    )
    recalled = found.memories
    items = [
        context.ContextItem(
            type=item.memory.type,
            created_at=item.memory.created_at,
            content=item.memory.content,
            embedding=item.embedding,
        )
        for item in recalled
    ]
    chosen = context.build_context(items, max_tokens=max_tokens)
    _count_access([recalled[index].memory for index in chosen], now=timezone.now())
    return InjectedContext(
        context=context.render([items[index] for index in chosen]),
        used=[recalled[index] for index in chosen],
        words_only=found.words_only,
    )


# -- editing and forgetting -----------------------------------------------------------


def memory_update(
    *,
    memory: Memory,
    pinned: bool | None = None,
    memory_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    ttl_days: int | None = None,
    ttl_seconds: int | None = None,
    clear_ttl: bool = False,
) -> Memory:
    changed: list[str] = []
    if pinned is not None:
        memory.pinned = pinned
        changed.append("pinned")
    if memory_type is not None:
        memory.type = memory_type
        changed.append("type")
    if metadata is not None:
        memory.metadata = metadata
        changed.append("metadata")
    if clear_ttl:
        memory.expires_at = None
        changed.append("expires_at")
    elif ttl_days is not None or ttl_seconds is not None:
        memory.expires_at = expiry(now=timezone.now(), ttl_days=ttl_days, ttl_seconds=ttl_seconds)
        changed.append("expires_at")
    if not changed:
        return memory
    with transaction.atomic():
        if {"pinned", "type", "expires_at"} & set(changed):
            # Recall filters on these: its vector copies must see the change.
            versions = _vectors_changed(agent_ids={memory.agent_id})
            memory.vector_version = versions[memory.agent_id]
            changed.append("vector_version")
        memory.save(update_fields=[*changed, "updated_at"])
    return memory


@transaction.atomic
def forget(*, memory: Memory, actor: str = SYSTEM, ip: str | None = None) -> int:
    """Delete one memory for good; returns how many were deleted (1, or 0 if gone already)."""
    erased = _erase(Memory.objects.filter(pk=memory.pk))
    if erased:
        audit_record(
            account=memory.account,
            kind=AuditEvent.Kind.MEMORIES_DELETED,
            actor=actor,
            target=memory.agent.slug,
            data=_audited_ids(erased),
            ip=ip,
        )
    return len(erased)


@transaction.atomic
def memories_delete(
    *,
    agent: Agent,
    session_id: str | None = None,
    memory_ids: Sequence[uuid.UUID] | None = None,
    actor: str = SYSTEM,
    ip: str | None = None,
) -> int:
    """Delete an agent's memories, or only one session's, or only the given ones;
    returns how many."""
    memories = Memory.objects.filter(agent=agent)
    if session_id is not None:
        memories = memories.filter(session_id=session_id)
    if memory_ids is not None:
        memories = memories.filter(uuid__in=memory_ids)
    erased = _erase(memories)
    if erased:
        data = _audited_ids(erased)
        if session_id is not None:
            data["session_id"] = session_id
        audit_record(
            account=agent.account,
            kind=AuditEvent.Kind.MEMORIES_DELETED,
            actor=actor,
            target=agent.slug,
            data=data,
            ip=ip,
        )
    return len(erased)


@dataclass(frozen=True)
class SessionErased:
    """What erasing one end user's session removed: memories per agent id."""

    session_id: str
    agents: dict[str, int]

    @property
    def deleted(self) -> int:
        return sum(self.agents.values())


@transaction.atomic
def session_erase(
    *, account: Account, session_id: str, actor: str = SYSTEM, ip: str | None = None
) -> SessionErased:
    """Delete every memory of the session in all the account's agents, for good;
    SessionNotFound if none holds it."""
    erased = _erase(Memory.objects.filter(account=account, session_id=session_id))
    if not erased:
        raise SessionNotFound(f"No memory of session {session_id!r} in this account.")
    slugs = dict(
        Agent.objects.filter(pk__in={row.agent_id for row in erased}).values_list("pk", "slug")
    )
    per_agent = Counter(slugs[row.agent_id] for row in erased)
    audit_record(
        account=account,
        kind=AuditEvent.Kind.SESSION_ERASED,
        actor=actor,
        target=session_id,
        data={**_audited_ids(erased), "agents": dict(sorted(per_agent.items()))},
        ip=ip,
    )
    return SessionErased(session_id=session_id, agents=dict(sorted(per_agent.items())))


# Memories deleted per transaction by the retention purge.
RETENTION_PURGE_CHUNK = 2000


def memories_retention_purge(*, now: datetime, chunk_size: int = RETENTION_PURGE_CHUNK) -> int:
    """Erase the episodic memories that agents with a retention period have held longer
    than it (counted from when each was last stated; pinned ones stay); how many."""
    purged = 0
    agents = Agent.objects.filter(retention_days__isnull=False).select_related("account")
    for agent in list(agents.order_by("pk")):
        if agent.retention_days is None:
            continue
        cutoff = now - timedelta(days=agent.retention_days)
        # A memory is never refreshed before it is created: the created_at condition
        # alone can use the agent's index on it.
        due = (
            Memory.objects.filter(
                agent=agent, type=MemoryType.EPISODIC, pinned=False, created_at__lt=cutoff
            )
            .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lt=cutoff))
            .order_by("created_at")
        )
        while True:
            with transaction.atomic():
                erased = _erase(due[:chunk_size])
                if erased:
                    audit_record(
                        account=agent.account,
                        kind=AuditEvent.Kind.MEMORIES_PURGED,
                        actor=SYSTEM,
                        target=agent.slug,
                        data={"retention_days": agent.retention_days, **_audited_ids(erased)},
                    )
            purged += len(erased)
            if len(erased) < chunk_size:
                break
    if purged:
        logger.info("retention: purged %d memories past their agents' retention", purged)
    return purged


# -- erasure ---------------------------------------------------------------------------

# Ids named in one audit entry; an entry for more says how many it leaves out.
MAX_AUDITED_IDS = 1000
# Erasing up to this many memories drops the stored answers that name one of them; more,
# all of the account's stored answers (a search per id would cost more than it saves).
ANSWERS_SEARCHED_IDS = 100


@dataclass(frozen=True)
class _Erased:
    uuid: uuid.UUID
    agent_id: int
    account_id: int


def _audited_ids(erased: Sequence[_Erased]) -> dict[str, Any]:
    """How many memories went, and which: ids only, never content."""
    ids = sorted(str(row.uuid) for row in erased)
    data: dict[str, Any] = {"count": len(ids), "ids": ids[:MAX_AUDITED_IDS]}
    if len(ids) > MAX_AUDITED_IDS:
        data["ids_omitted"] = len(ids) - MAX_AUDITED_IDS
    return data


def _erase(memories: QuerySet[Memory]) -> list[_Erased]:
    """DELETE these memories (content, vectors and all) in one statement, and what kept a
    trace of them: their place in the quota, in the vector copies and supersessions, and
    the API's stored answers that quote them. Call inside a transaction."""
    sql, params = memories.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM memories_memory WHERE id IN ({sql})"  # noqa: S608 - the ORM's SQL
            " RETURNING uuid, agent_id, account_id",
            params,
        )
        erased = [_Erased(*row) for row in cursor.fetchall()]
    if erased:
        quotas.memories_released(counts=Counter(row.account_id for row in erased))
        agent_ids = {row.agent_id for row in erased}
        _vectors_changed(agent_ids=agent_ids, pruned=True)
        _supersessions_released(agent_ids=agent_ids)
        _stored_answers_forget(erased)
        _memories_deleted_emit(erased)
    return erased


def _stored_answers_forget(erased: Sequence[_Erased]) -> None:
    """The API keeps the answers of Idempotency-Key requests for 24 hours
    (api/idempotency.py), and remember's, recall's and inject-context's quote memories:
    those that name an erased memory go with it. Looked up by name, since memories does
    not import the API; a retry with one of those keys then runs again."""
    table = apps.get_model("api", "IdempotencyKey")._meta.db_table
    accounts = sorted({row.account_id for row in erased})
    with connection.cursor() as cursor:
        if len(erased) <= ANSWERS_SEARCHED_IDS:
            cursor.execute(
                f"DELETE FROM {table} WHERE account_id = ANY(%s)"  # noqa: S608 - a model's table
                " AND status_code IS NOT NULL AND response_body LIKE ANY(%s)",
                [accounts, [f"%{row.uuid}%" for row in erased]],
            )
        else:
            cursor.execute(
                f"DELETE FROM {table} WHERE account_id = ANY(%s)"  # noqa: S608 - a model's table
                " AND status_code IS NOT NULL",
                [accounts],
            )


@transaction.atomic
def memories_purge_expired() -> int:
    """Erase the memories whose TTL has run out (pinned ones never expire), as any deletion
    is: customers' webhooks hear of it, and stored answers quoting them go too."""
    erased = _erase(Memory.objects.filter(pinned=False, expires_at__lte=timezone.now()))
    if erased:
        logger.info("purged %d expired memories", len(erased))
    return len(erased)


# -- re-embedding -----------------------------------------------------------------------
# After a change of embedding model (or with `force`, of anything) the memories are embedded
# again in two steps: marked pending, which takes their old vectors out of recall (they are
# found by their words meanwhile), then embedded in batches in id order. The work left is
# always the target's pending rows, so an interrupted run is resumed by starting it again.

# Rows marked per transaction: a large database is never marked in one giant transaction.
REEMBED_MARK_CHUNK = 5000


@dataclass(frozen=True)
class ReembedBatch:
    """What one batch of a re-embedding did; `last_id` is where the next batch starts."""

    last_id: int
    size: int
    embedded: int
    # Memory id -> the provider's reason, for the memories now marked failed.
    failures: dict[int, str]

    @property
    def skipped(self) -> int:
        """Memories another worker embedded (or was embedding) meanwhile."""
        return self.size - self.embedded - len(self.failures)


def _reembed_scope(agent: Agent | None) -> dict[str, Agent]:
    return {} if agent is None else {"agent": agent}


def memories_reembed_count(*, agent: Agent | None, force: bool) -> int:
    """How many memories of the agent (None: of every agent) a re-embedding would embed."""
    memories = Memory.objects.filter(**_reembed_scope(agent))
    if not force:
        memories = memories.exclude(
            status=EmbeddingStatus.READY, embedding_model=get_embedder().model_name
        )
    return memories.count()


def memories_reembed_mark(
    *, agent: Agent | None, force: bool, chunk_size: int = REEMBED_MARK_CHUNK
) -> int:
    """Mark pending the memories to embed again: those without a ready vector of the configured
    model (with `force`, all); of the agent, or of every agent (None). Returns how many."""
    marking = Memory.objects.filter(**_reembed_scope(agent)).exclude(status=EmbeddingStatus.PENDING)
    if not force:
        marking = marking.exclude(
            status=EmbeddingStatus.READY, embedding_model=get_embedder().model_name
        )
    marked = 0
    after = 0
    while True:
        with transaction.atomic():
            rows = list(
                marking.filter(pk__gt=after)
                .order_by("pk")
                .values_list("pk", "agent_id")[:chunk_size]
            )
            if not rows:
                return marked
            after = rows[-1][0]
            # The UPDATE checks the conditions again on each row it locks: a row changed
            # since the SELECT (embedded, marked by another run) is left as it now is.
            count = marking.filter(pk__in=[pk for pk, _ in rows]).update(
                status=EmbeddingStatus.PENDING,
                embedding_error="",
                embedding_attempts=0,
                embedding_retry_at=None,
            )
            if count:
                # The marked rows leave their agents' ready vectors, as deleted ones do.
                _vectors_changed(agent_ids={agent_id for _, agent_id in rows}, pruned=True)
            marked += count


def memories_reembed_pending(*, agent: Agent | None) -> int:
    """How many memories of the agent (None: of every agent) wait for their vector."""
    return Memory.objects.filter(status=EmbeddingStatus.PENDING, **_reembed_scope(agent)).count()


def memories_reembed_batch(
    *, agent: Agent | None, batch_size: int, after: int = 0
) -> ReembedBatch | None:
    """Embed the next `batch_size` pending memories of the agent (None: of every agent) with
    ids above `after`; None when there are no more.

    A batch the provider refuses is split until the memories that fail alone are found:
    those are marked failed with the reason, the others embedded.
    """
    ids = list(
        Memory.objects.filter(status=EmbeddingStatus.PENDING, pk__gt=after, **_reembed_scope(agent))
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not ids:
        return None
    embedded, failures = _reembed_ids(ids)
    return ReembedBatch(last_id=ids[-1], size=len(ids), embedded=embedded, failures=failures)


def _reembed_ids(ids: list[int]) -> tuple[int, dict[int, str]]:
    try:
        return memories_embed(memory_ids=ids), {}
    except EmbeddingError as exc:
        if len(ids) == 1:
            # Not a failure if it is no longer pending: another worker embedded it.
            failed = memories_mark_failed(
                memory_ids=ids, reason=str(exc), transient=embedding_failure_is_transient(exc)
            )
            return 0, {ids[0]: str(exc)} if failed else {}
    middle = len(ids) // 2
    embedded_first, failures_first = _reembed_ids(ids[:middle])
    embedded_second, failures_second = _reembed_ids(ids[middle:])
    return embedded_first + embedded_second, failures_first | failures_second


# -- webhooks ---------------------------------------------------------------------------
# Events tell which memories, never their content or metadata (fetch them by id): the
# delivery log keeps payloads, and must not keep a copy of what was erased.


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _memories_stored_emit(agent: Agent, memories: list[Memory]) -> None:
    """memory.stored to the account's webhooks: one event per call, for its new memories."""
    if not memories:
        return
    webhooks_emit(
        account_id=agent.account_id,
        event="memory.stored",
        data=lambda: {
            "agent_id": agent.slug,
            "agent_uuid": str(agent.uuid),
            "count": len(memories),
            "memories": [
                {
                    "id": str(memory.uuid),
                    "type": memory.type,
                    "session_id": memory.session_id,
                    "pinned": memory.pinned,
                    "created_at": _iso(memory.created_at),
                    "expires_at": _iso(memory.expires_at),
                }
                for memory in memories
            ],
        },
    )


def _memories_deleted_emit(erased: Sequence[_Erased]) -> None:
    """memory.deleted to the account's webhooks: one event per agent, with the ids."""
    by_agent: dict[tuple[int, int], list[_Erased]] = {}
    for row in erased:
        by_agent.setdefault((row.account_id, row.agent_id), []).append(row)
    for (account_id, agent_id), rows in by_agent.items():
        webhooks_emit(
            account_id=account_id,
            event="memory.deleted",
            data=partial(_deleted_data, agent_id, rows),
        )


def _deleted_data(agent_id: int, rows: list[_Erased]) -> dict[str, Any]:
    # Read inside the deleting transaction: an agent being deleted is still there.
    slug, agent_uuid = Agent.objects.filter(pk=agent_id).values_list("slug", "uuid").get()
    ids = _audited_ids(rows)
    data = {"agent_id": slug, "agent_uuid": str(agent_uuid), "count": ids["count"]}
    data["memory_ids"] = ids["ids"]
    if "ids_omitted" in ids:
        data["memory_ids_omitted"] = ids["ids_omitted"]
    return data
