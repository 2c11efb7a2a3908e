"""The clients' privacy calls against a live server: export the account or a session, and
erase a session across agents."""

from __future__ import annotations

import asyncio

import pytest
from kronvex_client import AsyncKronvex, Kronvex, KronvexError

from memories.models import Agent as AgentRow
from memories.models import Memory as MemoryRow


def test_a_session_is_exported_and_erased_across_agents(
    client: Kronvex, agent: AgentRow, server_url: str, api_key: str
) -> None:
    client.create_agent("Sales", id="sales")
    client.remember("assistant", "User 42 lives in Porto", session_id="user-42")
    client.remember("sales", "User 42 bought the pro plan", session_id="user-42")
    client.remember("sales", "User 7 is new", session_id="user-7")

    account = client.export_account()
    session = client.export_session("user-42")

    assert account["format"] == "kronvex-export"
    assert len(account["memories"]) == 3
    assert "embedding" not in account["memories"][0]
    assert sorted(m["agent_id"] for m in session["memories"]) == ["assistant", "sales"]
    assert client.erase_session("user-42") == 2
    assert list(MemoryRow.objects.values_list("session_id", flat=True)) == ["user-7"]
    with pytest.raises(KronvexError) as missing:
        client.erase_session("user-42")
    assert missing.value.code == "session_not_found"

    async def scenario() -> None:
        async with AsyncKronvex(api_key, base_url=server_url) as async_client:
            exported = await async_client.export_session("user-7", vectors=True)
            assert len(exported["memories"][0]["embedding"]) > 0
            assert len((await async_client.export_account())["memories"]) == 1
            assert await async_client.erase_session("user-7") == 1

    asyncio.run(scenario())
    assert not MemoryRow.objects.exists()
