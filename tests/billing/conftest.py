"""Fixtures for the Stripe tests: a fake Stripe API, billing switched on, signed webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

# The dashboard tests' signed-in owners of two accounts, as fixtures here too.
from tests.dashboard.conftest import owner, stranger  # noqa: F401
from tests.fakes.stripe_server import FakeStripeServer, stripe_event, stripe_signature

WEBHOOK_SECRET = "whsec_test_kronvex"
PRICES = {"builder": "price_builder", "startup": "price_startup", "business": "price_business"}
WEBHOOK_URL = "/billing/stripe/webhook"


@pytest.fixture
def stripe_server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as server:
        yield server


@pytest.fixture
def billing_on(settings: Any, stripe_server: FakeStripeServer) -> FakeStripeServer:
    """Billing configured, its API calls going to the fake Stripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_kronvex"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRICE_BUILDER = PRICES["builder"]
    settings.STRIPE_PRICE_STARTUP = PRICES["startup"]
    settings.STRIPE_PRICE_BUSINESS = PRICES["business"]
    settings.KRONVEX_STRIPE_API_BASE = stripe_server.base_url
    return stripe_server


@pytest.fixture
def billing_off(settings: Any, stripe_server: FakeStripeServer) -> FakeStripeServer:
    """No STRIPE_SECRET_KEY; the fake Stripe runs, to show nothing calls it."""
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.STRIPE_PRICE_BUILDER = PRICES["builder"]
    settings.KRONVEX_STRIPE_API_BASE = stripe_server.base_url
    return stripe_server


@dataclass
class Webhook:
    """Delivers events to the webhook as Stripe does: JSON body, signed header."""

    client: Client
    count: int = 0

    def send(
        self,
        kind: str,
        obj: dict[str, Any],
        *,
        event_id: str | None = None,
        created: int | None = None,
    ) -> Any:
        self.count += 1
        event = stripe_event(kind, obj, event_id=event_id or f"evt_{self.count}", created=created)
        return self.post(json.dumps(event).encode())

    def post(self, payload: bytes, *, signature: str | None = "sign") -> Any:
        headers = {}
        if signature == "sign":
            headers["HTTP_STRIPE_SIGNATURE"] = stripe_signature(payload, secret=WEBHOOK_SECRET)
        elif signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        return self.client.post(
            WEBHOOK_URL, data=payload, content_type="application/json", **headers
        )


@pytest.fixture
def webhook() -> Webhook:
    return Webhook(Client(enforce_csrf_checks=True))


def checkout_completed(
    *, account_uuid: str, customer: str, subscription: str | None
) -> dict[str, Any]:
    """A completed Checkout Session, as in a checkout.session.completed event."""
    return {
        "id": "cs_test_done",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": account_uuid,
        "customer": customer,
        "subscription": subscription,
    }


def invoice_for(subscription: str, *, customer: str, status: str = "paid") -> dict[str, Any]:
    """An invoice of a subscription, in the shape of API versions since 2025-03-31."""
    return {
        "id": f"in_{subscription}",
        "object": "invoice",
        "customer": customer,
        "status": status,
        "amount_paid": 2900 if status == "paid" else 0,
        "currency": "eur",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription, "metadata": {}},
        },
    }
