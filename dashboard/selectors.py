"""Reads behind the dashboard's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from api.models import ApiKey
from billing.models import Account
from billing.plans import Plan
from billing.selectors import DailyUsage, account_owned_by, account_plan, usage_daily
from billing.services import account_create
from billing.usage import usage_flush
from memories.models import Agent, Memory
from memories.selectors import account_memory_count


def account_for_user(user: AbstractBaseUser | AnonymousUser) -> Account:
    """The account the user owns; one is created for a user who has none (a superuser)."""
    account = account_owned_by(user=user)
    if account is not None:
        return account
    email = getattr(user, "email", "") or str(user)
    return account_create(owner=user, name=email)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Overview:
    plan: Plan
    agents: int
    memories: int
    calls_today: int
    days: list[DailyUsage]


def account_overview(*, account: Account, today: date) -> Overview:
    """What the dashboard home shows: use against the plan's limits and recent API calls."""
    usage_flush()
    days = usage_daily(account=account, days=14, today=today)
    latest = days[-1]
    return Overview(
        plan=account_plan(account=account),
        agents=Agent.objects.for_account(account).count(),
        memories=account_memory_count(account=account),
        calls_today=latest.remember + latest.recall + latest.inject_context,
        days=days,
    )


def api_key_list(*, account: Account) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_account(account).order_by("revoked_at", "-created_at")


def api_key_get(*, account: Account, key_id: str) -> ApiKey | None:
    return ApiKey.objects.for_account(account).filter(uuid=key_id).first()


def session_choices(*, agent: Agent, limit: int = 100) -> list[str]:
    """The agent's most recently used session ids, for the browser's filter."""
    rows = (
        Memory.objects.filter(agent=agent, session_id__isnull=False)
        .order_by("-created_at")
        .values_list("session_id", flat=True)[: limit * 20]
    )
    seen: dict[str, None] = {}
    for session_id in rows:
        if session_id is not None:
            seen.setdefault(session_id, None)
        if len(seen) == limit:
            break
    return list(seen)
