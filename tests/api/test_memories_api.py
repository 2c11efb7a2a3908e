"""The memory browser: list, get, patch and delete memories, bulk delete, sessions."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from memories import services
from memories.models import Memory

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/agents/assistant/memories"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def ago(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def listed(api, **params):
    response = api.get(LIST_URL, params)
    assert response.status_code == 200, response.json()
    return response.json()


def contents(body):
    return [memory["content"] for memory in body["memories"]]


def expire(*memory_ids):
    Memory.objects.filter(uuid__in=memory_ids).update(expires_at=LONG_AGO)


@pytest.fixture
def five(api, agent):
    """Five memories, oldest first: two sessions, three types."""
    return [
        api.remember(agent, "First: user likes tea", created_at=ago(5), session_id="a"),
        api.remember(agent, "Second: user likes coffee", created_at=ago(4), type="semantic"),
        api.remember(agent, "Third: deploy on Fridays", created_at=ago(3), session_id="b"),
        api.remember(
            agent, "Fourth: how to deploy", created_at=ago(2), session_id="a", type="procedural"
        ),
        api.remember(agent, "Fifth: TEA time at five", created_at=ago(1), session_id="a"),
    ]


# -- list -------------------------------------------------------------------------


def test_list_memories_answers_the_newest_first_with_total_limit_and_offset(api, five):
    body = listed(api)

    assert set(body) == {"memories", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    assert contents(body) == [
        "Fifth: TEA time at five",
        "Fourth: how to deploy",
        "Third: deploy on Fridays",
        "Second: user likes coffee",
        "First: user likes tea",
    ]
    assert body["memories"][0]["id"] == five[4]["id"]
    assert body["memories"][0]["agent_id"] == "assistant"
    assert body["memories"][0]["status"] == "ready"


def test_list_memories_pages_with_limit_and_offset(api, five):
    first = listed(api, limit=2)
    second = listed(api, limit=2, offset=2)
    last = listed(api, limit=2, offset=4)
    beyond = listed(api, limit=2, offset=10)

    assert [len(page["memories"]) for page in (first, second, last, beyond)] == [2, 2, 1, 0]
    assert {page["total"] for page in (first, second, last, beyond)} == {5}
    assert (second["limit"], second["offset"]) == (2, 2)
    seen = [m["id"] for page in (first, second, last) for m in page["memories"]]
    assert sorted(seen) == sorted(m["id"] for m in five)


def test_list_memories_filters_by_session(api, five):
    body = listed(api, session_id="a")

    assert body["total"] == 3
    assert contents(body) == [
        "Fifth: TEA time at five",
        "Fourth: how to deploy",
        "First: user likes tea",
    ]


@pytest.mark.parametrize("field", ["type", "memory_type"])
def test_list_memories_filters_by_type_under_either_name(api, five, field):
    body = listed(api, **{field: "procedural"})

    assert (body["total"], contents(body)) == (1, ["Fourth: how to deploy"])


def test_list_memories_searches_the_text_ignoring_case(api, five):
    body = listed(api, q="tea")

    assert body["total"] == 2
    assert contents(body) == ["Fifth: TEA time at five", "First: user likes tea"]


def test_list_memories_combines_filters(api, five):
    body = listed(api, session_id="a", type="episodic", q="tea", sort="oldest")

    assert contents(body) == ["First: user likes tea", "Fifth: TEA time at five"]


def test_list_memories_sorts_oldest_first(api, five):
    assert contents(listed(api, sort="oldest"))[:2] == [
        "First: user likes tea",
        "Second: user likes coffee",
    ]


def test_list_memories_sorts_most_used_first(api, five):
    Memory.objects.filter(uuid=five[1]["id"]).update(access_count=9)
    Memory.objects.filter(uuid=five[2]["id"]).update(access_count=3)

    body = listed(api, sort="most_used")

    assert contents(body)[:3] == [
        "Second: user likes coffee",
        "Third: deploy on Fridays",
        "Fifth: TEA time at five",
    ]
    assert [m["access_count"] for m in body["memories"]] == [9, 3, 0, 0, 0]


def test_list_memories_leaves_out_expired_ones_but_keeps_pinned_ones(api, agent, five):
    pinned = api.remember(agent, "Pinned and past its expiry", pinned=True, ttl_days=1)
    expire(five[0]["id"], pinned["id"])

    body = listed(api)

    assert body["total"] == 5
    assert "First: user likes tea" not in contents(body)
    assert "Pinned and past its expiry" in contents(body)


def test_list_memories_shows_only_this_agents_memories(api, account, agent, five):
    services.agent_create(account=account, slug="second", name="Second")
    api.remember("second", "Belongs to the second agent")

    assert "Belongs to the second agent" not in contents(listed(api))
    assert listed(api)["total"] == 5


def test_list_memories_past_the_last_page_is_empty_however_far(api, five):
    body = listed(api, offset=2**63 - 1)

    assert (body["memories"], body["total"]) == ([], 5)


def test_list_memories_of_an_agent_without_memories_is_empty(api, agent):
    assert listed(api) == {"memories": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "random"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "99999999999999999999"}, "offset"),
        ({"type": "bogus"}, "type"),
        ({"memory_type": "bogus"}, "memory_type"),
        ({"session_id": ""}, "session_id"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_list_memories_with_bad_parameters_is_400(api, five, params, field):
    response = api.get(LIST_URL, params)

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_request"
    assert isinstance(error["detail"], str)
    assert field in error["errors"]


# -- bulk delete ------------------------------------------------------------------


def test_delete_memories_of_a_session_deletes_only_that_session(api, account, five):
    services.agent_create(account=account, slug="second", name="Second")
    api.remember("second", "Same session id, another agent", session_id="a")

    response = api.delete(f"{LIST_URL}?session_id=a")

    assert response.status_code == 200
    assert response.json() == {"deleted": 3}
    assert sorted(Memory.objects.values_list("content", flat=True)) == [
        "Same session id, another agent",
        "Second: user likes coffee",
        "Third: deploy on Fridays",
    ]


def test_delete_memories_without_session_deletes_all_of_the_agents_memories(
    api, account, five, other_memory
):
    services.agent_create(account=account, slug="second", name="Second")
    api.remember("second", "Belongs to the second agent")

    response = api.delete(LIST_URL)

    assert response.json() == {"deleted": 5}
    assert sorted(Memory.objects.values_list("content", flat=True)) == [
        "Belongs to the second agent",
        other_memory.content,
    ]


def test_delete_memories_of_an_unknown_session_deletes_nothing(api, five):
    assert api.delete(f"{LIST_URL}?session_id=nobody").json() == {"deleted": 0}
    assert Memory.objects.count() == 5


def test_delete_memories_with_an_empty_session_id_is_400_and_deletes_nothing(api, five):
    response = api.delete(f"{LIST_URL}?session_id=")

    assert response.status_code == 400
    assert "session_id" in response.json()["errors"]
    assert Memory.objects.count() == 5


# -- one memory -------------------------------------------------------------------


def test_get_memory_answers_it(api, agent, memory):
    response = api.get(f"/api/v1/agents/assistant/memories/{memory.uuid}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(memory.uuid)
    assert (body["content"], body["session_id"], body["agent_id"]) == (
        memory.content,
        "s1",
        "assistant",
    )
    assert body["status"] == "ready"


def test_get_memory_through_the_agents_uuid(api, agent, memory):
    response = api.get(f"/api/v1/agents/{agent.uuid}/memories/{memory.uuid}")

    assert response.status_code == 200
    assert response.json()["id"] == str(memory.uuid)


def test_get_memory_does_not_count_an_access(api, memory):
    api.get(f"/api/v1/agents/assistant/memories/{memory.uuid}")

    memory.refresh_from_db()
    assert (memory.access_count, memory.last_accessed_at) == (0, None)


@pytest.mark.parametrize("memory_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "42"])
def test_get_missing_memory_is_404_quoting_the_id(api, agent, memory, memory_id):
    response = api.get(f"/api/v1/agents/assistant/memories/{memory_id}")

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"No memory '{memory_id}' in agent 'assistant'.",
        "code": "memory_not_found",
    }


def test_get_memory_of_another_agent_of_the_account_is_404(api, account, memory):
    services.agent_create(account=account, slug="second", name="Second")

    response = api.get(f"/api/v1/agents/second/memories/{memory.uuid}")

    assert response.status_code == 404
    assert response.json()["code"] == "memory_not_found"


def test_get_expired_memory_is_404_but_a_pinned_one_never_expires(api, agent, memory):
    pinned = api.remember(agent, "Pinned and past its expiry", pinned=True, ttl_days=1)
    expire(memory.uuid, pinned["id"])

    expired_response = api.get(f"/api/v1/agents/assistant/memories/{memory.uuid}")
    pinned_response = api.get(f"/api/v1/agents/assistant/memories/{pinned['id']}")

    assert expired_response.status_code == 404
    assert expired_response.json()["code"] == "memory_not_found"
    assert pinned_response.status_code == 200


def test_patch_memory_changes_pinned_type_and_metadata(api, memory):
    url = f"/api/v1/agents/assistant/memories/{memory.uuid}"

    response = api.patch(url, {"pinned": True, "type": "semantic", "metadata": {"new": True}})

    assert response.status_code == 200
    body = response.json()
    assert (body["pinned"], body["type"], body["memory_type"], body["metadata"]) == (
        True,
        "semantic",
        "semantic",
        {"new": True},
    )
    memory.refresh_from_db()
    assert (memory.pinned, memory.type, memory.metadata) == (True, "semantic", {"new": True})
    assert memory.content == "The user's favourite colour is green"
    assert body["updated_at"] == memory.updated_at.isoformat().replace("+00:00", "Z")


def test_patch_memory_accepts_memory_type_and_ignores_unknown_fields(api, memory):
    url = f"/api/v1/agents/assistant/memories/{memory.uuid}"

    response = api.patch(url, {"memory_type": "procedural", "content": "Rewritten", "x": 1})

    assert response.status_code == 200
    memory.refresh_from_db()
    assert (memory.type, memory.content) == ("procedural", "The user's favourite colour is green")


def test_patch_memory_with_null_fields_changes_nothing(api, memory):
    url = f"/api/v1/agents/assistant/memories/{memory.uuid}"
    Memory.objects.filter(pk=memory.pk).update(metadata={"keep": 1})

    response = api.patch(
        url,
        {"pinned": None, "type": None, "metadata": None, "ttl_days": None, "ttl_seconds": None},
    )

    assert response.status_code == 200
    stored = Memory.objects.get(pk=memory.pk)
    assert (stored.pinned, stored.type, stored.metadata, stored.expires_at) == (
        False,
        "episodic",
        {"keep": 1},
        None,
    )


def test_patch_memory_ttl_days_restarts_the_expiry_from_now(api, memory):
    Memory.objects.filter(pk=memory.pk).update(expires_at=timezone.now() + timedelta(days=100))

    response = api.patch(f"/api/v1/agents/assistant/memories/{memory.uuid}", {"ttl_days": 2})

    memory.refresh_from_db()
    assert abs(memory.expires_at - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)
    assert response.json()["expires_at"] == memory.expires_at.isoformat().replace("+00:00", "Z")


def test_patch_memory_ttl_seconds_sets_the_expiry(api, memory):
    api.patch(f"/api/v1/agents/assistant/memories/{memory.uuid}", {"ttl_seconds": 600})

    memory.refresh_from_db()
    expected = timezone.now() + timedelta(seconds=600)
    assert abs(memory.expires_at - expected) < timedelta(seconds=30)


@pytest.mark.parametrize("field", ["ttl_days", "ttl_seconds"])
def test_patch_memory_ttl_zero_removes_the_expiry(api, agent, field):
    expiring = api.remember(agent, "Expires soon", ttl_days=1)

    response = api.patch(f"/api/v1/agents/assistant/memories/{expiring['id']}", {field: 0})

    assert response.status_code == 200
    assert response.json()["expires_at"] is None
    assert Memory.objects.get(uuid=expiring["id"]).expires_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pinned": "yes"}, "pinned"),
        ({"type": "bogus"}, "type"),
        ({"memory_type": 3}, "memory_type"),
        ({"metadata": ["a"]}, "metadata"),
        ({"ttl_days": -1}, "ttl_days"),
        ({"ttl_seconds": "later"}, "ttl_seconds"),
        ({"ttl_days": 1, "ttl_seconds": 60}, "ttl_seconds"),
        ({"ttl_days": 0, "ttl_seconds": 5}, "ttl_seconds"),
        ({"type": "semantic", "memory_type": "procedural"}, "memory_type"),
        ({"pinned": True, "type": "bogus"}, "type"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_patch_memory_with_bad_input_is_400_and_changes_nothing(api, memory, body, field):
    response = api.patch(f"/api/v1/agents/assistant/memories/{memory.uuid}", body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert field in response.json()["errors"]
    stored = Memory.objects.get(pk=memory.pk)
    assert (stored.pinned, stored.type, stored.metadata, stored.expires_at) == (
        False,
        "episodic",
        {},
        None,
    )
    assert stored.updated_at == memory.updated_at


def test_patch_memory_with_malformed_json_is_400(api, memory):
    response = api.raw("patch", f"/api/v1/agents/assistant/memories/{memory.uuid}", "{pinned")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert Memory.objects.get(pk=memory.pk).pinned is False


def test_delete_memory_forgets_it(api, agent, memory):
    other = api.remember(agent, "Stays")

    response = api.delete(f"/api/v1/agents/assistant/memories/{memory.uuid}")

    assert response.status_code == 200
    assert response.json() == {"id": str(memory.uuid), "deleted": True, "memories_deleted": 1}
    assert [str(uuid) for uuid in Memory.objects.values_list("uuid", flat=True)] == [other["id"]]
    again = api.delete(f"/api/v1/agents/assistant/memories/{memory.uuid}")
    assert again.status_code == 404
    assert again.json()["code"] == "memory_not_found"


# -- sessions ---------------------------------------------------------------------


def test_sessions_lists_each_session_with_count_and_last_memory_time_newest_first(api, five):
    response = api.get("/api/v1/agents/assistant/sessions")

    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [(s["session_id"], s["count"]) for s in sessions] == [("a", 3), ("b", 1)]
    newest_a = Memory.objects.get(uuid=five[4]["id"]).created_at
    assert sessions[0]["last_at"] == newest_a.isoformat().replace("+00:00", "Z")


def test_sessions_leave_out_expired_memories(api, five):
    expire(five[2]["id"])

    sessions = api.get("/api/v1/agents/assistant/sessions").json()["sessions"]

    assert [s["session_id"] for s in sessions] == ["a"]


def test_sessions_of_an_agent_without_sessions_is_empty(api, agent):
    api.remember(agent, "No session here")

    assert api.get("/api/v1/agents/assistant/sessions").json() == {"sessions": []}
