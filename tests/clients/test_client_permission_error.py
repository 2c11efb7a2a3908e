"""A 403 (a key's scope refusing the request) is a PermissionDeniedError."""

from __future__ import annotations

import httpx
from kronvex_client import KronvexError, PermissionDeniedError
from kronvex_client.errors import error_from_response

READ_ONLY = {
    "detail": "This API key is read-only: it may list, get, recall and inject context.",
    "code": "read_only_key",
}


def test_a_403_is_a_permission_denied_error_with_the_apis_code() -> None:
    response = httpx.Response(
        403, json=READ_ONLY, request=httpx.Request("POST", "http://kronvex.test/api/v1/agents")
    )

    error = error_from_response(response)

    assert isinstance(error, PermissionDeniedError)
    assert isinstance(error, KronvexError)
    assert (error.status_code, error.code, error.detail) == (
        403,
        "read_only_key",
        READ_ONLY["detail"],
    )
