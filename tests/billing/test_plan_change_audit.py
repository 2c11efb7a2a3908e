"""A plan change is written to the account's audit log, by whoever made it."""

from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from billing.models import Account
from billing.plans import plan_get
from billing.services import account_get_or_create_for_email, account_plan_set


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="ops@example.com")[0]


def plan_changes(account: Account) -> list[tuple[str, str, dict[str, str]]]:
    events = AuditEvent.objects.filter(account=account, kind=AuditEvent.Kind.PLAN_CHANGED)
    return [(e.actor, e.target, e.data) for e in events.order_by("at", "id")]


def test_a_plan_change_is_audited_once_and_a_non_change_not_at_all(account: Account) -> None:
    call_command("setplan", "ops@example.com", "builder", stdout=StringIO())
    account.refresh_from_db()
    account_plan_set(account=account, plan=plan_get("builder"))
    account_plan_set(account=account, plan=plan_get("free"), actor="user:ops@example.com")

    assert plan_changes(account) == [
        ("system", "builder", {"from": "free", "to": "builder"}),
        ("user:ops@example.com", "free", {"from": "builder", "to": "free"}),
    ]
