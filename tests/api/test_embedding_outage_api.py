"""With the embedding provider down, remember still stores, and recall and inject-context
answer from the memories' words alone, saying so in X-Kronvex-Recall-Mode."""

import pytest

from memories.models import Memory

pytestmark = pytest.mark.django_db

RECALL_MODE = "X-Kronvex-Recall-Mode"


@pytest.fixture
def stored(api, agent):
    """Three embedded memories, remembered while the provider still answered."""
    contents = [
        "The user's favourite colour is green",
        "The user is allergic to peanuts",
        "Paint the shed a bright colour next spring",
    ]
    return {
        content: Memory.objects.get(uuid=api.remember(agent, content)["id"]) for content in contents
    }


def test_remember_keeps_the_memory_and_marks_it_failed(api, agent, unreachable_embedder):
    response = api.post("/api/v1/agents/assistant/remember", {"content": "The user likes tea"})

    assert response.status_code == 200
    stored = Memory.objects.get(uuid=response.json()["id"])
    assert stored.content == "The user likes tea"
    assert stored.status == "failed"
    assert "Cannot reach the embedding endpoint" in stored.embedding_error


def test_recall_finds_memories_by_their_words_while_the_provider_is_down(
    api, agent, stored, unreachable_embedder
):
    waiting = api.post("/api/v1/agents/assistant/remember", {"content": "Green tea every morning"})

    first = api.post(
        "/api/v1/agents/assistant/recall", {"query": "favourite colour", "explain": True}
    )

    assert first.status_code == 200
    assert first[RECALL_MODE] == "words"
    found = [item["content"] for item in first.json()["memories"]]
    # Both query words first, one of them next; the peanut memory shares none.
    assert found == [
        "The user's favourite colour is green",
        "Paint the shed a bright colour next spring",
    ]
    assert all(item["explain"]["vector"] is None for item in first.json()["memories"])
    assert Memory.objects.get(pk=stored[found[0]].pk).access_count == 1
    # A memory that waits for its vector is found the same way.
    second = api.post("/api/v1/agents/assistant/recall", {"query": "green tea"}).json()
    assert waiting.json()["id"] in [item["id"] for item in second["memories"]]


def test_inject_context_answers_from_words_while_the_provider_is_down(
    api, agent, stored, unreachable_embedder
):
    response = api.post(
        "/api/v1/agents/assistant/inject-context", {"message": "what about peanuts?"}
    )

    assert response.status_code == 200
    assert response[RECALL_MODE] == "words"
    body = response.json()
    assert body["memories_used"] == 1
    assert body["context"].endswith("The user is allergic to peanuts")


def test_recall_searches_by_meaning_and_words_when_the_provider_answers(api, agent, stored):
    response = api.post("/api/v1/agents/assistant/recall", {"query": "food allergies"})

    assert response[RECALL_MODE] == "hybrid"
    # No shared word: found by meaning.
    assert response.json()["memories"][0]["content"] == "The user is allergic to peanuts"


def test_without_an_embedder_at_all_the_query_endpoints_answer_503(
    api, agent, stored, unbuildable_embedder
):
    for endpoint in ("recall", "inject-context"):
        response = api.post(f"/api/v1/agents/assistant/{endpoint}", {"query": "colour"})

        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response.json() == {
            "detail": "The embedding provider is unavailable; try again shortly.",
            "code": "embedding_unavailable",
        }
    assert sum(memory.access_count for memory in Memory.objects.all()) == 0
