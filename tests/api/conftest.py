"""Fixtures for the /api/v1 endpoint tests.

Tests run inside a rolled-back transaction (the plain `db` fixture), where
`transaction.on_commit` callbacks never fire by themselves. `remember` queues the
embedding with on_commit, so every request made through `Api` runs the callbacks it
queued as soon as the response is back, the way a real commit would: memories end
up `ready`, embedded by the configured (real, local) model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_create
from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories import services
from memories.embedding import reset_embedder
from memories.models import Agent, Memory

BASE = "/api/v1"


class Api:
    """An APIClient whose requests also run the on-commit work they queued."""

    def __init__(self, client: APIClient, capture: Callable[..., Any]) -> None:
        self.client = client
        self._capture = capture

    def request(self, method: str, path: str, data: Any = None, **extra: Any) -> Response:
        with self._capture(execute=True):
            if method == "get":
                return self.client.get(path, data, **extra)
            return getattr(self.client, method)(path, data, format="json", **extra)

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any) -> Response:
        return self.request("get", path, params, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Response:
        return self.request("post", path, data, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any) -> Response:
        return self.request("patch", path, data, **extra)

    def delete(self, path: str, **extra: Any) -> Response:
        return self.request("delete", path, **extra)

    def raw(
        self, method: str, path: str, body: str, content_type: str = "application/json"
    ) -> Response:
        """A body sent as it is, for what format="json" cannot produce."""
        with self._capture(execute=True):
            return getattr(self.client, method)(path, body, content_type=content_type)

    def remember(self, agent: Agent | str, content: str, **fields: Any) -> dict[str, Any]:
        slug = agent if isinstance(agent, str) else agent.slug
        response = self.post(f"{BASE}/agents/{slug}/remember", {"content": content, **fields})
        assert response.status_code == 200, response.json()
        return response.json()


def make_api(raw_key: str, capture: Callable[..., Any]) -> Api:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return Api(client, capture)


@pytest.fixture
def account(db: None) -> Account:
    return account_get_or_create_for_email(email="owner@example.com")[0]


@pytest.fixture
def api_key(account: Account) -> tuple[ApiKey, str]:
    return api_key_create(account=account)


@pytest.fixture
def api(api_key: tuple[ApiKey, str], django_capture_on_commit_callbacks: Any) -> Api:
    return make_api(api_key[1], django_capture_on_commit_callbacks)


@pytest.fixture
def anonymous(db: None, django_capture_on_commit_callbacks: Any) -> Api:
    return Api(APIClient(), django_capture_on_commit_callbacks)


@pytest.fixture
def agent(account: Account) -> Agent:
    return services.agent_create(account=account, slug="assistant", name="Assistant")


@pytest.fixture
def other_account(db: None) -> Account:
    return account_get_or_create_for_email(email="someone-else@example.com")[0]


@pytest.fixture
def other_api(other_account: Account, django_capture_on_commit_callbacks: Any) -> Api:
    return make_api(api_key_create(account=other_account)[1], django_capture_on_commit_callbacks)


@pytest.fixture
def other_agent(other_account: Account) -> Agent:
    return services.agent_create(account=other_account, slug="their-agent", name="Theirs")


@pytest.fixture
def other_memory(other_api: Api, other_agent: Agent) -> Memory:
    body = other_api.remember(other_agent, "Their user's bank PIN is 4321", session_id="s1")
    return Memory.objects.get(uuid=body["id"])


@pytest.fixture
def memory(api: Api, agent: Agent) -> Memory:
    body = api.remember(agent, "The user's favourite colour is green", session_id="s1")
    return Memory.objects.get(uuid=body["id"])


@pytest.fixture
def unbuildable_embedder(settings: Any, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """The local model's cache folder cannot be created (its parent is a file): there is
    no embedder at all, so every request that needs one answers 503. Gives a function
    that repairs it."""
    configured = (settings.KRONVEX_EMBEDDER, settings.KRONVEX_MODEL_DIR)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.KRONVEX_EMBEDDER = "local"
    settings.KRONVEX_MODEL_DIR = str(blocker / "models")
    reset_embedder()

    def repair() -> None:
        settings.KRONVEX_EMBEDDER, settings.KRONVEX_MODEL_DIR = configured
        reset_embedder()

    yield repair
    reset_embedder()
