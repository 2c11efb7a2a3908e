from __future__ import annotations

from django.db.models import F
from django.test import Client

from billing.models import Account
from billing.plans import plan_get
from billing.services import account_plan_set
from memories import services
from memories.models import Agent, Memory
from tests.dashboard.conftest import Owner


def test_billing_page_shows_the_plan_and_use_against_each_limit(owner: Owner) -> None:
    page = owner.client.get("/dashboard/billing/").content.decode()

    assert "Free plan" in page
    assert '<progress class="meter" value="1" max="3"' in page  # agents
    assert '<progress class="meter" value="1" max="500"' in page  # memories
    assert "Recalls today (UTC)" in page
    assert "Online payment is not configured" in page
    assert "setplan" in page


def test_billing_page_says_when_the_memory_quota_is_full(owner: Owner) -> None:
    Memory.objects.bulk_create(
        Memory(account=owner.account, agent=owner.agent, content=str(n)) for n in range(499)
    )
    Account.objects.filter(pk=owner.account.pk).update(memories_held=F("memories_held") + 499)

    page = owner.client.get("/dashboard/billing/").content.decode()

    assert "the most the Free plan allows" in page
    assert '<progress class="meter full" value="500" max="500"' in page


def test_billing_page_for_an_unlimited_plan(owner: Owner) -> None:
    account_plan_set(account=owner.account, plan=plan_get("enterprise"))
    page = owner.client.get("/dashboard/billing/").content.decode()
    assert "Enterprise plan" in page
    assert "Memories (unlimited)" in page
    assert "<progress" not in page


def test_creating_an_agent_past_the_plan_says_why(owner: Owner) -> None:
    for name in ("Two", "Three"):
        services.agent_create(account=owner.account, name=name)

    response = owner.client.post("/dashboard/agents/", {"name": "Four", "agent_id": ""})

    assert response.status_code == 400
    assert "This account holds 3 agents; the Free plan allows 3." in response.content.decode()
    assert Agent.objects.filter(account=owner.account).count() == 3


def test_billing_page_needs_login(db: None) -> None:
    response = Client().get("/dashboard/billing/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/billing/"
