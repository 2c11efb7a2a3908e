"""The OpenAPI description of the public API, served at /api/schema/ by drf-spectacular.

The views in api/views.py attach these with `@extend_schema`: the JSON shapes that
api/payloads.py builds, the one error shape of api/errors.py, and each operation's
texts and examples. tests/api/test_openapi.py checks real answers against them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    inline_serializer,
)
from rest_framework import serializers

from api.fields import TYPE_CHOICES
from api.idempotency import HEADER, MAX_KEY_LENGTH, IdempotencyKeyInUse, IdempotencyKeyReused
from memories.models import EmbeddingStatus
from memories.selectors import MEMORY_SORTS

API_PREFIX = "/api/v1/"
BATCH_ITEM_STATUSES = ["created", "deduplicated", "rejected"]
API_KEY_SCHEMES = ["ApiKeyAuth", "BearerAuth"]


# -- generation hooks ----------------------------------------------------------------


def public_api_endpoints(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Only /api/v1, each path once and without the optional trailing slash."""
    return [
        (path.rstrip("/"), path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith(API_PREFIX)
    ]


# What each request field means, by field name; (component, field) where it differs.
REQUEST_FIELDS: dict[str | tuple[str, str], str] = {
    "id": (
        "The agent's id, used in paths: letters, digits, `.`, `_` and `-`, starting with a "
        "letter or digit, never in the form of a UUID. Made from `name` when omitted."
    ),
    "name": "A display name.",
    "description": 'Free text; `""` clears it.',
    "metadata": "Your own JSON object; an update replaces the whole object.",
    "content": "The text to remember, stored exactly as given; not only whitespace.",
    "type": (
        "`episodic` (something that happened; fades with age), `semantic` (a fact or a "
        "preference) or `procedural` (how to do something)."
    ),
    "memory_type": "A synonym of `type`: give one, or both with the same value.",
    "session_id": (
        "The session the memory belongs to, usually your end user's id. A recall that names "
        "a session never sees another session's memories."
    ),
    ("RecallRequest", "session_id"): "Only memories of this session.",
    ("InjectContextRequest", "session_id"): "Only memories of this session.",
    ("RecallRequest", "type"): "Only memories of this type.",
    ("InjectContextRequest", "type"): "Only memories of this type.",
    "pinned": "A pinned memory never expires and never fades.",
    "ttl_days": "The memory expires this many days after it is stored.",
    "ttl_seconds": "The memory expires this many seconds after it is stored. Not with `ttl_days`.",
    ("MemoryUpdateRequest", "ttl_days"): "Expire this many days from now; 0 removes the expiry.",
    ("MemoryUpdateRequest", "ttl_seconds"): (
        "Expire this many seconds from now; 0 removes the expiry. Not with `ttl_days`."
    ),
    "created_at": "When it happened, for imports (ISO 8601); at most 5 minutes in the future.",
    "supersedes": (
        "Live memories of this agent that this one restates and changes: they stay, with "
        "`superseded_by` set, and recall ranks them after the others."
    ),
    "memories": "The memories to store, each with the fields of remember.",
    "query": "What to find memories for. Required unless `message` is given.",
    "message": "A synonym of `query`; when both are given, `query` is used.",
    "top_k": "At most this many memories (default 5).",
    "threshold": "Leave out memories whose `similarity` is below this.",
    "explain": "Add each result's score parts (`explain`) and the ranking `weights`.",
    "max_tokens": "The context stays within this many tokens (one per 4 ASCII characters).",
    "retention_days": (
        "Erase the agent's episodic memories this many days after they were last stated "
        "(pinned ones stay); 0 keeps them until deleted."
    ),
}


def describe_request_fields(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Descriptions for the request bodies' fields, which the views' serializers lack."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue
        for field, property_schema in component.get("properties", {}).items():
            text = REQUEST_FIELDS.get((name, field)) or REQUEST_FIELDS.get(field)
            if text and "description" not in property_schema:
                property_schema["description"] = text
    return result


_AGENT_OPERATIONS = (
    "agents_retrieve",
    "agents_update",
    "agents_delete",
    "memories_remember",
    "memories_remember_batch",
    "memories_recall",
    "memories_inject_context",
    "memories_list",
    "memories_delete_all",
    "sessions_list",
)
_MEMORY_OPERATIONS = ("memories_retrieve", "memories_update", "memories_delete", "memories_retry")


def _to_agent(agent_id: str) -> dict[str, dict[str, str]]:
    return {target: {"path.agent_id": agent_id} for target in _AGENT_OPERATIONS}


def _to_memory(memory_id: str) -> dict[str, dict[str, str]]:
    parameters = {"path.agent_id": "$request.path.agent_id", "path.memory_id": memory_id}
    return {target: parameters for target in _MEMORY_OPERATIONS}


# (operation, status) -> {operation it leads to: its parameters, as OpenAPI runtime expressions}.
LINKS: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    ("agents_list", "200"): _to_agent("$response.body#/agents/0/id"),
    ("agents_create", "201"): _to_agent("$response.body#/id"),
    ("agents_retrieve", "200"): _to_agent("$response.body#/id"),
    ("agents_update", "200"): _to_agent("$response.body#/id"),
    ("memories_remember", "200"): _to_memory("$response.body#/id"),
    ("memories_retrieve", "200"): _to_memory("$response.body#/id"),
    ("memories_update", "200"): _to_memory("$response.body#/id"),
    ("memories_list", "200"): _to_memory("$response.body#/memories/0/id"),
    ("memories_recall", "200"): _to_memory("$response.body#/memories/0/id"),
    ("memories_inject_context", "200"): _to_memory("$response.body#/memories/0/id"),
    ("memories_remember_batch", "200"): {
        "memories_remember_batch_retrieve": {
            "path.agent_id": "$request.path.agent_id",
            "path.batch_id": "$response.body#/batch_id",
        },
        **_to_memory("$response.body#/items/0/id"),
    },
}


def link_operations(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """OpenAPI links from the ids an answer holds to the operations that take them
    (create an agent, remember in it, get the memory), for clients and workflow tests."""
    operations = [
        operation
        for path_item in result.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict)
    ]
    present = {operation.get("operationId") for operation in operations}
    for operation in operations:
        for status, response in operation.get("responses", {}).items():
            targets = LINKS.get((operation.get("operationId", ""), status), {})
            links = {
                target: {"operationId": target, "parameters": parameters}
                for target, parameters in targets.items()
                if target in present
            }
            if links:
                response["links"] = links
    return result


# -- authentication and fields -------------------------------------------------------


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """An API key in `X-API-Key`, or the same key as a bearer token: either one."""

    target_class = "api.authentication.ApiKeyAuthentication"
    name = API_KEY_SCHEMES

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in API_KEY_SCHEMES]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "An API key of your account: `X-API-Key: kv-...`.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "kv-...",
                "description": (
                    "The same API key as a bearer token: `Authorization: Bearer kv-...`."
                ),
            },
        ]


class MetadataFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "api.fields.MetadataField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {}}


# -- response shapes (api/payloads.py) -----------------------------------------------


def _metadata() -> serializers.DictField:
    return serializers.DictField(help_text="Your own JSON object, `{}` when none.")


def _memory_type() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=TYPE_CHOICES,
        help_text="`episodic`, `semantic` or `procedural`; `type` and `memory_type` agree.",
    )


def _embedding_status(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=EmbeddingStatus.choices,
        help_text="`pending` (its vector is not stored yet), `ready` or `failed`.",
        **kwargs,
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="A stable code to branch on, such as `agent_not_found`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=(
            "On 400 (and 409): each field's messages; a problem with the request as a whole "
            "is under `request`."
        ),
    )
    limit = serializers.IntegerField(
        required=False, help_text="On 402 and 429: the plan's limit that was reached."
    )
    used = serializers.IntegerField(required=False, help_text="On 402: what the account holds.")
    plan = serializers.CharField(required=False, help_text="On 402: the account's plan.")
    upgrade_url = serializers.CharField(
        required=False, help_text="On 402: where the account can change plan."
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="On 429: seconds until a retry can succeed (as `Retry-After`)."
    )


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The agent's id, used in paths.")
    uuid = serializers.UUIDField(help_text="The agent's UUID, also accepted in paths.")
    name = serializers.CharField()
    description = serializers.CharField(help_text='Free text, `""` when none.')
    metadata = _metadata()
    retention_days = serializers.IntegerField(
        allow_null=True,
        help_text="Its episodic memories are erased this many days after they were last "
        "stated (pinned ones stay); `null`: kept until deleted.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    memory_count = serializers.IntegerField(
        help_text="How many memories the agent holds, expired ones not counted."
    )


class AgentListSerializer(serializers.Serializer):
    agents = AgentSerializer(many=True, help_text="Oldest first.")


class AgentDeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()
    memories_deleted = serializers.IntegerField(help_text="How many memories went with it.")


class MemorySerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The memory's UUID.")
    agent_id = serializers.CharField(help_text="The id of its agent.")
    content = serializers.CharField(help_text="The text, exactly as stored.")
    type = _memory_type()
    memory_type = _memory_type()
    session_id = serializers.CharField(allow_null=True)
    metadata = _metadata()
    pinned = serializers.BooleanField(help_text="A pinned memory never expires and never fades.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="`null`: never.")
    access_count = serializers.IntegerField(
        help_text="How many times recall returned it or inject-context used it."
    )
    last_accessed_at = serializers.DateTimeField(allow_null=True)
    refreshed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the same content was last remembered again."
    )
    superseded_by = serializers.UUIDField(
        allow_null=True, help_text="The newer memory that changed this one."
    )
    status = _embedding_status()
    embedding_model = serializers.CharField(allow_null=True)
    embedding_error = serializers.CharField(
        allow_null=True, help_text="Why embedding failed, when `status` is `failed`."
    )


class RememberedMemorySerializer(MemorySerializer):
    deduplicated = serializers.BooleanField(
        help_text="True when a live memory with the same content was there already: "
        "that memory is answered, refreshed."
    )


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in `memories`.")
    status = serializers.ChoiceField(choices=BATCH_ITEM_STATUSES)
    id = serializers.UUIDField(required=False, help_text="The memory, unless rejected.")
    embedding_status = _embedding_status(required=False)
    error = ErrorSerializer(required=False, help_text="Why the item was rejected.")


class RememberBatchSerializer(serializers.Serializer):
    batch_id = serializers.UUIDField()
    agent_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    created = serializers.IntegerField()
    deduplicated = serializers.IntegerField()
    rejected = serializers.IntegerField()
    progress_url = serializers.CharField(help_text="Where the batch's embedding progress is.")


class RememberBatchResultSerializer(RememberBatchSerializer):
    items = BatchItemSerializer(many=True, help_text="One per item, in order.")


class EmbeddingProgressSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    ready = serializers.IntegerField()
    failed = serializers.IntegerField()


class RememberBatchProgressSerializer(RememberBatchSerializer):
    embedding = EmbeddingProgressSerializer(
        help_text="The batch's memories by embedding status (deleted ones not counted)."
    )
    done = serializers.BooleanField(help_text="True when none is pending.")


class ScorePartsSerializer(serializers.Serializer):
    vector = serializers.FloatField(allow_null=True)
    lexical = serializers.FloatField()
    period = serializers.FloatField(
        allow_null=True, help_text="Null when the query names no period."
    )
    newness = serializers.FloatField(
        allow_null=True, help_text="Null when the query does not ask about the present."
    )
    crowding = serializers.FloatField(
        allow_null=True,
        help_text=(
            "How much more than the other candidates this memory resembles its nearest "
            "fellow candidates (centred on 0); null when it was not compared by vector."
        ),
    )
    similarity = serializers.FloatField()
    recency = serializers.FloatField()
    frequency = serializers.FloatField()
    final = serializers.FloatField()


class RankingWeightsSerializer(serializers.Serializer):
    lexical = serializers.FloatField()
    period = serializers.FloatField()
    newness = serializers.FloatField()
    crowding = serializers.FloatField()
    similarity = serializers.FloatField()
    recency = serializers.FloatField()
    frequency = serializers.FloatField()


class RecalledMemorySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    content = serializers.CharField()
    type = _memory_type()
    memory_type = _memory_type()
    session_id = serializers.CharField(allow_null=True)
    metadata = _metadata()
    created_at = serializers.DateTimeField()
    confidence = serializers.FloatField(help_text="The ranking score, 0 to 1.")
    similarity = serializers.FloatField(help_text="How close to the query, 0 to 1.")
    recency = serializers.FloatField(help_text="0 to 1; 1 for memories that do not fade.")
    frequency = serializers.FloatField(help_text="How often recalled, 0 to 1.")
    access_count = serializers.IntegerField(help_text="Including this call.")
    pinned = serializers.BooleanField()
    superseded_by = serializers.UUIDField(allow_null=True)
    status = _embedding_status()
    agent_id = serializers.CharField()
    explain = ScorePartsSerializer(required=False, help_text='With `"explain": true`.')


class RecallSerializer(serializers.Serializer):
    memories = RecalledMemorySerializer(many=True, help_text="Best first.")
    weights = RankingWeightsSerializer(required=False, help_text='With `"explain": true`.')


class InjectedContextSerializer(serializers.Serializer):
    context = serializers.CharField(
        help_text='One line per memory, `[type, YYYY-MM-DD] content`; `""` when none.'
    )
    memories_used = serializers.IntegerField()
    memories = RecalledMemorySerializer(many=True, help_text="In the order of `context`.")
    weights = RankingWeightsSerializer(required=False, help_text='With `"explain": true`.')


class MemoryPageSerializer(serializers.Serializer):
    memories = MemorySerializer(many=True)
    total = serializers.IntegerField(help_text="Every memory that matches, across pages.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class MemoriesDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="How many memories were deleted.")


class MemoryDeletedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    deleted = serializers.BooleanField()
    memories_deleted = serializers.IntegerField(help_text="How many memories were deleted: 1.")


class SessionErasedSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    deleted = serializers.IntegerField(help_text="How many memories were deleted.")
    agents = serializers.IntegerField(help_text="How many agents held some of them.")
    by_agent = serializers.DictField(
        child=serializers.IntegerField(), help_text="How many memories each agent held, by id."
    )


class ExportedMemorySerializer(MemorySerializer):
    agent_uuid = serializers.UUIDField(help_text="The UUID of its agent.")
    embedding = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        required=False,
        help_text="Its vector, with `vectors=true` only; `null` while it has none.",
    )


class ExportedAgentSerializer(AgentSerializer):
    memory_count = None  # type: ignore[assignment]


class ExportedAccountSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    plan = serializers.CharField()
    created_at = serializers.DateTimeField()


class ExportedMemberSerializer(serializers.Serializer):
    email = serializers.CharField()
    role = serializers.CharField(help_text="`owner` or `member`.")
    joined_at = serializers.DateTimeField()


class ExportedApiKeySerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(
        help_text="The key's first characters: the key is never stored, its hash never exported."
    )
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ExportedUsageDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    agent_uuid = serializers.UUIDField(help_text="The agent's UUID (it may be deleted since).")
    remember_calls = serializers.IntegerField()
    recall_calls = serializers.IntegerField()
    inject_context_calls = serializers.IntegerField()


class AccountExportSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="`kronvex-export`.")
    version = serializers.IntegerField(help_text="1.")
    exported_at = serializers.DateTimeField()
    account = ExportedAccountSerializer()
    members = ExportedMemberSerializer(many=True)
    agents = ExportedAgentSerializer(many=True)
    api_keys = ExportedApiKeySerializer(many=True)
    usage = ExportedUsageDaySerializer(many=True, help_text="Calls per agent and UTC day.")
    memories = ExportedMemorySerializer(
        many=True,
        help_text="Every memory held, expired ones not yet purged included; oldest first.",
    )


class SessionExportSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="`kronvex-export`.")
    version = serializers.IntegerField(help_text="1.")
    exported_at = serializers.DateTimeField()
    session_id = serializers.CharField()
    memories = ExportedMemorySerializer(many=True, help_text="Oldest first, from every agent.")


class SessionSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    count = serializers.IntegerField(help_text="Its memories, expired ones not counted.")
    last_at = serializers.DateTimeField(help_text="The `created_at` of its newest memory.")


class SessionListSerializer(serializers.Serializer):
    sessions = SessionSerializer(many=True, help_text="Most recently active first.")


def remember_batch_request(
    item: type[serializers.Serializer], max_items: int
) -> serializers.Serializer:
    """The batch body: remember's body, many times."""
    return inline_serializer(
        "RememberBatchRequest",
        {"memories": serializers.ListField(child=item(), min_length=1, max_length=max_items)},
    )


# -- parameters ----------------------------------------------------------------------

AGENT_ID = OpenApiParameter(
    "agent_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The agent's id (such as `support-bot`) or its UUID.",
)
MEMORY_ID = OpenApiParameter(
    "memory_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The memory's UUID, the `id` of its JSON.",
)
SESSION_ID = OpenApiParameter(
    "session_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The session id your app gave its memories, usually your end user's id.",
)
BATCH_ID = OpenApiParameter(
    "batch_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The batch's UUID, the `batch_id` of its JSON.",
)


def _query(name: str, schema: dict[str, Any], description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)


_TYPE = {"type": "string", "enum": TYPE_CHOICES}
_SESSION = {"type": "string", "minLength": 1, "maxLength": 255}
MEMORY_LIST_PARAMETERS = [
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "How many memories per page.",
    ),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "How many to skip."),
    _query("session_id", _SESSION, "Only memories of this session."),
    _query("type", _TYPE, "Only memories of this type."),
    _query("memory_type", _TYPE, "A synonym of `type`."),
    _query(
        "q",
        {"type": "string", "minLength": 1, "maxLength": 1000},
        "Only memories whose content contains this text, ignoring case.",
    ),
    _query(
        "sort",
        {"type": "string", "enum": list(MEMORY_SORTS), "default": "recent"},
        "`recent` (newest first), `oldest` or `most_used` (highest `access_count` first, "
        "then newest).",
    ),
]
EXPORT_PARAMETERS = [
    _query(
        "vectors",
        {"type": "boolean", "default": False},
        "Add each memory's vector (`embedding`): a much larger document.",
    )
]
MEMORY_DELETE_PARAMETERS = [
    _query("session_id", _SESSION, "Delete only this session's memories; the agent stays.")
]


# -- errors --------------------------------------------------------------------------


def _error(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **extra}


_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid input: `invalid_request`, with `errors` naming each field, or "
        "`malformed_json`. Nothing was changed.",
        _error(
            "invalid_request",
            "Invalid request. top_k: Ensure this value is less than or equal to 50.",
            errors={"top_k": ["Ensure this value is less than or equal to 50."]},
        ),
    ),
    401: (
        "No API key (`missing_api_key`), a malformed or unknown one (`invalid_api_key`) or a "
        "revoked one, or one rotated whose grace period has ended (`revoked_api_key`); sent with "
        '`WWW-Authenticate: Bearer realm="kronvex"`.',
        _error(
            "missing_api_key",
            "An API key is required: send it in the X-API-Key header "
            "or as 'Authorization: Bearer kv-...'.",
        ),
    ),
    402: (
        "The plan's limit is reached (`agent_limit_reached`, `memory_limit_reached`), with "
        "`limit`, `used`, `plan` and `upgrade_url`. Nothing was written.",
        _error(
            "memory_limit_reached",
            "This account holds 500 memories; the Free plan allows 500. "
            "Delete some or upgrade the plan to add more.",
            limit=500,
            used=500,
            plan="free",
            upgrade_url="http://127.0.0.1:8000/dashboard/billing/",
        ),
    ),
    403: (
        "The API key's scope does not allow this: a read-only key cannot write "
        "(`read_only_key`), a key limited to agents cannot act on the whole account, such as "
        "creating an agent (`agent_limited_key`). Nothing was changed.",
        _error(
            "read_only_key",
            "This API key is read-only: it may list, get, recall and inject context.",
        ),
    ),
    404: (
        "No such agent in this account (`agent_not_found`); another account's agent, or one "
        "the API key is not limited to, answers the same.",
        _error("agent_not_found", "No agent 'nope' in this account."),
    ),
    409: (
        "An agent with that id already exists in the account (`agent_exists`).",
        _error(
            "agent_exists",
            "An agent with id 'support-bot' already exists in this account.",
            errors={"id": ["An agent with id 'support-bot' already exists in this account."]},
        ),
    ),
    413: (
        "The body is over the size limit (`request_too_large`).",
        _error("request_too_large", "The request body is larger than this server accepts."),
    ),
    415: (
        "The body is not sent as `application/json` (`unsupported_media_type`).",
        _error("unsupported_media_type", 'Unsupported media type "text/plain" in request.'),
    ),
    429: (
        "The key's requests per minute (`rate_limited`) or the account's recalls per day "
        "(`recall_limit_reached`) are used up, or this address sent too many unknown keys "
        "(`rate_limited`); retry after `Retry-After` seconds.",
        _error(
            "rate_limited",
            "Rate limit reached: this API key may make 60 requests per minute. Retry in 23 s.",
            limit=60,
            retry_after=23,
        ),
    ),
    503: (
        "The embedding provider (`embedding_unavailable`) or the database "
        "(`database_unavailable`, `database_error`) cannot serve the request now; nothing was "
        "changed. Retry after `Retry-After` seconds when sent.",
        _error("database_unavailable", "The database is unavailable; try again shortly."),
    ),
}

_NOT_FOUND: dict[str, tuple[str, dict[str, Any]]] = {
    "session": (
        "No memory of the account holds this session id (`session_not_found`); another "
        "account's sessions answer the same.",
        _error("session_not_found", "No memory of session 'user-42' in this account."),
    ),
    "memory": (
        "No such agent (`agent_not_found`), or no live memory with that id in the agent "
        "(`memory_not_found`); another account's answer the same.",
        _error(
            "memory_not_found",
            "No memory '30046bbe-69bd-4d43-acb0-47155e0e4657' in agent 'my-agent'.",
        ),
    ),
    "batch": (
        "No such agent (`agent_not_found`), or no batch with that id in the agent "
        "(`batch_not_found`); another account's answer the same.",
        _error(
            "batch_not_found",
            "No batch '0b0f2f4e-52d4-4f6e-9a8e-3f4c1a0f9d21' in agent 'my-agent'.",
        ),
    ),
}


def _error_response(status: int, not_found: str | None) -> OpenApiResponse:
    description, example = _ERRORS[status]
    if status == 404 and not_found is not None:
        description, example = _NOT_FOUND[not_found]
    return _described_error(status, description, example)


def _described_error(status: int, description: str, example: dict[str, Any]) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[OpenApiExample(example["code"], value=example, status_codes=[status])],
    )


# -- how recall searched -----------------------------------------------------------------

RECALL_MODE_HEADER = "X-Kronvex-Recall-Mode"
RECALL_MODE = OpenApiParameter(
    RECALL_MODE_HEADER,
    {"type": "string", "enum": ["hybrid", "words"]},
    OpenApiParameter.HEADER,
    response=[200],
    description=(
        "`hybrid`: memories found by meaning and words. `words`: the embedding provider "
        "could not embed the query, so memories were found and ranked by their words alone "
        "until it answers again."
    ),
)


# -- Idempotency-Key (api/idempotency.py) -------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    description=(
        "A key of yours (such as a UUID) that makes retrying this POST safe: for 24 hours "
        "the same key with the same body gets the first answer again, with "
        "`Idempotent-Replayed: true`, and writes nothing."
    ),
)

_IDEMPOTENCY_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    409: (
        "The first request with this `Idempotency-Key` is still in progress "
        "(`idempotency_key_in_use`); retry after `Retry-After` seconds to get its answer.",
        _error("idempotency_key_in_use", str(IdempotencyKeyInUse.default_detail)),
    ),
    422: (
        "This `Idempotency-Key` was first sent with another method, path or body "
        "(`idempotency_key_reused`). Nothing was changed.",
        _error("idempotency_key_reused", str(IdempotencyKeyReused.default_detail)),
    ),
}


class AccountApiSchema(AutoSchema):
    """The schema of the API's views: every POST takes an `Idempotency-Key`, and can be
    answered its 409 and 422."""

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or self.method != "POST":
            return operation
        responses = operation["responses"]
        for status, (description, example) in _IDEMPOTENCY_ERRORS.items():
            answer = self._get_response_for_code(
                _described_error(status, description, example), str(status)
            )
            held = responses.get(str(status))
            if held is None:
                responses[str(status)] = answer
                continue
            # Create agent's own 409 (`agent_exists`): one response, both examples.
            held["description"] = f"{held['description']} {answer['description']}"
            held["content"]["application/json"]["examples"].update(
                answer["content"]["application/json"]["examples"]
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation


# Every call can fail these ways; calls with a body and agent paths add their own.
_ALWAYS = (401, 429, 503)
_BODY = (400, 413, 415)


def operation(
    *,
    operation_id: str,
    summary: str,
    description: str,
    tag: str,
    response: type[serializers.Serializer],
    answer: str,
    example: Any,
    status: int = 200,
    body: Any = None,
    errors: Iterable[int] = (),
    agent: bool = True,
    not_found: str | None = None,
    parameters: Sequence[OpenApiParameter] = (),
) -> dict[str, Any]:
    """`@extend_schema` arguments of one operation: `answer` describes the success response,
    `example` is one, `body` an example request body for operations that take one."""
    statuses = set(errors) | set(_ALWAYS) | (set(_BODY) if body is not None else set())
    if agent:
        statuses.add(404)
    examples = [
        OpenApiExample("Response", value=example, response_only=True, status_codes=[status])
    ]
    if body is not None:
        examples.insert(0, OpenApiExample("Request", value=body, request_only=True))
    path_parameters = [AGENT_ID] if agent else []
    if not_found == "memory":
        path_parameters.append(MEMORY_ID)
    if not_found == "batch":
        path_parameters.append(BATCH_ID)
    return {
        "operation_id": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "parameters": [*path_parameters, *parameters],
        "responses": {
            status: OpenApiResponse(response=response, description=answer),
            **{code: _error_response(code, not_found) for code in sorted(statuses)},
        },
        "examples": examples,
    }


# -- the operations ------------------------------------------------------------------

_AGENT = {
    "id": "support-bot",
    "uuid": "82815f42-bfd1-47c2-875d-10790e2849f4",
    "name": "Support bot",
    "description": "Answers billing questions",
    "metadata": {"team": "support"},
    "retention_days": None,
    "created_at": "2026-11-25T08:27:59.064563Z",
    "updated_at": "2026-11-25T08:27:59.064580Z",
    "memory_count": 0,
}
_MEMORY = {
    "id": "30046bbe-69bd-4d43-acb0-47155e0e4657",
    "agent_id": "my-agent",
    "content": "User is migrating a Django app from MySQL to PostgreSQL",
    "type": "episodic",
    "memory_type": "episodic",
    "session_id": "user-42",
    "metadata": {"source": "chat"},
    "pinned": False,
    "created_at": "2026-11-25T08:28:19.610944Z",
    "updated_at": "2026-11-25T08:28:19.611271Z",
    "expires_at": None,
    "access_count": 2,
    "last_accessed_at": "2026-11-25T08:30:02.118305Z",
    "refreshed_at": None,
    "superseded_by": None,
    "status": "ready",
    "embedding_model": "all-MiniLM-L6-v2",
    "embedding_error": None,
}
_RECALLED = {
    "id": "a200c887-0043-4bac-aec2-6eefb6756344",
    "content": "User prefers concise answers",
    "type": "semantic",
    "memory_type": "semantic",
    "session_id": "user-42",
    "metadata": {},
    "created_at": "2026-11-25T08:28:19.555738Z",
    "confidence": 0.440671,
    "similarity": 0.401118,
    "recency": 1.0,
    "frequency": 0.0,
    "access_count": 1,
    "pinned": False,
    "superseded_by": None,
    "status": "ready",
    "agent_id": "my-agent",
}
_BATCH = {
    "batch_id": "0b0f2f4e-52d4-4f6e-9a8e-3f4c1a0f9d21",
    "agent_id": "my-agent",
    "created_at": "2026-11-25T12:20:00.000000Z",
    "total": 3,
    "created": 1,
    "deduplicated": 1,
    "rejected": 1,
    "progress_url": "/api/v1/agents/my-agent/remember/batch/0b0f2f4e-52d4-4f6e-9a8e-3f4c1a0f9d21",
}
_BATCH_MEMORY_ID = "9c1f5d2e-7a41-4f0b-8e3d-2b6c9a1d4e57"

AGENTS_LIST = operation(
    operation_id="agents_list",
    summary="List agents",
    description="The account's agents, oldest first.",
    tag="agents",
    response=AgentListSerializer,
    answer="The account's agents.",
    example={"agents": [_AGENT]},
    agent=False,
)
AGENTS_CREATE = operation(
    operation_id="agents_create",
    summary="Create an agent",
    description=(
        "Without `id`, the id is made from the name: `Support bot` gives `support-bot`, or "
        "`support-bot-2` if that is taken. An `id` that already exists in the account is a "
        "409; past the plan's agent limit, a 402."
    ),
    tag="agents",
    response=AgentSerializer,
    answer="The agent.",
    status=201,
    example=_AGENT,
    body={
        "id": "support-bot",
        "name": "Support bot",
        "description": "Answers billing questions",
        "metadata": {"team": "support"},
    },
    errors=(402, 403, 409),
    agent=False,
)
AGENTS_RETRIEVE = operation(
    operation_id="agents_retrieve",
    summary="Get an agent",
    description="The agent, by its id or its UUID.",
    tag="agents",
    response=AgentSerializer,
    answer="The agent.",
    example=_AGENT,
)
AGENTS_UPDATE = operation(
    operation_id="agents_update",
    summary="Update an agent",
    description="Only the fields given change; `metadata` replaces the whole object. The id "
    "cannot be changed.",
    tag="agents",
    response=AgentSerializer,
    answer="The agent.",
    example={**_AGENT, "description": "Answers billing and refund questions"},
    body={"description": "Answers billing and refund questions"},
    errors=(403,),
)
AGENTS_DELETE = operation(
    operation_id="agents_delete",
    summary="Delete an agent",
    description="Deletes the agent and all its memories, for good.",
    tag="agents",
    response=AgentDeletedSerializer,
    answer="The agent is deleted, with its memories.",
    example={"id": "support-bot", "deleted": True, "memories_deleted": 0},
    errors=(403,),
)
MEMORIES_REMEMBER = operation(
    operation_id="memories_remember",
    summary="Remember",
    description=(
        "Stores one memory, before the answer is sent. Remembering what a live memory of the "
        "same agent and session already says stores nothing new: that memory is answered "
        'with `"deduplicated": true` and refreshed. Past the plan\'s memory limit, a 402.'
    ),
    tag="memories",
    response=RememberedMemorySerializer,
    answer="The memory, and whether it was already there.",
    example={**_MEMORY, "access_count": 0, "last_accessed_at": None, "deduplicated": False},
    body={
        "content": "User is migrating a Django app from MySQL to PostgreSQL",
        "session_id": "user-42",
        "metadata": {"source": "chat"},
    },
    errors=(402, 403),
)
MEMORIES_REMEMBER_BATCH = operation(
    operation_id="memories_remember_batch",
    summary="Remember many",
    description=(
        "Stores up to 1,000 memories in one call, each as remember would. Each item is "
        "answered on its own: an invalid item, or one past the plan's memory limit, is "
        "`rejected` with its reason in the error shape, and the others are stored all the same."
    ),
    tag="memories",
    response=RememberBatchResultSerializer,
    answer="The batch's counts, and one answer per item.",
    example={
        **_BATCH,
        "items": [
            {
                "index": 0,
                "status": "created",
                "id": _BATCH_MEMORY_ID,
                "embedding_status": "ready",
            },
            {
                "index": 1,
                "status": "deduplicated",
                "id": _BATCH_MEMORY_ID,
                "embedding_status": "ready",
            },
            {
                "index": 2,
                "status": "rejected",
                "error": _error(
                    "invalid_request",
                    "Invalid request. content: This field may not be blank.",
                    errors={"content": ["This field may not be blank."]},
                ),
            },
        ],
    },
    body={
        "memories": [
            {"content": "User lives in Porto", "session_id": "user-42"},
            {"content": "User lives in Porto", "session_id": "user-42"},
            {"content": ""},
        ]
    },
    errors=(403,),
)
MEMORIES_REMEMBER_BATCH_RETRIEVE = operation(
    operation_id="memories_remember_batch_retrieve",
    summary="Batch progress",
    description="A batch's counts, and how many of the memories it created wait for their "
    "vector, are embedded or failed.",
    tag="memories",
    response=RememberBatchProgressSerializer,
    answer="The batch's counts and embedding progress.",
    example={**_BATCH, "embedding": {"pending": 0, "ready": 1, "failed": 0}, "done": True},
    not_found="batch",
)
MEMORIES_RECALL = operation(
    operation_id="memories_recall",
    summary="Recall",
    description=(
        "The agent's memories that matter most for the query, best first. Without "
        "`threshold`, `top_k` memories come back whenever the agent (or session) has that "
        "many. Each returned memory's `access_count` grows by one. While the embedding "
        "provider is down, memories are found by their words alone "
        f"(`{RECALL_MODE_HEADER}: words`)."
    ),
    tag="memories",
    response=RecallSerializer,
    answer="The recalled memories, best first.",
    example={"memories": [_RECALLED]},
    body={"query": "how should I answer?", "top_k": 5, "session_id": "user-42"},
    parameters=[RECALL_MODE],
)
MEMORIES_INJECT_CONTEXT = operation(
    operation_id="memories_inject_context",
    summary="Inject context",
    description=(
        "Recall, returned as prompt-ready text for a system prompt: one line per memory, "
        "`[type, YYYY-MM-DD] content`, best first, within `max_tokens` when given. Only the "
        "memories in the context count as accessed."
    ),
    tag="memories",
    response=InjectedContextSerializer,
    answer="The context, and the memories in it.",
    example={
        "context": "[semantic, 2026-11-25] User prefers concise answers",
        "memories_used": 1,
        "memories": [_RECALLED],
    },
    body={"message": "how should I answer?", "session_id": "user-42", "max_tokens": 200},
    parameters=[RECALL_MODE],
)
MEMORIES_LIST = operation(
    operation_id="memories_list",
    summary="List memories",
    description="One page of the agent's memories; expired ones are not listed. Leave out a "
    "parameter rather than send it empty.",
    tag="memories",
    response=MemoryPageSerializer,
    answer="One page of memories.",
    example={"memories": [_MEMORY], "total": 2, "limit": 1, "offset": 0},
    errors=(400,),
    parameters=MEMORY_LIST_PARAMETERS,
)
MEMORIES_DELETE_ALL = operation(
    operation_id="memories_delete_all",
    summary="Delete memories",
    description="Deletes every memory of the agent, or with `session_id` only that session's "
    "(for example when an end user asks to be forgotten). The agent stays.",
    tag="memories",
    response=MemoriesDeletedSerializer,
    answer="How many memories were deleted.",
    example={"deleted": 1},
    errors=(400, 403),
    parameters=MEMORY_DELETE_PARAMETERS,
)
MEMORIES_RETRIEVE = operation(
    operation_id="memories_retrieve",
    summary="Get a memory",
    description="One live memory of the agent.",
    tag="memories",
    response=MemorySerializer,
    answer="The memory.",
    example=_MEMORY,
    not_found="memory",
)
MEMORIES_UPDATE = operation(
    operation_id="memories_update",
    summary="Update a memory",
    description=(
        "Only the fields given change. A positive TTL sets the expiry that long from now; "
        "a TTL of 0 removes it. The content and the session cannot be changed."
    ),
    tag="memories",
    response=MemorySerializer,
    answer="The memory.",
    example={
        **_MEMORY,
        "type": "semantic",
        "memory_type": "semantic",
        "expires_at": "2027-02-23T08:31:40.514820Z",
    },
    body={"type": "semantic", "ttl_days": 90},
    not_found="memory",
    errors=(403,),
)
MEMORIES_DELETE = operation(
    operation_id="memories_delete",
    summary="Delete a memory",
    description="Deletes one memory, for good.",
    tag="memories",
    response=MemoryDeletedSerializer,
    answer="The memory is deleted.",
    example={
        "id": "30046bbe-69bd-4d43-acb0-47155e0e4657",
        "deleted": True,
        "memories_deleted": 1,
    },
    not_found="memory",
    errors=(403,),
)
SESSIONS_LIST = operation(
    operation_id="sessions_list",
    summary="List sessions",
    description="The sessions that hold at least one memory of the agent, most recently "
    "active first. Memories without a `session_id` are not listed.",
    tag="sessions",
    response=SessionListSerializer,
    answer="The agent's sessions.",
    example={
        "sessions": [
            {"session_id": "user-42", "count": 2, "last_at": "2026-11-25T08:28:19.610944Z"},
            {"session_id": "user-7", "count": 5, "last_at": "2026-11-24T17:02:11.094412Z"},
        ]
    },
)
MEMORIES_RETRY = operation(
    operation_id="memories_retry",
    summary="Retry a memory's embedding",
    description=(
        "Queues the embedding of a `failed` (or still `pending`) memory again, its count of "
        "automatic retries started again, and answers the memory: `ready` once embedded "
        "in-process, `pending` while a worker has it. A memory that is `ready` already is a "
        "409 (`already_embedded`)."
    ),
    tag="memories",
    response=MemorySerializer,
    answer="The memory, queued again.",
    example={
        **_MEMORY,
        "status": "pending",
        "embedding_model": None,
        "embedding_error": "Cannot reach the embedding endpoint http://10.0.0.5:8080/v1.",
    },
    errors=(403, 409),
    not_found="memory",
)
# Its 409 is its own, not the agents' `agent_exists`.
MEMORIES_RETRY["responses"][409] = OpenApiResponse(
    response=ErrorSerializer,
    description="The memory is embedded already (`already_embedded`); nothing was changed.",
    examples=[
        OpenApiExample(
            "already_embedded",
            value=_error(
                "already_embedded",
                "Memory '30046bbe-69bd-4d43-acb0-47155e0e4657' is embedded already (status "
                "ready); nothing to retry.",
            ),
            status_codes=[409],
        )
    ],
)


# -- privacy: exports and erasure -----------------------------------------------------

_EXPORTED_MEMORY = {
    **_MEMORY,
    "agent_id": "support-bot",
    "agent_uuid": "82815f42-bfd1-47c2-875d-10790e2849f4",
}
ACCOUNT_EXPORT = operation(
    operation_id="account_export",
    summary="Export the account",
    description=(
        "Everything the account holds, as one JSON document sent as a download: the "
        "account, its members, agents, API keys (names and prefixes, never the keys or "
        "their hashes), usage per day, and every memory with its metadata and timestamps. "
        "Streamed, so an account of any size exports; each export is written to the audit "
        "log. For a person's right of access and data portability (GDPR articles 15 and 20)."
    ),
    tag="privacy",
    response=AccountExportSerializer,
    answer="The account's export.",
    example={
        "format": "kronvex-export",
        "version": 1,
        "exported_at": "2026-11-25T09:00:00.000000Z",
        "account": {
            "uuid": "5b1d3c53-0f5e-4a55-9d1a-3f0c2a7e9b11",
            "name": "ada@example.com",
            "plan": "free",
            "created_at": "2026-11-20T10:00:00.000000Z",
        },
        "members": [
            {"email": "ada@example.com", "role": "owner", "joined_at": "2026-11-20T10:00:00Z"}
        ],
        "agents": [{key: value for key, value in _AGENT.items() if key != "memory_count"}],
        "api_keys": [
            {
                "uuid": "0d7f8d0e-36a4-4c1b-8f33-6a2f0d1f7c55",
                "name": "production",
                "prefix": "kv-3fa9c1",
                "created_at": "2026-11-20T10:01:00.000000Z",
                "last_used_at": "2026-11-25T08:30:02.000000Z",
                "revoked_at": None,
            }
        ],
        "usage": [
            {
                "day": "2026-11-25",
                "agent_uuid": "82815f42-bfd1-47c2-875d-10790e2849f4",
                "remember_calls": 12,
                "recall_calls": 30,
                "inject_context_calls": 4,
            }
        ],
        "memories": [_EXPORTED_MEMORY],
    },
    errors=(400, 403),
    agent=False,
    parameters=EXPORT_PARAMETERS,
)
SESSIONS_EXPORT = operation(
    operation_id="sessions_export",
    summary="Export a session",
    description=(
        "Every memory of one session (your end user) in all of the account's agents, as a "
        "JSON download: what to hand a person who asks for their data. A session no memory "
        "holds is a 404. Written to the audit log."
    ),
    tag="privacy",
    response=SessionExportSerializer,
    answer="The session's export.",
    example={
        "format": "kronvex-export",
        "version": 1,
        "exported_at": "2026-11-25T09:00:00.000000Z",
        "session_id": "user-42",
        "memories": [_EXPORTED_MEMORY],
    },
    errors=(400, 403, 404),
    agent=False,
    not_found="session",
    parameters=[SESSION_ID, *EXPORT_PARAMETERS],
)
SESSIONS_ERASE = operation(
    operation_id="sessions_erase",
    summary="Erase a session",
    description=(
        "Deletes every memory of one session (your end user) in all of the account's "
        "agents, for good: the rows and their vectors, and the stored answers of "
        "Idempotency-Key requests that quote them. For a person's right to erasure (GDPR "
        "article 17). A session no memory holds is a 404. Written to the audit log, with "
        "the ids erased and never their content."
    ),
    tag="privacy",
    response=SessionErasedSerializer,
    answer="How many memories were erased, and from how many agents.",
    example={
        "session_id": "user-42",
        "deleted": 3,
        "agents": 2,
        "by_agent": {"support-bot": 2, "sales-bot": 1},
    },
    errors=(403, 404),
    agent=False,
    not_found="session",
    parameters=[SESSION_ID],
)
