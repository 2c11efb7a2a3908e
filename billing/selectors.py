"""Reads about accounts: their plan and their metered usage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.db.models.functions import Coalesce

from billing import stripe_api
from billing.models import Account, Membership, Subscription, UsageDay
from billing.plans import DEFAULT_PLAN, Plan, UnknownPlan, plan_get
from billing.prices import billing_enabled

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DailyUsage:
    """An account's metered calls on one UTC day, all agents together."""

    day: date
    remember: int = 0
    recall: int = 0
    inject_context: int = 0


def account_owned_by(**owner: Any) -> Account | None:
    """The oldest account whose owner matches, e.g. `user=user` or `user__email__iexact=...`."""
    membership = (
        Membership.objects.select_related("account")
        .filter(role=Membership.Role.OWNER, **owner)
        .order_by("created_at")
        .first()
    )
    return membership.account if membership is not None else None


def account_plan(*, account: Account) -> Plan:
    """The account's plan; the default plan if its slug names none (logged)."""
    try:
        return plan_get(account.plan)
    except UnknownPlan:
        logger.warning(
            "account %s has unknown plan %r; treated as %r", account.pk, account.plan, DEFAULT_PLAN
        )
        return plan_get(DEFAULT_PLAN)


def usage_daily(*, account: Account, days: int = 14, today: date) -> list[DailyUsage]:
    """One entry per day for the `days` days ending with `today`, oldest first, zero-filled."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first = today - timedelta(days=days - 1)
    rows = (
        UsageDay.objects.filter(account=account, day__gte=first, day__lte=today)
        .values("day")
        .annotate(
            remember=Coalesce(Sum("remember_calls"), 0),
            recall=Coalesce(Sum("recall_calls"), 0),
            inject_context=Coalesce(Sum("inject_context_calls"), 0),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        if row is None:
            series.append(DailyUsage(day=day))
        else:
            series.append(
                DailyUsage(
                    day=day,
                    remember=row["remember"],
                    recall=row["recall"],
                    inject_context=row["inject_context"],
                )
            )
    return series


def usage_on(*, account: Account, day: date) -> DailyUsage:
    """The account's calls on one day, summed across its agents."""
    totals = UsageDay.objects.filter(account=account, day=day).aggregate(
        remember=Coalesce(Sum("remember_calls"), 0),
        recall=Coalesce(Sum("recall_calls"), 0),
        inject_context=Coalesce(Sum("inject_context_calls"), 0),
    )
    return DailyUsage(day=day, **totals)


# Stripe statuses under which a subscription gives the account its plan. past_due keeps
# it while Stripe retries the payment; every other status (incomplete, unpaid, paused,
# canceled, incomplete_expired) means the free plan.
SUBSCRIPTION_LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})


@dataclass(frozen=True)
class BillingStatus:
    """What the billing page says about an account's subscription."""

    enabled: bool  # this server takes payments (STRIPE_SECRET_KEY is set)
    subscription: Subscription | None  # as Stripe last reported it, live or ended
    live: bool  # the subscription gives the account its plan
    payment_failed: bool  # Stripe is retrying a failed payment; the plan is kept meanwhile
    renews_at: datetime | None
    cancels_at: datetime | None
    has_customer: bool  # Stripe knows the account: the Customer Portal can open


def billing_status(*, account: Account) -> BillingStatus:
    subscription = Subscription.objects.filter(account=account).first()
    live = subscription is not None and subscription.status in SUBSCRIPTION_LIVE_STATUSES
    renews_at = cancels_at = None
    if subscription is not None and live:
        if subscription.cancel_at is not None:
            cancels_at = subscription.cancel_at
        elif subscription.cancel_at_period_end:
            cancels_at = subscription.current_period_end
        elif subscription.status != "past_due":
            # While a payment is failing the renewal is in doubt: the page warns instead.
            renews_at = subscription.current_period_end
    return BillingStatus(
        enabled=billing_enabled(),
        subscription=subscription,
        live=live,
        payment_failed=live and subscription is not None and subscription.status == "past_due",
        renews_at=renews_at,
        cancels_at=cancels_at,
        has_customer=bool(account.stripe_customer_id),
    )


def billing_invoices(*, account: Account, limit: int = 12) -> list[stripe_api.Invoice]:
    """The account's latest invoices from Stripe, newest first; none without billing.

    Raises stripe_api.StripeUnavailable when Stripe cannot answer.
    """
    if not billing_enabled() or not account.stripe_customer_id:
        return []
    return stripe_api.invoice_list(customer_id=account.stripe_customer_id, limit=limit)
