"""The audit log: an append-only record, per account, of security-relevant and
destructive events. Entries hold who, what and which ids, never memory content.

Append-only is enforced by PostgreSQL (migration 0001): a trigger refuses every UPDATE,
and every DELETE except the one that erases the account itself (audit.services)."""

import uuid

from django.db import models

from billing.models import Account


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_account(self, account: Account) -> "AuditEventQuerySet":
        return self.filter(account=account)


class AuditEvent(models.Model):
    class Kind(models.TextChoices):
        SIGNED_IN = "user.signed_in", "Signed in"
        SIGN_IN_FAILED = "user.sign_in_failed", "Sign-in failed"
        PASSWORD_CHANGED = "user.password_changed", "Password changed"
        API_KEY_CREATED = "api_key.created", "API key created"
        API_KEY_REVOKED = "api_key.revoked", "API key revoked"
        API_KEY_ROTATED = "api_key.rotated", "API key rotated"
        AGENT_CREATED = "agent.created", "Agent created"
        AGENT_DELETED = "agent.deleted", "Agent deleted"
        AGENT_RETENTION_CHANGED = "agent.retention_changed", "Retention changed"
        MEMORIES_DELETED = "memories.deleted", "Memories deleted"
        MEMORIES_PURGED = "memories.purged", "Memories purged by retention"
        SESSION_ERASED = "session.erased", "Session erased"
        ACCOUNT_EXPORTED = "account.exported", "Account exported"
        SESSION_EXPORTED = "session.exported", "Session exported"
        AUDIT_EXPORTED = "audit.exported", "Audit log exported"
        PLAN_CHANGED = "plan.changed", "Plan changed"
        WEBHOOK_CREATED = "webhook.created", "Webhook created"
        WEBHOOK_DELETED = "webhook.deleted", "Webhook deleted"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # Who did it: "user:<email>", "api_key:<prefix>", or "system" (retention, billing).
    actor = models.CharField(max_length=320)
    # What it was done to, by public id: an agent's slug, a key's prefix, a session id.
    target = models.CharField(max_length=300, blank=True, default="")
    # Counts and ids; never memory content.
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["account", "-at"], name="audit_account_at")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor} at {self.at:%Y-%m-%d %H:%M:%S}"
