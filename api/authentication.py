"""API key authentication: `X-API-Key: kv-...` or `Authorization: Bearer kv-...`."""

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api.models import ApiKey
from api.services import KEY_PREFIX, api_key_touch, hash_key
from billing.models import Account


def raw_key_from(request: Request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as (account, api_key); request.auth is the ApiKey."""

    def authenticate(self, request: Request) -> tuple[Account, ApiKey] | None:
        raw_key = raw_key_from(request)
        if raw_key is None:
            return None
        if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
            raise AuthenticationFailed(
                "Malformed API key: Kronvex keys start with 'kv-'.", code="invalid_api_key"
            )
        api_key = (
            ApiKey.objects.select_related("account").filter(key_hash=hash_key(raw_key)).first()
        )
        if api_key is None:
            raise AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if api_key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        api_key_touch(api_key=api_key)
        return api_key.account, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kronvex"'


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)
