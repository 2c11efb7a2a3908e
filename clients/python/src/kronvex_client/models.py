"""Typed results, parsed from the API's JSON.

Each object keeps the JSON it was made from in `raw`, so a field the server adds later is
there to read before this client knows its name, and never breaks parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Agent:
    id: str
    uuid: str
    name: str
    description: str
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None
    memory_count: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Agent:
        count = data.get("memory_count")
        return cls(
            id=str(data.get("id", "")),
            uuid=str(data.get("uuid", "")),
            name=str(data.get("name", "")),
            description=str(data.get("description") or ""),
            metadata=_dict(data.get("metadata")),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            memory_count=count if isinstance(count, int) else None,
            raw=data,
        )


@dataclass(frozen=True)
class Memory:
    id: str
    agent_id: str
    content: str
    type: str
    session_id: str | None
    metadata: dict[str, Any]
    pinned: bool
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    access_count: int
    last_accessed_at: datetime | None
    refreshed_at: datetime | None
    superseded_by: str | None
    status: str
    embedding_model: str | None
    embedding_error: str | None
    # Only in remember's answer: True when the memory was already there and was refreshed.
    deduplicated: bool | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def memory_type(self) -> str:
        return self.type

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Memory:
        deduplicated = data.get("deduplicated")
        return cls(
            id=str(data.get("id", "")),
            agent_id=str(data.get("agent_id", "")),
            content=str(data.get("content", "")),
            type=str(data.get("type") or data.get("memory_type") or ""),
            session_id=_str(data.get("session_id")),
            metadata=_dict(data.get("metadata")),
            pinned=bool(data.get("pinned", False)),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            expires_at=_time(data.get("expires_at")),
            access_count=_int(data.get("access_count")),
            last_accessed_at=_time(data.get("last_accessed_at")),
            refreshed_at=_time(data.get("refreshed_at")),
            superseded_by=_str(data.get("superseded_by")),
            status=str(data.get("status", "")),
            embedding_model=_str(data.get("embedding_model")),
            embedding_error=_str(data.get("embedding_error")),
            deduplicated=deduplicated if isinstance(deduplicated, bool) else None,
            raw=data,
        )


@dataclass(frozen=True)
class Explanation:
    """How one result's score was made (recall and inject-context with `explain=True`)."""

    vector: float | None
    lexical: float
    period: float | None
    newness: float | None
    similarity: float
    recency: float
    frequency: float
    final: float
    raw: dict[str, Any] = field(repr=False, compare=False)
    # Last, with a default: servers before it do not send it.
    crowding: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Explanation:
        def optional(name: str) -> float | None:
            value = data.get(name)
            return None if value is None else _float(value)

        return cls(
            vector=optional("vector"),
            lexical=_float(data.get("lexical")),
            period=optional("period"),
            newness=optional("newness"),
            similarity=_float(data.get("similarity")),
            recency=_float(data.get("recency")),
            frequency=_float(data.get("frequency")),
            final=_float(data.get("final")),
            raw=data,
            crowding=optional("crowding"),
        )


@dataclass(frozen=True)
class RecalledMemory:
    """A memory found for a query, with the parts of its score (each 0 to 1)."""

    id: str
    agent_id: str
    content: str
    type: str
    session_id: str | None
    metadata: dict[str, Any]
    created_at: datetime | None
    confidence: float
    similarity: float
    recency: float
    frequency: float
    access_count: int
    pinned: bool
    superseded_by: str | None
    status: str
    explain: Explanation | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def memory_type(self) -> str:
        return self.type

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecalledMemory:
        explain = data.get("explain")
        return cls(
            id=str(data.get("id", "")),
            agent_id=str(data.get("agent_id", "")),
            content=str(data.get("content", "")),
            type=str(data.get("type") or data.get("memory_type") or ""),
            session_id=_str(data.get("session_id")),
            metadata=_dict(data.get("metadata")),
            created_at=_time(data.get("created_at")),
            confidence=_float(data.get("confidence")),
            similarity=_float(data.get("similarity")),
            recency=_float(data.get("recency")),
            frequency=_float(data.get("frequency")),
            access_count=_int(data.get("access_count")),
            pinned=bool(data.get("pinned", False)),
            superseded_by=_str(data.get("superseded_by")),
            status=str(data.get("status", "")),
            explain=Explanation.from_json(explain) if isinstance(explain, dict) else None,
            raw=data,
        )


def _weights(data: dict[str, Any]) -> dict[str, float] | None:
    weights = data.get("weights")
    if not isinstance(weights, dict):
        return None
    return {str(name): _float(value) for name, value in weights.items()}


@dataclass(frozen=True)
class Recall:
    """Recall's answer: the memories best first. Iterates, indexes and sizes like a list."""

    memories: tuple[RecalledMemory, ...]
    # With explain=True, how the score parts were weighted.
    weights: dict[str, float] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recall:
        items = data.get("memories")
        return cls(
            memories=tuple(
                RecalledMemory.from_json(item)
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict)
            ),
            weights=_weights(data),
            raw=data,
        )

    def __iter__(self) -> Iterator[RecalledMemory]:
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)

    @overload
    def __getitem__(self, index: int) -> RecalledMemory: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RecalledMemory, ...]: ...
    def __getitem__(self, index: int | slice) -> RecalledMemory | tuple[RecalledMemory, ...]:
        return self.memories[index]


@dataclass(frozen=True)
class Context:
    """inject-context's answer: prompt-ready text and the memories it holds, in its order."""

    context: str
    memories_used: int
    memories: tuple[RecalledMemory, ...]
    weights: dict[str, float] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Context:
        recall = Recall.from_json(data)
        return cls(
            context=str(data.get("context") or ""),
            memories_used=_int(data.get("memories_used"), len(recall.memories)),
            memories=recall.memories,
            weights=recall.weights,
            raw=data,
        )

    def __str__(self) -> str:
        return self.context


@dataclass(frozen=True)
class Page:
    """One page of an agent's memories; `total` counts every match across pages."""

    memories: tuple[Memory, ...]
    total: int
    limit: int
    offset: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        items = data.get("memories")
        return cls(
            memories=tuple(
                Memory.from_json(item)
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict)
            ),
            total=_int(data.get("total")),
            limit=_int(data.get("limit")),
            offset=_int(data.get("offset")),
            raw=data,
        )

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None when this is the last one."""
        following = self.offset + len(self.memories)
        return following if self.memories and following < self.total else None

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)


@dataclass(frozen=True)
class Session:
    session_id: str
    count: int
    last_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(
            session_id=str(data.get("session_id", "")),
            count=_int(data.get("count")),
            last_at=_time(data.get("last_at")),
            raw=data,
        )


@dataclass(frozen=True)
class ItemError:
    """Why one item of a batch was rejected, in the API's error shape."""

    code: str
    detail: str
    errors: dict[str, list[str]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemError:
        return cls(
            code=str(data.get("code", "error")),
            detail=str(data.get("detail", "")),
            errors=_dict(data.get("errors")),
            raw=data,
        )

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class BatchItem:
    """What became of one item of remember_many: created, deduplicated or rejected."""

    # The item's place in the list given to remember_many (not within one request).
    index: int
    status: str
    id: str | None
    embedding_status: str | None
    error: ItemError | None
    batch_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    @classmethod
    def from_json(cls, data: dict[str, Any], *, offset: int, batch_id: str) -> BatchItem:
        error = data.get("error")
        return cls(
            index=offset + _int(data.get("index")),
            status=str(data.get("status", "")),
            id=_str(data.get("id")),
            embedding_status=_str(data.get("embedding_status")),
            error=ItemError.from_json(error) if isinstance(error, dict) else None,
            batch_id=batch_id,
            raw=data,
        )


@dataclass(frozen=True)
class BatchResult:
    """remember_many's answer, over every request it took (at most 1,000 items each)."""

    batch_ids: tuple[str, ...]
    total: int
    created: int
    deduplicated: int
    rejected: int
    items: tuple[BatchItem, ...]
    raw: tuple[dict[str, Any], ...] = field(repr=False, compare=False)

    @property
    def rejected_items(self) -> tuple[BatchItem, ...]:
        return tuple(item for item in self.items if item.status == "rejected")

    @classmethod
    def from_answers(cls, answers: list[tuple[int, dict[str, Any]]]) -> BatchResult:
        """Merged from each request's answer, with the offset of its first item."""
        items: list[BatchItem] = []
        for offset, answer in answers:
            batch_id = str(answer.get("batch_id", ""))
            entries = answer.get("items")
            items.extend(
                BatchItem.from_json(entry, offset=offset, batch_id=batch_id)
                for entry in (entries if isinstance(entries, list) else [])
                if isinstance(entry, dict)
            )
        return cls(
            batch_ids=tuple(str(answer.get("batch_id", "")) for _, answer in answers),
            total=sum(_int(answer.get("total")) for _, answer in answers),
            created=sum(_int(answer.get("created")) for _, answer in answers),
            deduplicated=sum(_int(answer.get("deduplicated")) for _, answer in answers),
            rejected=sum(_int(answer.get("rejected")) for _, answer in answers),
            items=tuple(items),
            raw=tuple(answer for _, answer in answers),
        )


@dataclass(frozen=True)
class BatchStatus:
    """A batch's embedding progress: `done` once none of its memories waits for a vector."""

    batch_id: str
    agent_id: str
    created_at: datetime | None
    total: int
    created: int
    deduplicated: int
    rejected: int
    pending: int
    ready: int
    failed: int
    done: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchStatus:
        embedding = _dict(data.get("embedding"))
        return cls(
            batch_id=str(data.get("batch_id", "")),
            agent_id=str(data.get("agent_id", "")),
            created_at=_time(data.get("created_at")),
            total=_int(data.get("total")),
            created=_int(data.get("created")),
            deduplicated=_int(data.get("deduplicated")),
            rejected=_int(data.get("rejected")),
            pending=_int(embedding.get("pending")),
            ready=_int(embedding.get("ready")),
            failed=_int(embedding.get("failed")),
            done=bool(data.get("done", False)),
            raw=data,
        )
