"""Request limits: metadata size, depth and keys, session ids, batch size and the body, each
refused with 4xx in the one error shape before anything is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from api.fields import MAX_METADATA_DEPTH, MAX_METADATA_KEYS, MAX_SESSION_ID_CHARS
from api.views import MAX_BATCH
from memories.models import Agent, Memory, MemoryBatch
from tests.api.conftest import BASE

pytestmark = pytest.mark.django_db


def nested(levels: int) -> dict[str, Any]:
    """A metadata object `levels` deep, counting itself."""
    value: Any = 1
    for _ in range(levels - 1):
        value = {"k": value}
    return {"k": value}


def many_keys(count: int) -> dict[str, Any]:
    # Half at the top, half one level down: nested objects' keys count too.
    half = count // 2
    return {
        **{f"k{i}": i for i in range(half)},
        "inner": {f"j{i}": i for i in range(count - half - 1)},
    }


TOO_BIG = {"blob": "x" * settings.KRONVEX_MAX_METADATA_BYTES}
TOO_DEEP = nested(MAX_METADATA_DEPTH + 1)
TOO_DEEP_IN_A_LIST = {"k": [[[[[1]]]]]}
TOO_MANY_KEYS = many_keys(MAX_METADATA_KEYS + 1)
BAD_METADATA = {
    "too-big": (TOO_BIG, "Must be at most 16384 bytes as JSON."),
    "too-deep": (TOO_DEEP, f"Must nest at most {MAX_METADATA_DEPTH} levels deep."),
    "too-deep-in-a-list": (TOO_DEEP_IN_A_LIST, "Must nest at most 5 levels deep."),
    "too-many-keys": (
        TOO_MANY_KEYS,
        f"Must hold at most {MAX_METADATA_KEYS} keys, counting those of nested objects.",
    ),
}


def test_the_limits_themselves_are_accepted(api, agent):
    fields = {
        # 95 keys, "deep" and the 4 of nested(4): 100 in all, 5 levels deep.
        "metadata": {**many_keys(MAX_METADATA_KEYS - 5), "deep": nested(MAX_METADATA_DEPTH - 1)},
        "session_id": "s" * MAX_SESSION_ID_CHARS,
    }

    response = api.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "ok", **fields})

    assert response.status_code == 200, response.json()
    assert Memory.objects.get().metadata == fields["metadata"]


def counts() -> tuple[int, int, list[Any]]:
    return (
        Memory.objects.count(),
        MemoryBatch.objects.count(),
        list(Agent.objects.values_list("slug", "metadata")),
    )


@pytest.mark.parametrize(("metadata", "message"), BAD_METADATA.values(), ids=list(BAD_METADATA))
@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [
        ("post", "/agents", {"id": "new", "name": "New"}),
        ("patch", "/agents/{agent}", {}),
        ("post", "/agents/{agent}/remember", {"content": "ok"}),
        ("patch", "/agents/{agent}/memories/{memory}", {}),
    ],
    ids=["agent-create", "agent-update", "remember", "memory-update"],
)
def test_metadata_over_a_limit_is_400_and_writes_nothing(
    api, agent, memory, method, path, fields, metadata, message
):
    before = counts()
    memory_before = Memory.objects.values().get(pk=memory.pk)
    url = BASE + path.format(agent=agent.slug, memory=memory.uuid)

    response = api.request(method, url, {**fields, "metadata": metadata})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Invalid request. metadata: {message}",
        "code": "invalid_request",
        "errors": {"metadata": [message]},
    }
    assert counts() == before
    assert Memory.objects.values().get(pk=memory.pk) == memory_before


def test_a_batch_item_over_a_metadata_limit_is_rejected_with_the_same_errors(api, agent):
    response = api.post(
        f"{BASE}/agents/{agent.slug}/remember/batch",
        {"memories": [{"content": "kept"}, {"content": "too deep", "metadata": TOO_DEEP}]},
    )

    assert response.status_code == 200
    rejected = response.json()["items"][1]
    assert rejected["status"] == "rejected"
    assert rejected["error"]["errors"] == {
        "metadata": [f"Must nest at most {MAX_METADATA_DEPTH} levels deep."]
    }
    assert list(Memory.objects.values_list("content", flat=True)) == ["kept"]


def test_a_session_id_over_its_length_is_400_and_writes_nothing(api, agent):
    response = api.post(
        f"{BASE}/agents/{agent.slug}/remember",
        {"content": "ok", "session_id": "s" * (MAX_SESSION_ID_CHARS + 1)},
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["session_id"]
    assert Memory.objects.count() == 0


def test_a_batch_over_its_size_is_400_and_writes_nothing(api, agent):
    response = api.post(
        f"{BASE}/agents/{agent.slug}/remember/batch",
        {"memories": [{"content": f"m{i}"} for i in range(MAX_BATCH + 1)]},
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["memories"]
    assert (Memory.objects.count(), MemoryBatch.objects.count()) == (0, 0)


def test_a_body_over_the_size_limit_is_413_and_writes_nothing(settings, api, agent):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048

    response = api.raw(
        "post",
        f"{BASE}/agents/{agent.slug}/remember",
        json.dumps({"content": "x" * 3000}),
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert Memory.objects.count() == 0


def test_mcp_remember_applies_the_same_metadata_limits(account, api_key, agent):
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "remember",
            "arguments": {"agent_id": agent.slug, "content": "ok", "metadata": TOO_DEEP},
        },
    }

    response = Client(HTTP_X_API_KEY=api_key[1]).post(
        "/mcp", json.dumps(message), content_type="application/json"
    )

    result = response.json()["result"]
    assert result["isError"] is True
    assert "metadata: Must nest at most 5 levels deep." in result["content"][0]["text"]
    assert Memory.objects.count() == 0
