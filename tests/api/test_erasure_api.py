"""Erasure through the API (GDPR article 17): each delete answers how many memories it
removed, and afterwards the rows are gone from the database itself, with their vectors,
their place in the vector copies, and the stored answers that quoted them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection

from api.models import ApiKey, IdempotencyKey
from audit.models import AuditEvent
from billing.models import Account
from memories import services
from memories.embedding import get_embedder
from memories.models import Agent
from memories.vector_cache import get_vector_cache
from tests.api.conftest import BASE, Api

pytestmark = pytest.mark.usefixtures("fake_embedder")


def rows(sql: str, params: list[Any]) -> int:
    """How many rows the raw query counts, straight from PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def memory_rows(*, uuids: Sequence[str] = (), content: str | None = None) -> int:
    return rows(
        "SELECT count(*) FROM memories_memory WHERE uuid::text = ANY(%s) OR content = %s",
        [list(uuids), content],
    )


def actor(api_key: tuple[ApiKey, str]) -> str:
    return f"api_key:{api_key[0].prefix}"


def only_event(account: Account, kind: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(account=account, kind=kind)
    return event


def test_deleting_a_memory_answers_one_and_leaves_no_row(api: Api, agent: Agent, account, api_key):
    gone = api.remember(agent, "The user's passport number is X123", session_id="u1")
    kept = api.remember(agent, "The user likes tea", session_id="u1")

    response = api.delete(f"{BASE}/agents/{agent.slug}/memories/{gone['id']}")

    assert response.status_code == 200
    assert response.json() == {"id": gone["id"], "deleted": True, "memories_deleted": 1}
    assert memory_rows(uuids=[gone["id"]], content="The user's passport number is X123") == 0
    assert memory_rows(uuids=[kept["id"]]) == 1
    assert Account.objects.get(pk=account.pk).memories_held == 1
    event = only_event(account, AuditEvent.Kind.MEMORIES_DELETED)
    assert (event.actor, event.target) == (actor(api_key), agent.slug)
    assert event.data == {"count": 1, "ids": [gone["id"]]}
    assert "passport" not in json.dumps(event.data)


def test_deleting_a_sessions_memories_of_an_agent_answers_the_count(api: Api, agent, account):
    session = [api.remember(agent, f"Fact {n} about user 7", session_id="user-7") for n in range(3)]
    other = api.remember(agent, "About someone else", session_id="user-8")

    response = api.delete(f"{BASE}/agents/{agent.slug}/memories?session_id=user-7")

    assert response.status_code == 200
    assert response.json() == {"deleted": 3}
    assert memory_rows(uuids=[m["id"] for m in session]) == 0
    assert rows("SELECT count(*) FROM memories_memory WHERE session_id = %s", ["user-7"]) == 0
    assert memory_rows(uuids=[other["id"]]) == 1
    event = only_event(account, AuditEvent.Kind.MEMORIES_DELETED)
    assert event.data == {
        "count": 3,
        "ids": sorted(m["id"] for m in session),
        "session_id": "user-7",
    }


def test_deleting_an_agent_removes_its_rows_and_answers_the_count(
    api: Api, agent, account, api_key
):
    ids = [api.remember(agent, f"Memory {n}")["id"] for n in range(3)]
    api.post(f"{BASE}/agents/{agent.slug}/remember/batch", {"memories": [{"content": "Batch"}]})
    other = services.agent_create(account=account, slug="other", name="Other")
    kept = api.remember(other, "Stays")

    response = api.delete(f"{BASE}/agents/{agent.slug}")

    assert response.status_code == 200
    assert response.json() == {"id": agent.slug, "deleted": True, "memories_deleted": 4}
    assert rows("SELECT count(*) FROM memories_memory WHERE agent_id = %s", [agent.pk]) == 0
    assert memory_rows(uuids=ids) == 0
    assert rows("SELECT count(*) FROM memories_agent WHERE id = %s", [agent.pk]) == 0
    assert rows("SELECT count(*) FROM memories_memorybatch WHERE agent_id = %s", [agent.pk]) == 0
    assert memory_rows(uuids=[kept["id"]]) == 1
    event = only_event(account, AuditEvent.Kind.AGENT_DELETED)
    assert (event.actor, event.target) == (actor(api_key), agent.slug)
    assert event.data["uuid"] == str(agent.uuid)
    assert event.data["count"] == 4
    assert set(ids) <= set(event.data["ids"])


def test_erasing_a_session_removes_it_from_every_agent(api: Api, agent, account, api_key):
    second = services.agent_create(account=account, slug="sales", name="Sales")
    erased = [
        api.remember(agent, "User 42 lives in Porto", session_id="user-42"),
        api.remember(agent, "User 42 has two cats", session_id="user-42"),
        api.remember(second, "User 42 bought the pro plan", session_id="user-42"),
    ]
    kept = api.remember(agent, "User 43 lives in Lyon", session_id="user-43")
    held = Account.objects.get(pk=account.pk).memories_held

    response = api.delete(f"{BASE}/sessions/user-42")

    assert response.status_code == 200
    assert response.json() == {
        "session_id": "user-42",
        "deleted": 3,
        "agents": 2,
        "by_agent": {"assistant": 2, "sales": 1},
    }
    assert rows("SELECT count(*) FROM memories_memory WHERE session_id = %s", ["user-42"]) == 0
    assert memory_rows(uuids=[m["id"] for m in erased]) == 0
    assert memory_rows(uuids=[kept["id"]]) == 1
    assert Account.objects.get(pk=account.pk).memories_held == held - 3
    event = only_event(account, AuditEvent.Kind.SESSION_ERASED)
    assert (event.actor, event.target) == (actor(api_key), "user-42")
    assert event.data == {
        "count": 3,
        "ids": sorted(m["id"] for m in erased),
        "agents": {"assistant": 2, "sales": 1},
    }
    assert "Porto" not in json.dumps(event.data)


def test_erasing_a_session_no_memory_holds_is_a_404(api: Api, agent):
    api.remember(agent, "Something", session_id="user-1")

    response = api.delete(f"{BASE}/sessions/nobody")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No memory of session 'nobody' in this account.",
        "code": "session_not_found",
    }


def test_erasing_a_session_leaves_another_accounts_same_session(api: Api, agent, other_memory):
    mine = api.remember(agent, "Mine", session_id="s1")

    response = api.delete(f"{BASE}/sessions/s1")

    assert response.json()["deleted"] == 1
    assert memory_rows(uuids=[mine["id"]]) == 0
    assert memory_rows(uuids=[str(other_memory.uuid)]) == 1


def test_erasure_drops_the_stored_answers_that_quote_the_memory(api: Api, agent):
    gone = api.post(
        f"{BASE}/agents/{agent.slug}/remember",
        {"content": "The user's card ends in 4242", "session_id": "u1"},
        HTTP_IDEMPOTENCY_KEY="remember-card",
    ).json()
    api.post(
        f"{BASE}/agents/{agent.slug}/recall",
        {"query": "card", "session_id": "u1"},
        HTTP_IDEMPOTENCY_KEY="recall-card",
    )
    kept = api.post(
        f"{BASE}/agents/{agent.slug}/remember",
        {"content": "Unrelated", "session_id": "u2"},
        HTTP_IDEMPOTENCY_KEY="remember-other",
    ).json()

    api.delete(f"{BASE}/sessions/u1")

    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["remember-other"]
    assert (
        rows("SELECT count(*) FROM api_idempotencykey WHERE response_body LIKE %s", ["%4242%"]) == 0
    )
    assert kept["id"] in IdempotencyKey.objects.get().response_body
    assert gone["id"] not in "".join(IdempotencyKey.objects.values_list("response_body", flat=True))


# The vector copies are filled from committed data only: these two commit for real.
@pytest.mark.django_db(transaction=True)
def test_an_erased_memory_leaves_the_vector_copies(api: Api, agent):
    memory = api.remember(agent, "The user's blood type is AB")
    api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "blood type"})
    model = get_embedder().model_name
    assert get_vector_cache().holds(agent_pk=agent.pk, model_name=model)

    api.delete(f"{BASE}/agents/{agent.slug}/memories/{memory['id']}")

    # Another process that does not search this agent again drops its copy all the same.
    assert get_vector_cache().prune_erased() == 1
    assert not get_vector_cache().holds(agent_pk=agent.pk, model_name=model)
    found = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "blood type"}).json()
    assert found["memories"] == []


@pytest.mark.django_db(transaction=True)
def test_a_deleted_agents_vector_copy_is_dropped_on_commit(api: Api, agent):
    api.remember(agent, "The user's blood type is AB")
    api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "blood type"})
    model = get_embedder().model_name
    assert get_vector_cache().holds(agent_pk=agent.pk, model_name=model)

    api.delete(f"{BASE}/agents/{agent.slug}")

    assert not get_vector_cache().holds(agent_pk=agent.pk, model_name=model)
