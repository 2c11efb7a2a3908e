"""remember stores first and embeds after commit; memories waiting for a vector stay findable."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from memories import services
from memories.embedding import get_embedder, reset_embedder
from memories.models import Agent, EmbeddingStatus, Memory
from tests.fakes.openai_server import FakeEmbeddingServer


@pytest.fixture
def agent(account) -> Agent:
    return services.agent_create(account=account, slug="helper", name="Helper")


@pytest.fixture
def failing_provider(settings):
    """An OpenAI-compatible endpoint on loopback that answers 500."""
    with FakeEmbeddingServer(default_dimensions=8) as server:
        server.behaviour = "error_500"
        settings.KRONVEX_EMBEDDER = "openai"
        settings.KRONVEX_EMBEDDING_BASE_URL = server.base_url
        settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
        settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
        reset_embedder()
        yield server
    reset_embedder()


@pytest.mark.django_db(transaction=True)
def test_remember_embeds_in_process_before_returning(agent, fake_embedder):
    memory = services.remember(agent=agent, content="User prefers concise answers")
    assert memory.status == EmbeddingStatus.READY
    stored = Memory.objects.get(pk=memory.pk)
    assert stored.status == EmbeddingStatus.READY
    assert stored.embedding_model == "fake-hash-384"
    assert len(stored.embedding) == 384


def test_remember_keeps_the_memory_when_the_provider_fails(
    agent, failing_provider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        memory = services.remember(agent=agent, content="Never lose me")
    stored = Memory.objects.get(pk=memory.pk)
    assert stored.content == "Never lose me"
    assert stored.status == EmbeddingStatus.FAILED
    assert "500" in stored.embedding_error or "embedding" in stored.embedding_error.lower()
    assert stored.embedding is None
    assert failing_provider.requests, "the provider was really called"


def test_recall_falls_back_to_words_when_the_provider_fails(
    agent, failing_provider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kept = services.remember(agent=agent, content="The deploy is on Friday")
        services.remember(agent=agent, content="The user likes green tea")

    found = services.recall_ranked(agent=agent, query="when is the deploy?")

    assert found.words_only
    assert [item.memory.pk for item in found.memories] == [kept.pk]
    assert found.memories[0].score.vector is None
    assert len(failing_provider.requests) == 3, "the query was really sent"


def test_a_hanging_provider_costs_recall_one_short_try_then_words(
    agent, failing_provider, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kept = services.remember(agent=agent, content="The deploy is on Friday")
    failing_provider.behaviour = "slow"
    failing_provider.delay = 5.0
    settings.KRONVEX_EMBEDDING_TIMEOUT = 30.0
    settings.KRONVEX_EMBEDDING_MAX_RETRIES = 2
    settings.KRONVEX_QUERY_EMBEDDING_TIMEOUT = 0.3
    reset_embedder()
    sent = len(failing_provider.requests)

    found = services.recall_ranked(agent=agent, query="when is the deploy?")

    assert found.words_only
    assert [item.memory.pk for item in found.memories] == [kept.pk]
    # One request for the query: no retry after its timeout.
    assert len(failing_provider.requests) == sent + 1


def test_memory_waiting_for_its_vector_is_found_by_its_words(agent, fake_embedder):
    waiting = Memory.objects.create(
        account=agent.account,
        agent=agent,
        content="The deploy is scheduled for Friday",
        status=EmbeddingStatus.PENDING,
    )
    found = services.recall(agent=agent, query="when is the deploy?", top_k=5)
    assert [item.memory.pk for item in found] == [waiting.pk]
    assert 0 < found[0].score.similarity <= 1
    assert services.recall(agent=agent, query="favourite colour", top_k=5) == []


def test_worker_batch_takes_other_waiting_memories_along(agent, fake_embedder):
    waiting = [
        Memory.objects.create(account=agent.account, agent=agent, content=f"note {index}")
        for index in range(5)
    ]
    embedded = services.memories_embed(memory_ids=[waiting[-1].pk], fill_to=64)
    assert embedded == 5
    assert set(Memory.objects.values_list("status", flat=True)) == {EmbeddingStatus.READY}
    # Each row holds its own text's vector, and the agent's new vector version.
    embedder = get_embedder()
    agent.refresh_from_db()
    for memory in Memory.objects.filter(pk__in=[m.pk for m in waiting]):
        assert np.allclose(memory.embedding, embedder.embed([memory.content])[0], atol=1e-6)
        assert memory.embedding_model == embedder.model_name
        assert memory.vector_version == agent.vector_version > 0
    # Idempotent: a second run finds nothing left to do.
    assert services.memories_embed(memory_ids=[waiting[-1].pk], fill_to=64) == 0


def test_vectors_of_another_model_are_not_compared(agent, fake_embedder):
    Memory.objects.create(
        account=agent.account,
        agent=agent,
        content="old model memory",
        embedding=[1.0, 0.0, 0.0],
        embedding_model="older-model",
        status=EmbeddingStatus.READY,
    )
    assert services.recall(agent=agent, query="old model memory") == []


def test_expired_memories_are_purged_and_pinned_ones_kept(agent, fake_embedder):
    past = timezone.now() - timedelta(seconds=1)
    expired = Memory.objects.create(
        account=agent.account, agent=agent, content="gone", expires_at=past
    )
    pinned = Memory.objects.create(
        account=agent.account, agent=agent, content="kept", expires_at=past, pinned=True
    )
    current = Memory.objects.create(
        account=agent.account,
        agent=agent,
        content="current",
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert services.memories_purge_expired() == 1
    remaining = set(Memory.objects.values_list("pk", flat=True))
    assert expired.pk not in remaining
    assert {pinned.pk, current.pk} <= remaining


def test_ttl_days_and_seconds_cannot_both_be_given():
    with pytest.raises(services.InvalidInput):
        services.expiry(now=timezone.now(), ttl_days=1, ttl_seconds=5)


def test_inside_a_request_recall_counts_its_accesses_once_the_request_has_finished(agent):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    services.remember(agent=agent, content="The user likes green tea")
    # As Django's test client does: the test's connection stays open across the signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        request_started.send(sender=None, environ={})
        recalled = services.recall(agent=agent, query="green tea", top_k=1)
        assert recalled[0].memory.access_count == 1  # what the response shows
        assert Memory.objects.get().access_count == 0  # not written yet
        request_finished.send(sender=None)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    stored = Memory.objects.get()
    assert stored.access_count == 1
    assert stored.last_accessed_at == recalled[0].memory.last_accessed_at
    # Outside a request again: written at once.
    services.recall(agent=agent, query="green tea", top_k=1)
    assert Memory.objects.get().access_count == 2
