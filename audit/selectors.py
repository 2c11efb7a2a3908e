"""Reading the audit log: filtered, newest first, and as export rows."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from audit.models import AuditEvent, AuditEventQuerySet
from billing.models import Account

EXPORT_COLUMNS = ("id", "at", "kind", "actor", "target", "ip", "data")


def audit_events(
    *,
    account: Account,
    kind: str | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> AuditEventQuerySet:
    """The account's entries, newest first; `since` and `until` are whole UTC days."""
    events = AuditEvent.objects.for_account(account)
    if kind:
        events = events.filter(kind=kind)
    if actor:
        events = events.filter(actor__icontains=actor)
    if since is not None:
        events = events.filter(at__gte=_day_start(since))
    if until is not None:
        events = events.filter(at__lt=_day_start(until + timedelta(days=1)))
    return events.order_by("-at", "-id")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.uuid),
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "kind": event.kind,
        "actor": event.actor,
        "target": event.target,
        "ip": event.ip,
        "data": event.data,
    }


def audit_export_rows(
    events: AuditEventQuerySet, *, chunk_size: int = 2000
) -> Iterator[AuditEvent]:
    return events.iterator(chunk_size=chunk_size)
