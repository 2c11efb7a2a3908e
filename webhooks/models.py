"""Customers' webhook endpoints and the log of every delivery made to them."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from billing.models import Account

# The events an endpoint can subscribe to: name -> what it tells.
EVENTS = {
    "memory.stored": "Memories were stored (remember, batch)",
    "memory.deleted": "Memories were deleted",
    "quota.warning": "The account holds 80% of its plan's memories",
    "quota.reached": "The account holds all the memories its plan allows",
}
# Sent only by the dashboard's "Send test event" button, to one endpoint.
TEST_EVENT = "webhook.test"


class WebhookEndpointQuerySet(models.QuerySet["WebhookEndpoint"]):
    def for_account(self, account: Account) -> "WebhookEndpointQuerySet":
        return self.filter(account=account)


class WebhookEndpoint(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)
    events = ArrayField(models.CharField(max_length=40))
    # Kept readable because every delivery is signed with it; shown to the user once.
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookEndpointQuerySet.as_manager()

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint, with the outcome of its last try."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    # The same for every endpoint an event goes to, and for every retry: receivers
    # deduplicate on it.
    event_id = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    # When a pending delivery is due (again); while one is being sent, the end of its lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint_at"),
            models.Index(fields=["created_at"], name="webhookdelivery_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"
