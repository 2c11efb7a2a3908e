"""Plan quotas: what an account may still add. Checked atomically where rows are added.

The memory quota uses `Account.memories_held`, a counter kept by the statement that
stores a memory (which adds to it only while the plan's limit allows, in the same
statement) and by every deletion. The agent quota counts agents under a lock on the
account row. Reading and deleting never check a quota, so an account over its limits
(after a downgrade) keeps both until it is back under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from billing.models import Account
from billing.plans import DEFAULT_PLAN, PLANS, Plan, plan_get
from billing.selectors import account_plan
from webhooks.services import webhooks_emit

# Percent of the memory limit at which an account's webhooks get quota.warning.
QUOTA_WARNING_PERCENT = 80


@dataclass
class QuotaExceeded(Exception):
    """Adding would take the account past its plan's limit; nothing was written."""

    code: str  # "agent_limit_reached" or "memory_limit_reached"
    what: str  # "agents" or "memories"
    limit: int
    used: int
    plan: Plan

    def __str__(self) -> str:
        return (
            f"This account holds {self.used:,} {self.what}; the {self.plan.name} plan allows "
            f"{self.limit:,}. Delete some or upgrade the plan to add more."
        )


def memory_limit_sql(plan_column: str) -> tuple[str, list[Any]]:
    """An SQL expression: the memory limit of the plan named in `plan_column` (NULL: none).

    Written out from the plan table so one statement can check and take the quota.
    """
    cases = " ".join("WHEN %s THEN %s::bigint" for _ in PLANS)
    params: list[Any] = [value for plan in PLANS for value in (plan.slug, plan.max_memories)]
    params.append(plan_get(DEFAULT_PLAN).max_memories)
    return f"(CASE {plan_column} {cases} ELSE %s::bigint END)", params


def memory_quota_exceeded(*, account_id: int, adding: int = 1) -> QuotaExceeded:
    """The error for an account whose memory quota has no room for `adding` more."""
    account = Account.objects.get(pk=account_id)
    plan = account_plan(account=account)
    assert plan.max_memories is not None  # an unlimited plan always has room
    return QuotaExceeded(
        code="memory_limit_reached",
        what="memories",
        limit=plan.max_memories,
        used=account.memories_held,
        plan=plan,
    )


def agent_quota_check(*, account: Account, agents: int) -> None:
    """Raise QuotaExceeded if an account holding `agents` agents may not add one more."""
    plan = account_plan(account=account)
    if plan.max_agents is not None and agents + 1 > plan.max_agents:
        raise QuotaExceeded(
            code="agent_limit_reached",
            what="agents",
            limit=plan.max_agents,
            used=agents,
            plan=plan,
        )


def memories_released(*, counts: dict[int, int]) -> None:
    """Give back quota for deleted memories: {account id: how many}."""
    for account_id, count in counts.items():
        if count:
            Account.objects.filter(pk=account_id).update(
                memories_held=Greatest(F("memories_held") - count, 0)
            )


def memories_taken(*, account_id: int, held: int, limit: int | None) -> None:
    """Tell the account's webhooks when the memory just stored took it to 80% of its plan's
    memory limit (quota.warning) or to all of it (quota.reached). `held` grows by one per
    memory stored, so each is sent once per crossing on the way up; deleting below and
    filling up again crosses again."""
    if limit is None or limit <= 0:
        return
    data = {"resource": "memories", "used": held, "limit": limit}
    # The first count at or past the percent, in whole numbers (no float rounding).
    if held == -(-limit * QUOTA_WARNING_PERCENT // 100):
        webhooks_emit(
            account_id=account_id,
            event="quota.warning",
            data={**data, "percent": QUOTA_WARNING_PERCENT},
        )
    if held == limit:
        webhooks_emit(account_id=account_id, event="quota.reached", data=data)
