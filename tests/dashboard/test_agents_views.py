from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from memories import services
from memories.models import Agent, Memory
from tests.dashboard.conftest import Owner


def test_create_agent_with_the_id_used_in_urls(owner: Owner) -> None:
    response = owner.client.post(
        "/dashboard/agents/",
        {"name": "My LangChain agent", "agent_id": "my-langchain-agent", "description": "Tests"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/agents/my-langchain-agent/"
    agent = Agent.objects.get(account=owner.account, slug="my-langchain-agent")
    assert (agent.name, agent.description) == ("My LangChain agent", "Tests")
    page = owner.client.get(response["Location"]).content.decode()
    assert "its id is my-langchain-agent" in page


def test_agent_id_is_derived_from_the_name_when_left_empty(owner: Owner) -> None:
    owner.client.post("/dashboard/agents/", {"name": "Sales Helper", "agent_id": ""})
    assert Agent.objects.filter(account=owner.account, slug="sales-helper").exists()


def test_bad_agent_input_is_refused_with_the_reason(owner: Owner) -> None:
    taken = owner.client.post("/dashboard/agents/", {"name": "Again", "agent_id": "support-bot"})
    invalid = owner.client.post("/dashboard/agents/", {"name": "Bad", "agent_id": "no spaces!"})
    nameless = owner.client.post("/dashboard/agents/", {"name": "", "agent_id": "x"})

    assert taken.status_code == invalid.status_code == nameless.status_code == 400
    assert "already exists" in taken.content.decode()
    assert "letters, digits" in invalid.content.decode()
    assert "This field is required." in nameless.content.decode()
    assert Agent.objects.filter(account=owner.account).count() == 1


def test_agents_list_shows_ids_and_memory_counts(owner: Owner) -> None:
    services.agent_create(account=owner.account, name="Empty one", slug="empty-one")
    page = owner.client.get("/dashboard/agents/").content.decode()

    assert "support-bot" in page
    assert "empty-one" in page


def test_rename_and_describe_an_agent(owner: Owner) -> None:
    url = f"/dashboard/agents/{owner.agent.slug}/edit/"
    assert "Support bot" in owner.client.get(url).content.decode()

    response = owner.client.post(url, {"name": "Helpdesk", "description": "Answers tickets"})

    assert response.status_code == 302
    owner.agent.refresh_from_db()
    assert (owner.agent.slug, owner.agent.name, owner.agent.description) == (
        "support-bot",
        "Helpdesk",
        "Answers tickets",
    )
    refused = owner.client.post(url, {"name": "", "description": "x"})
    assert refused.status_code == 400
    owner.agent.refresh_from_db()
    assert owner.agent.name == "Helpdesk"


def test_delete_agent_names_the_memories_that_go_with_it(owner: Owner) -> None:
    services.remember(agent=owner.agent, content="Second memory")
    url = f"/dashboard/agents/{owner.agent.slug}/delete/"

    confirm = owner.client.get(url).content.decode()
    assert "2 memories" in confirm
    assert Agent.objects.filter(pk=owner.agent.pk).exists()

    response = owner.client.post(url, follow=True)

    assert "deleted with 2 memories" in response.content.decode()
    assert not Agent.objects.filter(pk=owner.agent.pk).exists()
    assert not Memory.objects.filter(agent_id=owner.agent.pk).exists()


def test_agent_pages_need_login(owner: Owner) -> None:
    for path in ("/dashboard/agents/", f"/dashboard/agents/{owner.agent.slug}/edit/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_counts_leave_out_expired_memories(owner: Owner) -> None:
    expired = services.remember(agent=owner.agent, content="Gone soon", ttl_seconds=60)
    pinned = services.remember(agent=owner.agent, content="Kept", ttl_seconds=60, pinned=True)
    Memory.objects.filter(pk__in=[expired.pk, pinned.pk]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    agents = owner.client.get("/dashboard/agents/").context["agents"]
    home = owner.client.get("/dashboard/").context["overview"]
    browser = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/").context

    assert [count for _, count in agents] == [2]
    assert home.memories == 2
    assert browser["total"] == 2
    assert {m.content for m in browser["page"].object_list} == {"The user's name is Ada", "Kept"}
