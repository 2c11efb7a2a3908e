"""POST /agents/{id}/remember/batch and its progress: many memories in one call."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import F

from billing.models import Account
from memories.models import EmbeddingStatus, Memory, MemoryBatch

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/assistant/remember/batch"


def batch(api, memories: list[Any]) -> dict[str, Any]:
    response = api.post(URL, {"memories": memories})
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_batch_stores_every_memory_embeds_them_and_reports_each(api, agent):
    body = batch(
        api,
        [
            {"content": "The user lives in Porto", "session_id": "u1"},
            {"content": "Prefers window seats", "type": "semantic", "metadata": {"k": 1}},
            {"content": "Met Priya in Lisbon", "created_at": "2025-03-14T10:00:00Z"},
        ],
    )

    assert (body["total"], body["created"], body["deduplicated"], body["rejected"]) == (3, 3, 0, 0)
    assert [item["status"] for item in body["items"]] == ["created"] * 3
    assert [item["index"] for item in body["items"]] == [0, 1, 2]
    stored = {str(m.uuid): m for m in Memory.objects.filter(agent=agent)}
    assert set(stored) == {item["id"] for item in body["items"]}
    assert all(m.status == EmbeddingStatus.READY for m in stored.values())
    second = stored[body["items"][1]["id"]]
    assert (second.type, second.metadata) == ("semantic", {"k": 1})
    assert stored[body["items"][2]["id"]].created_at.isoformat().startswith("2025-03-14")
    assert Account.objects.get(pk=agent.account_id).memories_held == 3

    progress = api.get(body["progress_url"]).json()
    assert progress["batch_id"] == body["batch_id"]
    assert progress["embedding"] == {"pending": 0, "ready": 3, "failed": 0}
    assert progress["done"] is True

    recalled = api.post("/api/v1/agents/assistant/recall", {"query": "Priya"}).json()
    assert recalled["memories"][0]["content"] == "Met Priya in Lisbon"


def test_invalid_items_are_rejected_with_their_reason_and_the_others_stored(api, agent):
    api.remember(agent, "Already known fact")

    body = batch(
        api,
        [
            {"content": "New fact"},
            {"content": ""},
            "not an object",
            {"content": "already KNOWN fact!"},
            {"content": "New fact"},
            {"content": "Another", "ttl_days": 0},
        ],
    )

    statuses = [item["status"] for item in body["items"]]
    assert statuses == [
        "created",
        "rejected",
        "rejected",
        "deduplicated",
        "deduplicated",
        "rejected",
    ]
    assert (body["created"], body["deduplicated"], body["rejected"]) == (1, 2, 3)
    empty = body["items"][1]["error"]
    assert empty["code"] == "invalid_request"
    assert "content" in empty["errors"]
    assert body["items"][2]["error"]["code"] == "invalid_request"
    assert "ttl_days" in body["items"][5]["error"]["errors"]
    assert body["items"][4]["id"] == body["items"][0]["id"]
    assert Memory.objects.filter(agent=agent).count() == 2


def test_items_past_the_plan_limit_are_rejected_with_402s_shape(api, agent, account):
    Memory.objects.bulk_create(
        Memory(account=account, agent=agent, content=f"filler {n}") for n in range(499)
    )
    Account.objects.filter(pk=account.pk).update(memories_held=F("memories_held") + 499)

    body = batch(api, [{"content": "the 500th"}, {"content": "the 501st"}, {"content": "502"}])

    assert [item["status"] for item in body["items"]] == ["created", "rejected", "rejected"]
    error = body["items"][1]["error"]
    assert (error["code"], error["limit"], error["used"], error["plan"]) == (
        "memory_limit_reached",
        500,
        500,
        "free",
    )
    assert error["upgrade_url"].endswith("/dashboard/billing/")
    assert not Memory.objects.filter(content="the 501st").exists()
    assert Account.objects.get(pk=account.pk).memories_held == 500


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"memories": []},
        {"memories": "text"},
        {"memories": [{"content": "x"}] * 1001},
        [{"content": "x"}],
    ],
    ids=["missing", "empty", "not-a-list", "too-many", "bare-list"],
)
def test_a_batch_that_is_not_a_list_of_1_to_1000_items_is_400_and_writes_nothing(
    api, agent, payload
):
    response = api.post(URL, payload)

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_request"}
    assert not Memory.objects.exists()
    assert not MemoryBatch.objects.exists()


def test_progress_counts_what_still_waits_for_its_vector(api, agent):
    body = batch(api, [{"content": "one"}, {"content": "two"}, {"content": "three"}])
    first = Memory.objects.get(uuid=body["items"][0]["id"])
    Memory.objects.filter(pk=first.pk).update(status=EmbeddingStatus.PENDING)
    Memory.objects.filter(uuid=body["items"][1]["id"]).update(status=EmbeddingStatus.FAILED)

    progress = api.get(body["progress_url"]).json()

    assert progress["embedding"] == {"pending": 1, "ready": 1, "failed": 1}
    assert progress["done"] is False
    assert (progress["total"], progress["created"]) == (3, 3)


def test_another_accounts_agent_answers_404_as_a_missing_one(api, other_api, agent):
    missing = api.post("/api/v1/agents/nobody/remember/batch", {"memories": [{"content": "x"}]})
    foreign = other_api.post(URL, {"memories": [{"content": "x"}]})

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["code"] == missing.json()["code"] == "agent_not_found"
    assert not Memory.objects.exists()


def test_another_accounts_batch_answers_404_as_a_missing_one(api, other_api, agent, other_account):
    from memories import services

    services.agent_create(account=other_account, slug="assistant", name="Theirs")
    theirs = batch(other_api, [{"content": "their memory"}])
    missing_id = "6f1c6c38-1d8b-4f4a-9a55-3f3c7c1e0000"

    foreign = api.get(f"{URL}/{theirs['batch_id']}")
    missing = api.get(f"{URL}/{missing_id}")
    malformed = api.get(f"{URL}/not-a-uuid")

    assert foreign.status_code == missing.status_code == malformed.status_code == 404
    assert foreign.json()["code"] == missing.json()["code"] == "batch_not_found"
    assert foreign.json()["detail"].replace(theirs["batch_id"], "X") == missing.json()[
        "detail"
    ].replace(missing_id, "X")


def test_batch_items_may_supersede_and_a_bad_supersedes_rejects_only_its_item(api, agent):
    old = api.remember(agent, "Drives a blue Clio")

    body = batch(
        api,
        [
            {"content": "Sold the Clio, drives a Zoe now", "supersedes": [old["id"]]},
            {"content": "x", "supersedes": ["6f1c6c38-1d8b-4f4a-9a55-3f3c7c1e0000"]},
        ],
    )

    assert [item["status"] for item in body["items"]] == ["created", "rejected"]
    assert body["items"][1]["error"]["code"] == "invalid_request"
    assert "supersedes" in body["items"][1]["error"]["errors"]
    assert str(Memory.objects.get(uuid=old["id"]).superseded_by) == body["items"][0]["id"]
    assert not Memory.objects.filter(content="x").exists()
