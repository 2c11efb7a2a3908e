"""Which plans are sold through Stripe, and at which Stripe price: read from the settings.

Billing is on when STRIPE_SECRET_KEY is set. A plan is sold when its price id is set
(STRIPE_PRICE_BUILDER, STRIPE_PRICE_STARTUP, STRIPE_PRICE_BUSINESS); free is what an
account has without a subscription, enterprise is arranged by hand. Read at each call,
so the settings can change under tests.
"""

from __future__ import annotations

from django.conf import settings

from billing.plans import PLANS, Plan

PRICE_SETTINGS = {
    "builder": "STRIPE_PRICE_BUILDER",
    "startup": "STRIPE_PRICE_STARTUP",
    "business": "STRIPE_PRICE_BUSINESS",
}


def billing_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def plan_price_id(*, plan: Plan) -> str | None:
    """The Stripe price `plan` is sold at; None when it is not sold."""
    name = PRICE_SETTINGS.get(plan.slug)
    return (getattr(settings, name, "") or None) if name else None


def plan_for_price(*, price_id: str) -> Plan | None:
    """The plan a Stripe price sells; None for a price that is none of ours."""
    for plan in PLANS:
        if price_id and plan_price_id(plan=plan) == price_id:
            return plan
    return None


def plans_sold() -> list[Plan]:
    """The plans a customer can buy here, cheapest first; none when billing is off."""
    if not billing_enabled():
        return []
    return [plan for plan in PLANS if plan_price_id(plan=plan) is not None]
