"""Agents: create, list, get by slug or UUID, update, delete with their memories."""

import uuid

import pytest

from memories.models import Agent, Memory

pytestmark = pytest.mark.django_db

AGENT_KEYS = {
    "id",
    "uuid",
    "name",
    "description",
    "metadata",
    "retention_days",
    "created_at",
    "updated_at",
}


def test_create_agent_with_id_answers_201_and_stores_it(api, account):
    response = api.post(
        "/api/v1/agents",
        {
            "id": "support-bot",
            "name": "Support bot",
            "description": "Answers tickets",
            "metadata": {"team": "support"},
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == AGENT_KEYS | {"memory_count"}
    assert body["id"] == "support-bot"
    assert body["name"] == "Support bot"
    assert body["description"] == "Answers tickets"
    assert body["metadata"] == {"team": "support"}
    assert body["memory_count"] == 0
    assert body["created_at"].endswith("Z")
    stored = Agent.objects.get(account=account, slug="support-bot")
    assert str(stored.uuid) == body["uuid"]
    assert (stored.name, stored.description, stored.metadata) == (
        "Support bot",
        "Answers tickets",
        {"team": "support"},
    )


def test_create_agent_without_id_derives_a_free_slug_from_the_name(api, account):
    first = api.post("/api/v1/agents", {"name": "My Helper"})
    second = api.post("/api/v1/agents", {"name": "My Helper", "id": None})

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["id"], second.json()["id"]) == ("my-helper", "my-helper-2")
    assert sorted(Agent.objects.filter(account=account).values_list("slug", flat=True)) == [
        "my-helper",
        "my-helper-2",
    ]


def test_create_agent_with_null_optional_fields_uses_defaults(api):
    response = api.post(
        "/api/v1/agents", {"id": "plain", "name": "Plain", "description": None, "metadata": None}
    )

    assert response.status_code == 201
    assert (response.json()["description"], response.json()["metadata"]) == ("", {})
    assert Agent.objects.filter(slug="plain", description="", metadata={}).exists()


def test_create_agent_ignores_unknown_fields(api):
    response = api.post("/api/v1/agents", {"id": "extra", "name": "Extra", "colour": "blue"})

    assert response.status_code == 201
    assert "colour" not in response.json()
    assert Agent.objects.filter(slug="extra").exists()


def test_create_agent_with_an_existing_id_is_409_agent_exists(api, agent):
    response = api.post("/api/v1/agents", {"id": "assistant", "name": "Another"})

    assert response.status_code == 409
    assert response.json() == {
        "detail": "An agent with id 'assistant' already exists in this account.",
        "code": "agent_exists",
        "errors": {"id": ["An agent with id 'assistant' already exists in this account."]},
    }
    assert list(Agent.objects.values_list("slug", "name")) == [("assistant", "Assistant")]


def test_the_same_agent_id_may_exist_in_another_account(api, other_agent):
    response = api.post("/api/v1/agents", {"id": other_agent.slug, "name": "Mine"})

    assert response.status_code == 201
    assert Agent.objects.filter(slug=other_agent.slug).count() == 2


@pytest.mark.parametrize(
    "agent_id",
    [
        "has space",
        "slash/inside",
        "-leading-dash",
        ".leading-dot",
        "émoji-🙂",
        "a" * 101,
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        uuid.uuid4().hex,
    ],
    ids=[
        "space",
        "slash",
        "leading-dash",
        "leading-dot",
        "non-ascii",
        "too-long",
        "uuid",
        "upper-uuid",
        "hex-uuid",
    ],
)
def test_create_agent_with_an_invalid_id_is_400(api, agent_id):
    response = api.post("/api/v1/agents", {"id": agent_id, "name": "Bad"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert isinstance(body["detail"], str)
    assert list(body["errors"]) == ["id"]
    assert Agent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Ok", "id": 42}, "id"),
        ({"name": "Ok", "description": ["a"]}, "description"),
        ({"name": "Ok", "metadata": "not an object"}, "metadata"),
        ({"name": "Ok", "metadata": [1, 2]}, "metadata"),
        ({"name": "Ok", "metadata": {"k": "\u0000"}}, "metadata"),
    ],
    ids=[
        "missing-name",
        "empty-name",
        "blank-name",
        "name-number",
        "name-null",
        "name-too-long",
        "id-number",
        "description-list",
        "metadata-string",
        "metadata-list",
        "metadata-null-character",
    ],
)
def test_create_agent_with_bad_input_is_400_and_creates_nothing(api, body, field):
    response = api.post("/api/v1/agents", body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert field in response.json()["errors"]
    assert Agent.objects.count() == 0


def test_list_agents_shows_only_this_accounts_agents_with_live_memory_counts(
    api, agent, other_agent, other_memory
):
    api.post("/api/v1/agents", {"id": "second", "name": "Second"})
    api.remember(agent, "Kept memory")
    expired = api.remember(agent, "Expired memory", ttl_seconds=60)
    Memory.objects.filter(uuid=expired["id"]).update(expires_at="2000-01-01T00:00:00Z")

    response = api.get("/api/v1/agents")

    assert response.status_code == 200
    agents = response.json()["agents"]
    assert [(a["id"], a["memory_count"]) for a in agents] == [("assistant", 1), ("second", 0)]
    assert set(agents[0]) == AGENT_KEYS | {"memory_count"}


def test_list_agents_of_a_new_account_is_empty(api):
    response = api.get("/api/v1/agents")

    assert response.status_code == 200
    assert response.json() == {"agents": []}


def test_agent_is_reachable_by_slug_and_by_uuid(api, agent):
    api.remember(agent, "One memory")

    by_slug = api.get("/api/v1/agents/assistant")
    by_uuid = api.get(f"/api/v1/agents/{agent.uuid}")
    by_upper_uuid = api.get(f"/api/v1/agents/{str(agent.uuid).upper()}")

    assert by_slug.status_code == by_uuid.status_code == by_upper_uuid.status_code == 200
    assert by_slug.json() == by_uuid.json() == by_upper_uuid.json()
    assert by_slug.json()["uuid"] == str(agent.uuid)
    assert by_slug.json()["memory_count"] == 1


def test_agent_endpoints_accept_a_trailing_slash(api, agent):
    assert api.get("/api/v1/agents/").status_code == 200
    assert api.get("/api/v1/agents/assistant/").json()["id"] == "assistant"


def test_missing_agent_is_404_agent_not_found_quoting_the_id(api):
    response = api.get("/api/v1/agents/nobody")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No agent 'nobody' in this account.",
        "code": "agent_not_found",
    }


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_agent_id_with_a_null_character_is_404_agent_not_found(api, agent, method):
    response = getattr(api, method)("/api/v1/agents/assist%00ant")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No agent 'assist\\x00ant' in this account.",
        "code": "agent_not_found",
    }
    assert Agent.objects.filter(slug="assistant").exists()


def test_patch_agent_changes_only_the_given_fields(api, agent):
    api.remember(agent, "One memory")

    response = api.patch(
        "/api/v1/agents/assistant", {"description": "Helps", "metadata": {"tier": 2}, "name": None}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["description"], body["metadata"]) == (
        "assistant",
        "Assistant",
        "Helps",
        {"tier": 2},
    )
    assert body["memory_count"] == 1
    agent.refresh_from_db()
    assert (agent.name, agent.description, agent.metadata) == ("Assistant", "Helps", {"tier": 2})
    assert agent.updated_at > agent.created_at


def test_patch_agent_by_uuid_renames_it(api, agent):
    response = api.patch(f"/api/v1/agents/{agent.uuid}", {"name": "Renamed"})

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert Agent.objects.get(pk=agent.pk).name == "Renamed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"metadata": "x"}, "metadata"),
        ({"description": False}, "description"),
    ],
    ids=["empty-name", "name-number", "metadata-string", "description-bool"],
)
def test_patch_agent_with_bad_input_is_400_and_changes_nothing(api, agent, body, field):
    response = api.patch("/api/v1/agents/assistant", body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert field in response.json()["errors"]
    stored = Agent.objects.get(pk=agent.pk)
    assert (stored.name, stored.description, stored.metadata) == ("Assistant", "", {})


def test_delete_agent_removes_it_and_its_memories(api, agent, other_memory):
    api.remember(agent, "First", session_id="a")
    api.remember(agent, "Second")
    keep = api.post("/api/v1/agents", {"id": "keeper", "name": "Keeper"}).json()
    api.remember("keeper", "Belongs to the keeper")

    response = api.delete("/api/v1/agents/assistant")

    assert response.status_code == 200
    assert response.json() == {"id": "assistant", "deleted": True, "memories_deleted": 2}
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert not Memory.objects.filter(agent_id=agent.pk).exists()
    assert list(
        Memory.objects.filter(agent__uuid=keep["uuid"]).values_list("content", flat=True)
    ) == ["Belongs to the keeper"]
    assert Memory.objects.filter(pk=other_memory.pk).exists()
    assert api.get("/api/v1/agents/assistant").status_code == 404


def test_delete_agent_by_uuid_reports_its_slug(api, agent):
    response = api.delete(f"/api/v1/agents/{agent.uuid}")

    assert response.status_code == 200
    assert response.json() == {"id": "assistant", "deleted": True, "memories_deleted": 0}
    assert not Agent.objects.exists()


def test_create_agent_with_malformed_json_is_400_malformed_json(api):
    response = api.raw("post", "/api/v1/agents", '{"name": "x",')

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_json"
    assert isinstance(body["detail"], str)
    assert isinstance(body["errors"], dict)
    assert Agent.objects.count() == 0


def test_create_agent_with_a_json_list_body_is_400(api):
    response = api.post("/api/v1/agents", [{"name": "x"}])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert list(response.json()["errors"]) == ["request"]
    assert Agent.objects.count() == 0
