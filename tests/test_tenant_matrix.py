"""Every route that takes an id answers another account's ids exactly like missing ones.

The matrix enumerates every URL pattern of the API (`api.urls`), of the dashboard
(`dashboard.urls`) and the MCP routes, and calls each with another account's ids under
every HTTP method. With each method the view allows, the answer is a 404; under every
method its body is byte for byte the body the same request gets once those ids exist
nowhere (the dashboard's after removing its per-request CSRF token). Nothing of the
other account changes.

Each pattern must have an entry in the tables below, saying which ids fill its
parameters, or that it takes none: a new route without one fails
`test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import ApiKey
from api.services import api_key_create
from memories import services
from memories.models import Agent, Memory, MemoryBatch
from tests.dashboard.conftest import Owner, make_owner
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
# Marks a route that takes no ids.
NO_IDS: tuple[dict[str, str], ...] = ()

# Whose ids fill a route's parameters: a key of `World.ids()`, or a value used as it is.
THEIR_AGENT = ({"agent_id": "their-agent"}, {"agent_id": "their-agent-uuid"})
THEIR_MEMORY = (
    {"agent_id": "their-agent", "memory_id": "their-memory"},
    {"agent_id": "their-agent-uuid", "memory_id": "their-memory"},
    {"agent_id": "my-agent", "memory_id": "their-memory"},
)
THEIR_BATCH = (
    {"agent_id": "their-agent", "batch_id": "their-batch"},
    {"agent_id": "my-agent", "batch_id": "their-batch"},
)

API_ROUTES: dict[str, tuple[dict[str, str], ...]] = {
    "agent-list": NO_IDS,
    "agent-detail": THEIR_AGENT,
    "remember": THEIR_AGENT,
    "remember-batch": THEIR_AGENT,
    "remember-batch-detail": THEIR_BATCH,
    "recall": THEIR_AGENT,
    "inject-context": THEIR_AGENT,
    "memory-list": THEIR_AGENT,
    "memory-detail": THEIR_MEMORY,
    "memory-retry": THEIR_MEMORY,
    "session-list": THEIR_AGENT,
    # The account-wide session routes: their session id holds no memory of mine.
    "session-detail": ({"session_id": "their-session"},),
    "session-export": ({"session_id": "their-session"},),
    "export": NO_IDS,
}
DASHBOARD_ROUTES: dict[str, tuple[dict[str, str], ...]] = {
    "home": NO_IDS,
    "api-keys": NO_IDS,
    "api-key-revoke": ({"key_id": "their-key"},),
    "api-key-rotate": ({"key_id": "their-key"},),
    "agents": NO_IDS,
    "agent": THEIR_AGENT,
    "agent-edit": THEIR_AGENT,
    "agent-delete": THEIR_AGENT,
    "memories-delete": THEIR_AGENT,
    "memory": THEIR_MEMORY,
    "memory-delete": THEIR_MEMORY,
    "memory-retry": THEIR_MEMORY,
    "session-clear": THEIR_AGENT,
    "memory-export": tuple({**ids, "fmt": fmt} for ids in THEIR_AGENT for fmt in ("json", "csv")),
    "playground": THEIR_AGENT,
    "playground-call": tuple(
        {**ids, "operation": operation}
        for ids in THEIR_AGENT
        for operation in ("remember", "recall", "inject-context")
    ),
    "billing": NO_IDS,
    "billing-checkout": NO_IDS,
    "billing-portal": NO_IDS,
    "account": NO_IDS,
    "account-export": NO_IDS,
    "audit": NO_IDS,
    "audit-export": NO_IDS,
    "webhooks": NO_IDS,
    "webhook": ({"webhook_id": "their-webhook"},),
    "webhook-test": ({"webhook_id": "their-webhook"},),
    "webhook-delete": ({"webhook_id": "their-webhook"},),
}
# The MCP routes, by their pattern: their ids travel in the path, or without one in the
# agent header and the tools' arguments ({}), and come back as the tool's error, not a 404.
MCP_ROUTES: dict[str, tuple[dict[str, str], ...]] = {
    "mcp": ({},),
    "mcp/": ({},),
    "mcp/agents/<str:agent_id>": THEIR_AGENT,
    "mcp/agents/<str:agent_id>/": THEIR_AGENT,
}

# One body for every write: each view reads the fields it knows.
API_BODY = {
    "name": "Hijacked",
    "content": "Planted memory",
    "query": "their secret",
    "memories": [{"content": "Planted memory"}],
    "pinned": True,
    "metadata": {"hijacked": True},
}
FORM_BODY = {"name": "Hijacked", "confirm": "yes", "session": "s", "query": "secret"}


# -- the two accounts ---------------------------------------------------------------


@dataclass
class World:
    me: Owner
    them: Owner
    my_key: str
    their_agent: Agent
    their_memory: Memory
    their_batch: MemoryBatch
    their_webhook: WebhookEndpoint

    def ids(self) -> dict[str, str]:
        return {
            "my-agent": self.me.agent.slug,
            "their-agent": self.their_agent.slug,
            "their-agent-uuid": str(self.their_agent.uuid),
            "their-memory": str(self.their_memory.uuid),
            "their-batch": str(self.their_batch.uuid),
            "their-key": str(self.them.api_key.uuid),
            "their-webhook": str(self.their_webhook.uuid),
            "their-session": "s",
        }

    def fill(self, case: dict[str, str]) -> dict[str, str]:
        ids = self.ids()
        return {name: ids.get(value, value) for name, value in case.items()}

    def snapshot(self) -> Any:
        """Everything of theirs a request could change."""
        account = self.them.account
        return (
            list(
                Agent.objects.filter(account=account)
                .order_by("pk")
                .values_list("slug", "name", "description", "metadata")
            ),
            list(
                Memory.objects.filter(agent__account=account)
                .order_by("pk")
                .values_list(
                    "uuid", "content", "pinned", "metadata", "expires_at", "access_count", "status"
                )
            ),
            list(ApiKey.objects.filter(account=account).values_list("uuid", "revoked_at")),
            MemoryBatch.objects.filter(account=account).count(),
            list(WebhookEndpoint.objects.filter(account=account).values_list("uuid", "url")),
            WebhookDelivery.objects.filter(endpoint__account=account).count(),
        )

    def forget_them(self) -> None:
        """Their ids now exist nowhere."""
        Agent.objects.filter(account=self.them.account).delete()
        MemoryBatch.objects.filter(account=self.them.account).delete()
        ApiKey.objects.filter(account=self.them.account).delete()
        WebhookEndpoint.objects.filter(account=self.them.account).delete()


@pytest.fixture
def world(db: None, fake_embedder: None) -> World:
    me = make_owner("me@example.com", remember="My user's PIN is 1234")
    them = make_owner("them@example.com", remember="Their user's PIN is 4321")
    # An agent whose id I do not have too: theirs named "support-bot" is found as mine.
    their_agent = services.agent_create(account=them.account, slug="their-bot", name="Theirs")
    their_memory = services.remember(
        agent=their_agent, content="Their secret: the vault code is 9876", session_id="s"
    )
    their_batch = MemoryBatch.objects.create(account=them.account, agent=their_agent, total=1)
    return World(
        me=me,
        them=them,
        my_key=api_key_create(account=me.account)[1],
        their_agent=their_agent,
        their_memory=their_memory,
        their_batch=their_batch,
        # Written directly: its URL is never called.
        their_webhook=WebhookEndpoint.objects.create(
            account=them.account,
            url="https://hooks.example.com/theirs",
            events=["memory.stored"],
            secret="whsec_theirs",
        ),
    )


# -- the routes ---------------------------------------------------------------------


def patterns(resolver: URLResolver) -> list[URLPattern]:
    found: list[URLPattern] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += patterns(entry)
        else:
            found.append(entry)
    return found


def included(prefix: str) -> URLResolver:
    [resolver] = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and str(entry.pattern) == prefix
    ]
    return resolver


def mcp_patterns() -> list[URLPattern]:
    return [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLPattern) and str(entry.pattern).startswith("mcp")
    ]


def cases(table: dict[str, tuple[dict[str, str], ...]]) -> list[Any]:
    return [
        pytest.param(name, case, id="-".join([name, *case.values()]))
        for name, route_cases in table.items()
        for case in route_cases
    ]


def url(name: str, kwargs: dict[str, str]) -> str:
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize(
    ("table", "found"),
    [
        (API_ROUTES, lambda: [p.name for p in patterns(included("api/v1/"))]),
        (DASHBOARD_ROUTES, lambda: [p.name for p in patterns(included("dashboard/"))]),
        (MCP_ROUTES, lambda: [str(p.pattern) for p in mcp_patterns()]),
    ],
    ids=["api", "dashboard", "mcp"],
)
def test_every_route_is_in_the_matrix(table: dict[str, Any], found: Any) -> None:
    routes = found()

    assert routes
    for route in routes:
        assert route in table, f"new route not covered: {route}"
    # And the tables name no route that is gone.
    assert sorted(table) == sorted(set(routes))


def test_every_parameter_of_a_route_is_filled() -> None:
    for prefix, table in (("api/v1/", API_ROUTES), ("dashboard/", DASHBOARD_ROUTES)):
        for pattern in patterns(included(prefix)):
            parameters = set(pattern.pattern.regex.groupindex)
            for case in table[pattern.name] or ({},):
                assert set(case) == parameters, pattern.name
    for pattern in mcp_patterns():
        for case in MCP_ROUTES[str(pattern.pattern)] or ({},):
            assert set(case) == set(pattern.pattern.regex.groupindex), pattern.pattern


# -- the API ------------------------------------------------------------------------


def api_send(client: Client, method: str, path: str) -> HttpResponseBase:
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, json.dumps(API_BODY), content_type="application/json")


@pytest.mark.parametrize(("name", "case"), cases(API_ROUTES))
def test_api_answers_another_accounts_ids_like_missing_ones(
    world: World, name: str, case: dict[str, str]
) -> None:
    client = Client(HTTP_X_API_KEY=world.my_key)
    path = url(name, world.fill(case))
    before = world.snapshot()

    theirs = {method: api_send(client, method, path) for method in METHODS}

    assert world.snapshot() == before
    world.forget_them()
    allowed = 0
    for method, answer in theirs.items():
        missing = api_send(client, method, path)
        assert (answer.status_code, answer.content) == (missing.status_code, missing.content), (
            method,
            path,
        )
        if missing.status_code != 405:
            allowed += 1
            assert answer.status_code == 404, (method, path, answer.content)
            assert answer.json()["code"].endswith("_not_found"), (method, path)
    assert allowed


# -- the dashboard ------------------------------------------------------------------

_PER_REQUEST = [
    # The CSRF token is masked afresh on every response.
    re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+(")'),
    re.compile(rb'(name="csrf-token" content=")[^"]+(")'),
    re.compile(rb'(nonce=")[^"]+(")'),
]


def page(response: HttpResponseBase) -> bytes:
    body = (
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
        if response.streaming
        else response.content
    )
    for pattern in _PER_REQUEST:
        body = pattern.sub(rb"\1\2", body)
    return body


def dashboard_send(world: World, name: str, method: str, path: str) -> HttpResponseBase:
    client = world.me.client
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    if name == "playground-call":
        return getattr(client, method)(path, json.dumps(API_BODY), content_type="application/json")
    if method == "post":
        return client.post(path, {**FORM_BODY, "memory": str(world.their_memory.uuid)})
    return getattr(client, method)(path, "name=Hijacked")


@pytest.mark.parametrize(("name", "case"), cases(DASHBOARD_ROUTES))
def test_dashboard_answers_another_accounts_ids_like_missing_ones(
    world: World, name: str, case: dict[str, str]
) -> None:
    path = url(f"dashboard:{name}", world.fill(case))
    before = world.snapshot()

    theirs = {method: dashboard_send(world, name, method, path) for method in METHODS}

    assert world.snapshot() == before
    world.forget_them()
    allowed = 0
    for method, answer in theirs.items():
        missing = dashboard_send(world, name, method, path)
        assert answer.status_code == missing.status_code, (method, path)
        assert page(answer) == page(missing), (method, path)
        if missing.status_code != 405:
            allowed += 1
            assert answer.status_code == 404, (method, path, answer.status_code)
    assert allowed


# -- MCP ----------------------------------------------------------------------------


def mcp_call(
    client: Client, path: str, tool: str, arguments: dict[str, Any], **headers: str
) -> HttpResponseBase:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return client.post(path, json.dumps(message), content_type="application/json", headers=headers)


# (tool, its arguments) each taking an agent; {agent} is filled with the id under test.
MCP_TOOLS = [
    ("remember", {"content": "Planted memory"}),
    ("recall", {"query": "their secret"}),
    ("inject_context", {"query": "their secret"}),
    ("list_memories", {}),
    ("forget", {"query": "their secret", "confirm": True}),
]


@pytest.mark.parametrize(("pattern", "case"), cases(MCP_ROUTES))
def test_mcp_answers_another_accounts_ids_like_missing_ones(
    world: World, pattern: str, case: dict[str, str]
) -> None:
    client = Client(HTTP_X_API_KEY=world.my_key)
    filled = world.fill(case)
    path = "/" + re.sub(r"<str:(\w+)>", lambda m: filled[m[1]], pattern)
    their_agent = world.ids()["their-agent"]
    their_memory = world.ids()["their-memory"]
    # Their agent in the path; else in the agent header, and in the tools' arguments.
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (tool, arguments, {}) for tool, arguments in MCP_TOOLS
    ]
    if not case:
        calls = [
            (tool, arguments, {"X-Kronvex-Agent": their_agent}) for tool, arguments in MCP_TOOLS
        ]
        calls += [
            (tool, {**arguments, "agent_id": their_agent}, {}) for tool, arguments in MCP_TOOLS
        ]
        calls += [
            ("forget", {"agent_id": world.me.agent.slug, "memory_id": their_memory}, {}),
            ("forget", {"agent_id": their_agent, "memory_id": their_memory}, {}),
        ]
    before = world.snapshot()

    theirs = [
        mcp_call(client, path, tool, arguments, **headers) for tool, arguments, headers in calls
    ]

    assert world.snapshot() == before
    world.forget_them()
    for (tool, arguments, headers), answer in zip(calls, theirs, strict=True):
        missing = mcp_call(client, path, tool, arguments, **headers)
        assert (answer.status_code, answer.content) == (missing.status_code, missing.content)
        result = answer.json()["result"]
        assert result["isError"], (tool, arguments, headers, result)
        assert "No " in result["content"][0]["text"], result
