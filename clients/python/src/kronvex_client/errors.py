"""Exceptions raised by the client: one per kind of answer, all carrying the API's error shape.

Every error of the Kronvex API has one shape, `{"detail": "...", "code": "..."}`, plus
`errors` (each field's messages) on 400 answers. An exception keeps all of it: branch on
`code`, show `detail`, and read anything else the server sent from `body`.
"""

from __future__ import annotations

from typing import Any

import httpx


class KronvexError(Exception):
    """Any error answered by the API or met on the way to it."""

    def __init__(
        self,
        detail: str,
        *,
        code: str = "error",
        status_code: int | None = None,
        errors: dict[str, list[str]] | None = None,
        body: dict[str, Any] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status_code = status_code
        self.errors: dict[str, list[str]] = errors or {}
        self.body: dict[str, Any] = body or {}
        self.response = response

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r})"


class AuthenticationError(KronvexError):
    """401: no API key, or a malformed, unknown or revoked one."""


class PermissionDeniedError(KronvexError):
    """403: the API key's scope does not allow this: a read-only key writing
    (`read_only_key`), or a key limited to agents acting on the whole account
    (`agent_limited_key`)."""


class QuotaExceededError(KronvexError):
    """402: the plan's agent or memory limit is reached; `body` has limit, used and plan."""


class NotFoundError(KronvexError):
    """404: no such agent, memory, batch or endpoint in this account."""


class ConflictError(KronvexError):
    """409: an agent with that id already exists (`agent_exists`), or the first request with
    the same Idempotency-Key is still running (`idempotency_key_in_use`, with `retry_after`)."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ValidationError(KronvexError):
    """400, 413 or 415: the request was refused as it is; `errors` names each field."""


class RateLimitError(KronvexError):
    """429: a rate limit is reached; `retry_after` says in how many seconds to try again."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(KronvexError):
    """503: the database or the embedding provider is down for a moment; nothing changed."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class APIConnectionError(KronvexError):
    """The service could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


_BY_STATUS: dict[int, type[KronvexError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds, when it is given as a number."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


def error_from_response(response: httpx.Response) -> KronvexError:
    """The exception for an error answer, from its JSON body when it has the API's shape."""
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
    detail = body.get("detail")
    if not isinstance(detail, str):
        text = response.text.strip()
        detail = text[:500] if text else f"HTTP {response.status_code}"
    code = body.get("code")
    if not isinstance(code, str):
        code = "server_error" if response.status_code >= 500 else "http_error"
    errors = body.get("errors")
    kwargs: dict[str, Any] = {
        "code": code,
        "status_code": response.status_code,
        "errors": errors if isinstance(errors, dict) else None,
        "body": body,
        "response": response,
    }
    cls = _BY_STATUS.get(response.status_code, KronvexError)
    if cls in (RateLimitError, ServiceUnavailableError, ConflictError):
        retry_after = retry_after_seconds(response)
        if retry_after is None and isinstance(body.get("retry_after"), int | float):
            retry_after = float(body["retry_after"])
        return cls(detail, retry_after=retry_after, **kwargs)
    return cls(detail, **kwargs)
