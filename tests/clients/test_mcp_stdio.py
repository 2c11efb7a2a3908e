"""`kronvex-mcp`, the stdio bridge, launched as a subprocess by the official MCP SDK's
stdio client and talking to a live server's /mcp endpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types.jsonrpc import INVALID_PARAMS

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

T = TypeVar("T")
ENVIRONMENT = ("KRONVEX_API_KEY", "KRONVEX_AGENT_ID", "KRONVEX_BASE_URL")


def command() -> list[str]:
    """The console script when installed next to this Python, else the module."""
    script = shutil.which("kronvex-mcp", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "kronvex_client.mcp_stdio"]


def environment(**values: str) -> dict[str, str]:
    kept = {name: value for name, value in os.environ.items() if name not in ENVIRONMENT}
    return {**kept, **values}


def bridged(scenario: Callable[[Client], Awaitable[T]], **values: str) -> T:
    """Run `scenario` with the SDK's client connected to a fresh `kronvex-mcp` process."""
    program, *arguments = command()
    parameters = StdioServerParameters(command=program, args=arguments, env=environment(**values))

    async def connected_scenario() -> T:
        async with Client(parameters) as client:
            return await scenario(client)

    return run(connected_scenario)


def test_without_a_key_it_says_so_and_exits_non_zero() -> None:
    finished = subprocess.run(
        command(), env=environment(), input="", capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 2
    assert "KRONVEX_API_KEY is not set" in finished.stderr
    assert finished.stdout == ""


def test_it_lists_the_servers_tools_as_the_server_does(base_url: str, tenant: Tenant) -> None:
    async def through_bridge(client: Client) -> Any:
        return await client.list_tools()

    async def direct() -> Any:
        async with connected(f"{base_url}/mcp", key=tenant.key) as client:
            return await client.list_tools()

    bridged_tools = bridged(through_bridge, KRONVEX_API_KEY=tenant.key, KRONVEX_BASE_URL=base_url)
    remote_tools = run(direct)

    assert {tool.name for tool in bridged_tools.tools} == TOOL_NAMES
    dumped = lambda listed: sorted(  # noqa: E731
        (tool.model_dump(exclude_none=True) for tool in listed.tools), key=lambda t: t["name"]
    )
    assert dumped(bridged_tools) == dumped(remote_tools)


def test_remember_recall_and_forget_through_the_bridge(base_url: str, tenant: Tenant) -> None:
    async def scenario(client: Client) -> tuple[Any, Any, Any, Any]:
        remembered = await client.call_tool(
            "remember", {"content": "The user's dog is called Biscuit", "type": "semantic"}
        )
        recalled = await client.call_tool("recall", {"query": "What is the dog's name?"})
        preview = await client.call_tool("forget", {"query": "the dog's name", "top_k": 1})
        listed = await client.call_tool("list_memories", {})
        return remembered, recalled, preview, listed

    remembered, recalled, preview, listed = bridged(
        scenario,
        KRONVEX_API_KEY=tenant.key,
        KRONVEX_AGENT_ID=tenant.agent.slug,
        KRONVEX_BASE_URL=base_url,
    )

    memory = Memory.objects.get(agent=tenant.agent)
    assert memory.content == "The user's dog is called Biscuit"
    assert remembered.is_error is False
    assert remembered.structured_content["id"] == str(memory.uuid)
    assert recalled.structured_content["memories"][0]["id"] == str(memory.uuid)
    assert "Biscuit" in text_of(recalled)
    assert preview.structured_content["deleted"] == 0
    assert "confirm: true" in text_of(preview)
    assert listed.structured_content["total"] == 1

    async def confirm(client: Client) -> Any:
        return await client.call_tool(
            "forget", {"query": "the dog's name", "top_k": 1, "confirm": True}
        )

    confirmed = bridged(
        confirm,
        KRONVEX_API_KEY=tenant.key,
        KRONVEX_AGENT_ID=tenant.agent.slug,
        KRONVEX_BASE_URL=base_url,
    )

    assert confirmed.structured_content["deleted"] == 1
    assert not Memory.objects.exists()


def test_tool_errors_pass_through_unchanged(
    base_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    async def scenario(client: Client) -> tuple[Any, Any, Any, list[BaseException]]:
        no_agent = await client.call_tool("recall", {"query": "anything"})
        theirs = await client.call_tool(
            "recall", {"query": "PIN", "agent_id": other_tenant.agent.slug}
        )
        invalid = await client.call_tool(
            "recall", {"query": "x", "top_k": 500, "agent_id": tenant.agent.slug}
        )
        try:
            await client.call_tool("teleport", {})
        except Exception as exc:
            return no_agent, theirs, invalid, errors_in(exc)
        return no_agent, theirs, invalid, []

    no_agent, theirs, invalid, raised = bridged(
        scenario, KRONVEX_API_KEY=tenant.key, KRONVEX_BASE_URL=base_url
    )

    assert no_agent.is_error is True
    assert "No agent given" in text_of(no_agent)
    assert text_of(theirs) == "No agent 'their-agent' in this account."
    assert invalid.is_error is True
    assert "top_k: Ensure this value is less than or equal to 50." in text_of(invalid)
    [unknown] = [error for error in raised if isinstance(error, MCPError)]
    assert unknown.code == INVALID_PARAMS
    assert "Unknown tool: teleport" in unknown.message


def test_a_bad_key_gives_tool_errors_naming_the_problem(base_url: str, tenant: Tenant) -> None:
    async def scenario(client: Client) -> Any:
        return await client.call_tool("recall", {"query": "anything"})

    result = bridged(
        scenario,
        KRONVEX_API_KEY="kv-not-a-real-key",
        KRONVEX_AGENT_ID=tenant.agent.slug,
        KRONVEX_BASE_URL=base_url,
    )

    assert result.is_error is True
    assert "Unknown API key." in text_of(result)


def test_an_unreachable_server_gives_errors_and_the_bridge_keeps_running() -> None:
    # Port 9 (discard) on the loopback interface: nothing listens there.
    unreachable = "http://127.0.0.1:9"

    async def scenario(client: Client) -> tuple[Any, Any, list[BaseException]]:
        first = await client.call_tool("recall", {"query": "anything"})
        second = await client.call_tool("remember", {"content": "still here?"})
        try:
            await client.list_tools()
        except Exception as exc:
            return first, second, errors_in(exc)
        return first, second, []

    first, second, raised = bridged(
        scenario, KRONVEX_API_KEY="kv-whatever", KRONVEX_BASE_URL=unreachable
    )

    for result in (first, second):
        assert result.is_error is True
        assert text_of(result).startswith(f"Kronvex at {unreachable}/mcp could not be used")
    assert any(
        isinstance(error, MCPError) and f"Kronvex at {unreachable}/mcp" in error.message
        for error in raised
    )
