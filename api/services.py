"""API keys: created shown once, stored as a SHA-256 hash and a short visible prefix."""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from api.models import ApiKey
from audit.models import AuditEvent
from audit.services import SYSTEM, audit_record
from billing.models import Account
from memories.models import Agent

KEY_PREFIX = "kv-"
VISIBLE_PREFIX_LENGTH = 11  # "kv-" and 8 characters of the secret
# last_used_at is written at most this often per key, so authentication stays a read.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# How long a rotated key keeps working unless the caller chooses otherwise.
DEFAULT_ROTATION_GRACE = timedelta(hours=24)


class AgentNotInAccount(ValueError):
    """A key was to be limited to an agent of another account."""


class ApiKeyNotActive(ValueError):
    """A revoked or expired key was to be rotated: it has no successor to give."""


@sensitive_variables("raw_key")
def hash_key(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash cannot be brute-forced.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_scope(api_key: ApiKey) -> dict[str, object]:
    """What the audit log says of a key: its name and scope, never its secret."""
    agents = sorted(agent.slug for agent in api_key.agents.all()) if api_key.limit_agents else None
    return {"name": api_key.name, "read_only": api_key.read_only, "agents": agents}


@sensitive_variables("raw_key")
def api_key_create(
    *,
    account: Account,
    name: str = "default",
    read_only: bool = False,
    agents: Iterable[Agent] | None = None,
    actor: str = SYSTEM,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key (limited to `agents` when given); the raw key is returned once and never
    stored."""
    chosen = list(agents) if agents is not None else None
    if chosen is not None and any(agent.account_id != account.pk for agent in chosen):
        raise AgentNotInAccount("A key can only be limited to agents of its own account.")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            account=account,
            name=name,
            prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
            key_hash=hash_key(raw_key),
            read_only=read_only,
            limit_agents=chosen is not None,
        )
        if chosen:
            api_key.agents.set(chosen)
        audit_record(
            account=account,
            kind=AuditEvent.Kind.API_KEY_CREATED,
            actor=actor,
            target=api_key.prefix,
            data=api_key_scope(api_key),
            ip=ip,
        )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, actor: str = SYSTEM, ip: str | None = None) -> ApiKey:
    """Refuse the key from now on; revoking a revoked key changes nothing."""
    if api_key.revoked_at is None:
        with transaction.atomic():
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            audit_record(
                account=api_key.account,
                kind=AuditEvent.Kind.API_KEY_REVOKED,
                actor=actor,
                target=api_key.prefix,
                data=api_key_scope(api_key),
                ip=ip,
            )
    return api_key


def api_key_rotate(
    *,
    api_key: ApiKey,
    grace: timedelta = DEFAULT_ROTATION_GRACE,
    actor: str = SYSTEM,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key with the old one's name and scope; the old one keeps working for `grace`
    (none: refused at once). The new raw key is returned once."""
    if grace < timedelta(0):
        raise ValueError("The grace period cannot be negative.")
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if not old.is_active:
            raise ApiKeyNotActive("Only a key that still works can be rotated.")
        agents = list(old.agents.all()) if old.limit_agents else None
        new_key, raw_key = api_key_create(
            account=old.account,
            name=old.name,
            read_only=old.read_only,
            agents=agents,
            actor=actor,
            ip=ip,
        )
        now = timezone.now()
        expires_at = now + grace
        # A key that already expires sooner is not given longer by rotating it again.
        if old.expires_at is None or old.expires_at > expires_at:
            old.expires_at = expires_at
        if grace == timedelta(0) and old.revoked_at is None:
            old.revoked_at = now
        old.save(update_fields=["expires_at", "revoked_at"])
        audit_record(
            account=old.account,
            kind=AuditEvent.Kind.API_KEY_ROTATED,
            actor=actor,
            target=old.prefix,
            data={
                **api_key_scope(old),
                "new_key": new_key.prefix,
                "grace_seconds": int(grace.total_seconds()),
            },
            ip=ip,
        )
    api_key.expires_at, api_key.revoked_at = old.expires_at, old.revoked_at
    return new_key, raw_key


def api_key_touch(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
