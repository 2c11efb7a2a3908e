"""With the embedding provider down, remember still stores and recall answers 503."""

import socket

import pytest

from memories.embedding import reset_embedder
from memories.models import Memory

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_embedder(settings):
    """An OpenAI-compatible endpoint on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.KRONVEX_EMBEDDER = "openai"
    settings.KRONVEX_EMBEDDING_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.KRONVEX_EMBEDDING_DIMENSIONS = 384
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
    settings.KRONVEX_EMBEDDING_TIMEOUT = 2.0
    reset_embedder()
    yield
    reset_embedder()


def test_remember_keeps_the_memory_and_marks_it_failed(api, agent, unreachable_embedder):
    response = api.post("/api/v1/agents/assistant/remember", {"content": "The user likes tea"})

    assert response.status_code == 200
    stored = Memory.objects.get(uuid=response.json()["id"])
    assert stored.content == "The user likes tea"
    assert stored.status == "failed"
    assert "Cannot reach the embedding endpoint" in stored.embedding_error


@pytest.mark.parametrize("endpoint", ["recall", "inject-context"])
def test_query_endpoints_answer_503_embedding_unavailable(
    api, agent, memory, unreachable_embedder, endpoint
):
    response = api.post(f"/api/v1/agents/assistant/{endpoint}", {"query": "colour"})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "The embedding provider is unavailable; try again shortly.",
        "code": "embedding_unavailable",
    }
    assert Memory.objects.get(pk=memory.pk).access_count == 0
