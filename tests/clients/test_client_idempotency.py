"""The client sends one Idempotency-Key per POST, on every attempt, so a retried write is
written once: against a loopback server for the retries, and the live server for the key."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kronvex_client import APITimeoutError, ConflictError, Kronvex

from api.models import IdempotencyKey
from memories.models import Agent, Memory
from tests.clients.conftest import Answer, LoopbackServer

MEMORY = {
    "id": "30046bbe-69bd-4d43-acb0-47155e0e4657",
    "agent_id": "assistant",
    "content": "The user likes tea",
    "type": "episodic",
    "memory_type": "episodic",
    "session_id": None,
    "metadata": {},
    "pinned": False,
    "created_at": "2026-11-25T08:28:19.610944Z",
    "updated_at": "2026-11-25T08:28:19.611271Z",
    "expires_at": None,
    "access_count": 0,
    "last_accessed_at": None,
    "refreshed_at": None,
    "superseded_by": None,
    "status": "ready",
    "embedding_model": "all-MiniLM-L6-v2",
    "embedding_error": None,
    "deduplicated": False,
}
UNAVAILABLE = {"detail": "The database is unavailable.", "code": "database_unavailable"}
IN_USE = {
    "detail": "A request with this Idempotency-Key is still in progress; retry in 1 s.",
    "code": "idempotency_key_in_use",
}


def test_a_retried_post_sends_the_same_key_and_body_each_time(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(503, UNAVAILABLE, {"Retry-After": "1"}), Answer(200, MEMORY))

    with Kronvex("kv-x", base_url=server.url) as client:
        memory = client.remember("assistant", "The user likes tea")

    assert memory.content == "The user likes tea"
    first, second = server.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert len(first.headers["Idempotency-Key"]) == 36
    assert json.loads(first.body) == json.loads(second.body) == {"content": "The user likes tea"}


def test_each_call_has_its_own_key_and_reads_have_none(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(200, MEMORY))

    with Kronvex("kv-x", base_url=server.url) as client:
        client.remember("assistant", "The user likes tea")
        client.remember("assistant", "The user likes tea")
        client.get_memory("assistant", MEMORY["id"])

    keys = [received.headers.get("Idempotency-Key") for received in server.received]
    assert keys[0] != keys[1] and None not in keys[:2]
    assert keys[2] is None


def test_a_timed_out_post_is_retried_with_its_key(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(200, MEMORY, delay=2))

    with (
        Kronvex("kv-x", base_url=server.url, timeout=0.2, max_retries=1) as client,
        pytest.raises(APITimeoutError),
    ):
        client.remember("assistant", "Sent twice, written once")

    first, second = server.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_a_key_in_use_is_retried_after_its_retry_after(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(409, IN_USE, {"Retry-After": "1"}), Answer(200, MEMORY))

    with Kronvex("kv-x", base_url=server.url) as client:
        memory = client.remember("assistant", "The user likes tea")

    assert str(memory.id) == MEMORY["id"]
    first, second = server.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert second.at - first.at >= 1


def test_an_existing_agent_is_a_conflict_raised_at_once(
    loopback: Callable[..., LoopbackServer],
) -> None:
    exists = {"detail": "An agent with id 'assistant' already exists.", "code": "agent_exists"}
    server = loopback(Answer(409, exists), Answer(201, {}))

    with Kronvex("kv-x", base_url=server.url) as client, pytest.raises(ConflictError) as conflict:
        client.create_agent("Assistant", id="assistant")

    assert conflict.value.code == "agent_exists"
    assert len(server.received) == 1


def test_the_service_keeps_the_answer_under_the_clients_key(client: Kronvex, agent: Agent) -> None:
    memory = client.remember("assistant", "The user likes tea")

    stored = IdempotencyKey.objects.get(account=agent.account)
    assert stored.status_code == 200
    assert json.loads(stored.response_body)["id"] == str(memory.id)
    assert Memory.objects.filter(agent=agent).count() == 1
