"""Fixtures for the MCP tests: a live server, accounts with a key and an agent, and the
official MCP SDK's client connected to the server over HTTP.

The live server runs in threads of the test process with the real embedding model and
the test database, so the tests use committed rows (`transactional_db`) that its
threads can see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
from django.db import connections
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from api.services import api_key_create
from billing.models import Account
from billing.plans import plan_get
from billing.services import account_get_or_create_for_email, account_plan_set
from memories import services
from memories.models import Agent

T = TypeVar("T")

TOOL_NAMES = {"remember", "recall", "inject_context", "forget", "list_memories"}


@dataclass
class Tenant:
    account: Account
    key: str
    agent: Agent


def tenant_create(email: str, agent_slug: str) -> Tenant:
    # A plan with rate limits high enough for a test's requests (a test that is about a
    # limit sets its own plan).
    account = account_plan_set(
        account=account_get_or_create_for_email(email=email)[0], plan=plan_get("business")
    )
    key = api_key_create(account=account)[1]
    agent = services.agent_create(account=account, slug=agent_slug, name=agent_slug.title())
    return Tenant(account=account, key=key, agent=agent)


@pytest.fixture
def base_url(live_server: Any) -> Iterator[str]:
    """The live server's base URL.

    Its threads would otherwise keep a database connection for as long as a client
    keeps its socket alive, past the end of the test: close it after each request.
    """
    database = connections["default"].settings_dict
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    try:
        yield live_server.url
    finally:
        database["CONN_MAX_AGE"] = kept_for


@pytest.fixture
def tenant(transactional_db: None) -> Tenant:
    return tenant_create("owner@example.com", "assistant")


@pytest.fixture
def other_tenant(transactional_db: None) -> Tenant:
    return tenant_create("someone-else@example.com", "their-agent")


@asynccontextmanager
async def connected(
    url: str, *, key: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK's Client over streamable HTTP, sending the key as X-API-Key."""
    sent = dict(headers or {})
    if key is not None:
        sent["X-API-Key"] = key
    async with (
        httpx2.AsyncClient(headers=sent, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run an async scenario to its end from a synchronous test (which may use the ORM)."""
    return anyio.run(scenario)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def errors_in(raised: BaseException) -> list[BaseException]:
    """The exceptions in what a client raised: task groups wrap them in exception groups."""
    if isinstance(raised, BaseExceptionGroup):
        return [leaf for inner in raised.exceptions for leaf in errors_in(inner)]
    return [raised]
