"""Fixtures for the Python client's tests: a live Kronvex server and a real account.

The server is pytest-django's `live_server` (real HTTP, the real embedded PostgreSQL and
the real local embedding model); the data is committed (`transactional_db`) so that the
server's threads see it. Edges the project does not own, the network itself, are stood in
for by `LoopbackServer`: a tiny HTTP server in a thread that answers what a test scripts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connections
from kronvex_client import Kronvex

from api.services import api_key_create
from billing.models import Account
from billing.plans import plan_get
from billing.services import account_get_or_create_for_email, account_plan_set
from memories import services
from memories.models import Agent


@pytest.fixture(autouse=True)
def short_lived_connections() -> Iterator[None]:
    """The live server answers each request in a thread of its own: close its database
    connection when the request ends rather than leave it open past the test."""
    database = connections["default"].settings_dict
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = kept_for


@pytest.fixture
def server_url(live_server: Any) -> str:
    return str(live_server.url)


@pytest.fixture
def account(transactional_db: None) -> Account:
    # A plan without limits: these tests are about the client, not the plan.
    account = account_get_or_create_for_email(email="owner@example.com")[0]
    return account_plan_set(account=account, plan=plan_get("enterprise"))


@pytest.fixture
def api_key(account: Account) -> str:
    return api_key_create(account=account)[1]


@pytest.fixture
def agent(account: Account) -> Agent:
    return services.agent_create(account=account, slug="assistant", name="Assistant")


@pytest.fixture
def client(server_url: str, api_key: str) -> Iterator[Kronvex]:
    with Kronvex(api_key, base_url=server_url) as client:
        yield client


@pytest.fixture
def other_account(transactional_db: None) -> Account:
    return account_get_or_create_for_email(email="someone-else@example.com")[0]


@pytest.fixture
def other_agent(other_account: Account) -> Agent:
    return services.agent_create(account=other_account, slug="their-agent", name="Theirs")


@pytest.fixture
def free_account(transactional_db: None) -> Account:
    return account_get_or_create_for_email(email="free@example.com")[0]


@pytest.fixture
def free_client(server_url: str, free_account: Account) -> Iterator[Kronvex]:
    with Kronvex(api_key_create(account=free_account)[1], base_url=server_url) as client:
        yield client


# -- a loopback HTTP server for what the live server cannot be made to do ----------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering, to outlast a client's timeout.
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    at: float


class LoopbackServer:
    """Answers each request with the next scripted Answer (the last one repeats)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.received.append(
                        Received(self.command, self.path, body, dict(self.headers), time.time())
                    )
                    answer = outer.answers.pop(0) if len(outer.answers) > 1 else outer.answers[0]
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(*answers: Answer) -> LoopbackServer:
        server = LoopbackServer(list(answers)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()
