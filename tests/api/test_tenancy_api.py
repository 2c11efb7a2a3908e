"""Another account's agents and memories answer exactly like ids that do not exist."""

import pytest

from memories.models import Agent, Memory

pytestmark = pytest.mark.django_db

AGENT_ENDPOINTS = [
    ("get", "", None),
    ("patch", "", {"name": "Hijacked"}),
    ("delete", "", None),
    ("post", "/remember", {"content": "Planted memory"}),
    ("post", "/remember/batch", {"memories": [{"content": "Planted memory"}]}),
    ("get", "/remember/batch/6f1c6c38-1d8b-4f4a-9a55-3f3c7c1e0000", None),
    ("post", "/recall", {"query": "bank PIN"}),
    ("post", "/inject-context", {"query": "bank PIN"}),
    ("get", "/memories", None),
    ("delete", "/memories", None),
    ("delete", "/memories?session_id=s1", None),
    ("get", "/sessions", None),
]
MEMORY_ENDPOINTS = [
    ("get", None),
    ("patch", {"pinned": True, "metadata": {"hijacked": True}, "ttl_days": 1}),
    ("delete", None),
]


def send(api, method, url, body):
    if method in ("get", "delete"):
        return getattr(api, method)(url)
    return getattr(api, method)(url, body)


def snapshot():
    """Everything an attack through the API could change."""
    agents = list(Agent.objects.order_by("pk").values_list("slug", "name", "description"))
    memories = list(
        Memory.objects.order_by("pk").values_list(
            "uuid", "content", "pinned", "metadata", "expires_at", "access_count"
        )
    )
    return agents, memories


@pytest.mark.parametrize("as_uuid", [False, True], ids=["slug", "uuid"])
@pytest.mark.parametrize(("method", "suffix", "body"), AGENT_ENDPOINTS, ids=lambda v: str(v)[:25])
def test_another_accounts_agent_is_404_exactly_like_a_missing_one(
    api, agent, other_agent, other_memory, method, suffix, body, as_uuid
):
    agent_id = str(other_agent.uuid) if as_uuid else other_agent.slug
    url = f"/api/v1/agents/{agent_id}{suffix}"
    before = snapshot()

    response = send(api, method, url, body)

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No agent '{agent_id}' in this account.",
        "code": "agent_not_found",
    }
    assert snapshot() == before
    # The same id once it exists nowhere: not one byte differs.
    Agent.objects.filter(pk=other_agent.pk).delete()
    missing = send(api, method, url, body)
    assert missing.status_code == 404
    assert missing.content == response.content


@pytest.mark.parametrize("via_agent_uuid", [False, True], ids=["slug", "uuid"])
@pytest.mark.parametrize(("method", "body"), MEMORY_ENDPOINTS, ids=lambda v: str(v)[:25])
def test_another_accounts_memory_is_404_exactly_like_a_missing_one(
    api, agent, other_memory, method, body, via_agent_uuid
):
    agent_id = str(agent.uuid) if via_agent_uuid else agent.slug
    url = f"/api/v1/agents/{agent_id}/memories/{other_memory.uuid}"
    before = snapshot()

    response = send(api, method, url, body)

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No memory '{other_memory.uuid}' in agent 'assistant'.",
        "code": "memory_not_found",
    }
    assert snapshot() == before
    Memory.objects.filter(pk=other_memory.pk).delete()
    missing = send(api, method, url, body)
    assert missing.status_code == 404
    assert missing.content == response.content


def test_another_accounts_agents_are_not_listed(api, agent, other_agent):
    response = api.get("/api/v1/agents")

    assert [a["id"] for a in response.json()["agents"]] == ["assistant"]


def test_recall_and_inject_context_never_reach_another_accounts_memories(api, agent, other_memory):
    # The same words in both accounts, the same session id.
    mine = api.remember(agent, "My user's bank PIN is 1234", session_id="s1")

    recalled = api.post(
        "/api/v1/agents/assistant/recall", {"query": "bank PIN", "top_k": 50}
    ).json()
    injected = api.post(
        "/api/v1/agents/assistant/inject-context", {"query": "bank PIN", "session_id": "s1"}
    ).json()

    assert [m["id"] for m in recalled["memories"]] == [mine["id"]]
    assert "4321" not in injected["context"]
    assert injected["memories_used"] == 1
    assert Memory.objects.get(pk=other_memory.pk).access_count == 0


def test_deleting_a_session_never_touches_another_accounts_memories(api, agent, other_memory):
    api.remember(agent, "Mine, session s1", session_id="s1")

    response = api.delete("/api/v1/agents/assistant/memories?session_id=s1")

    assert response.json() == {"deleted": 1}
    assert Memory.objects.filter(pk=other_memory.pk).exists()
