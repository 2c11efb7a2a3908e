"""The request of each API endpoint and how its answer is parsed, shared by the sync and
async clients so that both send exactly the same thing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from kronvex_client.models import (
    Agent,
    BatchStatus,
    Context,
    Memory,
    Page,
    Recall,
    Session,
)

T = TypeVar("T")

MAX_BATCH = 1000
# The service refuses bodies over 1 MiB by default; a request of remember_many stays below.
MAX_BATCH_BYTES = 1_000_000
MAX_PAGE = 200


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    body: Any = None


def _segment(value: str | uuid.UUID) -> str:
    return quote(str(value), safe="")


def _agent_path(agent_id: str | uuid.UUID) -> str:
    return f"/agents/{_segment(agent_id)}"


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given: None means "not given", as it does for the API."""
    return {name: value for name, value in fields.items() if value is not None}


def _timestamp(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _ids(values: Iterable[str | uuid.UUID] | None) -> list[str] | None:
    return None if values is None else [str(value) for value in values]


def _object(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _count(name: str) -> Callable[[Any], int]:
    def parse(data: Any) -> int:
        value = _object(data).get(name)
        return value if isinstance(value, int) else 0

    return parse


def _nothing(data: Any) -> None:
    return None


# -- agents -----------------------------------------------------------------------------


def agent_create(
    *,
    name: str,
    id: str | None,
    description: str | None,
    metadata: Mapping[str, Any] | None,
) -> Call[Agent]:
    body = _given(
        name=name,
        id=id,
        description=description,
        metadata=dict(metadata) if metadata is not None else None,
    )
    return Call("POST", "/agents", lambda data: Agent.from_json(_object(data)), body=body)


def agent_list() -> Call[list[Agent]]:
    def parse(data: Any) -> list[Agent]:
        items = _object(data).get("agents")
        return [
            Agent.from_json(item)
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        ]

    return Call("GET", "/agents", parse)


def agent_get(agent_id: str | uuid.UUID) -> Call[Agent]:
    return Call("GET", _agent_path(agent_id), lambda data: Agent.from_json(_object(data)))


def agent_update(
    agent_id: str | uuid.UUID,
    *,
    name: str | None,
    description: str | None,
    metadata: Mapping[str, Any] | None,
) -> Call[Agent]:
    body = _given(
        name=name,
        description=description,
        metadata=dict(metadata) if metadata is not None else None,
    )
    return Call(
        "PATCH", _agent_path(agent_id), lambda data: Agent.from_json(_object(data)), body=body
    )


def agent_delete(agent_id: str | uuid.UUID) -> Call[int]:
    return Call("DELETE", _agent_path(agent_id), _count("memories_deleted"))


# -- memories ---------------------------------------------------------------------------


def memory_fields(
    content: str,
    *,
    type: str | None = None,
    memory_type: str | None = None,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    pinned: bool | None = None,
    ttl_days: int | None = None,
    ttl_seconds: int | None = None,
    created_at: datetime | str | None = None,
    supersedes: Iterable[str | uuid.UUID] | None = None,
) -> dict[str, Any]:
    """The JSON of one memory to remember, with the API's field names."""
    return _given(
        content=content,
        type=type,
        memory_type=memory_type,
        session_id=session_id,
        metadata=dict(metadata) if metadata is not None else None,
        pinned=pinned,
        ttl_days=ttl_days,
        ttl_seconds=ttl_seconds,
        created_at=_timestamp(created_at),
        supersedes=_ids(supersedes),
    )


def remember(agent_id: str | uuid.UUID, fields: dict[str, Any]) -> Call[Memory]:
    return Call(
        "POST",
        f"{_agent_path(agent_id)}/remember",
        lambda data: Memory.from_json(_object(data)),
        body=fields,
    )


def batch_item(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """One item of remember_many: a string is its content, a mapping has remember's fields."""
    if isinstance(item, str):
        return {"content": item}
    fields = dict(item)
    if isinstance(fields.get("created_at"), datetime):
        fields["created_at"] = fields["created_at"].isoformat()
    if fields.get("supersedes") is not None:
        fields["supersedes"] = _ids(fields["supersedes"])
    return fields


def batch_chunks(
    items: Sequence[dict[str, Any]], *, size: int = MAX_BATCH
) -> list[tuple[int, list[dict[str, Any]]]]:
    """The items cut into requests of at most `size` items and MAX_BATCH_BYTES, each with
    the index of its first item."""
    size = max(1, min(size, MAX_BATCH))
    chunks: list[tuple[int, list[dict[str, Any]]]] = []
    start, current_bytes = 0, 0
    current: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_bytes = len(json.dumps(item, ensure_ascii=False).encode()) + 2
        if current and (len(current) >= size or current_bytes + item_bytes > MAX_BATCH_BYTES):
            chunks.append((start, current))
            start, current, current_bytes = index, [], 0
        current.append(item)
        current_bytes += item_bytes
    if current:
        chunks.append((start, current))
    return chunks


def remember_batch(agent_id: str | uuid.UUID, items: list[dict[str, Any]]) -> Call[dict[str, Any]]:
    path = f"{_agent_path(agent_id)}/remember/batch"
    return Call("POST", path, _object, body={"memories": items})


def batch_status(agent_id: str | uuid.UUID, batch_id: str | uuid.UUID) -> Call[BatchStatus]:
    return Call(
        "GET",
        f"{_agent_path(agent_id)}/remember/batch/{_segment(batch_id)}",
        lambda data: BatchStatus.from_json(_object(data)),
    )


def recall(
    agent_id: str | uuid.UUID,
    query: str,
    *,
    top_k: int | None,
    session_id: str | None,
    type: str | None,
    threshold: float | None,
    explain: bool | None,
) -> Call[Recall]:
    body = _given(
        query=query,
        top_k=top_k,
        session_id=session_id,
        type=type,
        threshold=threshold,
        explain=explain,
    )
    return Call(
        "POST",
        f"{_agent_path(agent_id)}/recall",
        lambda data: Recall.from_json(_object(data)),
        body=body,
    )


def inject_context(
    agent_id: str | uuid.UUID,
    query: str,
    *,
    top_k: int | None,
    session_id: str | None,
    type: str | None,
    max_tokens: int | None,
    threshold: float | None,
    explain: bool | None,
) -> Call[Context]:
    body = _given(
        query=query,
        top_k=top_k,
        session_id=session_id,
        type=type,
        max_tokens=max_tokens,
        threshold=threshold,
        explain=explain,
    )
    return Call(
        "POST",
        f"{_agent_path(agent_id)}/inject-context",
        lambda data: Context.from_json(_object(data)),
        body=body,
    )


def memory_list(
    agent_id: str | uuid.UUID,
    *,
    limit: int | None,
    offset: int | None,
    session_id: str | None,
    type: str | None,
    q: str | None,
    sort: str | None,
) -> Call[Page]:
    params = _given(
        limit=limit, offset=offset, session_id=session_id, type=type, q=q or None, sort=sort
    )
    return Call(
        "GET",
        f"{_agent_path(agent_id)}/memories",
        lambda data: Page.from_json(_object(data)),
        params=params,
    )


def memory_get(agent_id: str | uuid.UUID, memory_id: str | uuid.UUID) -> Call[Memory]:
    return Call(
        "GET",
        f"{_agent_path(agent_id)}/memories/{_segment(memory_id)}",
        lambda data: Memory.from_json(_object(data)),
    )


def memory_update(
    agent_id: str | uuid.UUID,
    memory_id: str | uuid.UUID,
    *,
    pinned: bool | None,
    type: str | None,
    metadata: Mapping[str, Any] | None,
    ttl_days: int | None,
    ttl_seconds: int | None,
) -> Call[Memory]:
    body = _given(
        pinned=pinned,
        type=type,
        metadata=dict(metadata) if metadata is not None else None,
        ttl_days=ttl_days,
        ttl_seconds=ttl_seconds,
    )
    return Call(
        "PATCH",
        f"{_agent_path(agent_id)}/memories/{_segment(memory_id)}",
        lambda data: Memory.from_json(_object(data)),
        body=body,
    )


def memory_delete(agent_id: str | uuid.UUID, memory_id: str | uuid.UUID) -> Call[None]:
    return Call("DELETE", f"{_agent_path(agent_id)}/memories/{_segment(memory_id)}", _nothing)


def memories_delete(agent_id: str | uuid.UUID, *, session_id: str | None) -> Call[int]:
    return Call(
        "DELETE",
        f"{_agent_path(agent_id)}/memories",
        _count("deleted"),
        params=_given(session_id=session_id),
    )


def account_export(*, vectors: bool = False) -> Call[dict[str, Any]]:
    return Call("GET", "/export", _object, params={"vectors": "true"} if vectors else None)


def session_export(session_id: str, *, vectors: bool = False) -> Call[dict[str, Any]]:
    return Call(
        "GET",
        f"/sessions/{_segment(session_id)}/export",
        _object,
        params={"vectors": "true"} if vectors else None,
    )


def session_erase(session_id: str) -> Call[int]:
    return Call("DELETE", f"/sessions/{_segment(session_id)}", _count("deleted"))


def session_list(agent_id: str | uuid.UUID) -> Call[list[Session]]:
    def parse(data: Any) -> list[Session]:
        items = _object(data).get("sessions")
        return [
            Session.from_json(item)
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        ]

    return Call("GET", f"{_agent_path(agent_id)}/sessions", parse)
