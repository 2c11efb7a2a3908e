"""Plan quotas on the API: 402 at the limit, nothing written, room freed by deleting."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from billing.models import Account
from billing.plans import plan_get
from billing.services import account_plan_set
from memories import services
from memories.models import Agent, Memory
from tests.api.conftest import BASE, Api

FREE = plan_get("free")


def hold(account: Account, agent: Agent, count: int) -> None:
    """Give the account `count` more memories, as rows and in its count."""
    Memory.objects.bulk_create(
        Memory(account=account, agent=agent, content=f"filler {n}") for n in range(count)
    )
    Account.objects.filter(pk=account.pk).update(memories_held=F("memories_held") + count)


_NUMBERS = itertools.count()


def remember(api: Api, agent: Agent, content: str | None = None) -> Any:
    # Distinct contents: a repeated one is a duplicate, which takes no room.
    content = content or f"one more, number {next(_NUMBERS)}"
    return api.post(f"{BASE}/agents/{agent.slug}/remember", {"content": content})


def test_the_free_plan_holds_exactly_500_memories(api: Api, account: Account, agent: Agent) -> None:
    hold(account, agent, 498)

    assert remember(api, agent, "the 499th").status_code == 200
    assert remember(api, agent, "the 500th").status_code == 200
    refused = remember(api, agent, "the 501st")

    assert refused.status_code == 402
    assert refused.json() == {
        "detail": "This account holds 500 memories; the Free plan allows 500. "
        "Delete some or upgrade the plan to add more.",
        "code": "memory_limit_reached",
        "limit": 500,
        "used": 500,
        "plan": "free",
        "upgrade_url": "http://testserver/dashboard/billing/",
    }
    assert Memory.objects.filter(account=account).count() == 500
    assert not Memory.objects.filter(content="the 501st").exists()
    account.refresh_from_db()
    assert account.memories_held == 500


def test_deleting_memories_frees_room(api: Api, account: Account, agent: Agent) -> None:
    hold(account, agent, 499)
    kept = remember(api, agent, "the 500th").json()
    assert remember(api, agent).status_code == 402

    assert api.delete(f"{BASE}/agents/{agent.slug}/memories/{kept['id']}").status_code == 200
    assert remember(api, agent, "fits again").status_code == 200
    assert remember(api, agent).status_code == 402

    deleted = api.delete(f"{BASE}/agents/{agent.slug}/memories").json()["deleted"]
    assert deleted == 500
    account.refresh_from_db()
    assert account.memories_held == 0
    assert remember(api, agent).status_code == 200


def test_deleting_an_agent_and_purging_expired_memories_free_room(
    api: Api, account: Account, agent: Agent
) -> None:
    spare = services.agent_create(account=account, name="Spare")
    hold(account, spare, 300)
    hold(account, agent, 199)
    expiring = remember(api, agent, "short-lived").json()
    Memory.objects.filter(uuid=expiring["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert remember(api, agent).status_code == 402

    assert services.memories_purge_expired() == 1
    account.refresh_from_db()
    assert account.memories_held == 499
    api.delete(f"{BASE}/agents/{spare.slug}")
    account.refresh_from_db()
    assert account.memories_held == 199
    assert remember(api, agent).status_code == 200


def test_over_quota_recall_listing_and_deletion_keep_working(
    api: Api, account: Account, agent: Agent
) -> None:
    hold(account, agent, 499)
    remember(api, agent, "The user's favourite colour is green")
    assert remember(api, agent).status_code == 402

    recall = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "favourite colour"})
    listing = api.get(f"{BASE}/agents/{agent.slug}/memories", {"limit": 1})
    session_delete = api.delete(f"{BASE}/agents/{agent.slug}/memories?session_id=none")

    assert recall.status_code == 200
    assert "green" in recall.json()["memories"][0]["content"]
    assert listing.status_code == 200
    assert listing.json()["total"] == 500
    assert session_delete.status_code == 200


def test_the_free_plan_holds_exactly_3_agents(api: Api, account: Account) -> None:
    for name in ("one", "two", "three"):
        assert api.post(f"{BASE}/agents", {"name": name}).status_code == 201

    refused = api.post(f"{BASE}/agents", {"name": "four"})

    assert refused.status_code == 402
    body = refused.json()
    assert (body["code"], body["limit"], body["used"], body["plan"]) == (
        "agent_limit_reached",
        3,
        3,
        "free",
    )
    assert "3 agents; the Free plan allows 3" in body["detail"]
    assert Agent.objects.filter(account=account).count() == 3
    api.delete(f"{BASE}/agents/one")
    assert api.post(f"{BASE}/agents", {"name": "four"}).status_code == 201


def test_a_downgrade_keeps_everything_and_blocks_adding_until_back_under(
    api: Api, account: Account, agent: Agent
) -> None:
    account_plan_set(account=account, plan=plan_get("builder"))
    hold(account, agent, 600)
    for name in ("b", "c", "d"):
        services.agent_create(account=account, name=name)
    assert remember(api, agent).status_code == 200

    account_plan_set(account=account, plan=FREE)

    assert Memory.objects.filter(account=account).count() == 601
    refused = remember(api, agent)
    assert refused.status_code == 402
    assert refused.json()["used"] == 601
    assert "holds 601 memories; the Free plan allows 500" in refused.json()["detail"]
    assert api.post(f"{BASE}/agents", {"name": "e"}).json()["code"] == "agent_limit_reached"
    assert api.get(f"{BASE}/agents/{agent.slug}/memories").status_code == 200

    doomed = list(Memory.objects.filter(agent=agent).values_list("uuid", flat=True)[:102])
    services.memories_delete(agent=agent, memory_ids=doomed)
    assert remember(api, agent).status_code == 200


def test_an_unlimited_plan_never_refuses(api: Api, account: Account, agent: Agent) -> None:
    account_plan_set(account=account, plan=plan_get("enterprise"))
    hold(account, agent, 5000)
    for index in range(4):
        assert api.post(f"{BASE}/agents", {"name": f"agent {index}"}).status_code == 201
    assert remember(api, agent).status_code == 200
