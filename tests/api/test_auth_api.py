"""API keys: every endpoint needs one, in X-API-Key or as a Bearer token."""

import pytest

from api.services import api_key_revoke
from memories.models import Agent, Memory

pytestmark = pytest.mark.django_db

# Every endpoint of /api/v1 with a body that would succeed for a valid key.
ENDPOINTS = [
    ("get", "/agents", None),
    ("post", "/agents", {"id": "new-agent", "name": "New"}),
    ("get", "/agents/{agent}", None),
    ("patch", "/agents/{agent}", {"name": "Renamed"}),
    ("delete", "/agents/{agent}", None),
    ("post", "/agents/{agent}/remember", {"content": "Something new"}),
    ("post", "/agents/{agent}/recall", {"query": "colour"}),
    ("post", "/agents/{agent}/inject-context", {"query": "colour"}),
    ("get", "/agents/{agent}/memories", None),
    ("delete", "/agents/{agent}/memories", None),
    ("get", "/agents/{agent}/memories/{memory}", None),
    ("patch", "/agents/{agent}/memories/{memory}", {"pinned": True}),
    ("delete", "/agents/{agent}/memories/{memory}", None),
    ("get", "/agents/{agent}/sessions", None),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path, _ in ENDPOINTS]


def call(client, method, path, body, agent, memory):
    url = "/api/v1" + path.format(agent=agent.slug, memory=memory.uuid)
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, body, format="json")


def assert_nothing_changed(agent, memory):
    assert list(Agent.objects.values_list("slug", "name")) == [(agent.slug, agent.name)]
    stored = Memory.objects.get()
    assert (stored.uuid, stored.pinned, stored.access_count) == (memory.uuid, False, 0)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_endpoint_without_a_key_is_401_missing_api_key(
    anonymous, agent, memory, method, path, body
):
    response = call(anonymous.client, method, path, body, agent, memory)

    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"
    assert set(response.json()) == {"detail", "code"}
    assert response["WWW-Authenticate"] == 'Bearer realm="kronvex"'
    assert_nothing_changed(agent, memory)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_endpoint_with_a_revoked_key_is_401_revoked_api_key(
    anonymous, api_key, agent, memory, method, path, body
):
    key, raw_key = api_key
    api_key_revoke(api_key=key)
    anonymous.client.credentials(HTTP_X_API_KEY=raw_key)

    response = call(anonymous.client, method, path, body, agent, memory)

    assert response.status_code == 401
    assert response.json() == {
        "detail": "This API key has been revoked.",
        "code": "revoked_api_key",
    }
    assert_nothing_changed(agent, memory)


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_X_API_KEY": "abc"},
        {"HTTP_AUTHORIZATION": "Bearer abc"},
        {"HTTP_X_API_KEY": "kv-" + "x" * 300},
    ],
    ids=["x-api-key", "bearer", "too-long"],
)
def test_malformed_key_is_401_invalid_api_key(anonymous, agent, header):
    response = anonymous.client.get("/api/v1/agents", **header)

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Malformed API key: Kronvex keys start with 'kv-'.",
        "code": "invalid_api_key",
    }


@pytest.mark.parametrize(
    "header",
    [{"HTTP_X_API_KEY": "kv-xxx"}, {"HTTP_AUTHORIZATION": "Bearer kv-xxx"}],
    ids=["x-api-key", "bearer"],
)
def test_unknown_key_is_401_invalid_api_key(anonymous, agent, header):
    response = anonymous.client.post(
        "/api/v1/agents/assistant/remember", {"content": "hello"}, format="json", **header
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown API key.", "code": "invalid_api_key"}
    assert Memory.objects.count() == 0


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_bearer_authorization_header_authenticates(anonymous, api_key, agent, scheme):
    anonymous.client.credentials(HTTP_AUTHORIZATION=f"{scheme} {api_key[1]}")

    response = anonymous.get("/api/v1/agents")

    assert response.status_code == 200
    assert [body["id"] for body in response.json()["agents"]] == ["assistant"]


def test_another_authorization_scheme_counts_as_no_key(anonymous, api_key, agent):
    anonymous.client.credentials(HTTP_AUTHORIZATION=f"Basic {api_key[1]}")

    response = anonymous.get("/api/v1/agents")

    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"


def test_a_request_records_when_the_key_was_last_used(api, api_key, agent):
    key = api_key[0]
    assert key.last_used_at is None

    assert api.get("/api/v1/agents").status_code == 200

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_unknown_api_url_answers_404_json_even_without_a_key(anonymous):
    response = anonymous.get("/api/v1/unknown")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No API endpoint at /api/v1/unknown.", "code": "not_found"}


def test_unknown_api_url_answers_404_json_with_a_key(api):
    response = api.get("/api/v1/agents/assistant/unknown")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No API endpoint at /api/v1/agents/assistant/unknown.",
        "code": "not_found",
    }
