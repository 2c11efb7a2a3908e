import uuid

from django.conf import settings
from django.db import models


class Account(models.Model):
    """The tenant: owns API keys, agents and memories; users join it through Membership."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=32, default="free")
    created_at = models.DateTimeField(auto_now_add=True)
    # How many memories the account holds, kept by the statements that add and delete
    # them (billing/quotas.py), so the memory quota is checked without counting rows.
    memories_held = models.PositiveBigIntegerField(default=0, editable=False)
    # The account's Stripe customer, created on its first checkout; blank without billing.
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="account_unique_stripe_customer",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"


class UsageDay(models.Model):
    """One agent's metered API calls on one UTC day, added to by the usage meter's flushes."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_days")
    # The agent's public id, not a foreign key: billing never imports memories, and an
    # account's usage stays counted after the agent is deleted.
    agent_uuid = models.UUIDField()
    day = models.DateField()
    remember_calls = models.PositiveBigIntegerField(default=0)
    recall_calls = models.PositiveBigIntegerField(default=0)
    inject_context_calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "agent_uuid", "day"], name="usageday_unique_agent_day"
            ),
        ]
        indexes = [models.Index(fields=["account", "day"], name="usageday_account_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.agent_uuid} {self.day}"


class Subscription(models.Model):
    """The account's Stripe subscription as Stripe last reported it (billing/webhooks.py).

    One per account: a newer subscription replaces an ended one in the same row.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="subscription")
    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    # Stripe's status: active, trialing, past_due, incomplete, unpaid, canceled, ...
    status = models.CharField(max_length=32)
    price_id = models.CharField(max_length=255, blank=True, default="")
    # The plan the price sells; blank when the price is none of the configured ones.
    plan = models.CharField(max_length=32, blank=True, default="")
    # Stripe's names, kept: the end of the period paid for, and a scheduled cancellation.
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    # When Stripe created the subscription: of two live subscriptions the newer one wins.
    stripe_created = models.DateTimeField()
    # The `created` time of the newest event that made us read this state from Stripe.
    # Informational: the state itself is read from Stripe, never taken from the event.
    stripe_updated = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"


class StripeEvent(models.Model):
    """A webhook event received from Stripe; `processed` once applied, so it applies once."""

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)
    processed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.stripe_event_id} {self.type}"
