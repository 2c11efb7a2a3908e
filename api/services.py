"""API keys: created shown once, stored as a SHA-256 hash and a short visible prefix."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from api.models import ApiKey
from billing.models import Account

KEY_PREFIX = "kv-"
VISIBLE_PREFIX_LENGTH = 11  # "kv-" and 8 characters of the secret
# last_used_at is written at most this often per key, so authentication stays a read.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_key(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash cannot be brute-forced.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, account: Account, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        account=account,
        name=name,
        prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
        key_hash=hash_key(raw_key),
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
