"""The Model Context Protocol at /mcp: an agent's memory as tools for AI clients.

Streamable HTTP transport, stateless: each POST carries one JSON-RPC message (or, on
protocol versions that have them, a batch) and a request is answered at once with
`application/json`. No SSE stream is opened and no session id is issued, so any worker
of any process can answer any request; GET answers 405. Auth, rate limits and quotas
are the REST API's: the same keys, the same plan limits, recall and inject_context
(and forget's search) counted as recalls. So are the keys' scopes: a key limited to agents
finds no other agent, and a read-only key's remember and forget are isError results.

The agent comes from the tool's `agent_id` argument, else the `X-Kronvex-Agent` header,
else the URL (/mcp/agents/<agent_id>). Whatever goes wrong with a tool call the model
can act on (bad arguments, unknown agent or memory, a quota) is an `isError` result
that says so; JSON-RPC errors are kept for protocol mistakes (unknown method or tool,
malformed params). Every HTTP error body is the API's error shape and a JSON-RPC
error at once, so both an API client and an MCP client can read it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.types import (
    CallToolRequest,
    CallToolResult,
    EmptyResult,
    Implementation,
    InitializeRequest,
    InitializeResult,
    ListToolsResult,
    ServerCapabilities,
    TextContent,
    Tool,
    ToolAnnotations,
    ToolsCapability,
    UnsupportedProtocolVersionErrorData,
)
from mcp.types import methods as mcp_methods
from mcp.types.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    jsonrpc_message_adapter,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import BaseModel, ValidationError
from rest_framework import exceptions, serializers
from rest_framework.request import Request

from api import ratelimit
from api.authentication import (
    ApiKeyAuthentication,
    KeyNotAllowed,
    key_agent_check,
    key_write_check,
)
from api.errors import (
    error_body,
    exception_handler,
    quota_error_body,
    validation_error_body,
)
from api.fields import (
    TYPE_CHOICES,
    MemoryTypeField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    query_field,
    session_field,
)
from api.models import ApiKey
from api.payloads import memory_json, recalled_json
from api.views import (
    MAX_TOP_K,
    MAX_TTL_DAYS,
    InjectContextApi,
    MemoryListApi,
    QuerySerializer,
    RememberApi,
    remember_arguments,
    type_from,
    validated,
)
from audit.services import SYSTEM, actor_api_key, client_ip
from billing.models import Account
from billing.quotas import QuotaExceeded
from billing.usage import usage_record
from memories import selectors, services
from memories.embedding import EmbeddingError
from memories.exceptions import MemoryServiceError
from memories.models import Agent, Memory

logger = logging.getLogger(__name__)

# The initialize-handshake revisions, oldest first, as the SDK whose models parse and shape
# every message here knows them (2024-11-05 to 2025-11-25): the messages this endpoint
# uses mean the same in all of them. A client asking for another one is offered the newest.
PROTOCOL_VERSIONS = HANDSHAKE_PROTOCOL_VERSIONS
LATEST_PROTOCOL_VERSION = LATEST_HANDSHAKE_VERSION
# What a request without an MCP-Protocol-Version header speaks (the transport's rule).
DEFAULT_PROTOCOL_VERSION = "2025-03-26"
# JSON-RPC batches were removed in 2025-06-18.
BATCH_PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26")
PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
AGENT_HEADER = "X-Kronvex-Agent"

LIST_DEFAULT_LIMIT = 20
FORGET_DEFAULT_TOP_K = 5
MAX_IDS = 100
# list_memories' text shows this much of each memory; its structured result has them whole.
LIST_PREVIEW_CHARS = 300

INSTRUCTIONS = (
    "Kronvex is your long-term memory across conversations. Before answering anything that "
    "may depend on earlier conversations, call recall (or inject_context at the start of a "
    "task). When you learn something durable about the user, their work or their "
    "preferences, call remember with one self-contained fact. When the user asks you to "
    "forget something, call forget. Never store secrets such as passwords or API keys."
)

RECALL_TOOLS = frozenset({"recall", "inject_context"})


def _server_version() -> str:
    try:
        return metadata.version("kronvex")
    except metadata.PackageNotFoundError:
        return "0"


# -- tool definitions ---------------------------------------------------------------------


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**properties, "agent_id": AGENT_PROPERTY},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


AGENT_PROPERTY = {
    "type": "string",
    "description": "The agent whose memory to use, by its id or UUID. Leave it out when the "
    "connection already names one (the URL /mcp/agents/<agent_id> or the "
    f"{AGENT_HEADER} header).",
}
TYPE_PROPERTY = {
    "type": "string",
    "enum": TYPE_CHOICES,
    "description": "episodic: something that happened; semantic: a fact or preference; "
    "procedural: how to do something.",
}
SESSION_PROPERTY = {
    "type": "string",
    "maxLength": 255,
    "description": "Only memories of this session (a conversation or thread id).",
}
THRESHOLD_PROPERTY = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "Leave out memories whose similarity to the query is below this.",
}
TOP_K_PROPERTY = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_TOP_K,
    "description": "How many memories at most (default 5).",
}
NULLABLE_STRING = {"type": ["string", "null"]}
MEMORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "content": {"type": "string"},
        "type": {"type": "string"},
        "session_id": NULLABLE_STRING,
        "metadata": {"type": "object"},
        "pinned": {"type": "boolean"},
        "created_at": NULLABLE_STRING,
    },
    "required": ["id", "content", "type"],
}
RECALLED_SCHEMA = {
    **MEMORY_SCHEMA,
    "properties": {**MEMORY_SCHEMA["properties"], "confidence": {"type": "number"}},
}


def _query_property(what: str) -> dict[str, Any]:
    limit = settings.KRONVEX_MAX_QUERY_CHARS
    return {"type": "string", "minLength": 1, "maxLength": limit, "description": what}


def tool_definitions() -> list[Tool]:
    """The tools, as tools/list shows them (limits from this server's settings)."""
    return [
        Tool(
            name="remember",
            title="Remember",
            description=(
                "Store a fact, preference, decision or event in long-term memory so it can be "
                "recalled in later conversations. Call it when the user tells you something "
                "durable about themselves, their work or their preferences, asks you to "
                "remember something, or when a task ends with an outcome worth knowing next "
                "time. Store one self-contained fact per call, written so it makes sense "
                "without this conversation. Do not store secrets (passwords, keys, tokens), "
                "small talk, or what recall already returns. To correct a memory, remember "
                "the correct fact with the old memory's id in supersedes."
            ),
            input_schema=_schema(
                {
                    "content": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": settings.KRONVEX_MAX_CONTENT_CHARS,
                        "description": "The memory, as one self-contained statement.",
                    },
                    "type": {**TYPE_PROPERTY, "default": "episodic"},
                    "session_id": {
                        **SESSION_PROPERTY,
                        "description": "The conversation or thread this memory belongs to.",
                    },
                    "metadata": {
                        "type": "object",
                        "description": "Any JSON object to keep with the memory.",
                    },
                    "pinned": {
                        "type": "boolean",
                        "description": "Pinned memories rank first and never fade.",
                    },
                    "ttl_days": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_TTL_DAYS,
                        "description": "Forget the memory by itself after this many days.",
                    },
                    "supersedes": {
                        "type": "array",
                        "items": {"type": "string", "format": "uuid"},
                        "maxItems": MAX_IDS,
                        "description": "Ids of memories this one replaces; they stop being "
                        "recalled.",
                    },
                },
                required=("content",),
            ),
            output_schema={
                "type": "object",
                "properties": {
                    **MEMORY_SCHEMA["properties"],
                    "deduplicated": {"type": "boolean"},
                    "status": {"type": "string"},
                },
                "required": ["id", "content", "type", "deduplicated"],
            },
            annotations=ToolAnnotations(
                title="Remember",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
        Tool(
            name="recall",
            title="Recall",
            description=(
                "Search long-term memory. Call before answering anything that may depend on "
                "what the user told you in earlier conversations (their preferences, projects, "
                "people, decisions, past problems), and before starting a task you may have "
                "worked on before. Returns the most relevant memories, best first, each with "
                "its id (for forget or supersedes) and a confidence score."
            ),
            input_schema=_schema(
                {
                    "query": _query_property("What to look for, in plain words."),
                    "top_k": TOP_K_PROPERTY,
                    "session_id": SESSION_PROPERTY,
                    "type": {**TYPE_PROPERTY, "description": "Only memories of this type."},
                    "threshold": THRESHOLD_PROPERTY,
                },
                required=("query",),
            ),
            output_schema={
                "type": "object",
                "properties": {"memories": {"type": "array", "items": RECALLED_SCHEMA}},
                "required": ["memories"],
            },
            annotations=ToolAnnotations(title="Recall", read_only_hint=True, open_world_hint=False),
        ),
        Tool(
            name="inject_context",
            title="Inject context",
            description=(
                "Get a compact, prompt-ready block of the memories relevant to a message, "
                "within a token budget. Call at the start of a conversation or task to load "
                "what is known about the user and the topic. Use recall instead when you need "
                "the memories' ids."
            ),
            input_schema=_schema(
                {
                    "query": _query_property(
                        "The user's message or the task at hand, to find relevant memories for."
                    ),
                    "top_k": TOP_K_PROPERTY,
                    "max_tokens": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 1_000_000,
                        "description": "Keep the context within about this many tokens.",
                    },
                    "session_id": SESSION_PROPERTY,
                    "type": {**TYPE_PROPERTY, "description": "Only memories of this type."},
                    "threshold": THRESHOLD_PROPERTY,
                },
                required=("query",),
            ),
            output_schema={
                "type": "object",
                "properties": {
                    "context": {"type": "string"},
                    "memories_used": {"type": "integer"},
                    "memories": {"type": "array", "items": RECALLED_SCHEMA},
                },
                "required": ["context", "memories_used", "memories"],
            },
            annotations=ToolAnnotations(
                title="Inject context", read_only_hint=True, open_world_hint=False
            ),
        ),
        Tool(
            name="forget",
            title="Forget",
            description=(
                "Delete memories for good. Call when the user asks you to forget something, or "
                "when a memory is wrong and must never be used again. With memory_id or "
                "memory_ids it deletes those memories. With query it deletes nothing at first: "
                "it lists the memories that match, with their ids; then call forget again with "
                "the same query and confirm: true to delete them all, or with memory_ids to "
                "delete only some. Do not delete memories the user did not ask to forget."
            ),
            input_schema=_schema(
                {
                    "memory_id": {
                        "type": "string",
                        "format": "uuid",
                        "description": "The id of the memory to delete.",
                    },
                    "memory_ids": {
                        "type": "array",
                        "items": {"type": "string", "format": "uuid"},
                        "minItems": 1,
                        "maxItems": MAX_IDS,
                        "description": "The ids of the memories to delete.",
                    },
                    "query": _query_property("Find the memories to delete by meaning."),
                    "top_k": {
                        **TOP_K_PROPERTY,
                        "description": "With query: how many memories at most (default "
                        f"{FORGET_DEFAULT_TOP_K}).",
                    },
                    "session_id": SESSION_PROPERTY,
                    "type": {**TYPE_PROPERTY, "description": "Only memories of this type."},
                    "threshold": THRESHOLD_PROPERTY,
                    "confirm": {
                        "type": "boolean",
                        "description": "With query: true deletes the memories it matches; "
                        "without it they are only listed.",
                    },
                },
            ),
            output_schema={
                "type": "object",
                "properties": {
                    "deleted": {"type": "integer"},
                    "confirmed": {"type": "boolean"},
                    "memories": {"type": "array", "items": MEMORY_SCHEMA},
                },
                "required": ["deleted", "confirmed", "memories"],
            },
            annotations=ToolAnnotations(
                title="Forget",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
        Tool(
            name="list_memories",
            title="List memories",
            description=(
                "List stored memories, newest first, a page at a time (limit, offset). Call "
                "when the user asks what you remember about them, or to review one session's "
                "memories. To find memories about a topic, use recall."
            ),
            input_schema=_schema(
                {
                    "session_id": SESSION_PROPERTY,
                    "type": {**TYPE_PROPERTY, "description": "Only memories of this type."},
                    "text": {
                        "type": "string",
                        "maxLength": 1000,
                        "description": "Only memories whose content contains this text (any case).",
                    },
                    "sort": {
                        "type": "string",
                        "enum": list(selectors.MEMORY_SORTS),
                        "default": "recent",
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 200,
                        "default": LIST_DEFAULT_LIMIT,
                    },
                    "offset": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "How many memories to skip: the previous page's "
                        "next_offset.",
                    },
                },
            ),
            output_schema={
                "type": "object",
                "properties": {
                    "memories": {"type": "array", "items": MEMORY_SCHEMA},
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "next_offset": {"type": ["integer", "null"]},
                },
                "required": ["memories", "total", "limit", "offset", "next_offset"],
            },
            annotations=ToolAnnotations(
                title="List memories", read_only_hint=True, open_world_hint=False
            ),
        ),
    ]


# -- tool calls ---------------------------------------------------------------------------


class ToolError(Exception):
    """A tool call the model can correct or explain: answered as an isError result."""


class UnknownTool(Exception):
    pass


@dataclass
class Caller:
    """Who calls the tools of one HTTP request, and with which agent by default."""

    request: HttpRequest
    account: Account
    agent_id: str | None
    # Its scope holds for every tool: None only where no key stands behind the call.
    api_key: ApiKey | None = None
    # Recall-type calls of this request that went over the daily recall limit.
    refused: dict[RequestId, ratelimit.RateLimited] = field(default_factory=dict)

    def audited(self) -> dict[str, Any]:
        """Who calls, and from where, as the audit log records them."""
        actor = actor_api_key(self.api_key) if self.api_key is not None else SYSTEM
        return {"actor": actor, "ip": client_ip(self.request)}

    def agent(self, arguments: dict[str, Any]) -> Agent:
        given = arguments.pop("agent_id", None)
        if given is not None and not isinstance(given, str):
            raise ToolError("Invalid request. agent_id: Must be a string.")
        agent_id = given or self.agent_id
        if not agent_id:
            raise ToolError(
                "No agent given: pass agent_id, connect to /mcp/agents/<agent_id>, or send "
                f"the {AGENT_HEADER} header."
            )
        agent = selectors.agent_get(account=self.account, agent_id=agent_id)
        return key_agent_check(self.api_key, agent, agent_id)


@dataclass(frozen=True)
class Outcome:
    text: str
    structured: dict[str, Any]


def _checked(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments without nulls (null means "not given"), or ToolError for unknown ones."""
    [tool] = [tool for tool in tool_definitions() if tool.name == name]
    allowed = tool.input_schema["properties"]
    unknown = sorted(set(arguments) - set(allowed))
    if unknown:
        raise ToolError(
            f"Unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"{name} takes {', '.join(allowed)}."
        )
    return {key: value for key, value in arguments.items() if value is not None}


def _day(memory: Memory) -> str:
    return memory.created_at.date().isoformat() if memory.created_at else "?"


def _line(number: int, memory: Memory, *, score: float | None = None, limit: int = 0) -> str:
    content = memory.content
    if limit and len(content) > limit:
        content = content[:limit] + "…"
    tags = [memory.type, _day(memory)]
    if memory.session_id:
        tags.append(f"session {memory.session_id}")
    if memory.pinned:
        tags.append("pinned")
    details = f"id {memory.uuid}" + (f", confidence {score:.2f}" if score is not None else "")
    return f"{number}. [{' · '.join(tags)}] {content} ({details})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def remember_tool(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    agent = caller.agent(arguments)
    data = validated(RememberApi.InputSerializer, arguments)
    memory = services.remember(agent=agent, **remember_arguments(data))
    usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="remember")
    if memory.deduplicated:
        text = f"Already remembered: refreshed memory {memory.uuid}."
    else:
        text = f"Remembered as memory {memory.uuid} ({memory.type})."
    if data.get("supersedes"):
        text += f" It supersedes {_count(len(data['supersedes']), 'memory')}."
    return Outcome(text, {**memory_json(memory, agent=agent), "deduplicated": memory.deduplicated})


# Said to the model when recall had to do without the query's meaning.
WORDS_ONLY_NOTE = (
    "\n(The embedding provider is unavailable: memories were matched by their words only, "
    "so some relevant ones may be missing.)"
)


def recall_tool(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    agent = caller.agent(arguments)
    data = validated(QuerySerializer, arguments)
    found = services.recall_ranked(
        agent=agent,
        query=data["query"],
        top_k=data.get("top_k", 5),
        session_id=data.get("session_id"),
        memory_type=type_from(data),
        threshold=data.get("threshold"),
    )
    recalled = found.memories
    usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="recall")
    if recalled:
        lines = [
            _line(number, item.memory, score=item.score.confidence)
            for number, item in enumerate(recalled, start=1)
        ]
        text = f"{_count(len(recalled), 'memory')}, best first:\n" + "\n".join(lines)
    else:
        text = "No memories match this query."
    if found.words_only:
        text += WORDS_ONLY_NOTE
    return Outcome(text, {"memories": [recalled_json(item, agent=agent) for item in recalled]})


def inject_context_tool(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    agent = caller.agent(arguments)
    data = validated(InjectContextApi.InputSerializer, arguments)
    injected = services.inject_context(
        agent=agent,
        query=data["query"],
        top_k=data.get("top_k", 5),
        session_id=data.get("session_id"),
        memory_type=type_from(data),
        max_tokens=data.get("max_tokens"),
        threshold=data.get("threshold"),
    )
    usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="inject_context")
    return Outcome(
        (injected.context or "No stored memory is relevant to this.")
        + (WORDS_ONLY_NOTE if injected.words_only else ""),
        {
            "context": injected.context,
            "memories_used": len(injected.used),
            "memories": [recalled_json(item, agent=agent) for item in injected.used],
        },
    )


class ForgetSerializer(serializers.Serializer):
    memory_id = StrictCharField(required=False, max_length=100)
    memory_ids = serializers.ListField(
        child=StrictCharField(max_length=100), required=False, allow_empty=False, max_length=MAX_IDS
    )
    query = query_field()
    top_k = StrictIntegerField(required=False, min_value=1, max_value=MAX_TOP_K)
    session_id = session_field()
    type = MemoryTypeField(required=False)
    threshold = StrictFloatField(required=False, min_value=0.0, max_value=1.0)
    confirm = StrictBooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("memory_id", "memory_ids", "query") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                "Give one of memory_id, memory_ids or query."
                if not given
                else f"Give only one of memory_id, memory_ids or query, not {' and '.join(given)}."
            )
        if "query" in attrs and not attrs["query"].strip():
            raise serializers.ValidationError({"query": ["Must not be empty."]})
        return attrs


def forget_tool(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    agent = caller.agent(arguments)
    data = validated(ForgetSerializer, arguments)
    if "query" not in data:
        ids = (
            [data["memory_id"]] if "memory_id" in data else list(dict.fromkeys(data["memory_ids"]))
        )
        # Every id is checked before anything is deleted: all of them go, or none.
        memories = [selectors.memory_get(agent=agent, memory_id=memory_id) for memory_id in ids]
        services.memories_delete(
            agent=agent, memory_ids=[memory.uuid for memory in memories], **caller.audited()
        )
        lines = [_line(number, memory) for number, memory in enumerate(memories, start=1)]
        return Outcome(
            f"Deleted {_count(len(memories), 'memory')}:\n" + "\n".join(lines),
            {
                "deleted": len(memories),
                "confirmed": True,
                "memories": [memory_json(memory, agent=agent) for memory in memories],
            },
        )
    recalled = services.recall(
        agent=agent,
        query=data["query"],
        top_k=data.get("top_k", FORGET_DEFAULT_TOP_K),
        session_id=data.get("session_id"),
        memory_type=data.get("type"),
        threshold=data.get("threshold"),
        # Looking for what to delete is not a use of those memories.
        count_access=False,
    )
    usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="recall")
    memories = [item.memory for item in recalled]
    payload = [recalled_json(item, agent=agent) for item in recalled]
    listing = "\n".join(
        _line(number, item.memory, score=item.score.confidence)
        for number, item in enumerate(recalled, start=1)
    )
    if not memories:
        return Outcome(
            "No memories match this query: nothing was deleted.",
            {"deleted": 0, "confirmed": bool(data.get("confirm")), "memories": []},
        )
    if not data.get("confirm"):
        return Outcome(
            f"{_count(len(memories), 'memory')} match this query. Nothing was deleted yet:\n"
            f"{listing}\n"
            "To delete all of them, call forget again with the same query and confirm: true. "
            "To delete only some, call forget with memory_ids set to their ids.",
            {"deleted": 0, "confirmed": False, "memories": payload},
        )
    deleted = services.memories_delete(
        agent=agent, memory_ids=[memory.uuid for memory in memories], **caller.audited()
    )
    return Outcome(
        f"Deleted {_count(deleted, 'memory')}:\n{listing}",
        {"deleted": deleted, "confirmed": True, "memories": payload},
    )


def list_memories_tool(caller: Caller, arguments: dict[str, Any]) -> Outcome:
    agent = caller.agent(arguments)
    text_filter = arguments.pop("text", None)
    if text_filter is not None:
        arguments["q"] = text_filter
    data = validated(MemoryListApi.FilterSerializer, {"limit": LIST_DEFAULT_LIMIT, **arguments})
    memories, total = selectors.memory_list(
        agent=agent,
        session_id=data.get("session_id"),
        memory_type=type_from(data),
        text=data.get("q") or None,
        sort=data["sort"],
        limit=data["limit"],
        offset=data["offset"],
    )
    end = data["offset"] + len(memories)
    next_offset = end if end < total else None
    if memories:
        lines = [
            _line(number, memory, limit=LIST_PREVIEW_CHARS)
            for number, memory in enumerate(memories, start=data["offset"] + 1)
        ]
        text = f"Memories {data['offset'] + 1}-{end} of {total}:\n" + "\n".join(lines)
        if next_offset is not None:
            text += f"\nMore: call list_memories with offset {next_offset}."
    else:
        text = f"No memories here ({total} in all)."
    return Outcome(
        text,
        {
            "memories": [memory_json(memory, agent=agent) for memory in memories],
            "total": total,
            "limit": data["limit"],
            "offset": data["offset"],
            "next_offset": next_offset,
        },
    )


TOOLS: dict[str, Callable[[Caller, dict[str, Any]], Outcome]] = {
    "remember": remember_tool,
    "recall": recall_tool,
    "inject_context": inject_context_tool,
    "forget": forget_tool,
    "list_memories": list_memories_tool,
}
# The tools that change memory, which a read-only key may not call.
WRITE_TOOLS = frozenset(
    tool.name
    for tool in tool_definitions()
    if tool.annotations is None or not tool.annotations.read_only_hint
)


def _error_result(message: str) -> CallToolResult:
    # No structuredContent: it would have to match the tool's outputSchema.
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def tool_call(caller: Caller, request_id: RequestId, name: str, arguments: Any) -> CallToolResult:
    """One tools/call: the tool's result, or an isError result saying what went wrong."""
    run = TOOLS.get(name)
    if run is None:
        raise UnknownTool(name)
    refused = caller.refused.get(request_id)
    if refused is not None:
        return _error_result(str(refused.detail))
    try:
        if name in WRITE_TOOLS:
            key_write_check(caller.api_key)
        if arguments is not None and not isinstance(arguments, dict):
            raise ToolError("The arguments must be a JSON object.")
        outcome = run(caller, _checked(name, dict(arguments or {})))
    except ToolError as exc:
        return _error_result(str(exc))
    except KeyNotAllowed as exc:
        return _error_result(str(exc.detail))
    except exceptions.ValidationError as exc:
        return _error_result(validation_error_body(exc)["detail"])
    except QuotaExceeded as exc:
        body = quota_error_body(exc, caller.request)
        return _error_result(f"{body['detail']} Plans: {body['upgrade_url']}")
    except MemoryServiceError as exc:
        return _error_result(exc.message)
    except EmbeddingError as exc:
        logger.warning("embedding provider failed: %s", exc)
        return _error_result("The embedding provider is unavailable; try again shortly.")
    except (OperationalError, InterfaceError) as exc:
        logger.warning("database unavailable: %s", exc)
        return _error_result("The database is unavailable; try again shortly.")
    except DatabaseError:
        logger.exception("database error in MCP tool %s", name)
        return _error_result("The request could not be completed; nothing was changed.")
    return CallToolResult(
        content=[TextContent(text=outcome.text)], structured_content=outcome.structured
    )


# -- JSON-RPC -----------------------------------------------------------------------------


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_unset=True)


def _rpc_error(
    request_id: RequestId | None, code: int, message: str, data: Any = None
) -> dict[str, Any]:
    error = (
        ErrorData(code=code, message=message, data=data)
        if data is not None
        else ErrorData(code=code, message=message)
    )
    return _dump(JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


def _pydantic_summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
        for error in exc.errors()
    )


def _result(request_id: RequestId, method: str, version: str, result: BaseModel) -> dict[str, Any]:
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    # Shaped by the negotiated version's schema: fields it does not know are dropped.
    shaped = mcp_methods.serialize_server_result(method, version, dumped)
    return _dump(JSONRPCResponse(jsonrpc="2.0", id=request_id, result=shaped))


def _answer(message: JSONRPCRequest, *, version: str, caller: Caller) -> dict[str, Any]:
    if message.method not in ("initialize", "ping", "tools/list", "tools/call"):
        return _rpc_error(message.id, METHOD_NOT_FOUND, f"Method not found: {message.method}")
    try:
        parsed = mcp_methods.parse_client_request(message.method, version, message.params)
    except ValidationError as exc:
        summary = _pydantic_summary(exc)
        return _rpc_error(message.id, INVALID_PARAMS, f"Invalid {message.method}: {summary}")
    result: BaseModel
    if isinstance(parsed, InitializeRequest):
        requested = parsed.params.protocol_version
        version = requested if requested in PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION
        result = InitializeResult(
            protocol_version=version,
            capabilities=ServerCapabilities(tools=ToolsCapability(list_changed=False)),
            server_info=Implementation(name="kronvex", title="Kronvex", version=_server_version()),
            instructions=INSTRUCTIONS,
        )
    elif isinstance(parsed, CallToolRequest):
        try:
            result = tool_call(caller, message.id, parsed.params.name, parsed.params.arguments)
        except UnknownTool:
            return _rpc_error(
                message.id,
                INVALID_PARAMS,
                f"Unknown tool: {parsed.params.name}. The tools are {', '.join(TOOLS)}.",
            )
        except Exception:
            logger.exception("MCP tool %s failed", parsed.params.name)
            return _rpc_error(
                message.id, INTERNAL_ERROR, "Something went wrong on our side; nothing was changed."
            )
    elif message.method == "tools/list":
        result = ListToolsResult(tools=tool_definitions())
    else:
        result = EmptyResult()
    return _result(message.id, message.method, version, result)


def _counts_as_recall(message: JSONRPCMessage) -> bool:
    if not isinstance(message, JSONRPCRequest) or message.method != "tools/call":
        return False
    params = message.params or {}
    name = params.get("name")
    arguments = params.get("arguments")
    if name in RECALL_TOOLS:
        return True
    # forget's search shows memories like recall does.
    return name == "forget" and isinstance(arguments, dict) and arguments.get("query") is not None


# -- HTTP ---------------------------------------------------------------------------------


def _refusal(
    status: int,
    body: dict[str, Any],
    *,
    rpc_code: int = INVALID_REQUEST,
    rpc_data: Any = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """An HTTP error in the API's error shape that is also a JSON-RPC error response."""
    rpc = _rpc_error(None, rpc_code, body["detail"], rpc_data)
    response = JsonResponse({**body, **rpc}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _api_refusal(exc: Exception, request: Request) -> JsonResponse:
    """The REST API's own response to `exc` (401, 413, 429...), as an MCP refusal."""
    response = exception_handler(exc, {"request": request})
    assert response is not None
    headers = {
        name: response[name] for name in ("WWW-Authenticate", "Retry-After") if name in response
    }
    return _refusal(response.status_code, dict(response.data), headers=headers)


def _same_origin(request: HttpRequest) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.get_host().lower()


@csrf_exempt
def mcp_view(request: HttpRequest, agent_id: str | None = None) -> HttpResponse:
    if request.method != "POST":
        return _refusal(
            405,
            error_body(
                "method_not_allowed",
                "The MCP endpoint takes JSON-RPC messages in POST requests; it opens no "
                "event stream.",
            ),
            headers={"Allow": "POST"},
        )
    # A page on another site must not reach a server that trusts where it runs.
    if not _same_origin(request):
        return _refusal(
            403, error_body("forbidden_origin", "Requests from this Origin are not accepted.")
        )
    drf_request = Request(request)
    try:
        authenticated = ApiKeyAuthentication().authenticate(drf_request)
    except (exceptions.AuthenticationFailed, ratelimit.RateLimited) as exc:
        return _api_refusal(exc, drf_request)
    if authenticated is None:
        return _api_refusal(exceptions.NotAuthenticated(), drf_request)
    account, api_key = authenticated

    if not request.accepts("application/json"):
        return _refusal(
            406,
            error_body("not_acceptable", "The MCP endpoint answers in application/json only."),
        )
    if request.content_type != "application/json":
        return _refusal(
            415,
            error_body("unsupported_media_type", "Send JSON-RPC messages as application/json."),
        )
    try:
        body = request.body
    except RequestDataTooBig as exc:
        return _api_refusal(exc, drf_request)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        detail = f"The request body is not valid JSON: {exc}"
        return _refusal(
            400,
            error_body("malformed_json", detail, errors={"request": [detail]}),
            rpc_code=PARSE_ERROR,
        )

    version = request.headers.get(PROTOCOL_VERSION_HEADER) or DEFAULT_PROTOCOL_VERSION
    if version not in PROTOCOL_VERSIONS:
        return _refusal(
            400,
            error_body(
                "unsupported_protocol_version",
                f"Unsupported MCP protocol version {version!r}: this server speaks "
                f"{', '.join(PROTOCOL_VERSIONS)}.",
            ),
            rpc_code=UNSUPPORTED_PROTOCOL_VERSION,
            rpc_data=UnsupportedProtocolVersionErrorData(
                supported=list(PROTOCOL_VERSIONS), requested=version
            ).model_dump(mode="json"),
        )
    batch = isinstance(payload, list)
    if batch and version not in BATCH_PROTOCOL_VERSIONS:
        return _refusal(
            400,
            error_body(
                "invalid_request",
                f"JSON-RPC batches are not part of MCP protocol version {version}: send one "
                "message per request.",
            ),
        )
    if batch and not payload:
        return _refusal(400, error_body("invalid_request", "The batch is empty."))
    items = payload if batch else [payload]

    messages: list[JSONRPCMessage | dict[str, Any]] = []
    for item in items:
        try:
            messages.append(jsonrpc_message_adapter.validate_python(item, by_name=False))
        except ValidationError:
            item_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(item_id, int | str) or isinstance(item_id, bool):
                item_id = None
            messages.append(_rpc_error(item_id, INVALID_REQUEST, "Not a JSON-RPC 2.0 message."))
    if not batch and isinstance(messages[0], dict):
        return _refusal(
            400, error_body("invalid_request", "The body is not a JSON-RPC 2.0 message.")
        )

    caller = Caller(
        request=request,
        account=account,
        agent_id=request.headers.get(AGENT_HEADER) or agent_id,
        api_key=api_key,
    )
    rate_limit = _rate_limit(caller, api_key, messages)
    if isinstance(rate_limit, ratelimit.RateLimited):
        return _api_refusal(rate_limit, drf_request)

    answers = []
    for message in messages:
        if isinstance(message, dict):
            answers.append(message)
        elif isinstance(message, JSONRPCRequest):
            answers.append(_answer(message, version=version, caller=caller))
        # Notifications and responses need no answer: the server never asks the client.
    if answers:
        response: HttpResponse = JsonResponse(answers if batch else answers[0], safe=False)
    else:
        response = HttpResponse(status=202)
    for name, value in rate_limit.headers().items():
        response[name] = value
    return response


def _rate_limit(
    caller: Caller, api_key: ApiKey, messages: list[JSONRPCMessage | dict[str, Any]]
) -> ratelimit.RateLimit | ratelimit.RateLimited:
    """Count this request against the plan as the REST API does; recall-type tool calls over
    the day's limit are noted in `caller.refused`, a request over the minute's is returned."""
    recalls = [
        message
        for message in messages
        if isinstance(message, JSONRPCRequest) and _counts_as_recall(message)
    ]
    now = time.time()
    limit = ratelimit.rate_limit_hit(
        account=caller.account, api_key=api_key, recall=bool(recalls), now=now
    )
    if limit.exceeded is not None and limit.exceeded.code == "rate_limited":
        return limit.exceeded
    for index, message in enumerate(recalls):
        exceeded = (
            limit.exceeded
            if index == 0
            # More recalls in the same batch: counted one by one, without counting requests.
            else ratelimit.rate_limit_hit(
                account=caller.account, api_key=None, recall=True, now=now
            ).exceeded
        )
        if exceeded is not None:
            caller.refused[message.id] = exceeded
    return limit
