import uuid

from django.db import models

from billing.models import Account


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)

    def for_account(self, account: Account) -> "ApiKeyQuerySet":
        return self.filter(account=account)


class ApiKey(models.Model):
    """A secret `kv-...` key; only its SHA-256 and a short visible prefix are stored."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


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
