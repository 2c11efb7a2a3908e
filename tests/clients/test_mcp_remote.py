"""The MCP endpoint at /mcp, through the official MCP SDK's client over streamable HTTP
against a live server, and through plain HTTP for what a client library hides."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.db import connection
from django.db.models import F
from mcp import MCPError
from mcp.types.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR

from api.mcp import WORDS_ONLY_NOTE
from api.models import ApiKey
from api.ratelimit import recall_counter_key
from api.services import api_key_revoke
from billing.models import Account
from billing.plans import plan_get
from billing.services import account_plan_set
from memories.embedding import LOCAL_MODEL_NAME, reset_embedder
from memories.models import Memory
from tests.clients.mcp_fixtures import (
    TOOL_NAMES,
    Tenant,
    base_url,
    connected,
    errors_in,
    other_tenant,
    run,
    tenant,
    text_of,
)

__all__ = ["base_url", "other_tenant", "tenant"]  # fixtures, used by name

pytestmark = pytest.mark.django_db(transaction=True)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def post(url: str, body: Any, *, key: str | None, **headers: str) -> httpx.Response:
    sent = {"Accept": "application/json, text/event-stream", **headers}
    if key is not None:
        sent["X-API-Key"] = key
    return httpx.post(url, json=body, headers=sent, timeout=120)


def call(url: str, key: str, name: str, arguments: dict[str, Any], **headers: str) -> Any:
    async def scenario() -> Any:
        async with connected(url, key=key, headers=headers) as client:
            return await client.call_tool(name, arguments)

    return run(scenario)


# -- the handshake and the tool list ------------------------------------------------------


def test_the_sdk_client_connects_and_lists_the_tools_with_schemas(
    base_url: str, tenant: Tenant
) -> None:
    async def scenario() -> tuple[str, Any, Any]:
        async with connected(f"{base_url}/mcp", key=tenant.key) as client:
            return client.protocol_version, client.server_info, await client.list_tools()

    version, server, listed = run(scenario)

    assert version == "2025-11-25"
    assert server is not None and server.name == "kronvex"

    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        assert "agent_id" in tool.input_schema["properties"]
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
    assert tools["recall"].description.startswith("Search long-term memory. Call before answering")
    assert tools["remember"].input_schema["required"] == ["content"]
    assert tools["recall"].input_schema["required"] == ["query"]
    assert tools["recall"].input_schema["properties"]["top_k"]["maximum"] == 50
    assert tools["recall"].annotations.read_only_hint is True
    assert tools["forget"].annotations.destructive_hint is True


def test_initialize_answers_the_clients_version_or_the_latest(
    base_url: str, tenant: Tenant
) -> None:
    url = f"{base_url}/mcp"

    older = post(url, INITIALIZE, key=tenant.key)
    future = post(
        url,
        {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": "2099-01-01"}},
        key=tenant.key,
    )

    assert older.status_code == 200
    assert older.headers["Content-Type"] == "application/json"
    result = older.json()["result"]
    assert older.json()["id"] == 1
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "kronvex"
    assert "recall" in result["instructions"]
    assert future.json()["result"]["protocolVersion"] == "2025-11-25"


def test_notifications_are_accepted_without_a_body_and_ping_answers_empty(
    base_url: str, tenant: Tenant
) -> None:
    url = f"{base_url}/mcp"
    headers = {"MCP-Protocol-Version": "2025-06-18"}

    initialized = post(
        url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, key=tenant.key, **headers
    )
    ping = post(url, {"jsonrpc": "2.0", "id": "p", "method": "ping"}, key=tenant.key, **headers)

    assert initialized.status_code == 202
    assert initialized.content == b""
    assert ping.json() == {"jsonrpc": "2.0", "id": "p", "result": {}}


def test_get_answers_405_with_allow_post(base_url: str, tenant: Tenant) -> None:
    response = httpx.get(
        f"{base_url}/mcp", headers={"X-API-Key": tenant.key, "Accept": "text/event-stream"}
    )

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


def test_batches_are_answered_on_2025_03_26_and_refused_after(
    base_url: str, tenant: Tenant
) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
    ]

    answered = post(f"{base_url}/mcp", batch, key=tenant.key)
    refused = post(
        f"{base_url}/mcp", batch, key=tenant.key, **{"MCP-Protocol-Version": "2025-06-18"}
    )

    assert answered.status_code == 200
    body = answered.json()
    assert [item["id"] for item in body] == [1, 2, 3]
    assert body[0]["result"] == {}
    assert len(body[1]["result"]["tools"]) == 5
    assert body[2]["error"]["code"] == METHOD_NOT_FOUND
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_request"


def test_protocol_mistakes_are_json_rpc_errors(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp"
    headers = {"MCP-Protocol-Version": "2025-06-18"}

    unknown_method = post(
        url, {"jsonrpc": "2.0", "id": 7, "method": "resources/list"}, key=tenant.key, **headers
    )
    bad_params = post(
        url,
        {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {}},
        key=tenant.key,
        **headers,
    )
    not_json = httpx.post(
        url,
        content=b"{nope",
        headers={"X-API-Key": tenant.key, "Content-Type": "application/json"},
    )
    unknown_version = post(
        url,
        {"jsonrpc": "2.0", "id": 9, "method": "ping"},
        key=tenant.key,
        **{"MCP-Protocol-Version": "2026-07-28"},
    )

    assert unknown_method.json()["error"]["code"] == METHOD_NOT_FOUND
    assert bad_params.json()["error"]["code"] == INVALID_PARAMS
    assert "name" in bad_params.json()["error"]["message"]
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == PARSE_ERROR
    assert not_json.json()["code"] == "malformed_json"
    assert unknown_version.status_code == 400
    assert unknown_version.json()["error"]["data"] == {
        "supported": ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"],
        "requested": "2026-07-28",
    }


# -- authentication -----------------------------------------------------------------------


def test_a_bad_missing_or_revoked_key_is_401_in_the_api_error_shape(
    base_url: str, tenant: Tenant
) -> None:
    url = f"{base_url}/mcp"
    revoked = ApiKey.objects.get(account=tenant.account)
    api_key_revoke(api_key=revoked)

    missing = post(url, INITIALIZE, key=None)
    unknown = post(url, INITIALIZE, key="kv-not-a-real-key")
    bearer = httpx.post(url, json=INITIALIZE, headers={"Authorization": f"Bearer {tenant.key}"})

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="kronvex"'
    assert missing.json()["code"] == "missing_api_key"
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "Unknown API key."
    assert unknown.json()["code"] == "invalid_api_key"
    assert bearer.status_code == 401
    assert bearer.json()["code"] == "revoked_api_key"


def test_the_sdk_client_reports_a_bad_key(base_url: str, tenant: Tenant) -> None:
    async def scenario() -> None:
        async with connected(f"{base_url}/mcp", key="kv-not-a-real-key"):
            pass

    with pytest.raises(BaseException) as raised:
        run(scenario)

    errors = errors_in(raised.value)
    assert any(
        isinstance(error, MCPError) and error.message == "Unknown API key." for error in errors
    )


# -- the tools ----------------------------------------------------------------------------


def test_remember_then_recall_finds_the_memory(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"

    async def scenario() -> tuple[Any, Any]:
        async with connected(url, key=tenant.key) as client:
            remembered = await client.call_tool(
                "remember",
                {
                    "content": "The user's favourite colour is green",
                    "type": "semantic",
                    "session_id": "s1",
                    "metadata": {"source": "chat"},
                },
            )
            recalled = await client.call_tool(
                "recall", {"query": "Which colour does the user like?"}
            )
            return remembered, recalled

    remembered, recalled = run(scenario)

    assert remembered.is_error is False
    memory = Memory.objects.get(agent=tenant.agent)
    assert memory.content == "The user's favourite colour is green"
    assert memory.type == "semantic"
    assert memory.session_id == "s1"
    assert memory.metadata == {"source": "chat"}
    assert remembered.structured_content["id"] == str(memory.uuid)
    assert remembered.structured_content["deduplicated"] is False
    assert str(memory.uuid) in text_of(remembered)
    assert recalled.is_error is False
    assert recalled.structured_content["memories"][0]["id"] == str(memory.uuid)
    assert recalled.structured_content["memories"][0]["content"] == memory.content
    assert "The user's favourite colour is green" in text_of(recalled)
    assert str(memory.uuid) in text_of(recalled)


def test_while_the_embedding_provider_is_down_recall_says_it_matched_words_only(
    base_url: str, tenant: Tenant, settings: Any
) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    call(url, tenant.key, "remember", {"content": "The user is allergic to peanuts"})
    call(url, tenant.key, "remember", {"content": "The user's favourite colour is green"})
    settings.KRONVEX_EMBEDDER = "openai"
    settings.KRONVEX_EMBEDDING_MODEL = LOCAL_MODEL_NAME
    settings.KRONVEX_EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
    reset_embedder()
    try:
        recalled = call(url, tenant.key, "recall", {"query": "peanuts"})
        injected = call(url, tenant.key, "inject_context", {"query": "peanuts"})
    finally:
        reset_embedder()

    assert recalled.is_error is False
    assert [item["content"] for item in recalled.structured_content["memories"]] == [
        "The user is allergic to peanuts"
    ]
    assert text_of(recalled).endswith(WORDS_ONLY_NOTE)
    assert injected.is_error is False
    assert injected.structured_content["context"].endswith("The user is allergic to peanuts")
    assert text_of(injected) == injected.structured_content["context"] + WORDS_ONLY_NOTE


def test_remembering_the_same_fact_twice_refreshes_it(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    first = call(url, tenant.key, "remember", {"content": "The user lives in Lyon"})
    second = call(url, tenant.key, "remember", {"content": "The user lives in Lyon"})

    assert second.structured_content["deduplicated"] is True
    assert second.structured_content["id"] == first.structured_content["id"]
    assert "Already remembered" in text_of(second)
    assert Memory.objects.filter(agent=tenant.agent).count() == 1


def test_inject_context_gives_prompt_ready_lines(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    call(url, tenant.key, "remember", {"content": "The user is allergic to peanuts"})

    result = call(
        url, tenant.key, "inject_context", {"query": "Suggest a snack", "max_tokens": 200}
    )

    assert result.is_error is False
    assert "allergic to peanuts" in result.structured_content["context"]
    assert result.structured_content["memories_used"] == 1
    assert text_of(result) == result.structured_content["context"]


def test_list_memories_pages_through_an_agents_memories(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    for fact in ("The user plays chess", "The user drinks tea", "The user owns a cat"):
        call(url, tenant.key, "remember", {"content": fact, "session_id": "s2"})

    first = call(url, tenant.key, "list_memories", {"limit": 2})
    rest = call(url, tenant.key, "list_memories", {"limit": 2, "offset": 2})
    session = call(url, tenant.key, "list_memories", {"session_id": "elsewhere"})

    assert first.structured_content["total"] == 3
    assert [m["content"] for m in first.structured_content["memories"]] == [
        "The user owns a cat",
        "The user drinks tea",
    ]
    assert first.structured_content["next_offset"] == 2
    assert "offset 2" in text_of(first)
    assert [m["content"] for m in rest.structured_content["memories"]] == ["The user plays chess"]
    assert rest.structured_content["next_offset"] is None
    assert session.structured_content["memories"] == []


def test_forget_by_id_deletes_that_memory(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    kept = call(url, tenant.key, "remember", {"content": "The user works at Acme"})
    gone = call(url, tenant.key, "remember", {"content": "The user's PIN is 1234"})

    result = call(url, tenant.key, "forget", {"memory_id": gone.structured_content["id"]})

    assert result.is_error is False
    assert result.structured_content["deleted"] == 1
    assert "Deleted 1 memory" in text_of(result)
    assert list(Memory.objects.values_list("uuid", flat=True)) == [
        Memory.objects.get(content="The user works at Acme").uuid
    ]
    assert str(Memory.objects.get().uuid) == kept.structured_content["id"]
    again = call(url, tenant.key, "forget", {"memory_id": gone.structured_content["id"]})
    assert again.is_error is True
    assert "No memory" in text_of(again)


def test_forget_by_query_lists_first_and_deletes_only_when_confirmed(
    base_url: str, tenant: Tenant
) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    call(url, tenant.key, "remember", {"content": "The user's home address is 12 Rue de la Paix"})
    call(url, tenant.key, "remember", {"content": "The user prefers dark mode"})
    asked = {"query": "the user's home address", "top_k": 1}

    preview = call(url, tenant.key, "forget", asked)

    assert preview.is_error is False
    assert preview.structured_content["deleted"] == 0
    assert preview.structured_content["confirmed"] is False
    listed = preview.structured_content["memories"]
    assert [m["content"] for m in listed] == ["The user's home address is 12 Rue de la Paix"]
    assert listed[0]["id"] in text_of(preview)
    assert "confirm: true" in text_of(preview)
    assert Memory.objects.count() == 2

    confirmed = call(url, tenant.key, "forget", {**asked, "confirm": True})

    assert confirmed.structured_content["deleted"] == 1
    assert confirmed.structured_content["confirmed"] is True
    assert list(Memory.objects.values_list("content", flat=True)) == ["The user prefers dark mode"]


def test_forget_by_ids_deletes_all_of_them_or_none(base_url: str, tenant: Tenant) -> None:
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"
    ids = [
        call(url, tenant.key, "remember", {"content": fact}).structured_content["id"]
        for fact in ("The user likes jazz", "The user likes opera")
    ]
    missing = "00000000-0000-4000-8000-000000000000"

    refused = call(url, tenant.key, "forget", {"memory_ids": [*ids, missing]})
    assert refused.is_error is True
    assert missing in text_of(refused)
    assert Memory.objects.count() == 2

    done = call(url, tenant.key, "forget", {"memory_ids": ids})
    assert done.structured_content["deleted"] == 2
    assert Memory.objects.count() == 0


# -- which agent --------------------------------------------------------------------------


def test_the_agent_comes_from_the_argument_then_the_header_then_the_url(
    base_url: str, tenant: Tenant
) -> None:
    from memories import services

    second = services.agent_create(account=tenant.account, slug="second", name="Second")
    third = services.agent_create(account=tenant.account, slug="third", name="Third")
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"

    call(url, tenant.key, "remember", {"content": "From the URL"})
    call(
        url, tenant.key, "remember", {"content": "From the header"}, **{"X-Kronvex-Agent": "second"}
    )
    call(
        url,
        tenant.key,
        "remember",
        {"content": "From the argument", "agent_id": str(third.uuid)},
        **{"X-Kronvex-Agent": "second"},
    )

    assert Memory.objects.get(agent=tenant.agent).content == "From the URL"
    assert Memory.objects.get(agent=second).content == "From the header"
    assert Memory.objects.get(agent=third).content == "From the argument"


def test_without_an_agent_a_tool_says_how_to_give_one(base_url: str, tenant: Tenant) -> None:
    result = call(f"{base_url}/mcp", tenant.key, "recall", {"query": "anything"})

    assert result.is_error is True
    assert result.structured_content is None
    assert "No agent given" in text_of(result)
    assert "agent_id" in text_of(result)
    assert "X-Kronvex-Agent" in text_of(result)


def test_another_accounts_agent_is_answered_like_a_missing_one(
    base_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    url = f"{base_url}/mcp"
    theirs = call(
        url, tenant.key, "recall", {"query": "PIN", "agent_id": str(other_tenant.agent.uuid)}
    )
    nobodys = call(
        url,
        tenant.key,
        "recall",
        {"query": "PIN", "agent_id": str(tenant.agent.uuid)[:-4] + "0000"},
    )
    by_slug = call(
        url, tenant.key, "remember", {"content": "x", "agent_id": other_tenant.agent.slug}
    )

    assert theirs.is_error is True
    assert nobodys.is_error is True
    assert text_of(theirs) == f"No agent '{other_tenant.agent.uuid}' in this account."
    assert text_of(nobodys) == text_of(theirs).replace(
        str(other_tenant.agent.uuid), str(tenant.agent.uuid)[:-4] + "0000"
    )
    assert text_of(by_slug) == "No agent 'their-agent' in this account."
    assert not Memory.objects.filter(content="x").exists()


# -- bad arguments, limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("remember", {}, "content: This field is required."),
        ("remember", {"content": "   "}, "content: Must not be empty."),
        ("remember", {"content": "x", "type": "dream"}, "Unknown memory type 'dream'"),
        ("remember", {"content": "x", "pinned": "yes"}, "pinned: Must be true or false."),
        (
            "recall",
            {"query": "x", "top_k": 500},
            "top_k: Ensure this value is less than or equal to 50.",
        ),
        ("recall", {"query": "x", "limit": 3}, "Unknown argument limit: recall takes query"),
        ("list_memories", {"limit": 0}, "limit: Ensure this value is greater than or equal to 1."),
        ("forget", {}, "Give one of memory_id, memory_ids or query."),
        ("forget", {"memory_id": "abc", "query": "x"}, "Give only one of"),
    ],
)
def test_invalid_arguments_are_tool_errors(
    base_url: str, tenant: Tenant, name: str, arguments: dict[str, Any], message: str
) -> None:
    result = call(f"{base_url}/mcp/agents/{tenant.agent.slug}", tenant.key, name, arguments)

    assert result.is_error is True
    assert message in text_of(result)
    assert not Memory.objects.exists()


def test_an_unknown_tool_is_a_json_rpc_error(base_url: str, tenant: Tenant) -> None:
    with pytest.raises(BaseException) as raised:
        call(f"{base_url}/mcp", tenant.key, "teleport", {})

    [error] = [error for error in errors_in(raised.value) if isinstance(error, MCPError)]
    assert error.code == INVALID_PARAMS
    assert error.message.startswith("Unknown tool: teleport. The tools are remember, recall")


def test_over_the_memory_quota_remember_is_a_tool_error_naming_the_limit(
    base_url: str, tenant: Tenant
) -> None:
    account_plan_set(account=tenant.account, plan=plan_get("free"))
    Memory.objects.bulk_create(
        Memory(account=tenant.account, agent=tenant.agent, content=f"filler {n}")
        for n in range(500)
    )
    Account.objects.filter(pk=tenant.account.pk).update(memories_held=F("memories_held") + 500)

    result = call(
        f"{base_url}/mcp/agents/{tenant.agent.slug}",
        tenant.key,
        "remember",
        {"content": "one more"},
    )

    assert result.is_error is True
    assert text_of(result).startswith(
        "This account holds 500 memories; the Free plan allows 500. "
        "Delete some or upgrade the plan to add more."
    )
    assert "/dashboard/billing/" in text_of(result)
    assert not Memory.objects.filter(content="one more").exists()


def test_over_the_daily_recall_limit_recall_is_a_tool_error(base_url: str, tenant: Tenant) -> None:
    account_plan_set(account=tenant.account, plan=plan_get("free"))
    now = time.time()
    # The day's recalls all spent, as 1,000 earlier calls would have left the counter.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_ratecounter (bucket, hits, expires_at) "
            "VALUES (%s, 1000, to_timestamp(%s))",
            [recall_counter_key(account_id=tenant.account.pk, now=now), now + 86_400],
        )
    url = f"{base_url}/mcp/agents/{tenant.agent.slug}"

    recalled = call(url, tenant.key, "recall", {"query": "anything"})
    remembered = call(url, tenant.key, "remember", {"content": "Writing is not a recall"})

    assert recalled.is_error is True
    assert text_of(recalled).startswith("Daily recall limit reached")
    assert remembered.is_error is False


def test_every_response_carries_the_rate_limit_headers(base_url: str, tenant: Tenant) -> None:
    response = post(f"{base_url}/mcp", INITIALIZE, key=tenant.key)

    assert response.headers["X-RateLimit-Limit"] == "3000"
    assert int(response.headers["X-RateLimit-Remaining"]) < 3000
