"""The sync and async clients against a live server: every method, with typed results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from kronvex_client import (
    Agent,
    AsyncKronvex,
    BatchResult,
    BatchStatus,
    Context,
    Kronvex,
    Memory,
    NotFoundError,
    Page,
    Recall,
    RecalledMemory,
    Session,
)

from billing.models import Account
from memories.models import Agent as AgentRow
from memories.models import Memory as MemoryRow


def test_agents_are_created_listed_read_updated_and_deleted(client: Kronvex) -> None:
    created = client.create_agent(
        "Support bot", id="support-bot", description="Billing", metadata={"team": "support"}
    )

    assert isinstance(created, Agent)
    assert (created.id, created.name, created.description) == (
        "support-bot",
        "Support bot",
        "Billing",
    )
    assert created.metadata == {"team": "support"}
    assert created.memory_count == 0
    assert isinstance(created.created_at, datetime)
    assert created.raw["uuid"] == created.uuid
    assert [agent.id for agent in client.list_agents()] == ["support-bot"]
    assert client.get_agent(created.uuid) == client.get_agent("support-bot")

    updated = client.update_agent("support-bot", description="Billing and refunds")
    assert updated.description == "Billing and refunds"
    assert updated.name == "Support bot"
    assert AgentRow.objects.get(slug="support-bot").description == "Billing and refunds"

    client.remember("support-bot", "Refunds take five days")
    assert client.delete_agent("support-bot") == 1
    assert not AgentRow.objects.filter(slug="support-bot").exists()
    with pytest.raises(NotFoundError):
        client.get_agent("support-bot")


def test_an_agent_without_an_id_gets_one_from_its_name(client: Kronvex) -> None:
    assert client.create_agent("Sales Desk").id == "sales-desk"


def test_remember_sends_every_field_under_the_servers_name(
    client: Kronvex, agent: AgentRow
) -> None:
    stated = datetime.now(UTC) - timedelta(days=3)

    memory = client.remember(
        "assistant",
        "User prefers concise answers",
        type="semantic",
        session_id="user-42",
        metadata={"source": "chat"},
        pinned=True,
        ttl_days=30,
        created_at=stated,
    )

    assert isinstance(memory, Memory)
    assert memory.content == "User prefers concise answers"
    assert memory.type == memory.memory_type == "semantic"
    assert (memory.session_id, memory.metadata, memory.pinned) == (
        "user-42",
        {"source": "chat"},
        True,
    )
    assert memory.created_at == stated
    assert memory.expires_at is not None
    assert memory.status == "ready"
    assert memory.deduplicated is False
    row = MemoryRow.objects.get(uuid=memory.id)
    assert (row.type, row.session_id, row.pinned, row.created_at) == (
        "semantic",
        "user-42",
        True,
        stated,
    )


def test_remember_accepts_memory_type_and_reports_a_duplicate(
    client: Kronvex, agent: AgentRow
) -> None:
    first = client.remember("assistant", "The user lives in Lyon", memory_type="procedural")
    again = client.remember("assistant", "the user lives in Lyon!")

    assert first.type == "procedural"
    assert again.deduplicated is True
    assert again.id == first.id
    assert MemoryRow.objects.filter(agent=agent).count() == 1


def test_remember_supersedes_earlier_memories(client: Kronvex, agent: AgentRow) -> None:
    old = client.remember("assistant", "The user lives in Lyon")
    new = client.remember("assistant", "The user moved to Porto", supersedes=[old.id])

    assert client.get_memory("assistant", old.id).superseded_by == new.id


def test_recall_returns_scored_memories_best_first(client: Kronvex, agent: AgentRow) -> None:
    client.remember("assistant", "The user's favourite colour is green", session_id="s1")
    client.remember(
        "assistant", "The user is migrating a Django app to PostgreSQL", session_id="s1"
    )
    client.remember("assistant", "The user's favourite colour is red", session_id="s2")

    recalled = client.recall(
        "assistant", "what colour does the user like?", top_k=2, session_id="s1"
    )

    assert isinstance(recalled, Recall)
    assert len(recalled) == 2
    best = recalled[0]
    assert isinstance(best, RecalledMemory)
    assert best.content == "The user's favourite colour is green"
    assert best.session_id == "s1" and best.agent_id == "assistant"
    assert 0 < best.confidence <= 1 and 0 < best.similarity <= 1
    assert 0 < best.recency <= 1 and 0 <= best.frequency <= 1
    assert best.confidence >= recalled[1].confidence
    assert best.access_count == 1
    assert best.explain is None and recalled.weights is None
    assert [memory.content for memory in recalled][1].startswith("The user is migrating")


def test_recall_filters_and_explains(client: Kronvex, agent: AgentRow) -> None:
    client.remember("assistant", "The user's favourite colour is green", type="semantic")
    client.remember("assistant", "The user painted the fence green yesterday")

    recalled = client.recall(
        "assistant", "favourite colour", type="semantic", threshold=0.1, explain=True
    )

    assert [memory.type for memory in recalled] == ["semantic"]
    explanation = recalled[0].explain
    assert explanation is not None
    assert explanation.final == recalled[0].confidence
    assert explanation.similarity == recalled[0].similarity
    assert recalled.weights is not None and set(recalled.weights) >= {"similarity", "recency"}
    # Compared with no other candidate by vector, it has no crowding; two have each other.
    assert explanation.crowding is None
    both = client.recall("assistant", "favourite colour", explain=True)
    assert [memory.explain.crowding for memory in both if memory.explain] == pytest.approx([0, 0])


def test_inject_context_returns_prompt_text_within_the_budget(
    client: Kronvex, agent: AgentRow
) -> None:
    client.remember("assistant", "User is migrating a Django app from MySQL to PostgreSQL")
    client.remember("assistant", "User prefers concise answers", type="semantic")

    full = client.inject_context("assistant", "help with the database migration")
    short = client.inject_context("assistant", "help with the database migration", max_tokens=20)

    assert isinstance(full, Context)
    assert full.memories_used == 2 == len(full.memories)
    assert full.context.splitlines()[0].endswith(
        "] User is migrating a Django app from MySQL to PostgreSQL"
    )
    assert str(full) == full.context
    assert short.memories_used == 1
    assert short.context.startswith("[episodic, ")


def test_list_memories_returns_one_page(client: Kronvex, agent: AgentRow) -> None:
    for n in range(3):
        client.remember("assistant", f"Fact number {n}", session_id="s1")
    client.remember("assistant", "Another session's fact", session_id="s2")

    page = client.list_memories("assistant", session_id="s1", limit=2, sort="oldest")

    assert isinstance(page, Page)
    assert (page.total, page.limit, page.offset, len(page)) == (3, 2, 0, 2)
    assert [memory.content for memory in page] == ["Fact number 0", "Fact number 1"]
    assert page.next_offset == 2
    last = client.list_memories("assistant", session_id="s1", limit=2, offset=2, sort="oldest")
    assert [memory.content for memory in last] == ["Fact number 2"]
    assert last.next_offset is None
    assert [m.content for m in client.list_memories("assistant", q="ANOTHER")] == [
        "Another session's fact"
    ]


def test_iter_memories_walks_every_page(client: Kronvex, agent: AgentRow) -> None:
    stored = client.remember_many("assistant", [f"Imported fact {n}" for n in range(25)])

    walked = list(client.iter_memories("assistant", sort="oldest", page_size=10))

    assert [memory.id for memory in walked] == [item.id for item in stored.items]
    assert [memory.content for memory in walked] == [f"Imported fact {n}" for n in range(25)]


def test_remember_many_reports_each_item_and_stores_the_valid_ones(
    client: Kronvex, agent: AgentRow
) -> None:
    result = client.remember_many(
        "assistant",
        [
            "User lives in Porto",
            {"content": "User lives in Porto"},
            {"content": ""},
            {"content": "User speaks Portuguese", "type": "semantic", "session_id": "user-42"},
        ],
        batch_size=2,
    )

    assert isinstance(result, BatchResult)
    assert (result.total, result.created, result.deduplicated, result.rejected) == (4, 2, 1, 1)
    assert len(result.batch_ids) == 2
    assert [item.index for item in result.items] == [0, 1, 2, 3]
    assert [item.status for item in result.items] == [
        "created",
        "deduplicated",
        "rejected",
        "created",
    ]
    assert result.items[1].id == result.items[0].id
    rejected = result.items[2]
    assert rejected.error is not None and rejected.error.code == "invalid_request"
    assert "content" in rejected.error.errors
    assert rejected.batch_id == result.batch_ids[1]
    assert result.rejected_items == (rejected,)
    assert MemoryRow.objects.filter(agent=agent).count() == 2
    assert MemoryRow.objects.get(uuid=result.items[3].id).session_id == "user-42"

    status = client.batch_status("assistant", result.batch_ids[1])
    assert isinstance(status, BatchStatus)
    assert (status.total, status.created, status.rejected, status.ready, status.done) == (
        2,
        1,
        1,
        1,
        True,
    )


def test_memories_are_read_updated_and_deleted(client: Kronvex, agent: AgentRow) -> None:
    memory = client.remember("assistant", "The user's favourite colour is green", session_id="s1")

    assert client.get_memory("assistant", memory.id).content == memory.content
    updated = client.update_memory(
        "assistant", memory.id, pinned=True, type="semantic", metadata={"checked": True}, ttl_days=9
    )
    assert (updated.pinned, updated.type, updated.metadata) == (True, "semantic", {"checked": True})
    assert updated.expires_at is not None
    assert client.update_memory("assistant", memory.id, ttl_seconds=0).expires_at is None

    client.delete_memory("assistant", memory.id)
    assert not MemoryRow.objects.filter(uuid=memory.id).exists()
    with pytest.raises(NotFoundError) as missing:
        client.get_memory("assistant", memory.id)
    assert missing.value.code == "memory_not_found"


def test_sessions_are_listed_and_deleted(client: Kronvex, agent: AgentRow) -> None:
    client.remember_many(
        "assistant",
        [
            {"content": "First", "session_id": "user-7"},
            {"content": "Second", "session_id": "user-7"},
            {"content": "Third", "session_id": "user-42"},
            "Without a session",
        ],
    )

    sessions = client.list_sessions("assistant")
    assert all(isinstance(session, Session) for session in sessions)
    assert {(s.session_id, s.count) for s in sessions} == {("user-7", 2), ("user-42", 1)}
    assert all(isinstance(s.last_at, datetime) for s in sessions)

    assert client.delete_memories("assistant", session_id="user-7") == 2
    assert [s.session_id for s in client.list_sessions("assistant")] == ["user-42"]
    assert client.delete_memories("assistant") == 2
    assert not MemoryRow.objects.filter(agent=agent).exists()


def test_the_client_reads_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server_url: str, api_key: str, agent: AgentRow
) -> None:
    monkeypatch.setenv("KRONVEX_API_KEY", api_key)
    monkeypatch.setenv("KRONVEX_BASE_URL", server_url + "/")

    with Kronvex() as client:
        assert client.api_root == f"{server_url}/api/v1"
        assert [a.id for a in client.list_agents()] == ["assistant"]


def test_the_async_client_does_everything_the_sync_one_does(
    server_url: str, api_key: str, account: Account
) -> None:
    async def scenario() -> None:
        async with AsyncKronvex(api_key, base_url=server_url) as client:
            agent = await client.create_agent("Async", id="async-agent")
            assert agent.id == "async-agent"
            assert [a.id for a in await client.list_agents()] == ["async-agent"]
            assert (await client.get_agent(agent.uuid)).id == "async-agent"
            assert (await client.update_agent("async-agent", name="Renamed")).name == "Renamed"

            memory = await client.remember(
                "async-agent", "The user's favourite colour is green", session_id="s1"
            )
            assert memory.status == "ready"
            batch = await client.remember_many(
                "async-agent", [f"Async fact {n}" for n in range(5)] + [{"content": " "}]
            )
            assert (batch.created, batch.rejected) == (5, 1)
            assert (await client.batch_status("async-agent", batch.batch_ids[0])).done

            recalled = await client.recall("async-agent", "favourite colour", top_k=1)
            assert [m.id for m in recalled] == [memory.id]
            context = await client.inject_context("async-agent", "favourite colour", top_k=1)
            assert context.memories_used == 1 and "green" in context.context

            page = await client.list_memories("async-agent", limit=2)
            assert (page.total, len(page)) == (6, 2)
            walked = [m.content async for m in client.iter_memories("async-agent", page_size=4)]
            assert len(walked) == 6

            assert (await client.get_memory("async-agent", memory.id)).id == memory.id
            updated = await client.update_memory("async-agent", memory.id, pinned=True)
            assert updated.pinned
            assert [s.session_id for s in await client.list_sessions("async-agent")] == ["s1"]
            await client.delete_memory("async-agent", memory.id)
            assert await client.delete_memories("async-agent") == 5
            assert await client.delete_agent("async-agent") == 0
            try:
                await client.get_agent("async-agent")
            except NotFoundError as error:
                assert error.code == "agent_not_found"
            else:
                raise AssertionError("the agent was not deleted")

    asyncio.run(scenario())
