"""POST /agents/{agent_id}/memories/{memory_id}/retry: a failed memory's embedding, again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memories import services
from memories.embedding import reset_embedder
from memories.models import Agent, EmbeddingStatus, Memory
from tests.api.conftest import BASE, Api
from tests.fakes.openai_server import FakeEmbeddingServer


@pytest.fixture
def provider(settings) -> Iterator[FakeEmbeddingServer]:
    """An OpenAI-compatible endpoint on loopback; it fails while told to."""
    with FakeEmbeddingServer(default_dimensions=8) as server:
        settings.KRONVEX_EMBEDDER = "openai"
        settings.KRONVEX_EMBEDDING_BASE_URL = server.base_url
        settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
        settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
        reset_embedder()
        yield server
    reset_embedder()


@pytest.fixture
def failed_memory(api: Api, agent: Agent, provider: FakeEmbeddingServer) -> Memory:
    provider.behaviour = "error_500"
    body = api.remember(agent, "The user's train leaves at 07:40", session_id="s1")
    provider.behaviour = "ok"
    return Memory.objects.get(uuid=body["id"])


def retry_path(agent: str, memory_id: object) -> str:
    return f"{BASE}/agents/{agent}/memories/{memory_id}/retry"


def test_a_failed_memory_shows_its_status_and_reason(api: Api, failed_memory: Memory) -> None:
    body = api.get(f"{BASE}/agents/assistant/memories/{failed_memory.uuid}").json()

    assert body["status"] == "failed"
    assert "500" in body["embedding_error"]
    assert body["embedding_model"] is None


def test_retry_embeds_a_failed_memory_and_starts_its_attempts_again(
    api: Api, failed_memory: Memory, provider: FakeEmbeddingServer
) -> None:
    Memory.objects.filter(pk=failed_memory.pk).update(embedding_attempts=5)

    response = api.post(retry_path("assistant", failed_memory.uuid))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(failed_memory.uuid)
    assert body["content"] == "The user's train leaves at 07:40"
    # Embedded on commit, which the test client runs once the answer is back.
    assert body["status"] == "pending"
    stored = Memory.objects.get(pk=failed_memory.pk)
    assert stored.status == EmbeddingStatus.READY
    assert stored.embedding_error == ""
    assert (stored.embedding_attempts, stored.embedding_retry_at) == (0, None)
    assert provider.requests[-1]["body"]["input"] == ["The user's train leaves at 07:40"]


@pytest.mark.django_db(transaction=True)
def test_retry_answers_the_memory_embedded_in_process(api: Api, failed_memory: Memory) -> None:
    response = api.post(retry_path("assistant", failed_memory.uuid))

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["embedding_error"] is None
    assert response.json()["embedding_model"] == "text-embedding-3-small"


def test_retry_queues_a_pending_memory_again(api: Api, agent: Agent, provider) -> None:
    # Stored, but its queued embedding was lost: it is pending.
    memory = services.remember(agent=agent, content="The user's cat is called Miso")
    assert Memory.objects.get(pk=memory.pk).status == EmbeddingStatus.PENDING

    response = api.post(retry_path("assistant", memory.uuid))

    assert response.status_code == 200
    assert response.json()["id"] == str(memory.uuid)
    assert Memory.objects.get(pk=memory.pk).status == EmbeddingStatus.READY


def test_retry_of_an_embedded_memory_is_409_already_embedded(api: Api, memory: Memory) -> None:
    before = Memory.objects.get(pk=memory.pk)

    response = api.post(retry_path("assistant", memory.uuid))

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Memory '{memory.uuid}' is embedded already (status ready); nothing to retry.",
        "code": "already_embedded",
    }
    after = Memory.objects.get(pk=memory.pk)
    assert (after.status, after.updated_at) == (EmbeddingStatus.READY, before.updated_at)


def test_retry_of_another_accounts_memory_is_404_like_a_missing_one(
    api: Api, agent: Agent, other_agent: Agent, other_memory: Memory
) -> None:
    Memory.objects.filter(pk=other_memory.pk).update(status=EmbeddingStatus.FAILED)
    missing_id = "30046bbe-69bd-4d43-acb0-47155e0e4657"

    theirs = api.post(retry_path("assistant", other_memory.uuid))
    missing = api.post(retry_path("assistant", missing_id))
    their_agent = api.post(retry_path(other_agent.slug, other_memory.uuid))

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "memory_not_found"
    assert theirs.json()["detail"] == missing.json()["detail"].replace(
        missing_id, str(other_memory.uuid)
    )
    assert their_agent.status_code == 404
    assert their_agent.json() == {
        "detail": "No agent 'their-agent' in this account.",
        "code": "agent_not_found",
    }
    assert Memory.objects.get(pk=other_memory.pk).status == EmbeddingStatus.FAILED


def test_retry_of_a_malformed_id_is_404(api: Api, agent: Agent) -> None:
    response = api.post(retry_path("assistant", "not-a-uuid"))

    assert response.status_code == 404
    assert response.json()["code"] == "memory_not_found"


def test_retry_needs_an_api_key(anonymous: Api, failed_memory: Memory) -> None:
    response = anonymous.post(retry_path("assistant", failed_memory.uuid))

    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"
    assert Memory.objects.get(pk=failed_memory.pk).status == EmbeddingStatus.FAILED
