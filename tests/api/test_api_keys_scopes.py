"""Key scopes: read-only keys and keys limited to some agents, over the REST API and MCP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from openapi_schema_validator import OAS30Validator

from api.services import AgentNotInAccount, api_key_create
from billing.models import Account
from memories import services
from memories.models import Agent, Memory
from tests.api.conftest import BASE, Api, make_api

pytestmark = pytest.mark.django_db

# Every write of /api/v1, with a body that would succeed for a key that may write.
WRITES = [
    ("post", "/agents", {"id": "new-agent", "name": "New"}),
    ("patch", "/agents/{agent}", {"name": "Renamed"}),
    ("delete", "/agents/{agent}", None),
    ("post", "/agents/{agent}/remember", {"content": "Something new"}),
    ("post", "/agents/{agent}/remember/batch", {"memories": [{"content": "Something new"}]}),
    ("delete", "/agents/{agent}/memories", None),
    ("patch", "/agents/{agent}/memories/{memory}", {"pinned": True}),
    ("delete", "/agents/{agent}/memories/{memory}", None),
    ("post", "/agents/{agent}/memories/{memory}/retry", None),
]
# Every read, recall and inject-context included.
READS = [
    ("get", "/agents", None),
    ("get", "/agents/{agent}", None),
    ("post", "/agents/{agent}/recall", {"query": "colour"}),
    ("post", "/agents/{agent}/inject-context", {"query": "colour"}),
    ("get", "/agents/{agent}/memories", None),
    ("get", "/agents/{agent}/memories/{memory}", None),
    ("get", "/agents/{agent}/sessions", None),
]


def ids(cases: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{method} {path}" for method, path, _ in cases]


def call(api: Api, method: str, path: str, body: Any, agent: Agent, memory: Memory) -> Any:
    url = BASE + path.format(agent=agent.slug, memory=memory.uuid)
    if method == "get":
        return api.get(url)
    if method == "delete":
        return api.delete(url)
    return api.request(method, url, body)


def snapshot(account: Account) -> Any:
    return (
        list(Agent.objects.filter(account=account).values_list("slug", "name")),
        list(
            Memory.objects.filter(account=account)
            .order_by("pk")
            .values_list("uuid", "pinned", "status", "metadata", "access_count")
        ),
    )


@pytest.fixture
def read_only(account: Account, django_capture_on_commit_callbacks: Any) -> Api:
    return make_api(
        api_key_create(account=account, read_only=True)[1], django_capture_on_commit_callbacks
    )


@pytest.fixture
def second_agent(account: Account) -> Agent:
    return services.agent_create(account=account, slug="second", name="Second")


@pytest.fixture
def limited(account: Account, agent: Agent, django_capture_on_commit_callbacks: Any) -> Api:
    """A key of the account limited to `agent`."""
    raw_key = api_key_create(account=account, agents=[agent])[1]
    return make_api(raw_key, django_capture_on_commit_callbacks)


# -- read-only ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=ids(WRITES))
def test_a_read_only_key_is_refused_every_write_with_403_and_nothing_changes(
    read_only, account, agent, memory, method, path, body
):
    before = snapshot(account)

    response = call(read_only, method, path, body, agent, memory)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "This API key is read-only: it may list, get, recall and inject context.",
        "code": "read_only_key",
    }
    assert snapshot(account) == before


@pytest.mark.parametrize(("method", "path", "body"), READS, ids=ids(READS))
def test_a_read_only_key_may_read_recall_and_inject_context(
    read_only, agent, memory, method, path, body
):
    response = call(read_only, method, path, body, agent, memory)

    assert response.status_code == 200, response.json()


def test_a_read_only_keys_recall_finds_and_counts_the_memory(read_only, agent, memory):
    response = read_only.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "favourite colour"})

    assert [found["id"] for found in response.json()["memories"]] == [str(memory.uuid)]
    memory.refresh_from_db()
    assert memory.access_count == 1


def test_a_read_only_keys_refusal_matches_the_schemas_403(read_only, agent, client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    response = read_only.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "new"})

    documented = schema["paths"]["/api/v1/agents/{agent_id}/remember"]["post"]["responses"]
    assert response.status_code == 403
    assert documented["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    error = schema["components"]["schemas"]["Error"]
    assert not list(OAS30Validator(error).iter_errors(response.json()))


def test_only_writes_and_account_wide_operations_document_a_403(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    with_403 = {
        (method.upper(), path.removeprefix(BASE))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "403" in operation.get("responses", {})
    }

    assert with_403 == {
        ("POST", "/agents"),
        ("PATCH", "/agents/{agent_id}"),
        ("DELETE", "/agents/{agent_id}"),
        ("POST", "/agents/{agent_id}/remember"),
        ("POST", "/agents/{agent_id}/remember/batch"),
        ("DELETE", "/agents/{agent_id}/memories"),
        ("PATCH", "/agents/{agent_id}/memories/{memory_id}"),
        ("DELETE", "/agents/{agent_id}/memories/{memory_id}"),
        ("POST", "/agents/{agent_id}/memories/{memory_id}/retry"),
        # They reach every agent of the account: refused to a key limited to agents.
        ("GET", "/export"),
        ("GET", "/sessions/{session_id}/export"),
        ("DELETE", "/sessions/{session_id}"),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/export"), ("get", "/sessions/s1/export"), ("delete", "/sessions/s1")],
)
def test_a_key_limited_to_agents_cannot_export_or_erase_across_the_account(
    limited, agent, memory, method, path
):
    response = getattr(limited, method)(f"{BASE}{path}")

    assert response.status_code == 403
    assert response.json()["code"] == "agent_limited_key"
    assert Memory.objects.filter(pk=memory.pk).exists()


def test_a_read_only_key_may_export_but_not_erase_a_session(read_only, agent, memory):
    exported = read_only.get(f"{BASE}/sessions/s1/export")
    erased = read_only.delete(f"{BASE}/sessions/s1")

    assert exported.status_code == 200
    assert erased.status_code == 403
    assert erased.json()["code"] == "read_only_key"
    assert Memory.objects.filter(pk=memory.pk).exists()


# -- limited to agents ----------------------------------------------------------------------


def test_a_key_limited_to_agents_lists_only_those(limited, agent, second_agent):
    response = limited.get(f"{BASE}/agents")

    assert response.status_code == 200
    assert [body["id"] for body in response.json()["agents"]] == [agent.slug]


@pytest.mark.parametrize(
    ("method", "path", "body"), WRITES[1:] + READS[1:], ids=ids(WRITES[1:] + READS[1:])
)
def test_another_agent_of_the_account_answers_a_limited_key_like_a_missing_one(
    limited, api, account, agent, second_agent, method, path, body
):
    theirs = api.remember(second_agent, "Kept from the limited key")
    memory = Memory.objects.get(uuid=theirs["id"])
    before = snapshot(account)

    answer = call(limited, method, path, body, second_agent, memory)

    assert snapshot(account) == before
    missing = call(limited, method, path, body, Agent(slug="no-such-agent"), memory)
    assert answer.status_code == missing.status_code == 404
    assert answer.json() == {
        **missing.json(),
        "detail": missing.json()["detail"].replace("no-such-agent", second_agent.slug),
    }
    assert answer.json()["code"] == "agent_not_found"


def test_the_agent_a_key_is_limited_to_answers_as_usual(limited, agent):
    remembered = limited.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "Allowed"})
    by_uuid = limited.get(f"{BASE}/agents/{agent.uuid}")

    assert remembered.status_code == 200
    assert by_uuid.status_code == 200
    assert by_uuid.json()["id"] == agent.slug


def test_a_key_limited_to_agents_cannot_create_one(limited, account, agent):
    response = limited.post(f"{BASE}/agents", {"id": "new-agent", "name": "New"})

    assert response.status_code == 403
    assert response.json()["code"] == "agent_limited_key"
    assert list(Agent.objects.filter(account=account).values_list("slug", flat=True)) == [
        agent.slug
    ]


def test_a_key_whose_agents_are_all_deleted_reaches_none(limited, account, agent, second_agent):
    services.agent_delete(agent=agent)

    listed = limited.get(f"{BASE}/agents")
    other = limited.get(f"{BASE}/agents/{second_agent.slug}")

    assert listed.json() == {"agents": []}
    assert other.status_code == 404


def test_a_key_cannot_be_limited_to_another_accounts_agent(account, other_agent):
    with pytest.raises(AgentNotInAccount):
        api_key_create(account=account, agents=[other_agent])


# -- MCP ------------------------------------------------------------------------------------


def mcp_call(raw_key: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    response = Client(HTTP_X_API_KEY=raw_key).post(
        "/mcp", json.dumps(message), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["result"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("remember", {"content": "Planted"}), ("forget", {"query": "colour", "confirm": True})],
)
def test_mcp_write_tools_of_a_read_only_key_are_error_results(
    account, agent, memory, tool, arguments
):
    raw_key = api_key_create(account=account, read_only=True)[1]
    before = snapshot(account)

    result = mcp_call(raw_key, tool, {**arguments, "agent_id": agent.slug})

    assert result["isError"] is True
    assert "read-only" in result["content"][0]["text"]
    assert snapshot(account) == before


def test_mcp_read_tools_of_a_read_only_key_work(account, agent, memory):
    raw_key = api_key_create(account=account, read_only=True)[1]

    result = mcp_call(raw_key, "recall", {"query": "favourite colour", "agent_id": agent.slug})

    assert not result.get("isError")
    assert result["structuredContent"]["memories"][0]["id"] == str(memory.uuid)


def test_mcp_finds_no_agent_outside_a_limited_keys_scope(account, agent, second_agent, memory):
    raw_key = api_key_create(account=account, agents=[agent])[1]

    outside = mcp_call(raw_key, "list_memories", {"agent_id": second_agent.slug})
    inside = mcp_call(raw_key, "list_memories", {"agent_id": agent.slug})

    assert outside["isError"] is True
    assert outside["content"][0]["text"] == f"No agent '{second_agent.slug}' in this account."
    assert not inside.get("isError")
