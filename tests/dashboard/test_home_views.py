from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from billing.models import UsageDay
from billing.usage import usage_record
from memories import services
from tests.dashboard.conftest import Owner, make_owner


def test_home_shows_use_against_the_plans_limits(owner: Owner) -> None:
    services.remember(agent=owner.agent, content="another")
    response = owner.client.get("/dashboard/")

    overview = response.context["overview"]
    assert (overview.agents, overview.memories) == (1, 2)
    assert (overview.plan.max_agents, overview.plan.max_memories) == (3, 500)
    page = response.content.decode()
    assert "Free plan" in page
    assert '<progress class="meter" value="2" max="500"' in page


def test_home_counts_todays_api_calls_and_charts_fourteen_days(
    owner: Owner, stranger: Owner
) -> None:
    for kind in ("remember", "recall", "recall", "inject_context"):
        usage_record(account_id=owner.account.pk, agent_uuid=owner.agent.uuid, kind=kind)
    usage_record(account_id=stranger.account.pk, agent_uuid=stranger.agent.uuid, kind="recall")

    response = owner.client.get("/dashboard/")

    assert response.context["overview"].calls_today == 4
    chart = response.context["chart"]
    assert len(chart.bars) == 28
    today_remember, today_recall = chart.bars[-2:]
    assert (today_remember.series, today_recall.series) == ("remember", "recall")
    assert today_recall.height == 2 * today_remember.height > 0
    assert sum(bar.height for bar in chart.bars[:-2]) == 0
    assert f"{timezone.now():%b} {timezone.now().day}: 2 recall calls" in response.content.decode()


def test_home_guides_a_new_account_to_a_key_and_an_agent(db: None) -> None:
    fresh = make_owner("new@example.com", remember="x")
    fresh.api_key.delete()
    page = fresh.client.get("/dashboard/").content.decode()
    assert "Get started in a minute" in page
    assert "Create an API key" in page
    assert "Your first agent is <code>support-bot</code>" in page
    assert "/agents/support-bot" in page


def test_home_needs_login(db: None) -> None:
    response = Client().get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


def test_chart_covers_the_last_fourteen_days_only(owner: Owner) -> None:
    today = timezone.now().date()
    UsageDay.objects.create(
        account=owner.account,
        agent_uuid=owner.agent.uuid,
        day=today - timedelta(days=20),
        remember_calls=50,
    )
    UsageDay.objects.create(
        account=owner.account,
        agent_uuid=owner.agent.uuid,
        day=today - timedelta(days=13),
        remember_calls=7,
    )
    chart = owner.client.get("/dashboard/").context["chart"]
    assert chart.total == 7
    assert chart.bars[0].height > 0
