"""Registering webhook endpoints, emitting events to them, and delivering them.

An event is written as one delivery row per subscribed endpoint in the caller's
transaction (so an event is sent exactly when what it tells was committed), then queued
on commit. With a broker, a Celery task sends each one and queues its own retries; without
one (the embedded default) nothing is sent inside the request: `manage.py serve` sends the
due deliveries every KRONVEX_WEBHOOK_POLL_SECONDS. Either way webhooks_sweep takes again
deliveries that were due and not sent (a broker down, a worker lost mid-send).
"""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import SYSTEM, audit_record
from billing.models import Account
from webhooks import destinations, signing
from webhooks.exceptions import DestinationRefused, WebhookInvalid
from webhooks.models import EVENTS, TEST_EVENT, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

MAX_ENDPOINTS_PER_ACCOUNT = 10
# A delivery being sent is leased for the timeout and this margin; a worker lost mid-send
# leaves it due again once the lease ends.
LEASE_MARGIN_SECONDS = 30
SWEEP_LIMIT = 200
# A worker whose clock runs behind the web server's still takes a delivery queued the
# moment it was made: due this little ahead of time counts as due.
CLOCK_SKEW_SECONDS = 5
USER_AGENT = "Kronvex-Webhooks/1"


def _allow_private() -> bool:
    return bool(settings.KRONVEX_WEBHOOK_ALLOW_PRIVATE)


def webhook_endpoint_create(
    *,
    account: Account,
    url: str,
    events: Iterable[str],
    actor: str = SYSTEM,
    ip: str | None = None,
) -> WebhookEndpoint:
    """Register an endpoint for these events, with a new signing secret."""
    chosen = sorted(set(events))
    unknown = [event for event in chosen if event not in EVENTS]
    if unknown:
        raise WebhookInvalid(f"Unknown event {unknown[0]!r}.")
    if not chosen:
        raise WebhookInvalid("Choose at least one event.")
    url = url.strip()
    destinations.destination_check(
        url,
        allow_private=_allow_private(),
        require_https=settings.KRONVEX_WEBHOOK_REQUIRE_HTTPS,
    )
    with transaction.atomic():
        # The account row's lock counts concurrent registrations one at a time.
        Account.objects.select_for_update().get(pk=account.pk)
        if WebhookEndpoint.objects.for_account(account).count() >= MAX_ENDPOINTS_PER_ACCOUNT:
            raise WebhookInvalid(
                f"An account can have at most {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints."
            )
        endpoint = WebhookEndpoint.objects.create(
            account=account, url=url, events=chosen, secret=signing.secret_new()
        )
        audit_record(
            account=account,
            kind=AuditEvent.Kind.WEBHOOK_CREATED,
            actor=actor,
            target=str(endpoint.uuid),
            data={"url": url, "events": chosen},
            ip=ip,
        )
    return endpoint


def webhook_endpoint_delete(
    *, endpoint: WebhookEndpoint, actor: str = SYSTEM, ip: str | None = None
) -> None:
    """Delete an endpoint and the log of its deliveries; nothing more is sent to it."""
    with transaction.atomic():
        audit_record(
            account=endpoint.account,
            kind=AuditEvent.Kind.WEBHOOK_DELETED,
            actor=actor,
            target=str(endpoint.uuid),
            data={"url": endpoint.url},
            ip=ip,
        )
        endpoint.delete()


def webhooks_emit(
    *,
    account_id: int,
    event: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
    endpoint: WebhookEndpoint | None = None,
) -> list[int]:
    """Send an event to the account's endpoints subscribed to it (or to `endpoint` only),
    once the caller's transaction commits; the ids of the deliveries. `data` may be a
    function, called only when some endpoint wants the event."""
    if endpoint is not None:
        endpoints = [endpoint]
    else:
        endpoints = list(
            WebhookEndpoint.objects.filter(
                account_id=account_id, disabled_at__isnull=True, events__contains=[event]
            ).only("pk")
        )
    if not endpoints:
        return []
    now = timezone.now()
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {
        "id": event_id,
        "type": event,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": data() if callable(data) else data,
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=target,
            event=event,
            event_id=event_id,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        for target in endpoints
    )
    ids = [delivery.pk for delivery in deliveries]
    # robust: a broker that cannot take the task must not undo what the event tells.
    transaction.on_commit(partial(_enqueue_deliveries, ids), robust=True)
    return ids


def webhook_test_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint alone."""
    [delivery_id] = webhooks_emit(
        account_id=endpoint.account_id,
        event=TEST_EVENT,
        data={"endpoint_id": str(endpoint.uuid), "message": "A test event from Kronvex."},
        endpoint=endpoint,
    )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # The user waits for this one: without a broker its first try is made now, so the
        # page shows the answer (retries follow the schedule).
        webhook_deliver(delivery_id=delivery_id)
    return WebhookDelivery.objects.get(pk=delivery_id)


def _enqueue_deliveries(delivery_ids: list[int]) -> None:
    # Without a broker a task would run here, inside the request that emitted the event:
    # `serve` sends the deliveries instead (webhooks_sweep), so no request waits on a
    # customer's endpoint.
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    for delivery_id in delivery_ids:
        if not _enqueue(delivery_id):
            return


def _enqueue(delivery_id: int, countdown: float | None = None) -> bool:
    """Queue the task that sends this delivery; False when the broker cannot take it (the
    delivery stays due, for webhooks_sweep). In-process, the task runs here."""
    from webhooks.tasks import deliver_webhook

    if settings.CELERY_TASK_ALWAYS_EAGER:
        deliver_webhook.delay(delivery_id)
        return True
    try:
        deliver_webhook.apply_async((delivery_id,), countdown=countdown)
    except Exception as exc:
        logger.warning("cannot queue webhook delivery %d (%s): the sweeper will", delivery_id, exc)
        return False
    return True


def retry_delay(attempts: int) -> int | None:
    """Seconds before the next try after `attempts` failed ones; None when they are all used."""
    delays: list[int] = settings.KRONVEX_WEBHOOK_RETRY_DELAYS
    if attempts > len(delays):
        return None
    return delays[attempts - 1]


def max_attempts() -> int:
    return len(settings.KRONVEX_WEBHOOK_RETRY_DELAYS) + 1


@dataclass(frozen=True)
class Attempt:
    delivery: WebhookDelivery
    # Seconds until the next try; None once the delivery succeeded or failed for good.
    retry_in: int | None


def webhook_deliver(*, delivery_id: int) -> Attempt | None:
    """Send a due delivery once and record the outcome; None if it is not due (sent,
    failed for good, or being sent by another worker)."""
    now = timezone.now()
    timeout = settings.KRONVEX_WEBHOOK_TIMEOUT_SECONDS
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now + timedelta(seconds=CLOCK_SKEW_SECONDS),
    ).update(
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        next_attempt_at=now + timedelta(seconds=timeout + LEASE_MARGIN_SECONDS),
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    status_code: int | None = None
    if endpoint.disabled_at is not None:
        error = "The endpoint is disabled."
    else:
        status_code, error = _post(delivery, timeout=timeout)
    return _record(delivery, status_code=status_code, error=error)


def _post(delivery: WebhookDelivery, *, timeout: float) -> tuple[int | None, str]:
    """(HTTP status or None, what went wrong or "")."""
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Kronvex-Event": delivery.event,
        "Kronvex-Delivery": str(delivery.uuid),
        signing.SIGNATURE_HEADER: signing.signature_header(
            secret=delivery.endpoint.secret, timestamp=timestamp, body=body
        ),
    }
    try:
        response = destinations.destination_post(
            delivery.endpoint.url,
            body=body,
            headers=headers,
            timeout=timeout,
            allow_private=_allow_private(),
            require_https=settings.KRONVEX_WEBHOOK_REQUIRE_HTTPS,
        )
    except DestinationRefused as exc:
        return None, str(exc)
    except TimeoutError:
        return None, f"No answer within {timeout:g} seconds."
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= response.status < 300:
        return response.status, ""
    excerpt = response.body.decode("utf-8", "replace").strip()
    return response.status, f"HTTP {response.status}" + (f": {excerpt}" if excerpt else "")


def _record(delivery: WebhookDelivery, *, status_code: int | None, error: str) -> Attempt:
    now = timezone.now()
    fields: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:500]}
    retry_in: int | None = None
    if not error:
        fields |= {
            "status": WebhookDelivery.Status.SUCCEEDED,
            "delivered_at": now,
            "next_attempt_at": None,
        }
    else:
        retry_in = retry_delay(delivery.attempts)
        if retry_in is None:
            fields |= {"status": WebhookDelivery.Status.FAILED, "next_attempt_at": None}
        else:
            fields |= {"next_attempt_at": now + timedelta(seconds=retry_in)}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return Attempt(delivery=delivery, retry_in=retry_in)


def webhook_retry_later(*, delivery_id: int, countdown: int) -> None:
    """With a broker, queue the next try of a delivery at its time (the sweeper would
    otherwise take it, later)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _enqueue(delivery_id, countdown=countdown)


def webhooks_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Queue the deliveries due and not sent (without a broker: send them, here), and
    delete the log of deliveries older than KRONVEX_WEBHOOK_LOG_DAYS; how many queued."""
    now = now or timezone.now()
    # With a broker the deliveries are queued on time already: take only those overdue for
    # a while (their task was lost), not those waiting in a busy queue.
    overdue = (
        timedelta(0)
        if settings.CELERY_TASK_ALWAYS_EAGER
        else timedelta(seconds=settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS)
    )
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - overdue
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    queued = 0
    for delivery_id in due:
        if not _enqueue(delivery_id):
            break
        queued += 1
    WebhookDelivery.objects.filter(
        created_at__lt=now - timedelta(days=settings.KRONVEX_WEBHOOK_LOG_DAYS)
    ).exclude(status=WebhookDelivery.Status.PENDING).delete()
    return queued
