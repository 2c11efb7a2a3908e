import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from billing.models import Account
from memories.models import Agent


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )

    def for_account(self, account: Account) -> "ApiKeyQuerySet":
        return self.filter(account=account)


class ApiKey(models.Model):
    """A secret `kv-...` key; only its SHA-256 and a short visible prefix are stored.

    Its scope: `read_only` keys may only read (recall and inject-context count as reads);
    with `limit_agents` the key reaches only `agents`, every other agent of the account
    answers like a missing one. An agent deleted later drops out of `agents`, and a key
    limited to agents that all went reaches none, never all of them.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set when the key was rotated: it keeps working until then, then answers 401.
    expires_at = models.DateTimeField(null=True, blank=True)
    read_only = models.BooleanField(default=False)
    limit_agents = models.BooleanField(default=False)
    agents = models.ManyToManyField(Agent, blank=True, related_name="+")

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class IdempotencyKey(models.Model):
    """A POST sent with an `Idempotency-Key`: what it asked and, once answered, the answer.

    `status_code` is null while the first request with the key is in flight.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the canonical JSON body.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The JSON body as the client got it (text: jsonb would reorder its keys).
    response_body = models.TextField(blank=True, default="")
    response_headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="idempotency_key_per_account")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in flight'})"
