"""The public REST API under /api/v1: views translate HTTP to service calls and back."""

from __future__ import annotations

import time
from typing import Any

from django.core.handlers.exception import response_for_exception
from django.http import HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import export, idempotency, ratelimit, schema
from api.authentication import READ_METHODS, KeyScope, key_agent_check, key_agent_ids
from api.errors import refusal_body, validation_error_body
from api.fields import (
    MemoryTypeField,
    MetadataField,
    PastDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    content_field,
    query_field,
    session_field,
)
from api.models import ApiKey
from api.payloads import agent_json, batch_json, memory_json, recalled_json, weights_json
from api.schema import RECALL_MODE_HEADER, AccountApiSchema
from audit.services import actor_api_key, actor_user, client_ip
from billing.models import Account
from billing.usage import usage_record
from memories import selectors, services
from memories.models import Agent, EmbeddingStatus

MAX_TOP_K = 50
MAX_BATCH = 1000
MAX_TTL_DAYS = 36_500
MAX_TTL_SECONDS = MAX_TTL_DAYS * 86_400
# PostgreSQL's OFFSET is a bigint: a larger one is a database error, not an empty page.
MAX_OFFSET = 2**63 - 1


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validated input with null values dropped: omitted and null both mean "not given"."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    given = {key: value for key, value in serializer.validated_data.items() if value is not None}
    if given.get("type", given.get("memory_type")) != given.get("memory_type", given.get("type")):
        raise serializers.ValidationError(
            {"memory_type": ["A synonym of type: give one, or both with the same value."]}
        )
    if "ttl_days" in given and "ttl_seconds" in given:
        raise serializers.ValidationError(
            {"ttl_seconds": ["Give ttl_days or ttl_seconds, not both."]}
        )
    return given


def explained(payload: dict[str, Any], *, explain: bool) -> dict[str, Any]:
    """With `explain`, the weights that combined each result's score parts."""
    if explain:
        payload["weights"] = weights_json(services.ranking_weights())
    return payload


def recall_mode_header(*, words_only: bool) -> dict[str, str]:
    """How recall searched: `hybrid` (words and meaning), or `words` alone while the
    embedding provider cannot embed the query."""
    return {RECALL_MODE_HEADER: "words" if words_only else "hybrid"}


def type_from(data: dict[str, Any]) -> str | None:
    """`memory_type` is accepted everywhere as a synonym of `type`."""
    return data.pop("type", None) or data.pop("memory_type", None)


class AccountApi(APIView):
    # Every POST documented with its Idempotency-Key.
    schema = AccountApiSchema()
    # This request's place in its API key's rate-limit window; None until authenticated.
    rate_limit: ratelimit.RateLimit | None = None
    # The Idempotency-Key this request claimed and is to answer; None without one.
    idempotency_key_id: int | None = None
    # What a key's scope must allow (api/authentication.py): the methods that only read,
    # and, in views without an agent in their URL, those that answer only about the agents
    # the key reaches. Any other method writes, or concerns the whole account.
    read_methods: frozenset[str] = READ_METHODS
    agent_scoped_methods: frozenset[str] = frozenset()

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # No answer was kept (an exception no handler turned into one): free the key.
            if self.idempotency_key_id is not None:
                idempotency.idempotency_key_release(key_id=self.idempotency_key_id)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Counted before the view does anything, so a rejected request changes nothing.
        self.rate_limit = ratelimit.rate_limit_hit(
            account=self.account,
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            # recall and inject-context count towards the plan's recalls per day.
            recall=isinstance(self, RecallApi | InjectContextApi) and request.method == "POST",
            now=time.time(),
        )
        if self.rate_limit.exceeded is not None:
            raise self.rate_limit.exceeded
        # After the rate limit: rejected and unauthenticated requests claim no key.
        if request.method == "POST":
            self.idempotency_key_id = idempotency.request_claim(
                request=request, account=self.account, now=timezone.now()
            )

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, idempotency.Replayed):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception as uncaught:
            if self.rate_limit is None or not self.rate_limit.headers():
                raise
            # Django's own 500 (signalled, logged, handler500), made here rather than after
            # dispatch so that finalize_response gives it the rate-limit headers too.
            return response_for_exception(self.request._request, uncaught)

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.idempotency_key_id is not None:
            idempotency.idempotency_key_answer(key_id=self.idempotency_key_id, response=response)
            self.idempotency_key_id = None
        if self.rate_limit is not None:
            for name, value in self.rate_limit.headers().items():
                response[name] = value
        return response

    def get_permissions(self) -> list[Any]:
        # Whatever else a view (or the dashboard's playground) asks, the key's scope holds.
        return [*super().get_permissions(), KeyScope()]

    @property
    def account(self) -> Account:
        return self.request.auth.account  # type: ignore[union-attr]

    @property
    def api_key(self) -> ApiKey | None:
        """The request's key; None when the dashboard's signed-in session stands in for one."""
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    def agent(self, agent_id: str) -> Agent:
        """The account's agent, if the key reaches it: else 404 like a missing one."""
        agent = selectors.agent_get(account=self.account, agent_id=agent_id)
        return key_agent_check(self.api_key, agent, agent_id)

    def audited(self) -> dict[str, Any]:
        """Who makes this request, and from where, as the audit log records them."""
        key = self.api_key
        actor = actor_api_key(key) if key is not None else actor_user(self.request.user)
        return {"actor": actor, "ip": client_ip(self.request)}  # type: ignore[arg-type]


def retention_field() -> StrictIntegerField:
    return StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_TTL_DAYS)


class AgentListApi(AccountApi):
    # A key limited to agents lists those; creating one concerns the account.
    agent_scoped_methods = frozenset({"GET", "HEAD", "OPTIONS"})

    @extend_schema_serializer(component_name="AgentCreateRequest")
    class InputSerializer(serializers.Serializer):
        id = StrictCharField(required=False, allow_null=True, max_length=100)
        name = StrictCharField(max_length=200)
        description = StrictCharField(
            required=False, allow_null=True, allow_blank=True, max_length=5000
        )
        metadata = MetadataField(required=False, allow_null=True)
        retention_days = retention_field()

    @extend_schema(**schema.AGENTS_LIST)
    def get(self, request: Request) -> Response:
        agents = selectors.agent_list(account=self.account)
        reached = key_agent_ids(self.api_key)
        if reached is not None:
            agents = [(agent, count) for agent, count in agents if agent.pk in reached]
        return Response(
            {"agents": [agent_json(agent, memory_count=count) for agent, count in agents]}
        )

    @extend_schema(request=InputSerializer, **schema.AGENTS_CREATE)
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        agent = services.agent_create(
            account=self.account,
            slug=data.get("id"),
            name=data["name"],
            description=data.get("description", ""),
            metadata=data.get("metadata"),
            retention_days=data.get("retention_days"),
            **self.audited(),
        )
        return Response(agent_json(agent, memory_count=0), status=201)


class AgentDetailApi(AccountApi):
    @extend_schema_serializer(component_name="AgentUpdateRequest")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(required=False, allow_null=True, max_length=200)
        description = StrictCharField(
            required=False, allow_null=True, allow_blank=True, max_length=5000
        )
        metadata = MetadataField(required=False, allow_null=True)
        retention_days = retention_field()

    def agent_response(self, agent: Agent) -> Response:
        return Response(agent_json(agent, memory_count=selectors.agent_memory_count(agent=agent)))

    @extend_schema(**schema.AGENTS_RETRIEVE)
    def get(self, request: Request, agent_id: str) -> Response:
        return self.agent_response(self.agent(agent_id))

    @extend_schema(request=InputSerializer, **schema.AGENTS_UPDATE)
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.InputSerializer, request.data)
        # The same shape as GET, memory_count included.
        return self.agent_response(services.agent_update(agent=agent, **data, **self.audited()))

    @extend_schema(**schema.AGENTS_DELETE)
    def delete(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        slug = agent.slug
        deleted = services.agent_delete(agent=agent, **self.audited())
        return Response({"id": slug, "deleted": True, "memories_deleted": deleted})


class RememberApi(AccountApi):
    @extend_schema_serializer(component_name="RememberRequest")
    class InputSerializer(serializers.Serializer):
        content = content_field()
        type = MemoryTypeField(required=False, allow_null=True)
        memory_type = MemoryTypeField(required=False, allow_null=True)
        session_id = session_field()
        metadata = MetadataField(required=False, allow_null=True)
        pinned = StrictBooleanField(required=False, allow_null=True)
        ttl_days = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=MAX_TTL_DAYS
        )
        ttl_seconds = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=MAX_TTL_SECONDS
        )
        created_at = PastDateTimeField(required=False, allow_null=True)
        supersedes = serializers.ListField(
            child=serializers.UUIDField(), required=False, allow_null=True, max_length=100
        )

        def validate_content(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError("Must not be empty.")
            return value

    @extend_schema(request=InputSerializer, **schema.MEMORIES_REMEMBER)
    def post(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.InputSerializer, request.data)
        memory = services.remember(agent=agent, **remember_arguments(data))
        usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="remember")
        return Response({**memory_json(memory, agent=agent), "deduplicated": memory.deduplicated})


def remember_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """Validated remember input as the remember services take it."""
    return {
        "content": data["content"],
        "memory_type": type_from(data) or "episodic",
        "session_id": data.get("session_id"),
        "metadata": data.get("metadata"),
        "pinned": data.get("pinned", False),
        "ttl_days": data.get("ttl_days"),
        "ttl_seconds": data.get("ttl_seconds"),
        "created_at": data.get("created_at"),
        "supersedes": data.get("supersedes") or (),
    }


class RememberBatchApi(AccountApi):
    class InputSerializer(serializers.Serializer):
        memories = serializers.ListField(
            child=serializers.JSONField(), allow_empty=False, max_length=MAX_BATCH
        )

    @extend_schema(
        request=schema.remember_batch_request(RememberApi.InputSerializer, MAX_BATCH),
        **schema.MEMORIES_REMEMBER_BATCH,
    )
    def post(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        items = validated(self.InputSerializer, request.data)["memories"]
        valid: dict[int, dict[str, Any]] = {}
        invalid: dict[int, dict[str, Any]] = {}
        for index, item in enumerate(items):
            try:
                valid[index] = remember_arguments(validated(RememberApi.InputSerializer, item))
            except serializers.ValidationError as exc:
                invalid[index] = validation_error_body(exc)
        batch, outcomes = services.remember_batch(agent=agent, memories=valid, total=len(items))
        results = []
        for index in range(len(items)):
            outcome = outcomes.get(index)
            if outcome is None or outcome.memory is None:
                error = (
                    refusal_body(outcome.error, request)
                    if outcome is not None and outcome.error is not None
                    else invalid[index]
                )
                results.append({"index": index, "status": "rejected", "error": error})
                continue
            results.append(
                {
                    "index": index,
                    "status": outcome.status,
                    "id": str(outcome.memory.uuid),
                    "embedding_status": outcome.memory.status,
                }
            )
            if outcome.status == "created":
                usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="remember")
        return Response({**batch_json(batch, agent=agent), "items": results})


class RememberBatchDetailApi(AccountApi):
    @extend_schema(**schema.MEMORIES_REMEMBER_BATCH_RETRIEVE)
    def get(self, request: Request, agent_id: str, batch_id: str) -> Response:
        agent = self.agent(agent_id)
        batch = selectors.memory_batch_get(agent=agent, batch_id=batch_id)
        progress = selectors.memory_batch_progress(batch=batch)
        return Response(
            {
                **batch_json(batch, agent=agent),
                "embedding": progress,
                "done": progress[EmbeddingStatus.PENDING] == 0,
            }
        )


@extend_schema_serializer(component_name="RecallRequest")
class QuerySerializer(serializers.Serializer):
    """Input shared by recall and inject-context."""

    query = query_field()
    top_k = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_TOP_K)
    session_id = session_field()
    type = MemoryTypeField(required=False, allow_null=True)
    memory_type = MemoryTypeField(required=False, allow_null=True)
    threshold = StrictFloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    explain = StrictBooleanField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        query = attrs.get("query") or attrs.get("message")
        if query is None or not query.strip():
            raise serializers.ValidationError(
                {"query": ["This field is required and must not be empty."]}
            )
        attrs["query"] = query
        return attrs


class RecallApi(AccountApi):
    InputSerializer = QuerySerializer
    # Counting the memories' access is no write a read-only key is kept from.
    read_methods = READ_METHODS | {"POST"}

    @extend_schema(request=InputSerializer, **schema.MEMORIES_RECALL)
    def post(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.InputSerializer, request.data)
        explain = data.get("explain", False)
        found = services.recall_ranked(
            agent=agent,
            query=data["query"],
            top_k=data.get("top_k", 5),
            session_id=data.get("session_id"),
            memory_type=type_from(data),
            threshold=data.get("threshold"),
        )
        usage_record(account_id=agent.account_id, agent_uuid=agent.uuid, kind="recall")
        memories = [recalled_json(item, agent=agent, explain=explain) for item in found.memories]
        return Response(
            explained({"memories": memories}, explain=explain),
            headers=recall_mode_header(words_only=found.words_only),
        )


class InjectContextApi(AccountApi):
    read_methods = READ_METHODS | {"POST"}

    @extend_schema_serializer(component_name="InjectContextRequest")
    class InputSerializer(QuerySerializer):
        message = query_field()
        max_tokens = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=1_000_000
        )

    @extend_schema(request=InputSerializer, **schema.MEMORIES_INJECT_CONTEXT)
    def post(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.InputSerializer, request.data)
        explain = data.get("explain", False)
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
        return Response(
            explained(
                {
                    "context": injected.context,
                    "memories_used": len(injected.used),
                    "memories": [
                        recalled_json(item, agent=agent, explain=explain) for item in injected.used
                    ],
                },
                explain=explain,
            ),
            headers=recall_mode_header(words_only=injected.words_only),
        )


class MemoryListApi(AccountApi):
    class FilterSerializer(serializers.Serializer):
        limit = StrictIntegerField(required=False, min_value=1, max_value=200, default=50)
        offset = StrictIntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)
        session_id = StrictCharField(required=False, max_length=255)
        type = MemoryTypeField(required=False)
        memory_type = MemoryTypeField(required=False)
        q = StrictCharField(required=False, max_length=1000)
        sort = serializers.ChoiceField(
            choices=list(selectors.MEMORY_SORTS), required=False, default="recent"
        )

    class DeleteSerializer(serializers.Serializer):
        session_id = StrictCharField(required=False, max_length=255)

    @extend_schema(**schema.MEMORIES_LIST)
    def get(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.FilterSerializer, request.query_params.dict())
        memories, total = selectors.memory_list(
            agent=agent,
            session_id=data.get("session_id"),
            memory_type=type_from(data),
            text=data.get("q") or None,
            sort=data["sort"],
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response(
            {
                "memories": [memory_json(memory, agent=agent) for memory in memories],
                "total": total,
                "limit": data["limit"],
                "offset": data["offset"],
            }
        )

    @extend_schema(**schema.MEMORIES_DELETE_ALL)
    def delete(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        data = validated(self.DeleteSerializer, request.query_params.dict())
        deleted = services.memories_delete(
            agent=agent, session_id=data.get("session_id"), **self.audited()
        )
        return Response({"deleted": deleted})


class MemoryDetailApi(AccountApi):
    @extend_schema_serializer(component_name="MemoryUpdateRequest")
    class InputSerializer(serializers.Serializer):
        pinned = StrictBooleanField(required=False, allow_null=True)
        type = MemoryTypeField(required=False, allow_null=True)
        memory_type = MemoryTypeField(required=False, allow_null=True)
        metadata = MetadataField(required=False, allow_null=True)
        ttl_days = StrictIntegerField(
            required=False, allow_null=True, min_value=0, max_value=MAX_TTL_DAYS
        )
        ttl_seconds = StrictIntegerField(
            required=False, allow_null=True, min_value=0, max_value=MAX_TTL_SECONDS
        )

    @extend_schema(**schema.MEMORIES_RETRIEVE)
    def get(self, request: Request, agent_id: str, memory_id: str) -> Response:
        agent = self.agent(agent_id)
        memory = selectors.memory_get(agent=agent, memory_id=memory_id)
        return Response(memory_json(memory, agent=agent))

    @extend_schema(request=InputSerializer, **schema.MEMORIES_UPDATE)
    def patch(self, request: Request, agent_id: str, memory_id: str) -> Response:
        agent = self.agent(agent_id)
        memory = selectors.memory_get(agent=agent, memory_id=memory_id)
        data = validated(self.InputSerializer, request.data)
        # A TTL of 0 removes the expiry; a positive one restarts it from now.
        clear_ttl = data.get("ttl_days") == 0 or data.get("ttl_seconds") == 0
        memory = services.memory_update(
            memory=memory,
            pinned=data.get("pinned"),
            memory_type=type_from(data),
            metadata=data.get("metadata"),
            ttl_days=data.get("ttl_days") or None,
            ttl_seconds=data.get("ttl_seconds") or None,
            clear_ttl=clear_ttl,
        )
        return Response(memory_json(memory, agent=agent))

    @extend_schema(**schema.MEMORIES_DELETE)
    def delete(self, request: Request, agent_id: str, memory_id: str) -> Response:
        agent = self.agent(agent_id)
        memory = selectors.memory_get(agent=agent, memory_id=memory_id)
        memory_uuid = str(memory.uuid)
        deleted = services.forget(memory=memory, **self.audited())
        return Response({"id": memory_uuid, "deleted": True, "memories_deleted": deleted})


class SessionListApi(AccountApi):
    @extend_schema(**schema.SESSIONS_LIST)
    def get(self, request: Request, agent_id: str) -> Response:
        agent = self.agent(agent_id)
        sessions = selectors.session_list(agent=agent)
        return Response(
            {
                "sessions": [
                    {
                        "session_id": row["session_id"],
                        "count": row["count"],
                        "last_at": row["last_at"].isoformat().replace("+00:00", "Z"),
                    }
                    for row in sessions
                ]
            }
        )


class MemoryRetryApi(AccountApi):
    @extend_schema(request=None, **schema.MEMORIES_RETRY)
    def post(self, request: Request, agent_id: str, memory_id: str) -> Response:
        agent = self.agent(agent_id)
        memory = selectors.memory_get(agent=agent, memory_id=memory_id)
        memory = services.memory_embedding_retry(memory=memory)
        return Response(memory_json(memory, agent=agent))


class ExportFilterSerializer(serializers.Serializer):
    vectors = serializers.BooleanField(required=False, default=False)


def export_response(body: Any, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ExportApi(AccountApi):
    @extend_schema(**schema.ACCOUNT_EXPORT)
    def get(self, request: Request) -> HttpResponseBase:
        data = validated(ExportFilterSerializer, request.query_params.dict())
        body = export.account_export(
            account=self.account, vectors=data["vectors"], **self.audited()
        )
        return export_response(body, filename=export.export_filename("account"))


class SessionDetailApi(AccountApi):
    @extend_schema(**schema.SESSIONS_ERASE)
    def delete(self, request: Request, session_id: str) -> Response:
        erased = services.session_erase(
            account=self.account, session_id=session_id, **self.audited()
        )
        return Response(
            {
                "session_id": session_id,
                "deleted": erased.deleted,
                "agents": len(erased.agents),
                "by_agent": erased.agents,
            }
        )


class SessionExportApi(AccountApi):
    @extend_schema(**schema.SESSIONS_EXPORT)
    def get(self, request: Request, session_id: str) -> HttpResponseBase:
        data = validated(ExportFilterSerializer, request.query_params.dict())
        body = export.session_export(
            account=self.account, session_id=session_id, vectors=data["vectors"], **self.audited()
        )
        return export_response(body, filename=export.export_filename("session"))
