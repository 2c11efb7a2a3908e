"""An exact, in-process copy of each recently used agent's vectors and lexemes, kept in step
with PostgreSQL.

Recall needs an agent's most relevant memories: by vector similarity fused with BM25 over
the lexemes PostgreSQL's text search made of each memory (memories/lexical.py). Both are
computed here for every memory of the agent, then fused, so the fusion is exact too:
BM25's statistics (how many of the agent's memories hold each query lexeme) come from
posting lists of row positions per lexeme, kept beside the vectors.

For the vectors alone, In PostgreSQL that is a scan of every
vector of the agent (pgvector < 0.8 cannot filter an HNSW index by agent without
losing rows), which costs about 1.5 microseconds a row. Here the same brute-force
search is one matrix-vector product over vectors held in memory, about 50 times
faster, and it stays exact: the rows are the database's rows, compared in full.

Consistency comes from versions written in the same transaction as the change:
every change to an agent's ready vectors (a vector stored, a memory's type, pin or
expiry edited, memories deleted) takes a new value from one sequence into
`Agent.vector_version` and stamps the changed memories with it; deletions also set
`Agent.vector_pruned_version`. The agent row stays locked until commit, so one
agent's versions become visible in increasing order. Each search first reads the
agent's two versions (one primary-key lookup); a current copy needs nothing more,
a stale one reads just the rows stamped after it (and, after deletions, the list of
the agent's live ids). Sequence values are never reused, so a rolled-back change
cannot pass for a later one.

The copy is only ever filled from committed data: inside a transaction (which may
see its own uncommitted rows, and may roll back) a stale copy is not refreshed and
recall takes the SQL path. Each process holds its own copies, least recently used
first out when `KRONVEX_VECTOR_CACHE_MB` is reached; an agent larger than the whole
budget is always searched in SQL. `KRONVEX_VECTOR_CACHE_MB=0` turns the cache off.

Erased vectors leave the copies too: a deleted agent's copy is dropped on commit in the
process that deleted it, and every process, at most once a minute on a search's way,
drops the copies of agents deleted since and of agents with deletions the copy has not
caught up with (`prune_erased`), whether or not those agents are searched again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection

from memories import lexical
from memories.models import SEARCH_CONFIG, Agent, EmbeddingStatus, MemoryType
from memories.periods import Period

logger = logging.getLogger(__name__)

_TYPE_CODES = {value: code for code, value in enumerate(MemoryType.values)}
_NO_SESSION = -1
_UNKNOWN_SESSION = -2  # a session no cached row holds: nothing matches
# Bytes per cached row besides the vector: id, expiry, creation, session code, type, pin,
# length, alive.
_ROW_OVERHEAD = 8 + 8 + 8 + 4 + 1 + 1 + 4 + 1
# Bytes per distinct lexeme: its dict entry, string and posting array, roughly.
_LEXEME_OVERHEAD = 200
_MIN_DEAD_TO_COMPACT = 256
# Constant SQL: values only ever travel as parameters.
_VERSIONS_SQL = (
    "SELECT vector_version, vector_pruned_version, "
    "EXISTS (SELECT FROM memories_memory WHERE agent_id = %s AND status <> %s), "
    "tsvector_to_array(to_tsvector(%s::regconfig, %s)) "
    "FROM memories_agent WHERE id = %s"
)
_LOAD_SQL = (
    "SELECT id, vector_send(embedding), pinned, expires_at, session_id, type, "
    "tsvector_to_array(search_vector), created_at "
    "FROM memories_memory WHERE agent_id = %s AND embedding_model = %s AND status = %s LIMIT %s"
)
_CHANGED_SQL = (
    "SELECT id, vector_send(embedding), pinned, expires_at, session_id, type, "
    "tsvector_to_array(search_vector), created_at, status, embedding_model "
    "FROM memories_memory WHERE agent_id = %s AND vector_version > %s"
)
_PRUNED_VERSIONS_SQL = "SELECT id, vector_pruned_version FROM memories_agent WHERE id = ANY(%s)"
# How often each process looks for copies holding erased vectors (prune_erased).
PRUNE_INTERVAL_SECONDS = 60.0
_LIVE_IDS_SQL = (
    "SELECT id FROM memories_memory WHERE agent_id = %s AND embedding_model = %s AND status = %s"
)


@dataclass(frozen=True)
class Neighbour:
    memory_id: int
    similarity: float
    vector: np.ndarray
    lexical: float = 0.0


@dataclass(frozen=True)
class Nearest:
    neighbours: list[Neighbour]
    # Whether the agent had memories without a vector when its versions were read
    # (the partial index on them makes this free): if not, no lexical fallback is needed.
    unembedded: bool
    # The query's lexemes, and the agent's corpus statistics for them: memories without
    # a vector are scored lexically against the same statistics.
    lexemes: list[str]
    stats: lexical.CorpusStats


def row_bytes(dimensions: int) -> int:
    """What one cached row costs, its lexemes aside."""
    return dimensions * 4 + _ROW_OVERHEAD


def _expiry(value: datetime | None) -> float:
    return math.inf if value is None else value.timestamp()


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class AgentVectors:
    """One agent's ready memories for one model: vectors and lexemes, searchable, updatable.

    Rows keep their place once added: a removed row is only marked dead, and the dead
    are compacted away once they make up a quarter of the rows, so the lexical postings
    (row positions per lexeme) stay valid between compactions.
    """

    def __init__(self, *, version: int, dimensions: int) -> None:
        self.version = version
        self.dimensions = dimensions
        self.size = 0
        self.dead = 0
        self.lock = threading.Lock()
        self._positions: dict[int, int] = {}
        self._sessions: dict[str, int] = {}
        self._lexemes: dict[str, int] = {}
        self._postings: list[array[int]] = []
        self._posting_count = 0
        self._allocate(0)

    def _allocate(self, capacity: int) -> None:
        def grown(old: np.ndarray | None, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            new = np.zeros(shape, dtype=dtype)
            if old is not None and self.size:
                new[: self.size] = old[: self.size]
            return new

        self.ids = grown(getattr(self, "ids", None), (capacity,), np.int64)
        self.vectors = grown(
            getattr(self, "vectors", None), (capacity, self.dimensions), np.float32
        )
        self.pinned = grown(getattr(self, "pinned", None), (capacity,), np.bool_)
        self.expires = grown(getattr(self, "expires", None), (capacity,), np.float64)
        self.created = grown(getattr(self, "created", None), (capacity,), np.float64)
        self.sessions = grown(getattr(self, "sessions", None), (capacity,), np.int32)
        self.types = grown(getattr(self, "types", None), (capacity,), np.int8)
        self.lengths = grown(getattr(self, "lengths", None), (capacity,), np.float32)
        self.alive = grown(getattr(self, "alive", None), (capacity,), np.bool_)

    @property
    def nbytes(self) -> int:
        return (
            len(self.ids) * row_bytes(self.dimensions)
            + self._posting_count * 4
            + len(self._lexemes) * _LEXEME_OVERHEAD
        )

    @property
    def live_rows(self) -> int:
        return len(self._positions)

    def _session_code(self, session_id: str | None) -> int:
        if session_id is None:
            return _NO_SESSION
        return self._sessions.setdefault(session_id, len(self._sessions))

    def upsert(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (id, vector_send bytes, pinned, expires_at, session_id, type, lexemes,
        created_at)."""
        if not rows:
            return
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if len(set(ids.tolist())) != len(ids):
            # The same id twice in one batch: the last row wins, as one by one.
            latest = {row[0]: row for row in rows}
            rows = list(latest.values())
            ids = np.fromiter(latest, dtype=np.int64, count=len(rows))
        width = 4 + 4 * self.dimensions
        data = b"".join(row[1] for row in rows)
        if len(data) != width * len(rows):
            raise ValueError(f"vectors of {self.dimensions} dimensions expected")
        # vector_send: int16 dimensions, int16 unused, then big-endian float4s.
        vectors = np.frombuffer(data, dtype=np.uint8).reshape(len(rows), width)[:, 4:]
        vectors = _normalised(vectors.copy().view(">f4").astype(np.float32))
        positions = np.empty(len(rows), dtype=np.int64)
        added: list[tuple[int, list[str]]] = []
        for index, row in enumerate(rows):
            position = self._positions.get(row[0])
            if position is None:
                position = self.size + len(added)
                self._positions[row[0]] = position
                # A memory's content never changes, so neither do its lexemes: they are
                # indexed when the row first arrives.
                added.append((position, row[6] or []))
            positions[index] = position
        if self.size + len(added) > len(self.ids):
            self._allocate(max(self.size + len(added), int(len(self.ids) * 1.5) + 16))
        self.size += len(added)
        self.ids[positions] = ids
        self.vectors[positions] = vectors
        self.pinned[positions] = [bool(row[2]) for row in rows]
        self.expires[positions] = [_expiry(row[3]) for row in rows]
        self.created[positions] = [row[7].timestamp() for row in rows]
        self.sessions[positions] = [self._session_code(row[4]) for row in rows]
        self.types[positions] = [_TYPE_CODES.get(row[5], -1) for row in rows]
        self.alive[positions] = True
        for position, lexemes in added:
            unique = set(lexemes)
            self.lengths[position] = len(unique)
            for lexeme in unique:
                code = self._lexemes.get(lexeme)
                if code is None:
                    code = self._lexemes[lexeme] = len(self._postings)
                    self._postings.append(array("i"))
                self._postings[code].append(position)
            self._posting_count += len(unique)

    def remove(self, memory_ids: set[int]) -> None:
        for memory_id in memory_ids:
            position = self._positions.pop(memory_id, None)
            if position is not None:
                self.alive[position] = False
                self.dead += 1
        if self.dead > max(_MIN_DEAD_TO_COMPACT, self.size // 4):
            self._compact()

    def _compact(self) -> None:
        """Drop the dead rows: the live ones move up, and the postings follow them."""
        keep = np.flatnonzero(self.alive[: self.size])
        moved_to = np.full(self.size, -1, dtype=np.int64)
        moved_to[keep] = np.arange(len(keep))
        columns = ("ids", "vectors", "pinned", "expires", "created", "sessions", "types", "lengths")
        for column in columns:
            values = getattr(self, column)
            setattr(self, column, values[keep].copy())
        self.alive = np.ones(len(keep), dtype=np.bool_)
        self.size = len(keep)
        self.dead = 0
        self._positions = {int(memory_id): index for index, memory_id in enumerate(self.ids)}
        lexemes: dict[str, int] = {}
        postings: list[array[int]] = []
        for lexeme, code in self._lexemes.items():
            old = np.frombuffer(self._postings[code], dtype=np.int32)
            new = moved_to[old]
            new = new[new >= 0]
            if len(new):
                lexemes[lexeme] = len(postings)
                postings.append(array("i", new.astype(np.int32).tobytes()))
        self._lexemes = lexemes
        self._postings = postings
        self._posting_count = sum(len(positions) for positions in postings)

    def cached_ids(self) -> set[int]:
        return set(self._positions)

    def lexical_stats(self, lexemes: list[str]) -> lexical.CorpusStats:
        """The agent's corpus statistics for these query lexemes."""
        size = self.size
        alive = self.alive[:size]
        documents = int(alive.sum())
        frequency = {}
        for lexeme in set(lexemes):
            code = self._lexemes.get(lexeme)
            if code is not None:
                positions = np.frombuffer(self._postings[code], dtype=np.int32)
                frequency[lexeme] = int(alive[positions].sum())
        return lexical.CorpusStats(
            documents=documents,
            average_length=float(self.lengths[:size][alive].mean()) if documents else 0.0,
            document_frequency=frequency,
        )

    def _lexical_scores(self, lexemes: list[str], stats: lexical.CorpusStats) -> np.ndarray:
        size = self.size
        raw = np.zeros(size, dtype=np.float32)
        ideal = 0.0
        for lexeme in set(lexemes):
            frequency = stats.document_frequency.get(lexeme, 0)
            if frequency <= 0:
                continue
            positions = np.frombuffer(self._postings[self._lexemes[lexeme]], dtype=np.int32)
            weight = lexical.idf(frequency, stats.documents)
            ideal += weight
            raw[positions] += weight * lexical.length_factor(
                self.lengths[positions], stats.average_length
            )
        return lexical.normalised(raw, ideal)

    def nearest(
        self,
        query: np.ndarray,
        *,
        limit: int,
        now: datetime,
        session_id: str | None = None,
        memory_type: str | None = None,
        lexemes: list[str] | None = None,
        lexical_weight: float = 0.0,
        stats: lexical.CorpusStats | None = None,
        period: Period | None = None,
        period_weight: float = 0.0,
    ) -> list[Neighbour]:
        """The `limit` live rows most relevant to the query, most relevant first: by cosine
        similarity, fused with BM25 over `lexemes` at `lexical_weight`, and with being made
        inside `period` at `period_weight` (memories/ranking.py)."""
        size = self.size
        if not size or limit <= 0:
            return []
        vectors = self.vectors[:size]
        similarities = vectors @ _normalised(query.astype(np.float32, copy=False))
        if lexemes and stats is None:
            stats = self.lexical_stats(lexemes)
        lexical_scores = (
            self._lexical_scores(lexemes, stats)
            if lexemes and stats is not None
            else np.zeros(size, dtype=np.float32)
        )
        relevance = (1.0 - lexical_weight) * np.clip(
            similarities, 0.0, 1.0
        ) + lexical_weight * lexical_scores
        if period is not None:
            created = self.created[:size]
            in_period = (created >= period.start.timestamp()) & (created < period.end.timestamp())
            relevance = (1.0 - period_weight) * relevance + period_weight * in_period
        live = self.alive[:size] & (self.pinned[:size] | (self.expires[:size] > now.timestamp()))
        if session_id is not None:
            code = self._sessions.get(session_id, _UNKNOWN_SESSION)
            live &= self.sessions[:size] == code
        if memory_type is not None:
            live &= self.types[:size] == _TYPE_CODES.get(memory_type, -2)
        candidates = np.flatnonzero(live)
        if len(candidates) > limit:
            scores = relevance[candidates]
            candidates = candidates[np.argpartition(-scores, limit - 1)[:limit]]
        # Ties (equal relevance) go to the more similar vector, then to the older row.
        order = candidates[np.lexsort((-similarities[candidates], -relevance[candidates]))]
        return [
            Neighbour(
                memory_id=int(self.ids[position]),
                similarity=float(similarities[position]),
                vector=vectors[position].copy(),
                lexical=float(lexical_scores[position]),
            )
            for position in order
        ]


class VectorCache:
    """Process-wide copies of agents' vectors under a byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[int, str], AgentVectors] = OrderedDict()
        # Agents found too large for the budget, with their deletion version then: they
        # are tried again only after deletions.
        self._too_large: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self._pruned_at = time.monotonic()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def holds(self, *, agent_pk: int, model_name: str) -> bool:
        with self._lock:
            return (agent_pk, model_name) in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._too_large.clear()

    def agent_drop(self, agent_pk: int) -> None:
        """Forget the agent's copies (it was deleted)."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == agent_pk]:
                del self._entries[key]
            for key in [key for key in self._too_large if key[0] == agent_pk]:
                del self._too_large[key]

    def prune_erased(self) -> int:
        """Drop the copies of deleted agents and those that still hold deleted memories'
        vectors; how many were dropped."""
        self._pruned_at = time.monotonic()
        with self._lock:
            held = {key[0]: entry.version for key, entry in self._entries.items()}
        if not held:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(_PRUNED_VERSIONS_SQL, [sorted(held)])
            pruned = dict(cursor.fetchall())
        stale = {pk for pk, version in held.items() if pruned.get(pk, math.inf) > version}
        dropped = 0
        with self._lock:
            for key in [key for key in self._entries if key[0] in stale]:
                # Only if it has not caught up meanwhile.
                if pruned.get(key[0], math.inf) > self._entries[key].version:
                    del self._entries[key]
                    dropped += 1
        return dropped

    def nearest(
        self,
        *,
        agent: Agent,
        model_name: str,
        dimensions: int,
        query: np.ndarray,
        limit: int,
        now: datetime,
        session_id: str | None = None,
        memory_type: str | None = None,
        query_text: str = "",
        lexical_weight: float = 0.0,
        period: Period | None = None,
        period_weight: float = 0.0,
    ) -> Nearest | None:
        """The agent's most relevant live memories (vector similarity fused with BM25 over
        `query_text` at `lexical_weight`), or None when the cache cannot answer exactly
        (turned off, agent too large, or stale inside a transaction)."""
        if self.budget_bytes <= 0:
            return None
        if (
            time.monotonic() - self._pruned_at >= PRUNE_INTERVAL_SECONDS
            and not connection.in_atomic_block
        ):
            self.prune_erased()
        key = (agent.pk, model_name)
        entry, unembedded, lexemes = self._current(key, agent, dimensions, query_text)
        if entry is None:
            return None
        with entry.lock:
            stats = entry.lexical_stats(lexemes)
            neighbours = entry.nearest(
                query,
                limit=limit,
                now=now,
                session_id=session_id,
                memory_type=memory_type,
                lexemes=lexemes,
                lexical_weight=lexical_weight,
                stats=stats,
                period=period,
                period_weight=period_weight,
            )
        return Nearest(neighbours=neighbours, unembedded=unembedded, lexemes=lexemes, stats=stats)

    def _current(
        self, key: tuple[int, str], agent: Agent, dimensions: int, query_text: str
    ) -> tuple[AgentVectors | None, bool, list[str]]:
        # Loading or refreshing reads the database, which must show committed rows only:
        # inside a transaction (which may see its own uncommitted rows and roll back) only
        # a copy that is already current can answer.
        if connection.in_atomic_block and not self.holds(agent_pk=key[0], model_name=key[1]):
            return None, True, []
        # The versions as committed now, not as the caller's Agent instance last saw them;
        # the query's lexemes come along in the same round trip.
        with connection.cursor() as cursor:
            cursor.execute(
                _VERSIONS_SQL,
                [agent.pk, EmbeddingStatus.READY, SEARCH_CONFIG, query_text, agent.pk],
            )
            row = cursor.fetchone()
        if row is None:
            # The agent is gone: so are the vectors it held.
            self.agent_drop(agent.pk)
            return None, True, []
        version, pruned_version, unembedded, lexemes = row
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            elif self._too_large.get(key) == pruned_version:
                return None, unembedded, lexemes
        # A copy newer than the versions read here is as good.
        if entry is not None and entry.version >= version:
            return entry, unembedded, lexemes
        if connection.in_atomic_block:
            return None, unembedded, lexemes
        if entry is not None:
            with entry.lock:
                if entry.version < version:
                    self._refresh(entry, agent.pk, key[1], version, pruned_version)
                grown_too_large = entry.live_rows > self._max_rows(dimensions)
            if grown_too_large:
                with self._lock:
                    self._entries.pop(key, None)
                    self._too_large[key] = pruned_version
                return None, unembedded, lexemes
            return entry, unembedded, lexemes
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None or entry.version < version:
                entry = self._load(key, version, pruned_version, dimensions)
        return entry, unembedded, lexemes

    def _max_rows(self, dimensions: int) -> int:
        return self.budget_bytes // row_bytes(dimensions)

    def _load(
        self, key: tuple[int, str], version: int, pruned_version: int, dimensions: int
    ) -> AgentVectors | None:
        agent_pk, model_name = key
        max_rows = self._max_rows(dimensions)
        # The version read before the rows: anything committed after it has a higher
        # version and is read again by the next refresh (upserts are idempotent).
        entry = AgentVectors(version=version, dimensions=dimensions)
        rows = self._fetch_binary(
            _LOAD_SQL, [agent_pk, model_name, EmbeddingStatus.READY, max_rows + 1]
        )
        if len(rows) > max_rows:
            logger.info(
                "agent %s holds more vectors than KRONVEX_VECTOR_CACHE_MB allows; "
                "its recalls scan in PostgreSQL",
                agent_pk,
            )
            with self._lock:
                self._entries.pop(key, None)
                self._too_large[key] = pruned_version
            return None
        entry.upsert(rows)
        with self._lock:
            self._too_large.pop(key, None)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            self._evict()
        return entry

    def _refresh(
        self, entry: AgentVectors, agent_pk: int, model_name: str, version: int, pruned_version: int
    ) -> None:
        """Bring a copy from its version to `version`: changed rows, then deletions."""
        with connection.cursor() as cursor:
            cursor.execute(_CHANGED_SQL, [agent_pk, entry.version])
            changed = cursor.fetchall()
            ready = [
                row[:8]
                for row in changed
                if row[8] == EmbeddingStatus.READY and row[9] == model_name
            ]
            entry.remove({row[0] for row in changed} - {row[0] for row in ready})
            entry.upsert(ready)
            if pruned_version > entry.version:
                cursor.execute(_LIVE_IDS_SQL, [agent_pk, model_name, EmbeddingStatus.READY])
                live = {row[0] for row in cursor.fetchall()}
                entry.remove(entry.cached_ids() - live)
        entry.version = version
        with self._lock:
            self._evict()

    def _fetch_binary(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        # Binary results: vectors arrive as raw bytes, three times faster than as text.
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall()

    def _evict(self) -> None:
        total = sum(entry.nbytes for entry in self._entries.values())
        while total > self.budget_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            total -= evicted.nbytes


_cache: VectorCache | None = None
_cache_lock = threading.Lock()


def get_vector_cache() -> VectorCache:
    global _cache
    with _cache_lock:
        budget = settings.KRONVEX_VECTOR_CACHE_MB * 1024 * 1024
        if _cache is None or _cache.budget_bytes != budget:
            _cache = VectorCache(budget)
        return _cache
