from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Account
from billing.services import account_get_or_create_for_email


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="ops@example.com")[0]


def test_setplan_by_owner_email_or_account_uuid(account: Account) -> None:
    out = StringIO()
    call_command("setplan", "OPS@example.com", "builder", stdout=out)
    account.refresh_from_db()
    assert account.plan == "builder"
    assert "plan free -> builder" in out.getvalue()

    call_command("setplan", str(account.uuid), "enterprise", stdout=StringIO())
    account.refresh_from_db()
    assert account.plan == "enterprise"


def test_setplan_warns_on_a_downgrade_below_what_the_account_holds(account: Account) -> None:
    Account.objects.filter(pk=account.pk).update(plan="builder", memories_held=700)
    out = StringIO()

    call_command("setplan", "ops@example.com", "free", stdout=out)

    account.refresh_from_db()
    assert (account.plan, account.memories_held) == ("free", 700)
    assert "It holds 700 memories, over the plan's 500: nothing is deleted" in out.getvalue()


def test_setplan_refuses_unknown_plans_and_accounts(account: Account) -> None:
    with pytest.raises(CommandError, match="No plan 'gold'"):
        call_command("setplan", "ops@example.com", "gold")
    with pytest.raises(CommandError, match=r"No account owned by 'nobody@example\.com'"):
        call_command("setplan", "nobody@example.com", "free")
    account.refresh_from_db()
    assert account.plan == "free"
