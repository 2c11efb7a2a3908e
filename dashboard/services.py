"""Actions of the dashboard that are more than one service call."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from api.models import ApiKey
from billing.models import Account, Membership
from memories.models import Agent
from memories.services import agent_delete


@dataclass(frozen=True)
class UserDeleted:
    accounts: int
    agents: int
    memories: int
    api_keys: int


@transaction.atomic
def user_delete(*, user: User) -> UserDeleted:
    """Hard-delete the user and every account they own: keys, agents, memories, usage."""
    accounts = list(
        Account.objects.filter(
            memberships__user=user, memberships__role=Membership.Role.OWNER
        ).select_for_update()
    )
    agents = memories = api_keys = 0
    for account in accounts:
        for agent in Agent.objects.for_account(account).order_by("id"):
            memories += agent_delete(agent=agent)
            agents += 1
        api_keys += ApiKey.objects.for_account(account).delete()[0]
        account.delete()
    user.delete()
    return UserDeleted(accounts=len(accounts), agents=agents, memories=memories, api_keys=api_keys)
