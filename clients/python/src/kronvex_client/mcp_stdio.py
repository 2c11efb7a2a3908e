"""`kronvex-mcp`: Kronvex's MCP tools over stdio, for MCP clients that only launch local
processes (Claude Desktop, editors).

A bridge: it connects to the Kronvex server's own MCP endpoint, `{KRONVEX_BASE_URL}/mcp`,
as an MCP client (streamable HTTP) and serves the tools it finds there over stdin and
stdout, forwarding every call. The tools are defined once, by the server.

Configured by the environment:

    KRONVEX_API_KEY    the API key (kv-...), required
    KRONVEX_AGENT_ID   the agent whose memory the tools use (else each call names one)
    KRONVEX_BASE_URL   the server, default http://127.0.0.1:8000

The server is connected on first use and again after a failure: while it cannot be
reached, listing the tools fails with a clear error and each tool call answers an
`isError` result saying so; the bridge itself keeps running.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from importlib import metadata

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
)
from mcp.types.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND

logger = logging.getLogger("kronvex_client.mcp_stdio")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
AGENT_HEADER = "X-Kronvex-Agent"
# Recall embeds the query on the server: allow it time on a cold start.
TIMEOUT_SECONDS = 60.0
# JSON-RPC errors that are the server's answer to the call itself, passed on as they are;
# any other error means the connection is in doubt.
PROTOCOL_ERRORS = frozenset({INVALID_PARAMS, METHOD_NOT_FOUND})


@dataclass(frozen=True)
class Settings:
    api_key: str
    agent_id: str | None
    base_url: str

    @property
    def endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/mcp"

    @property
    def headers(self) -> dict[str, str]:
        headers = {"X-API-Key": self.api_key}
        if self.agent_id:
            headers[AGENT_HEADER] = self.agent_id
        return headers


def settings_from_environment() -> Settings | None:
    api_key = os.environ.get("KRONVEX_API_KEY", "").strip()
    if not api_key:
        return None
    return Settings(
        api_key=api_key,
        agent_id=os.environ.get("KRONVEX_AGENT_ID", "").strip() or None,
        base_url=os.environ.get("KRONVEX_BASE_URL", "").strip() or DEFAULT_BASE_URL,
    )


class Unreachable(Exception):
    """The Kronvex server could not be connected to or stopped answering."""


class Remote:
    """The connection to the server's MCP endpoint, opened when first needed.

    The connection lives in a task of its own (started in `tasks`), since an MCP client
    must be closed by the task that opened it; `drop` ends it after a failure.
    """

    def __init__(self, settings: Settings, tasks: TaskGroup) -> None:
        self.settings = settings
        self._tasks = tasks
        self._lock = anyio.Lock()
        self._client: Client | None = None
        self._stop = anyio.Event()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._stop = anyio.Event()
                try:
                    self._client = await self._tasks.start(self._hold, self._stop)
                except Exception as exc:
                    raise Unreachable(self._failure(exc)) from exc
            return self._client

    async def _hold(self, stop: anyio.Event, *, task_status: TaskStatus[Client]) -> None:
        started = False
        try:
            async with (
                httpx2.AsyncClient(headers=self.settings.headers, timeout=TIMEOUT_SECONDS) as http,
                Client(streamable_http_client(self.settings.endpoint, http_client=http)) as client,
            ):
                started = True
                task_status.started(client)
                await stop.wait()
        except Exception as exc:
            if not started:
                raise
            logger.warning("connection to %s ended: %s", self.settings.endpoint, exc)

    def drop(self) -> None:
        self._client = None
        self._stop.set()

    def close(self) -> None:
        self.drop()

    def _failure(self, exc: BaseException) -> str:
        return f"Kronvex at {self.settings.endpoint} could not be used: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The most telling message in what a connection raised (task groups nest them)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    if isinstance(exc, MCPError):
        return exc.message
    return str(exc) or type(exc).__name__


async def list_tools(
    ctx: ServerRequestContext[Remote], params: PaginatedRequestParams | None
) -> ListToolsResult:
    remote = ctx.lifespan_context
    try:
        client = await remote.client()
        listed = await client.list_tools()
    except Unreachable as exc:
        raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from exc
    except Exception as exc:
        remote.drop()
        raise MCPError(code=INTERNAL_ERROR, message=remote._failure(exc)) from exc
    return ListToolsResult(tools=listed.tools)


async def call_tool(
    ctx: ServerRequestContext[Remote], params: CallToolRequestParams
) -> CallToolResult:
    remote = ctx.lifespan_context
    try:
        client = await remote.client()
        return await client.call_tool(params.name, params.arguments)
    except Unreachable as exc:
        return _error(str(exc))
    except MCPError as exc:
        if exc.code in PROTOCOL_ERRORS:
            raise
        remote.drop()
        return _error(remote._failure(exc))
    except Exception as exc:
        remote.drop()
        return _error(remote._failure(exc))


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _version() -> str:
    try:
        return metadata.version("kronvex-client")
    except metadata.PackageNotFoundError:
        return "0"


def server(settings: Settings) -> Server[Remote]:
    @asynccontextmanager
    async def lifespan(_: Server[Remote]) -> AsyncIterator[Remote]:
        async with anyio.create_task_group() as tasks:
            remote = Remote(settings, tasks)
            try:
                yield remote
            finally:
                remote.close()

    return Server(
        "kronvex",
        version=_version(),
        title="Kronvex",
        description="Long-term memory for AI agents, from a Kronvex server.",
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(settings: Settings) -> None:
    bridge = server(settings)
    async with stdio_server() as (read_stream, write_stream):
        await bridge.run(read_stream, write_stream, bridge.create_initialization_options())


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="kronvex-mcp: %(message)s")
    settings = settings_from_environment()
    if settings is None:
        print(
            "kronvex-mcp: KRONVEX_API_KEY is not set. Set it to a Kronvex API key (kv-...), "
            "and KRONVEX_AGENT_ID to the agent whose memory to use.",
            file=sys.stderr,
        )
        sys.exit(2)
    with suppress(KeyboardInterrupt):
        anyio.run(serve, settings)


if __name__ == "__main__":
    main()
