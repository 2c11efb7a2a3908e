"""The Stripe wrapper's reading of what Stripe sends, and the plans sold per the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing import stripe_api
from billing.plans import plan_get
from billing.prices import plan_for_price, plan_price_id, plans_sold


def test_a_subscription_of_current_api_versions_has_its_period_on_the_items() -> None:
    state = stripe_api.subscription_state(
        {
            "id": "sub_1",
            "customer": {"id": "cus_1", "object": "customer"},
            "status": "trialing",
            "created": 1_793_491_200,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "metadata": {"kronvex_account": "abc"},
            "items": {
                "data": [
                    {"id": "si_1", "price": {"id": "price_a"}, "current_period_end": 1_796_083_200}
                ]
            },
        }
    )
    assert state == stripe_api.SubscriptionState(
        id="sub_1",
        customer_id="cus_1",
        status="trialing",
        items=(stripe_api.SubscriptionItem(id="si_1", price_id="price_a"),),
        current_period_end=datetime(2026, 12, 1, tzinfo=UTC),
        cancel_at_period_end=False,
        cancel_at=None,
        created=datetime(2026, 11, 1, tzinfo=UTC),
        account_uuid="abc",
    )


def test_a_subscription_of_older_api_versions_has_its_period_on_top() -> None:
    state = stripe_api.subscription_state(
        {
            "id": "sub_1",
            "customer": "cus_1",
            "status": "active",
            "current_period_end": 1_796_083_200,
            "cancel_at_period_end": True,
            "items": {"data": [{"id": "si_1", "price": {"id": "price_a"}}]},
        }
    )
    assert state.current_period_end == datetime(2026, 12, 1, tzinfo=UTC)
    assert state.cancel_at_period_end is True
    assert state.account_uuid == ""


def test_invoice_amounts_are_in_the_currencys_main_unit() -> None:
    common: dict[str, Any] = {
        "id": "in_1",
        "number": None,
        "status": "paid",
        "created": datetime(2026, 11, 1, tzinfo=UTC),
        "hosted_invoice_url": None,
    }
    assert stripe_api.Invoice(amount_paid=2900, currency="eur", **common).amount == 29
    assert stripe_api.Invoice(amount_paid=2900, currency="jpy", **common).amount == 2900


def test_a_plan_is_sold_only_with_billing_on_and_its_price_set(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PRICE_BUILDER = "price_b"
    settings.STRIPE_PRICE_STARTUP = ""
    settings.STRIPE_PRICE_BUSINESS = "price_x"
    assert plans_sold() == []

    settings.STRIPE_SECRET_KEY = "sk_test_1"
    assert [plan.slug for plan in plans_sold()] == ["builder", "business"]
    assert plan_price_id(plan=plan_get("startup")) is None
    assert plan_price_id(plan=plan_get("free")) is None
    assert plan_for_price(price_id="price_x") == plan_get("business")
    assert plan_for_price(price_id="price_unknown") is None
    assert plan_for_price(price_id="") is None
