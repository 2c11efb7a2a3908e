"""Stripe's webhook, POST /billing/stripe/webhook: Stripe's word on subscriptions becomes plans.

Every request is checked before anything else: the Stripe-Signature header must sign the
raw body with STRIPE_WEBHOOK_SECRET, less than 300 seconds ago (stripe_api.construct_event).
A missing, forged or stale signature, or a body that is not an event, answers 400 in the
API's error shape and changes nothing.

Each event applies once: its id is recorded (StripeEvent) and marked processed in the
transaction that applies it, under a lock on that row, so a redelivery, even a concurrent
one, answers 200 and changes nothing. An event that fails to apply (Stripe unreachable)
answers 503 and stays unprocessed; Stripe delivers it again later.

Ordering: Stripe does not deliver events in order, and events carry second-resolution
timestamps that often tie (a checkout produces several in the same second). So events are
never applied for what they say, only as a prompt: for `checkout.session.completed`,
`customer.subscription.created|updated|deleted`, `invoice.paid` and
`invoice.payment_failed`, the subscription the event names is retrieved from Stripe and
its current state is stored (billing.services.stripe_event_apply). Any order of delivery
thus ends in the same state: the last one Stripe holds. The account row is locked from
before the retrieval to the commit, so of two events for one account processed at once,
the later reader is also the later writer. A subscription's state only moves to ended
in Stripe, so `deleted` is final by construction. If an account has two subscriptions
(two checkouts in parallel), a live one decides over an ended one, then the newer one:
an order on the subscriptions themselves, not on the events. `Subscription.stripe_updated`
records the `created` time of the newest event that prompted a read, for the record only.

The plan follows the stored subscription: active, trialing or past_due (Stripe retrying
a failed payment; the billing page warns) give the plan of its price; any other status,
or deletion, gives the free plan, deleting nothing (quotas apply). A price that is none of
the configured STRIPE_PRICE_* is logged and the account keeps its plan.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import stripe_api
from billing.prices import billing_enabled
from billing.services import stripe_event_apply

logger = logging.getLogger(__name__)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    # The API's error shape (api/errors.py), written out: billing does not import api.
    return JsonResponse({"detail": detail, "code": code}, status=status)


@csrf_exempt
@require_POST
def stripe_webhook_view(request: HttpRequest) -> JsonResponse:
    if not (billing_enabled() and settings.STRIPE_WEBHOOK_SECRET):
        return _error(404, "billing_not_configured", "Billing is not configured on this server.")
    try:
        event = stripe_api.construct_event(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except stripe_api.WebhookInvalid as exc:
        logger.warning("stripe webhook refused: %s", exc.detail)
        return _error(400, exc.code, exc.detail)
    try:
        applied = stripe_event_apply(event=event)
    except stripe_api.StripeUnavailable as exc:
        logger.warning("stripe event %s not applied, Stripe will retry: %s", event["id"], exc)
        return _error(503, "stripe_unavailable", "Stripe could not be read; retry later.")
    return JsonResponse({"received": True, "duplicate": not applied})
