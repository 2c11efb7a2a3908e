"""Each exception class, from a real server's answer; 429/503 retries and timeouts, from a
loopback server standing in for the network."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable

import pytest
from kronvex_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncKronvex,
    AuthenticationError,
    ConflictError,
    Kronvex,
    KronvexError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from kronvex_client.errors import error_from_response

from billing.models import Account
from memories.models import Agent, Memory
from tests.clients.conftest import Answer, LoopbackServer

AGENTS = {"agents": []}
UNAVAILABLE = {"detail": "The embedding provider is unavailable.", "code": "embedding_unavailable"}
RATE_LIMITED = {"detail": "Rate limit reached.", "code": "rate_limited", "retry_after": 1}


def test_a_bad_key_is_an_authentication_error(server_url: str, agent: Agent) -> None:
    with (
        Kronvex("kv-not-a-real-key", base_url=server_url) as client,
        pytest.raises(AuthenticationError) as refused,
    ):
        client.list_agents()

    error = refused.value
    assert (error.status_code, error.code) == (401, "invalid_api_key")
    assert error.detail == error.body["detail"]
    assert error.response is not None
    assert error.response.headers["WWW-Authenticate"] == 'Bearer realm="kronvex"'
    assert str(error) == f"invalid_api_key: {error.detail}"


def test_no_key_is_an_authentication_error(
    monkeypatch: pytest.MonkeyPatch, server_url: str, transactional_db: None
) -> None:
    monkeypatch.delenv("KRONVEX_API_KEY", raising=False)
    with Kronvex(base_url=server_url) as client, pytest.raises(AuthenticationError) as refused:
        client.list_agents()
    assert refused.value.code == "missing_api_key"


def test_a_missing_agent_and_another_accounts_agent_are_the_same_not_found(
    client: Kronvex, agent: Agent, other_agent: Agent
) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.recall("nobody", "anything")
    with pytest.raises(NotFoundError) as theirs:
        client.recall(other_agent.slug, "anything")
    with pytest.raises(NotFoundError) as theirs_by_uuid:
        client.remember(str(other_agent.uuid), "Planted")

    assert missing.value.code == theirs.value.code == theirs_by_uuid.value.code == "agent_not_found"
    assert missing.value.status_code == theirs.value.status_code == 404
    assert theirs.value.detail == f"No agent '{other_agent.slug}' in this account."
    assert not Memory.objects.filter(content="Planted").exists()


def test_invalid_input_is_a_validation_error_naming_each_field(
    client: Kronvex, agent: Agent
) -> None:
    with pytest.raises(ValidationError) as refused:
        client.recall("assistant", "anything", top_k=51)

    error = refused.value
    assert (error.status_code, error.code) == (400, "invalid_request")
    assert error.errors == {"top_k": ["Ensure this value is less than or equal to 50."]}
    with pytest.raises(ValidationError) as blank:
        client.remember("assistant", "   ")
    assert "content" in blank.value.errors


def test_an_existing_agent_id_is_a_conflict(client: Kronvex, agent: Agent) -> None:
    with pytest.raises(ConflictError) as refused:
        client.create_agent("Again", id="assistant")

    assert (refused.value.status_code, refused.value.code) == (409, "agent_exists")
    assert "id" in refused.value.errors


def test_the_plans_limits_are_quota_errors(free_client: Kronvex, free_account: Account) -> None:
    for n in range(3):
        free_client.create_agent(f"Agent {n}")
    with pytest.raises(QuotaExceededError) as agents_refused:
        free_client.create_agent("One too many")
    assert (agents_refused.value.status_code, agents_refused.value.code) == (
        402,
        "agent_limit_reached",
    )
    assert agents_refused.value.body["limit"] == 3

    agent = Agent.objects.get(account=free_account, slug="agent-0")
    Memory.objects.bulk_create(
        Memory(account=free_account, agent=agent, content=f"filler {n}") for n in range(500)
    )
    Account.objects.filter(pk=free_account.pk).update(memories_held=500)
    with pytest.raises(QuotaExceededError) as memories_refused:
        free_client.remember("agent-0", "One more")
    assert memories_refused.value.code == "memory_limit_reached"
    assert (memories_refused.value.body["used"], memories_refused.value.body["plan"]) == (
        500,
        "free",
    )

    batch = free_client.remember_many("agent-0", ["One more", "And another"])
    assert [item.error.code for item in batch.items if item.error] == ["memory_limit_reached"] * 2


def test_a_used_up_minute_is_a_rate_limit_error_with_retry_after(
    server_url: str, free_client: Kronvex
) -> None:
    # The 60 requests of the free plan's minute must fall in one window.
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.05)
    with Kronvex(free_client.api_key, base_url=server_url, max_retries=0) as client:
        for _ in range(60):
            client.list_agents()
        with pytest.raises(RateLimitError) as limited:
            client.list_agents()

    error = limited.value
    assert (error.status_code, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and 0 < error.retry_after <= 60
    assert error.body["limit"] == 60


def test_an_answer_that_is_not_the_error_shape_still_makes_an_error(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(502, "Bad gateway"))
    with (
        Kronvex("kv-x", base_url=server.url, max_retries=0) as client,
        pytest.raises(KronvexError) as failed,
    ):
        client.list_agents()
    assert type(failed.value) is KronvexError
    assert (failed.value.status_code, failed.value.code) == (502, "server_error")
    assert failed.value.detail == json.dumps("Bad gateway")


# -- retries -----------------------------------------------------------------------------


def test_a_503_is_retried_after_its_retry_after(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(
        Answer(503, UNAVAILABLE, {"Retry-After": "1"}),
        Answer(200, {"agents": [{"id": "assistant", "name": "Assistant"}]}),
    )

    with Kronvex("kv-x", base_url=server.url) as client:
        agents = client.list_agents()

    assert [agent.id for agent in agents] == ["assistant"]
    first, second = server.received
    assert (first.method, first.path) == (second.method, second.path) == ("GET", "/api/v1/agents")
    assert first.headers["X-API-Key"] == "kv-x"
    # The client waited as long as the server asked before sending again.
    assert second.at - first.at >= 1


def test_a_429_on_a_post_is_retried_with_the_same_body(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(
        Answer(429, RATE_LIMITED, {"Retry-After": "1"}),
        Answer(200, {"memories": []}),
    )

    with Kronvex("kv-x", base_url=server.url) as client:
        recalled = client.recall("assistant", "colour", top_k=3)

    assert len(recalled) == 0
    assert [r.method for r in server.received] == ["POST", "POST"]
    bodies = [json.loads(r.body) for r in server.received]
    assert bodies[0] == bodies[1] == {"query": "colour", "top_k": 3}


def test_retries_stop_after_max_retries(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(Answer(503, UNAVAILABLE))

    with (
        Kronvex("kv-x", base_url=server.url, max_retries=2) as client,
        pytest.raises(ServiceUnavailableError) as unavailable,
    ):
        client.list_agents()

    assert unavailable.value.code == "embedding_unavailable"
    assert unavailable.value.retry_after is None
    assert len(server.received) == 3


def test_max_retries_zero_sends_once(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(Answer(503, UNAVAILABLE, {"Retry-After": "1"}), Answer(200, AGENTS))

    with (
        Kronvex("kv-x", base_url=server.url, max_retries=0) as client,
        pytest.raises(ServiceUnavailableError) as unavailable,
    ):
        client.list_agents()

    assert unavailable.value.retry_after == 1
    assert len(server.received) == 1


def test_a_retry_after_past_the_cap_is_raised_at_once(
    loopback: Callable[..., LoopbackServer],
) -> None:
    daily = {"detail": "Recalls for today are used up.", "code": "recall_limit_reached"}
    server = loopback(Answer(429, daily, {"Retry-After": "36000"}), Answer(200, AGENTS))

    with Kronvex("kv-x", base_url=server.url) as client, pytest.raises(RateLimitError) as limited:
        client.recall("assistant", "colour")

    assert (limited.value.code, limited.value.retry_after) == ("recall_limit_reached", 36000)
    assert len(server.received) == 1


def test_other_errors_are_not_retried(loopback: Callable[..., LoopbackServer]) -> None:
    missing = {"detail": "No agent 'x' in this account.", "code": "agent_not_found"}
    server = loopback(Answer(404, missing), Answer(200, AGENTS))

    with Kronvex("kv-x", base_url=server.url) as client, pytest.raises(NotFoundError):
        client.get_agent("x")

    assert len(server.received) == 1


def test_the_async_client_retries_too(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(
        Answer(503, UNAVAILABLE, {"Retry-After": "1"}),
        Answer(200, {"deleted": 4}),
    )

    async def delete() -> int:
        async with AsyncKronvex("kv-x", base_url=server.url) as client:
            return await client.delete_memories("assistant", session_id="user-7")

    assert asyncio.run(delete()) == 4
    assert [r.path for r in server.received] == [
        "/api/v1/agents/assistant/memories?session_id=user-7"
    ] * 2
    assert server.received[1].at - server.received[0].at >= 1


# -- the network -------------------------------------------------------------------------


def test_a_server_that_does_not_answer_in_time_is_a_timeout(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(Answer(200, AGENTS, delay=2))

    with (
        Kronvex("kv-x", base_url=server.url, timeout=0.2, max_retries=0) as client,
        pytest.raises(APITimeoutError) as timed_out,
    ):
        client.list_agents()

    assert isinstance(timed_out.value, APIConnectionError)
    assert timed_out.value.code == "timeout"
    assert timed_out.value.status_code is None


def test_the_async_client_times_out(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(Answer(200, AGENTS, delay=2))

    async def list_agents() -> None:
        async with AsyncKronvex("kv-x", base_url=server.url, timeout=0.2, max_retries=0) as c:
            await c.list_agents()

    with pytest.raises(APITimeoutError):
        asyncio.run(list_agents())


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe is closed.

    with (
        Kronvex("kv-x", base_url=f"http://127.0.0.1:{port}", max_retries=0) as client,
        pytest.raises(APIConnectionError) as unreachable,
    ):
        client.list_agents()

    assert not isinstance(unreachable.value, APITimeoutError)
    assert unreachable.value.code == "connection_error"


def test_error_from_response_keeps_unknown_fields(loopback: Callable[..., LoopbackServer]) -> None:
    body = {"detail": "Over.", "code": "memory_limit_reached", "limit": 5, "something_new": 1}
    server = loopback(Answer(402, body))

    with (
        Kronvex("kv-x", base_url=server.url, max_retries=0) as client,
        pytest.raises(QuotaExceededError) as refused,
    ):
        client.remember("assistant", "x")

    assert refused.value.body == body
    assert refused.value.response is not None
    again = error_from_response(refused.value.response)
    assert (type(again), again.code) == (QuotaExceededError, "memory_limit_reached")
