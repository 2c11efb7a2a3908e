"""API key authentication: `X-API-Key: kv-...` or `Authorization: Bearer kv-...`, and what
a key's scope lets it do.

A key is found by the SHA-256 of what was sent (an index lookup on the hash of a 256-bit
secret leaks nothing useful through timing) and its hash is then compared in constant
time. The raw key never goes into a log line, an error message or an exception, and the
variables that hold it show as stars in error reports.

Failed authentications are counted per client IP in the rate-limit store: past
AUTH_FAILURES_PER_MINUTE in one minute, further failures answer 429 instead of 401.

Scopes are checked here and only here, for the REST API (`KeyScope`, and `key_agent_check`
from `AccountApi.agent`) and the MCP endpoint alike:
- a read-only key may only read: any write answers 403 `read_only_key`;
- a key limited to agents sees only those: any other agent answers 404 exactly like a
  missing one, and what concerns the whole account (creating an agent, say) answers 403
  `agent_limited_key`.
"""

import hmac
import math
import time
from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api import ratelimit
from api.models import ApiKey
from api.services import KEY_PREFIX, api_key_touch, hash_key
from audit.services import client_ip
from billing.models import Account
from memories.exceptions import AgentNotFound
from memories.models import Agent

MAX_KEY_LENGTH = 200
# Failed authentications one client IP may make per minute before it is answered 429.
AUTH_FAILURES_PER_MINUTE = 20
# Methods that only read; views add others that read too (recall's POST).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Error reports (Django's, and those that reuse its filter) show every local variable of
# each frame: those holding the key are marked so that they show as stars.
@sensitive_variables()
def raw_key_from(request: Request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def auth_failure_counter_key(*, ip: str, now: float) -> str:
    return f"kronvex:rl:authfail:{ip}:m{int(now) // ratelimit.MINUTE}"


def auth_failure_hit(*, ip: str | None, now: float) -> ratelimit.RateLimited | None:
    """Count one failed authentication from `ip`; the 429 to answer instead once the
    minute's failures are used up."""
    if ip is None:
        return None
    resets_at = (int(now) // ratelimit.MINUTE + 1) * ratelimit.MINUTE
    window = ratelimit.Window(
        key=auth_failure_counter_key(ip=ip, now=now),
        limit=AUTH_FAILURES_PER_MINUTE,
        resets_at=resets_at,
    )
    try:
        hits = ratelimit.counter_store().hit(requests=window, recalls=None, now=now)
    except ratelimit.StoreUnavailable:
        return None
    if hits.requests <= AUTH_FAILURES_PER_MINUTE:
        return None
    retry_after = max(1, math.ceil(resets_at - now))
    return ratelimit.RateLimited(
        code="rate_limited",
        detail=f"Too many failed authentications from this address: at most "
        f"{AUTH_FAILURES_PER_MINUTE} per minute. Retry in {retry_after} s.",
        limit=AUTH_FAILURES_PER_MINUTE,
        retry_after=retry_after,
    )


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as (account, api_key); request.auth is the ApiKey."""

    @sensitive_variables("raw_key")
    def authenticate(self, request: Request) -> tuple[Account, ApiKey] | None:
        raw_key = raw_key_from(request)
        if raw_key is None:
            return None
        try:
            api_key = self.api_key_for(raw_key)
        except AuthenticationFailed:
            limited = auth_failure_hit(ip=client_ip(request._request), now=time.time())
            if limited is not None:
                raise limited from None
            raise
        api_key_touch(api_key=api_key)
        return api_key.account, api_key

    @sensitive_variables("raw_key")
    def api_key_for(self, raw_key: str) -> ApiKey:
        # Messages name the problem, never the key: they reach clients and logs.
        if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > MAX_KEY_LENGTH:
            raise AuthenticationFailed(
                "Malformed API key: Kronvex keys start with 'kv-'.", code="invalid_api_key"
            )
        key_hash = hash_key(raw_key)
        api_key = ApiKey.objects.select_related("account").filter(key_hash=key_hash).first()
        if api_key is None or not hmac.compare_digest(api_key.key_hash, key_hash):
            raise AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if api_key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if api_key.is_expired():
            # Past a rotation's grace period the old key is as good as revoked.
            raise AuthenticationFailed(
                "This API key was rotated and its grace period has ended.",
                code="revoked_api_key",
            )
        return api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kronvex"'


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


# -- scopes -------------------------------------------------------------------------------


class KeyNotAllowed(APIException):
    """The key's scope does not cover this request: 403, before the view does anything."""

    status_code = status.HTTP_403_FORBIDDEN


class ReadOnlyKey(KeyNotAllowed):
    default_detail = "This API key is read-only: it may list, get, recall and inject context."
    default_code = "read_only_key"


class AgentLimitedKey(KeyNotAllowed):
    default_detail = (
        "This API key is limited to some agents: it cannot do what concerns the whole "
        "account, such as creating an agent."
    )
    default_code = "agent_limited_key"


def key_write_check(api_key: ApiKey | None) -> None:
    """ReadOnlyKey if `api_key` may not write; None (the dashboard's session) may."""
    if api_key is not None and api_key.read_only:
        raise ReadOnlyKey()


def key_account_check(api_key: ApiKey | None) -> None:
    """AgentLimitedKey if `api_key` may not act on the account as a whole."""
    if api_key is not None and api_key.limit_agents:
        raise AgentLimitedKey()


def key_agent_ids(api_key: ApiKey | None) -> set[int] | None:
    """The primary keys of the agents `api_key` reaches; None: all of the account's."""
    if api_key is None or not api_key.limit_agents:
        return None
    cached: set[int] | None = getattr(api_key, "_agent_ids", None)
    if cached is None:
        cached = set(api_key.agents.values_list("pk", flat=True))
        api_key._agent_ids = cached  # type: ignore[attr-defined]
    return cached


def key_agent_check(api_key: ApiKey | None, agent: Agent, agent_id: str) -> Agent:
    """`agent`, if `api_key` reaches it; else AgentNotFound, exactly as for a missing one."""
    allowed = key_agent_ids(api_key)
    if allowed is not None and agent.pk not in allowed:
        raise AgentNotFound(f"No agent {agent_id!r} in this account.")
    return agent


class KeyScope(BasePermission):
    """What the request's key may do, from the view's declaration of what it does.

    A view reads with the methods in its `read_methods`; everything else writes. A view
    without an agent in its URL acts on the whole account unless the method is in its
    `agent_scoped_methods` (it then answers only with the agents the key reaches).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None:
            return True
        if request.method not in getattr(view, "read_methods", READ_METHODS):
            key_write_check(api_key)
        if "agent_id" not in view.kwargs and request.method not in getattr(
            view, "agent_scoped_methods", frozenset()
        ):
            key_account_check(api_key)
        return True
