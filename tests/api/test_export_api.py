"""Exports through the API (GDPR articles 15 and 20): the whole account, or one end user's
session across agents, as one streamed JSON document, each export audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from api.models import ApiKey
from audit.models import AuditEvent
from billing.models import Account, UsageDay
from memories import services
from memories.embedding import get_embedder
from memories.models import Agent, Memory
from tests.api.conftest import BASE, Api
from tests.api.test_openapi import assert_matches, response_schema
from tests.api.test_remember_api import MEMORY_KEYS

pytestmark = pytest.mark.usefixtures("fake_embedder")

MEMORY_FIELDS = {*MEMORY_KEYS, "agent_uuid"}


def downloaded(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="kronvex-')
    return json.loads(b"".join(response.streaming_content))


def test_the_account_export_holds_everything_the_account_holds(
    api: Api, account: Account, agent: Agent, api_key: tuple[ApiKey, str]
) -> None:
    services.agent_update(agent=agent, retention_days=90)
    first = api.remember(agent, "User prefers tea", session_id="u1", metadata={"src": "chat"})
    second = api.remember(agent, "Deploys on Tuesdays", type="procedural", pinned=True)
    api.patch(f"{BASE}/agents/{agent.slug}/memories/{first['id']}", {"ttl_days": 3})
    UsageDay.objects.create(
        account=account, agent_uuid=agent.uuid, day="2026-01-02", remember_calls=4
    )
    ApiKey.objects.create(account=account, name="old", prefix="kv-old", key_hash="f" * 64)

    document = downloaded(api.get(f"{BASE}/export"))

    assert document["format"] == "kronvex-export"
    assert document["version"] == 1
    assert document["account"] == {
        "uuid": str(account.uuid),
        "name": account.name,
        "plan": "free",
        "created_at": account.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert document["members"] == [
        {
            "email": "owner@example.com",
            "role": "owner",
            "joined_at": document["members"][0]["joined_at"],
        }
    ]
    [exported_agent] = document["agents"]
    assert (exported_agent["id"], exported_agent["retention_days"]) == ("assistant", 90)
    assert [key["prefix"] for key in document["api_keys"]] == [api_key[0].prefix, "kv-old"]
    assert all("hash" not in name for key in document["api_keys"] for name in key)
    assert "f" * 64 not in json.dumps(document)
    assert {"day": "2026-01-02", "remember_calls": 4}.items() <= document["usage"][0].items()
    assert [m["id"] for m in document["memories"]] == [first["id"], second["id"]]
    exported = document["memories"][0]
    assert set(exported) == MEMORY_FIELDS
    assert exported["content"] == "User prefers tea"
    assert exported["metadata"] == {"src": "chat"}
    assert exported["expires_at"] is not None
    assert document["memories"][1]["pinned"] is True
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert_matches(document, response_schema(schema, "/api/v1/export", "get", 200))


def test_the_account_export_gives_vectors_only_when_asked(api: Api, agent: Agent) -> None:
    api.remember(agent, "User prefers tea")

    plain = downloaded(api.get(f"{BASE}/export"))
    with_vectors = downloaded(api.get(f"{BASE}/export", {"vectors": "true"}))

    assert "embedding" not in plain["memories"][0]
    vector = with_vectors["memories"][0]["embedding"]
    assert len(vector) == get_embedder().dimensions
    assert all(isinstance(x, float) for x in vector)


def test_the_account_export_holds_nothing_of_another_account(
    api: Api, agent: Agent, other_memory: Memory
) -> None:
    api.remember(agent, "Mine")

    document = downloaded(api.get(f"{BASE}/export"))

    assert [m["content"] for m in document["memories"]] == ["Mine"]
    assert [a["id"] for a in document["agents"]] == ["assistant"]
    assert "bank PIN" not in json.dumps(document)


def test_an_export_is_audited_without_its_content(
    api: Api, account: Account, agent: Agent, api_key: tuple[ApiKey, str]
) -> None:
    api.remember(agent, "User prefers tea", session_id="u1")

    downloaded(api.get(f"{BASE}/export"))
    downloaded(api.get(f"{BASE}/sessions/u1/export"))

    events = AuditEvent.objects.filter(
        account=account,
        kind__in=[AuditEvent.Kind.ACCOUNT_EXPORTED, AuditEvent.Kind.SESSION_EXPORTED],
    )
    assert sorted((e.kind, e.actor, e.target, json.dumps(e.data)) for e in events) == [
        ("account.exported", f"api_key:{api_key[0].prefix}", "", '{"vectors": false}'),
        (
            "session.exported",
            f"api_key:{api_key[0].prefix}",
            "u1",
            '{"count": 1, "vectors": false}',
        ),
    ]


def test_the_session_export_holds_the_session_in_every_agent(
    api: Api, account: Account, agent: Agent, other_memory: Memory
) -> None:
    second = services.agent_create(account=account, slug="sales", name="Sales")
    first = api.remember(agent, "User 42 lives in Porto", session_id="s1")
    api.remember(agent, "User 43 lives in Lyon", session_id="s2")
    third = api.remember(second, "User 42 bought the pro plan", session_id="s1")

    document = downloaded(api.get(f"{BASE}/sessions/s1/export"))

    assert document["session_id"] == "s1"
    assert [(m["id"], m["agent_id"]) for m in document["memories"]] == [
        (first["id"], "assistant"),
        (third["id"], "sales"),
    ]
    assert all(set(m) == MEMORY_FIELDS for m in document["memories"])


def test_exporting_a_session_no_memory_holds_is_a_404(api: Api, other_memory: Memory) -> None:
    # Their memory is in session s1: mine has none.
    response = api.get(f"{BASE}/sessions/s1/export")

    assert response.status_code == 404
    assert response.json()["code"] == "session_not_found"


def test_the_export_needs_a_key(db: None) -> None:
    response = Client().get(f"{BASE}/export")

    assert response.status_code == 401


def test_the_export_reads_memories_in_a_fixed_number_of_queries(
    api: Api, agent: Agent, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        api.remember(agent, f"Memory number {n}")

    with django_assert_max_num_queries(20):
        document = downloaded(api.get(f"{BASE}/export"))

    assert len(document["memories"]) == 30
