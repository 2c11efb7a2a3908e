"""The LangChain integration against a live server: retriever, chat history and tools."""

from __future__ import annotations

import asyncio

from kronvex_client import AsyncKronvex, Kronvex
from kronvex_client.langchain import (
    KronvexChatMessageHistory,
    KronvexRetriever,
    kronvex_tools,
)
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from memories.models import Agent, Memory


def test_the_retriever_returns_documents_with_scores(client: Kronvex, agent: Agent) -> None:
    client.remember(
        "assistant", "The user's favourite colour is green", session_id="s1", metadata={"k": 1}
    )
    client.remember("assistant", "The user works at a bakery", session_id="s1")
    retriever = KronvexRetriever(client=client, agent_id="assistant", top_k=2, session_id="s1")

    documents = retriever.invoke("what colour does the user like?")

    assert all(isinstance(document, Document) for document in documents)
    best = documents[0]
    assert best.page_content == "The user's favourite colour is green"
    assert best.id == best.metadata["id"]
    assert best.metadata["type"] == "episodic"
    assert best.metadata["session_id"] == "s1"
    assert best.metadata["metadata"] == {"k": 1}
    assert best.metadata["created_at"].endswith("+00:00")
    for score in ("confidence", "similarity", "recency", "frequency"):
        assert 0 <= best.metadata[score] <= 1
    assert best.metadata["confidence"] >= documents[1].metadata["confidence"]


def test_the_retriever_works_async(
    client: Kronvex, server_url: str, api_key: str, agent: Agent
) -> None:
    client.remember("assistant", "The user's favourite colour is green", type="semantic")
    client.remember("assistant", "The user painted the fence")

    async def retrieve() -> tuple[list[Document], list[Document]]:
        made = KronvexRetriever(client=client, agent_id="assistant", memory_type="semantic")
        async with AsyncKronvex(api_key, base_url=server_url) as async_client:
            given = KronvexRetriever(
                client=client, agent_id="assistant", top_k=1, async_client=async_client
            )
            return await made.ainvoke("colour"), await given.ainvoke("colour")

    by_type, top_one = asyncio.run(retrieve())
    assert [d.page_content for d in by_type] == ["The user's favourite colour is green"]
    assert len(top_one) == 1


def test_chat_history_round_trips_messages_in_order(client: Kronvex, agent: Agent) -> None:
    history = KronvexChatMessageHistory(client, "assistant", "conversation-1")
    other = KronvexChatMessageHistory(client, "assistant", "conversation-2")
    sent = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("Hi, I'm Ada and I live in Porto."),
        AIMessage("Nice to meet you, Ada!"),
        HumanMessage("What's the weather like?"),
        AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Porto"}, "id": "call-1"}]),
        ToolMessage("Sunny, 24°C", tool_call_id="call-1"),
        AIMessage("It is sunny in Porto."),
    ]

    history.add_messages(sent[:3])
    other.add_user_message("A different conversation")
    history.add_messages(sent[3:])
    received = history.messages

    assert [(m.type, m.content) for m in received] == [(m.type, m.content) for m in sent]
    assert received[4].tool_calls[0]["args"] == {"city": "Porto"}
    assert received[5].tool_call_id == "call-1"
    assert all(m.id for m in received)
    stored = Memory.objects.get(content="Hi, I'm Ada and I live in Porto.")
    assert (stored.session_id, stored.metadata) == ("conversation-1", {"role": "human"})
    assert [m.content for m in other.messages] == ["A different conversation"]

    history.clear()
    assert history.messages == []
    assert not Memory.objects.filter(session_id="conversation-1").exists()
    assert len(other.messages) == 1


def test_chat_history_pages_through_long_conversations(client: Kronvex, agent: Agent) -> None:
    history = KronvexChatMessageHistory(client, "assistant", "long")
    sent = [HumanMessage(f"Message number {n}") for n in range(230)]

    history.add_messages(sent)

    assert [m.content for m in history.messages] == [m.content for m in sent]


def test_chat_history_works_async(client: Kronvex, agent: Agent) -> None:
    history = KronvexChatMessageHistory(client, "assistant", "async-conversation")

    async def conversation() -> tuple[list[str], list[str]]:
        await history.aadd_messages([HumanMessage("Hello"), AIMessage("Hello! How can I help?")])
        before = [m.content for m in await history.aget_messages()]
        await history.aclear()
        return before, [m.content for m in await history.aget_messages()]

    before, after = asyncio.run(conversation())
    assert before == ["Hello", "Hello! How can I help?"]
    assert after == []


def test_the_tools_remember_and_recall(client: Kronvex, agent: Agent) -> None:
    tools = {tool.name: tool for tool in kronvex_tools(client, "assistant", session_id="user-42")}

    remembered = tools["remember"].invoke(
        {"content": "The user is allergic to peanuts", "memory_type": "semantic"}
    )
    tools["remember"].invoke({"content": "The user went to Lisbon in May"})
    found = tools["recall"].invoke({"query": "food allergies", "top_k": 1})
    nothing = kronvex_tools(client, "assistant", session_id="nobody")[1].invoke({"query": "x"})

    memory = Memory.objects.get(content="The user is allergic to peanuts")
    assert remembered == f"Remembered (id {memory.uuid})."
    assert (memory.type, memory.session_id) == ("semantic", "user-42")
    assert found.startswith("[semantic, ")
    assert found.count("\n") == 0
    assert "The user is allergic to peanuts (confidence 0." in found
    assert nothing == "No memories found."


def test_the_tools_work_async(client: Kronvex, agent: Agent) -> None:
    remember, recall = kronvex_tools(client, "assistant")

    async def use() -> str:
        await remember.ainvoke({"content": "The user's dog is called Biscuit"})
        return await recall.ainvoke({"query": "what is the dog's name?"})

    assert "The user's dog is called Biscuit" in asyncio.run(use())
    assert recall.args_schema is not None
    assert set(remember.args) == {"content", "memory_type"}
