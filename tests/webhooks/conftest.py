"""A loopback receiver standing in for a customer's webhook endpoint, checking each
delivery's signature with the snippet docs/webhooks.md gives customers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

import pytest

from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories import services
from memories.models import Agent

# The dashboard tests' signed-in owners of two accounts, as fixtures here too.
from tests.dashboard.conftest import owner, stranger  # noqa: F401
from tests.docs.samples import DOCS_DIR, code_blocks
from tests.fakes.loopback import LoopbackServer
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create


def documented_verifier() -> Callable[[str, str, bytes], bool]:
    """kronvex_signature_valid from the Python block of docs/webhooks.md, run as it is."""
    [block] = [b for b in code_blocks(DOCS_DIR / "webhooks.md") if b.language == "python"]
    namespace: dict[str, Any] = {}
    exec(compile(block.source, str(block.path), "exec"), namespace)
    return namespace["kronvex_signature_valid"]


signature_valid = documented_verifier()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # Whether the documented snippet accepts its signature with the receiver's secret.
    signed: bool


class Receiver(LoopbackServer):
    """Answers each POST with the next of `statuses` (200 once they are used), and records
    it before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.secret = ""
        self.statuses: list[int] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/hooks/kronvex?source=test"

    def events(self) -> list[str]:
        return [request.headers["Kronvex-Event"] for request in self.received]

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                with receiver.lock:
                    receiver.received.append(
                        Received(
                            path=self.path,
                            headers=headers,
                            body=body,
                            signed=signature_valid(
                                receiver.secret, headers.get("Kronvex-Signature", ""), body
                            ),
                        )
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = b"not now" if status >= 300 else b"ok"
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handler)
        return self


@pytest.fixture
def webhook_settings(settings: Any) -> Any:
    """Loopback receivers allowed, three tries with no wait between them, short timeout."""
    settings.KRONVEX_WEBHOOK_ALLOW_PRIVATE = True
    settings.KRONVEX_WEBHOOK_REQUIRE_HTTPS = False
    settings.KRONVEX_WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.KRONVEX_WEBHOOK_TIMEOUT_SECONDS = 2.0
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="owner@example.com")[0]


@pytest.fixture
def agent(account: Account, fake_embedder: None) -> Agent:
    return services.agent_create(account=account, name="Support bot", slug="support-bot")


@pytest.fixture
def endpoint_for(
    account: Account, receiver: Receiver, webhook_settings: Any
) -> Callable[..., WebhookEndpoint]:
    """Registers the receiver for these events; it then checks signatures with its secret."""

    def register(*events: str) -> WebhookEndpoint:
        endpoint = webhook_endpoint_create(account=account, url=receiver.url, events=events)
        receiver.secret = endpoint.secret
        return endpoint

    return register
