"""The one error shape of the API: {"detail": "...", "code": "..."} plus fields where useful.

400 bodies add "errors": {field: [messages]}. Every exception a view can raise
goes through `exception_handler`; unknown URLs and crashes under /api/ go through
`api_not_found` and `api_server_error`, so a client never sees an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from api.idempotency import IdempotencyKeyInUse
from api.ratelimit import RateLimited
from billing.quotas import QuotaExceeded
from memories.embedding import EmbeddingError
from memories.exceptions import (
    AgentAlreadyExists,
    AgentNotFound,
    BatchNotFound,
    InvalidInput,
    MemoryAlreadyEmbedded,
    MemoryNotFound,
    MemoryServiceError,
    SessionNotFound,
)

logger = logging.getLogger(__name__)

_DOMAIN_STATUS: dict[type[MemoryServiceError], int] = {
    AgentNotFound: status.HTTP_404_NOT_FOUND,
    MemoryNotFound: status.HTTP_404_NOT_FOUND,
    BatchNotFound: status.HTTP_404_NOT_FOUND,
    SessionNotFound: status.HTTP_404_NOT_FOUND,
    AgentAlreadyExists: status.HTTP_409_CONFLICT,
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    MemoryAlreadyEmbedded: status.HTTP_409_CONFLICT,
}


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **extra}


def _field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"field" or "field.sub": [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "request" if key == "non_field_errors" else str(key)
            flat.update(_field_errors(value, f"{prefix}.{name}" if prefix else name))
        return flat
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {prefix or "request": [str(message) for message in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_field_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "request": [str(detail)]}


def validation_error_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    """The 400 body of invalid input, also used for the rejected items of a batch."""
    errors = _field_errors(exc.detail)
    summary = " ".join(
        f"{field}: {' '.join(messages)}" if field != "request" else " ".join(messages)
        for field, messages in errors.items()
    )
    return error_body("invalid_request", f"Invalid request. {summary}", errors=errors)


def quota_error_body(exc: QuotaExceeded, request: Any = None) -> dict[str, Any]:
    return error_body(
        exc.code,
        str(exc),
        limit=exc.limit,
        used=exc.used,
        plan=exc.plan.slug,
        upgrade_url=request.build_absolute_uri(UPGRADE_PATH) if request else UPGRADE_PATH,
    )


def refusal_body(exc: QuotaExceeded | MemoryServiceError, request: Any = None) -> dict[str, Any]:
    """The body a refused write would have had as a response of its own."""
    if isinstance(exc, QuotaExceeded):
        return quota_error_body(exc, request)
    extra = {"errors": {exc.field: [exc.message]}} if exc.field else {}
    return error_body(exc.code, exc.message, **extra)


def _validation_response(exc: exceptions.ValidationError) -> Response:
    return Response(validation_error_body(exc), status=status.HTTP_400_BAD_REQUEST)


# Where an account over its plan's limits can change plan.
UPGRADE_PATH = "/dashboard/billing/"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RateLimited):
        return Response(
            error_body(exc.code, str(exc.detail), limit=exc.limit, retry_after=exc.retry_after),
            status=exc.status_code,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, IdempotencyKeyInUse):
        return Response(
            error_body("idempotency_key_in_use", str(exc.detail)),
            status=exc.status_code,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, QuotaExceeded):
        return Response(
            quota_error_body(exc, context.get("request")), status=status.HTTP_402_PAYMENT_REQUIRED
        )
    if isinstance(exc, MemoryServiceError):
        extra = (
            {"errors": {exc.field: [exc.message]}}
            if exc.field and isinstance(exc, InvalidInput | AgentAlreadyExists)
            else {}
        )
        return Response(
            error_body(exc.code, exc.message, **extra), status=_DOMAIN_STATUS[type(exc)]
        )
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, exceptions.ParseError):
        detail = f"The request body is not valid JSON: {exc.detail}"
        # "errors" like every other 400, so clients can read one shape.
        return Response(
            error_body("malformed_json", detail, errors={"request": [detail]}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.NotAuthenticated):
        response = Response(
            error_body(
                "missing_api_key",
                "An API key is required: send it in the X-API-Key header "
                "or as 'Authorization: Bearer kv-...'.",
            ),
            status=status.HTTP_401_UNAUTHORIZED,
        )
        response["WWW-Authenticate"] = 'Bearer realm="kronvex"'
        return response
    if isinstance(exc, exceptions.AuthenticationFailed):
        codes = exc.get_codes()
        response = Response(
            error_body(codes if isinstance(codes, str) else "invalid_api_key", str(exc.detail)),
            status=status.HTTP_401_UNAUTHORIZED,
        )
        response["WWW-Authenticate"] = 'Bearer realm="kronvex"'
        return response
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "The request body is larger than this server accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, EmbeddingError):
        logger.warning("embedding provider failed: %s", exc)
        return Response(
            error_body(
                "embedding_unavailable",
                "The embedding provider is unavailable; try again shortly.",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return Response(
            error_body("database_unavailable", "The database is unavailable; try again shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(
            error_body(codes if isinstance(codes, str) else exc.default_code, str(detail)),
            status=exc.status_code,
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(
            error_body(
                "database_error", "The request could not be completed; nothing was changed."
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return None


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("not_found", f"No API endpoint at {request.path}."), status=404
        )
    return defaults.page_not_found(request, exception or Http404())


def api_server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; nothing was changed."),
            status=500,
        )
    return defaults.server_error(request)
