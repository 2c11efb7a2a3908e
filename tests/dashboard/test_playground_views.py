from __future__ import annotations

import json

from django.test import Client

from memories.models import Memory
from tests.dashboard.conftest import Owner


def _call(client: Client, owner: Owner, operation: str, body: object) -> tuple[int, dict]:
    response = client.post(
        f"/dashboard/agents/{owner.agent.slug}/playground/{operation}",
        json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
    )
    return response.status_code, response.json()


def test_playground_page_offers_the_three_calls(owner: Owner) -> None:
    page = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/playground/").content.decode()
    for operation in ("remember", "recall", "inject-context"):
        assert f'<option value="{operation}">' in page
    assert f"/api/v1/agents/{owner.agent.slug}/remember" in page
    assert 'id="pg-examples"' in page


def test_playground_remember_stores_and_answers_like_the_api(owner: Owner) -> None:
    status, body = _call(
        owner.client, owner, "remember", {"content": "Likes jazz", "session_id": "u-1"}
    )

    assert status == 200
    memory = Memory.objects.get(uuid=body["id"])
    assert (memory.content, memory.session_id, memory.agent_id) == (
        "Likes jazz",
        "u-1",
        owner.agent.pk,
    )
    assert body["agent_id"] == "support-bot"
    assert set(body) >= {"id", "content", "type", "status", "created_at"}


def test_playground_recall_and_inject_context(owner: Owner) -> None:
    status, body = _call(owner.client, owner, "recall", {"query": "what is the user's name?"})
    assert status == 200
    assert [m["content"] for m in body["memories"]] == ["The user's name is Ada"]
    assert {"confidence", "similarity", "recency", "frequency"} <= set(body["memories"][0])

    status, body = _call(owner.client, owner, "inject-context", {"query": "user's name"})
    assert status == 200
    assert "The user's name is Ada" in body["context"]
    assert body["memories_used"] == 1


def test_playground_errors_have_the_api_error_shape(owner: Owner) -> None:
    status, body = _call(owner.client, owner, "recall", {"query": "x", "top_k": 500})
    assert status == 400
    assert body["code"] == "invalid_request"
    assert set(body["errors"]) == {"top_k"}

    status, body = _call(owner.client, owner, "remember", "{not json")
    assert status == 400
    assert body["code"] == "malformed_json"
    assert Memory.objects.filter(agent=owner.agent).count() == 1


def test_playground_refuses_unknown_operations_and_gets(owner: Owner) -> None:
    url = f"/dashboard/agents/{owner.agent.slug}/playground/"
    assert owner.client.post(url + "forget", {}, content_type="application/json").status_code == 404
    assert owner.client.get(url + "recall").status_code == 405


def test_playground_needs_login_and_a_csrf_token(owner: Owner) -> None:
    url = f"/dashboard/agents/{owner.agent.slug}/playground/remember"
    anonymous = Client().post(url, {"content": "x"}, content_type="application/json")
    assert anonymous.status_code == 302

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner.user)
    refused = strict.post(url, {"content": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert not Memory.objects.filter(content="x").exists()
