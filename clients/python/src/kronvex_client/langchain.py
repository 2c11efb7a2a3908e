"""LangChain integration: a retriever, a chat message history and agent tools on Kronvex.

    pip install 'kronvex-client[langchain]'

- `KronvexRetriever`: recall as LangChain `Document`s, with each memory's scores.
- `KronvexChatMessageHistory`: a conversation kept as an agent's memories, one session
  per conversation.
- `kronvex_tools(client, agent_id)`: `remember` and `recall` tools for a tool-calling agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage, messages_from_dict
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import BaseTool, StructuredTool
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "kronvex_client.langchain needs langchain-core: pip install 'kronvex-client[langchain]'"
    ) from missing

from kronvex_client.client import AsyncKronvex, Kronvex
from kronvex_client.errors import KronvexError
from kronvex_client.models import BatchResult, Memory, Recall, RecalledMemory

MemoryType = Literal["episodic", "semantic", "procedural"]

# What a message without text (an AI message that only calls tools) is stored as: the
# service refuses empty content.
EMPTY_MESSAGE = "(no text)"


def _async_twin(client: Kronvex) -> AsyncKronvex:
    """An async client with the same settings, for async calls made without one."""
    return AsyncKronvex(
        client.api_key,
        base_url=client.base_url,
        timeout=client.timeout,
        max_retries=client.max_retries,
    )


def memory_document(memory: RecalledMemory) -> Document:
    """A recalled memory as a Document: its content, with its scores in the metadata."""
    return Document(
        id=memory.id,
        page_content=memory.content,
        metadata={
            "id": memory.id,
            "agent_id": memory.agent_id,
            "type": memory.type,
            "session_id": memory.session_id,
            "created_at": memory.created_at.isoformat() if memory.created_at else None,
            "confidence": memory.confidence,
            "similarity": memory.similarity,
            "recency": memory.recency,
            "frequency": memory.frequency,
            "pinned": memory.pinned,
            "metadata": memory.metadata,
        },
    )


class KronvexRetriever(BaseRetriever):
    """The agent's memories that matter most for the query, best first, as Documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Kronvex
    agent_id: str
    top_k: int = 5
    session_id: str | None = None
    memory_type: MemoryType | None = None
    threshold: float | None = None
    # Used by the async methods; without it, one is made from `client`'s settings.
    async_client: AsyncKronvex | None = None

    def _arguments(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "session_id": self.session_id,
            "type": self.memory_type,
            "threshold": self.threshold,
        }

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        recalled = self.client.recall(self.agent_id, query, **self._arguments())
        return [memory_document(memory) for memory in recalled]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self.async_client is not None:
            recalled = await self.async_client.recall(self.agent_id, query, **self._arguments())
        else:
            async with _async_twin(self.client) as client:
                recalled = await client.recall(self.agent_id, query, **self._arguments())
        return [memory_document(memory) for memory in recalled]


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [
        part if isinstance(part, str) else str(part.get("text", ""))
        for part in content
        if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")
    ]
    return "".join(parts)


def message_memory(message: BaseMessage, *, memory_type: str) -> dict[str, Any]:
    """A message as the fields of a memory: its text, with its role in the metadata."""
    text = _text(message)
    metadata: dict[str, Any] = {"role": message.type}
    for name in ("name", "tool_call_id", "role"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value:
            metadata["chat_role" if name == "role" else name] = value
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        metadata["tool_calls"] = [dict(call) for call in tool_calls]
    if not text.strip():
        metadata["empty"] = True
    return {
        "content": text if text.strip() else EMPTY_MESSAGE,
        "type": memory_type,
        "metadata": metadata,
    }


def memory_message(memory: Memory) -> BaseMessage | None:
    """The message a memory holds, or None for a memory that is not a message."""
    role = memory.metadata.get("role")
    if not isinstance(role, str):
        return None
    data: dict[str, Any] = {
        "content": "" if memory.metadata.get("empty") else memory.content,
        "id": memory.id,
    }
    for name in ("name", "tool_call_id", "tool_calls"):
        if name in memory.metadata:
            data[name] = memory.metadata[name]
    if "chat_role" in memory.metadata:
        data["role"] = memory.metadata["chat_role"]
    try:
        return messages_from_dict([{"type": role, "data": data}])[0]
    except (ValueError, TypeError):
        return None


def _stored(result: BatchResult) -> None:
    rejected = result.rejected_items
    if rejected and rejected[0].error is not None:
        error = rejected[0].error
        raise KronvexError(
            f"{len(rejected)} message(s) were not stored: {error.detail}",
            code=error.code,
            errors=error.errors,
            body=error.raw,
        )


class KronvexChatMessageHistory(BaseChatMessageHistory):
    """A conversation stored as the memories of one session of an agent.

    Each message becomes a memory (its role in `metadata["role"]`), so the conversation
    is also recallable. `messages` lists the session's messages oldest first; `clear()`
    deletes every memory of the session. Kronvex stores a message that repeats an earlier
    one of the session word for word once (it is deduplicated).
    """

    def __init__(
        self,
        client: Kronvex,
        agent_id: str,
        session_id: str,
        *,
        memory_type: MemoryType = "episodic",
        async_client: AsyncKronvex | None = None,
    ) -> None:
        self.client = client
        self.agent_id = agent_id
        self.session_id = session_id
        self.memory_type = memory_type
        self.async_client = async_client

    def _items(self, messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
        return [
            {**message_memory(message, memory_type=self.memory_type), "session_id": self.session_id}
            for message in messages
        ]

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        memories = self.client.iter_memories(
            self.agent_id, session_id=self.session_id, sort="oldest"
        )
        return [message for memory in memories if (message := memory_message(memory)) is not None]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        if messages:
            _stored(self.client.remember_many(self.agent_id, self._items(messages)))

    def clear(self) -> None:
        self.client.delete_memories(self.agent_id, session_id=self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        async with self._async() as client:
            memories = client.iter_memories(
                self.agent_id, session_id=self.session_id, sort="oldest"
            )
            return [
                message
                async for memory in memories
                if (message := memory_message(memory)) is not None
            ]

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if messages:
            async with self._async() as client:
                _stored(await client.remember_many(self.agent_id, self._items(messages)))

    async def aclear(self) -> None:
        async with self._async() as client:
            await client.delete_memories(self.agent_id, session_id=self.session_id)

    def _async(self) -> _AsyncUse:
        return _AsyncUse(self.async_client, self.client)


class _AsyncUse:
    """The given async client as it is, or one made for this call and closed after it."""

    def __init__(self, given: AsyncKronvex | None, client: Kronvex) -> None:
        self.given = given
        self.client = client
        self.made: AsyncKronvex | None = None

    async def __aenter__(self) -> AsyncKronvex:
        if self.given is not None:
            return self.given
        self.made = _async_twin(self.client)
        return self.made

    async def __aexit__(self, *exc: object) -> None:
        if self.made is not None:
            await self.made.aclose()


# -- tools ---------------------------------------------------------------------------------


class RememberInput(BaseModel):
    content: str = Field(description="The fact, preference, event or instruction to keep.")
    memory_type: MemoryType | None = Field(
        default=None,
        description="semantic for facts and preferences, procedural for how to do "
        "something, episodic (the default) for something that happened.",
    )


class RecallInput(BaseModel):
    query: str = Field(description="What to look for in memory.")
    top_k: int | None = Field(
        default=None, ge=1, le=50, description="How many memories to return (default 5)."
    )


def recall_text(recalled: Recall) -> str:
    """Recalled memories as the text a model reads, best first."""
    if not recalled.memories:
        return "No memories found."
    lines = []
    for memory in recalled:
        day = memory.created_at.date().isoformat() if memory.created_at else "?"
        content = " ".join(memory.content.split())
        lines.append(f"[{memory.type}, {day}] {content} (confidence {memory.confidence:.2f})")
    return "\n".join(lines)


def kronvex_tools(
    client: Kronvex,
    agent_id: str,
    *,
    session_id: str | None = None,
    top_k: int = 5,
    async_client: AsyncKronvex | None = None,
) -> list[BaseTool]:
    """`remember` and `recall` tools for the agent `agent_id` (in `session_id`, if given)."""

    def remember(content: str, memory_type: MemoryType | None = None) -> str:
        memory = client.remember(agent_id, content, type=memory_type, session_id=session_id)
        return f"Remembered (id {memory.id})."

    async def aremember(content: str, memory_type: MemoryType | None = None) -> str:
        async with _AsyncUse(async_client, client) as aclient:
            memory = await aclient.remember(
                agent_id, content, type=memory_type, session_id=session_id
            )
        return f"Remembered (id {memory.id})."

    def recall(query: str, top_k: int | None = None) -> str:
        return recall_text(
            client.recall(agent_id, query, top_k=top_k or default_top_k, session_id=session_id)
        )

    async def arecall(query: str, top_k: int | None = None) -> str:
        async with _AsyncUse(async_client, client) as aclient:
            recalled = await aclient.recall(
                agent_id, query, top_k=top_k or default_top_k, session_id=session_id
            )
        return recall_text(recalled)

    default_top_k = top_k
    return [
        StructuredTool.from_function(
            func=remember,
            coroutine=aremember,
            name="remember",
            description="Store something worth knowing in later conversations: a fact or "
            "preference about the user, an event, or how to do something.",
            args_schema=RememberInput,
        ),
        StructuredTool.from_function(
            func=recall,
            coroutine=arecall,
            name="recall",
            description="Look up what is remembered about a subject; returns the most "
            "relevant memories, best first.",
            args_schema=RecallInput,
        ),
    ]
