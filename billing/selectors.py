"""Reads about accounts: their plan and their metered usage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Sum
from django.db.models.functions import Coalesce

from billing.models import Account, Membership, UsageDay
from billing.plans import DEFAULT_PLAN, Plan, UnknownPlan, plan_get

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
