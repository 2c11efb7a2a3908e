"""The one door to Stripe: every call Kronvex makes to Stripe's API, and webhook checks.

The only module that imports `stripe`. Callers get plain values (ids, URLs, frozen
dataclasses, an event as a dict) and three errors: BillingNotConfigured without
STRIPE_SECRET_KEY, StripeUnavailable when Stripe cannot be reached or refuses a call,
WebhookInvalid when a webhook request is not an event signed by Stripe.
KRONVEX_STRIPE_API_BASE sends the API calls elsewhere (a loopback server in tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

TIMEOUT_SECONDS = 20
MAX_NETWORK_RETRIES = 2
# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
    | {"vuv", "xaf", "xof", "xpf"}
)


class BillingNotConfigured(Exception):
    """STRIPE_SECRET_KEY (or, for webhooks, STRIPE_WEBHOOK_SECRET) is not set."""


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the call."""


class WebhookInvalid(Exception):
    """A webhook request that is not a well-formed event signed by Stripe, recently."""

    def __init__(self, *, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None
    amount_paid: int  # in the currency's smallest unit, as Stripe counts it
    currency: str
    status: str | None
    created: datetime
    hosted_invoice_url: str | None

    @property
    def amount(self) -> Decimal:
        """`amount_paid` in the currency's main unit (euros, not cents)."""
        if self.currency.lower() in ZERO_DECIMAL_CURRENCIES:
            return Decimal(self.amount_paid)
        return Decimal(self.amount_paid) / 100


@dataclass(frozen=True)
class SubscriptionItem:
    id: str
    price_id: str


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as Stripe holds it now."""

    id: str
    customer_id: str
    status: str
    items: tuple[SubscriptionItem, ...]
    current_period_end: datetime | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    created: datetime
    account_uuid: str  # from the metadata our Checkout Sessions set; "" if none


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise BillingNotConfigured("STRIPE_SECRET_KEY is not set")
    return _client_for(settings.STRIPE_SECRET_KEY, settings.KRONVEX_STRIPE_API_BASE)


@lru_cache(maxsize=4)
def _client_for(secret_key: str, api_base: str) -> stripe.StripeClient:
    # A client per configuration rather than the SDK's module globals (stripe.api_key,
    # stripe.api_base): nothing global to reset, and tests can change the settings.
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else {},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


@contextmanager
def _stripe_errors(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        reason = exc.user_message or str(exc) or type(exc).__name__
        raise StripeUnavailable(f"Stripe could not {action}: {reason}") from exc


def _when(timestamp: Any) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def object_id(value: Any) -> str:
    """The id of a field Stripe may send as an id or as the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def customer_create(*, email: str, name: str, account_uuid: str) -> str:
    """A new Stripe customer for an account; its id."""
    with _stripe_errors("create the customer"):
        customer = _client().v1.customers.create(
            params={"email": email, "name": name, "metadata": {"kronvex_account": account_uuid}}
        )
    return customer.id


def checkout_session_create(
    *, customer_id: str, price_id: str, account_uuid: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout Session subscribing the customer to the price; the URL to send them to."""
    with _stripe_errors("start the checkout"):
        session = _client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": account_uuid,
                "line_items": [{"price": price_id, "quantity": 1}],
                "subscription_data": {"metadata": {"kronvex_account": account_uuid}},
                "success_url": success_url,
                "cancel_url": cancel_url,
            }
        )
    if not session.url:
        raise StripeUnavailable("Stripe answered a checkout session without a URL")
    return session.url


def portal_session_create(*, customer_id: str, return_url: str) -> str:
    """A Customer Portal session (payment methods, invoices, cancellation); its URL."""
    with _stripe_errors("open the billing portal"):
        session = _client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    return session.url


def portal_plan_change_create(
    *,
    customer_id: str,
    return_url: str,
    done_url: str,
    subscription_id: str,
    item_id: str,
    price_id: str,
) -> str:
    """A Customer Portal page confirming a subscription's move to another price; its URL.

    `return_url` is the way back without a change, `done_url` where a confirmed change
    lands. The portal's configuration must allow switching plans (Stripe Dashboard,
    Customer portal settings), with the prices offered.
    """
    with _stripe_errors("open the plan change"):
        session = _client().v1.billing_portal.sessions.create(
            params={
                "customer": customer_id,
                "return_url": return_url,
                "flow_data": {
                    "type": "subscription_update_confirm",
                    "subscription_update_confirm": {
                        "subscription": subscription_id,
                        "items": [{"id": item_id, "price": price_id, "quantity": 1}],
                    },
                    "after_completion": {
                        "type": "redirect",
                        "redirect": {"return_url": done_url},
                    },
                },
            }
        )
    return session.url


def invoice_list(*, customer_id: str, limit: int = 12) -> list[Invoice]:
    """The customer's latest invoices, newest first."""
    with _stripe_errors("list the invoices"):
        page = _client().v1.invoices.list(params={"customer": customer_id, "limit": limit})
    invoices = []
    for item in page.data[:limit]:
        data = item.to_dict()
        invoices.append(
            Invoice(
                id=str(data["id"]),
                number=data.get("number"),
                amount_paid=int(data.get("amount_paid") or 0),
                currency=str(data.get("currency") or ""),
                status=data.get("status"),
                created=_when(data.get("created")) or datetime.fromtimestamp(0, tz=UTC),
                hosted_invoice_url=data.get("hosted_invoice_url"),
            )
        )
    return invoices


def subscription_retrieve(*, subscription_id: str) -> SubscriptionState | None:
    """The subscription as Stripe holds it now; None if Stripe has no such subscription."""
    try:
        with _stripe_errors("read the subscription"):
            subscription = _client().v1.subscriptions.retrieve(subscription_id)
    except StripeUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, stripe.InvalidRequestError) and cause.code == "resource_missing":
            return None
        raise
    return subscription_state(subscription.to_dict())


def subscription_state(data: dict[str, Any]) -> SubscriptionState:
    """A subscription object as Stripe sends it (a dict), as a SubscriptionState."""
    raw_items = (data.get("items") or {}).get("data") or []
    items = tuple(
        SubscriptionItem(id=str(item.get("id") or ""), price_id=object_id(item.get("price")))
        for item in raw_items
    )
    # Since API version 2025-03-31 the period is per item; older versions have it on top.
    period_ends = [
        item["current_period_end"] for item in raw_items if item.get("current_period_end")
    ]
    period_end = data.get("current_period_end") or (max(period_ends) if period_ends else None)
    metadata = data.get("metadata") or {}
    return SubscriptionState(
        id=str(data["id"]),
        customer_id=object_id(data.get("customer")),
        status=str(data.get("status") or ""),
        items=items,
        current_period_end=_when(period_end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        cancel_at=_when(data.get("cancel_at")),
        created=_when(data.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        account_uuid=str(metadata.get("kronvex_account") or ""),
    )


def construct_event(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in a webhook request, after checking its Stripe-Signature on the raw body.

    Raises WebhookInvalid for a missing, forged or stale signature (older than the
    SDK's default tolerance, 300 seconds) and for a body that is not an event.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingNotConfigured("STRIPE_WEBHOOK_SECRET is not set")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise WebhookInvalid(
            code="invalid_signature", detail=f"The Stripe-Signature does not verify: {exc}"
        ) from exc
    except (ValueError, AttributeError, TypeError) as exc:
        raise WebhookInvalid(code="invalid_payload", detail="The body is not JSON.") from exc
    # The verified bytes, as plain JSON: the SDK's Event object is not a dict.
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        raise WebhookInvalid(code="invalid_payload", detail="The body is not a Stripe event.")
    return event
