"""`Kronvex` and `AsyncKronvex`: the API's endpoints as methods returning typed results."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from kronvex_client import endpoints
from kronvex_client.endpoints import Call
from kronvex_client.errors import (
    APIConnectionError,
    APITimeoutError,
    KronvexError,
    error_from_response,
)
from kronvex_client.models import (
    Agent,
    BatchResult,
    BatchStatus,
    Context,
    Memory,
    Page,
    Recall,
    Session,
)
from kronvex_client.retries import RetryPolicy

__version__ = "0.1.0"

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3

AgentId = str | uuid.UUID
MemoryItem = str | Mapping[str, Any]


class _Settings:
    """What both clients share: where the API is, the key, and how to send."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
    ) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get("KRONVEX_API_KEY")
        base = base_url or os.environ.get("KRONVEX_BASE_URL") or DEFAULT_BASE_URL
        base = base.rstrip("/")
        # The API root given in place of the service's address works too.
        self.base_url = base.removesuffix("/api/v1")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.retry_policy = RetryPolicy(max_retries=self.max_retries)

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/api/v1"

    def _request_arguments(self, call: Call[Any], idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": f"kronvex-client/{__version__}"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        arguments: dict[str, Any] = {
            "method": call.method,
            "url": self.api_root + call.path,
            "headers": headers,
            "params": call.params or None,
            "timeout": self.timeout,
        }
        if call.body is not None:
            arguments["json"] = call.body
        return arguments

    @staticmethod
    def _transport_error(exc: httpx.RequestError) -> KronvexError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"No answer from the service in time: {exc}", code="timeout")
        return APIConnectionError(f"Could not reach the service: {exc}", code="connection_error")

    @staticmethod
    def _parsed(call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise KronvexError(
                f"The answer is not JSON (HTTP {response.status_code}).",
                code="invalid_response",
                status_code=response.status_code,
                response=response,
            ) from exc
        return call.parse(data)


def idempotency_key(call: Call[Any]) -> str | None:
    """A fresh `Idempotency-Key` for a POST; other methods are idempotent already."""
    return str(uuid.uuid4()) if call.method.upper() == "POST" else None


def _memory_fields(
    content: str,
    *,
    type: str | None,
    memory_type: str | None,
    session_id: str | None,
    metadata: Mapping[str, Any] | None,
    pinned: bool | None,
    ttl_days: int | None,
    ttl_seconds: int | None,
    created_at: datetime | str | None,
    supersedes: Iterable[str | uuid.UUID] | None,
) -> dict[str, Any]:
    return endpoints.memory_fields(
        content,
        type=type,
        memory_type=memory_type,
        session_id=session_id,
        metadata=metadata,
        pinned=pinned,
        ttl_days=ttl_days,
        ttl_seconds=ttl_seconds,
        created_at=created_at,
        supersedes=supersedes,
    )


class Kronvex(_Settings):
    """The Kronvex API, synchronously.

    `api_key` defaults to $KRONVEX_API_KEY and `base_url` to $KRONVEX_BASE_URL, else
    http://127.0.0.1:8000. 429 and 503 answers (and lost connections, when sending again
    is harmless) are retried up to `max_retries` times, honouring Retry-After.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, call: Call[T]) -> T:
        attempt = 0
        # One key for every attempt: the service answers a retried POST it has already
        # answered with that answer, and writes nothing twice.
        key = idempotency_key(call)
        while True:
            try:
                try:
                    response = self._http.request(**self._request_arguments(call, key))
                except httpx.RequestError as exc:
                    raise self._transport_error(exc) from exc
                return self._parsed(call, response)
            except KronvexError as error:
                delay = self.retry_policy.delay(
                    method=call.method, error=error, attempt=attempt, keyed=key is not None
                )
                if delay is None:
                    raise
            time.sleep(delay)
            attempt += 1

    # -- agents ---------------------------------------------------------------------------

    def create_agent(
        self,
        name: str,
        *,
        id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Agent:
        """Create an agent; without `id`, the service derives one from `name`."""
        return self._call(
            endpoints.agent_create(name=name, id=id, description=description, metadata=metadata)
        )

    def list_agents(self) -> list[Agent]:
        return self._call(endpoints.agent_list())

    def get_agent(self, agent_id: AgentId) -> Agent:
        return self._call(endpoints.agent_get(agent_id))

    def update_agent(
        self,
        agent_id: AgentId,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Agent:
        return self._call(
            endpoints.agent_update(agent_id, name=name, description=description, metadata=metadata)
        )

    def delete_agent(self, agent_id: AgentId) -> int:
        """Delete the agent and all its memories; returns how many memories went with it."""
        return self._call(endpoints.agent_delete(agent_id))

    # -- memories -------------------------------------------------------------------------

    def remember(
        self,
        agent_id: AgentId,
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
    ) -> Memory:
        """Store one memory (`deduplicated` is True when the agent already held it)."""
        fields = _memory_fields(
            content,
            type=type,
            memory_type=memory_type,
            session_id=session_id,
            metadata=metadata,
            pinned=pinned,
            ttl_days=ttl_days,
            ttl_seconds=ttl_seconds,
            created_at=created_at,
            supersedes=supersedes,
        )
        return self._call(endpoints.remember(agent_id, fields))

    def remember_many(
        self,
        agent_id: AgentId,
        items: Iterable[MemoryItem],
        *,
        batch_size: int = endpoints.MAX_BATCH,
    ) -> BatchResult:
        """Store many memories, up to 1,000 per request; each item is a string or a mapping
        of remember's fields. Items the service rejects are reported, the others stored."""
        payload = [endpoints.batch_item(item) for item in items]
        answers = [
            (start, self._call(endpoints.remember_batch(agent_id, chunk)))
            for start, chunk in endpoints.batch_chunks(payload, size=batch_size)
        ]
        return BatchResult.from_answers(answers)

    def batch_status(self, agent_id: AgentId, batch_id: str | uuid.UUID) -> BatchStatus:
        return self._call(endpoints.batch_status(agent_id, batch_id))

    def recall(
        self,
        agent_id: AgentId,
        query: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        threshold: float | None = None,
        explain: bool | None = None,
    ) -> Recall:
        """The agent's memories that matter most for `query`, best first."""
        return self._call(
            endpoints.recall(
                agent_id,
                query,
                top_k=top_k,
                session_id=session_id,
                type=type,
                threshold=threshold,
                explain=explain,
            )
        )

    def inject_context(
        self,
        agent_id: AgentId,
        query: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        max_tokens: int | None = None,
        threshold: float | None = None,
        explain: bool | None = None,
    ) -> Context:
        """Recall as prompt-ready text, one line per memory, within `max_tokens`."""
        return self._call(
            endpoints.inject_context(
                agent_id,
                query,
                top_k=top_k,
                session_id=session_id,
                type=type,
                max_tokens=max_tokens,
                threshold=threshold,
                explain=explain,
            )
        )

    def list_memories(
        self,
        agent_id: AgentId,
        *,
        limit: int | None = None,
        offset: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
    ) -> Page:
        """One page of the agent's memories (`sort`: recent, oldest or most_used)."""
        return self._call(
            endpoints.memory_list(
                agent_id,
                limit=limit,
                offset=offset,
                session_id=session_id,
                type=type,
                q=q,
                sort=sort,
            )
        )

    def iter_memories(
        self,
        agent_id: AgentId,
        *,
        session_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = endpoints.MAX_PAGE,
    ) -> Iterator[Memory]:
        """Every memory that matches, page after page."""
        offset: int | None = 0
        while offset is not None:
            page = self.list_memories(
                agent_id,
                limit=page_size,
                offset=offset,
                session_id=session_id,
                type=type,
                q=q,
                sort=sort,
            )
            yield from page.memories
            offset = page.next_offset

    def get_memory(self, agent_id: AgentId, memory_id: str | uuid.UUID) -> Memory:
        return self._call(endpoints.memory_get(agent_id, memory_id))

    def update_memory(
        self,
        agent_id: AgentId,
        memory_id: str | uuid.UUID,
        *,
        pinned: bool | None = None,
        type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl_days: int | None = None,
        ttl_seconds: int | None = None,
    ) -> Memory:
        """Change the fields given; a TTL of 0 removes the expiry."""
        return self._call(
            endpoints.memory_update(
                agent_id,
                memory_id,
                pinned=pinned,
                type=type,
                metadata=metadata,
                ttl_days=ttl_days,
                ttl_seconds=ttl_seconds,
            )
        )

    def delete_memory(self, agent_id: AgentId, memory_id: str | uuid.UUID) -> None:
        self._call(endpoints.memory_delete(agent_id, memory_id))

    def delete_memories(self, agent_id: AgentId, *, session_id: str | None = None) -> int:
        """Delete every memory of the agent, or of one session; returns how many."""
        return self._call(endpoints.memories_delete(agent_id, session_id=session_id))

    def list_sessions(self, agent_id: AgentId) -> list[Session]:
        return self._call(endpoints.session_list(agent_id))

    def export_account(self, *, vectors: bool = False) -> dict[str, Any]:
        """Everything the account holds, as the export's JSON document."""
        return self._call(endpoints.account_export(vectors=vectors))

    def export_session(self, session_id: str, *, vectors: bool = False) -> dict[str, Any]:
        """Every memory of one session (an end user) in all the account's agents."""
        return self._call(endpoints.session_export(session_id, vectors=vectors))

    def erase_session(self, session_id: str) -> int:
        """Delete every memory of one session in all the account's agents; returns how many."""
        return self._call(endpoints.session_erase(session_id))


class AsyncKronvex(_Settings):
    """The Kronvex API for asyncio: the same methods as `Kronvex`, to be awaited."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, call: Call[T]) -> T:
        attempt = 0
        # One key for every attempt: the service answers a retried POST it has already
        # answered with that answer, and writes nothing twice.
        key = idempotency_key(call)
        while True:
            try:
                try:
                    response = await self._http.request(**self._request_arguments(call, key))
                except httpx.RequestError as exc:
                    raise self._transport_error(exc) from exc
                return self._parsed(call, response)
            except KronvexError as error:
                delay = self.retry_policy.delay(
                    method=call.method, error=error, attempt=attempt, keyed=key is not None
                )
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    # -- agents ---------------------------------------------------------------------------

    async def create_agent(
        self,
        name: str,
        *,
        id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Agent:
        return await self._call(
            endpoints.agent_create(name=name, id=id, description=description, metadata=metadata)
        )

    async def list_agents(self) -> list[Agent]:
        return await self._call(endpoints.agent_list())

    async def get_agent(self, agent_id: AgentId) -> Agent:
        return await self._call(endpoints.agent_get(agent_id))

    async def update_agent(
        self,
        agent_id: AgentId,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Agent:
        return await self._call(
            endpoints.agent_update(agent_id, name=name, description=description, metadata=metadata)
        )

    async def delete_agent(self, agent_id: AgentId) -> int:
        return await self._call(endpoints.agent_delete(agent_id))

    # -- memories -------------------------------------------------------------------------

    async def remember(
        self,
        agent_id: AgentId,
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
    ) -> Memory:
        fields = _memory_fields(
            content,
            type=type,
            memory_type=memory_type,
            session_id=session_id,
            metadata=metadata,
            pinned=pinned,
            ttl_days=ttl_days,
            ttl_seconds=ttl_seconds,
            created_at=created_at,
            supersedes=supersedes,
        )
        return await self._call(endpoints.remember(agent_id, fields))

    async def remember_many(
        self,
        agent_id: AgentId,
        items: Iterable[MemoryItem],
        *,
        batch_size: int = endpoints.MAX_BATCH,
    ) -> BatchResult:
        payload = [endpoints.batch_item(item) for item in items]
        answers = [
            (start, await self._call(endpoints.remember_batch(agent_id, chunk)))
            for start, chunk in endpoints.batch_chunks(payload, size=batch_size)
        ]
        return BatchResult.from_answers(answers)

    async def batch_status(self, agent_id: AgentId, batch_id: str | uuid.UUID) -> BatchStatus:
        return await self._call(endpoints.batch_status(agent_id, batch_id))

    async def recall(
        self,
        agent_id: AgentId,
        query: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        threshold: float | None = None,
        explain: bool | None = None,
    ) -> Recall:
        return await self._call(
            endpoints.recall(
                agent_id,
                query,
                top_k=top_k,
                session_id=session_id,
                type=type,
                threshold=threshold,
                explain=explain,
            )
        )

    async def inject_context(
        self,
        agent_id: AgentId,
        query: str,
        *,
        top_k: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        max_tokens: int | None = None,
        threshold: float | None = None,
        explain: bool | None = None,
    ) -> Context:
        return await self._call(
            endpoints.inject_context(
                agent_id,
                query,
                top_k=top_k,
                session_id=session_id,
                type=type,
                max_tokens=max_tokens,
                threshold=threshold,
                explain=explain,
            )
        )

    async def list_memories(
        self,
        agent_id: AgentId,
        *,
        limit: int | None = None,
        offset: int | None = None,
        session_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
    ) -> Page:
        return await self._call(
            endpoints.memory_list(
                agent_id,
                limit=limit,
                offset=offset,
                session_id=session_id,
                type=type,
                q=q,
                sort=sort,
            )
        )

    async def iter_memories(
        self,
        agent_id: AgentId,
        *,
        session_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = endpoints.MAX_PAGE,
    ) -> AsyncIterator[Memory]:
        offset: int | None = 0
        while offset is not None:
            page = await self.list_memories(
                agent_id,
                limit=page_size,
                offset=offset,
                session_id=session_id,
                type=type,
                q=q,
                sort=sort,
            )
            for memory in page.memories:
                yield memory
            offset = page.next_offset

    async def get_memory(self, agent_id: AgentId, memory_id: str | uuid.UUID) -> Memory:
        return await self._call(endpoints.memory_get(agent_id, memory_id))

    async def update_memory(
        self,
        agent_id: AgentId,
        memory_id: str | uuid.UUID,
        *,
        pinned: bool | None = None,
        type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl_days: int | None = None,
        ttl_seconds: int | None = None,
    ) -> Memory:
        return await self._call(
            endpoints.memory_update(
                agent_id,
                memory_id,
                pinned=pinned,
                type=type,
                metadata=metadata,
                ttl_days=ttl_days,
                ttl_seconds=ttl_seconds,
            )
        )

    async def delete_memory(self, agent_id: AgentId, memory_id: str | uuid.UUID) -> None:
        await self._call(endpoints.memory_delete(agent_id, memory_id))

    async def delete_memories(self, agent_id: AgentId, *, session_id: str | None = None) -> int:
        return await self._call(endpoints.memories_delete(agent_id, session_id=session_id))

    async def list_sessions(self, agent_id: AgentId) -> list[Session]:
        return await self._call(endpoints.session_list(agent_id))

    async def export_account(self, *, vectors: bool = False) -> dict[str, Any]:
        return await self._call(endpoints.account_export(vectors=vectors))

    async def export_session(self, session_id: str, *, vectors: bool = False) -> dict[str, Any]:
        return await self._call(endpoints.session_export(session_id, vectors=vectors))

    async def erase_session(self, session_id: str) -> int:
        return await self._call(endpoints.session_erase(session_id))
