"""Actions of the dashboard that are more than one service call."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from api.models import ApiKey
from audit.models import AuditEvent
from audit.services import account_log_erasure, actor_user, audit_record
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
        # Its audit log goes with it: the one DELETE the log accepts.
        with account_log_erasure(account):
            account.delete()
    user.delete()
    return UserDeleted(accounts=len(accounts), agents=agents, memories=memories, api_keys=api_keys)


def sign_in_record(*, user: User, ip: str | None) -> None:
    """Note a sign-in in the audit log of every account the user belongs to."""
    _sign_in_audit(user=user, kind=AuditEvent.Kind.SIGNED_IN, ip=ip)


def sign_in_failure_record(*, email: str, ip: str | None) -> None:
    """Note a failed sign-in for a registered address; an unknown one has no log to go in."""
    email = email.strip()
    if not email:
        return
    for user in User.objects.filter(email__iexact=email):
        _sign_in_audit(user=user, kind=AuditEvent.Kind.SIGN_IN_FAILED, ip=ip)


def _sign_in_audit(*, user: User, kind: str, ip: str | None) -> None:
    for account in Account.objects.filter(memberships__user=user).distinct():
        audit_record(account=account, kind=kind, actor=actor_user(user), ip=ip)
