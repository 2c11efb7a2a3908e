"""The sweeper queues again what was lost or failed for a while, backs off, and gives up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from memories import services
from memories.embedding import reset_embedder
from memories.exceptions import MemoryAlreadyEmbedded
from memories.models import Agent, EmbeddingStatus, Memory
from tests.fakes.loopback import LoopbackServer
from tests.fakes.openai_server import FakeEmbeddingServer


@pytest.fixture
def agent(account) -> Agent:
    return services.agent_create(account=account, slug="helper", name="Helper")


@pytest.fixture
def sweep_settings(settings):
    settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS = 120
    settings.KRONVEX_SWEEP_MAX_DELAY_SECONDS = 400
    settings.KRONVEX_SWEEP_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def provider(settings, sweep_settings) -> Iterator[FakeEmbeddingServer]:
    """An OpenAI-compatible endpoint on loopback, answering until told to fail."""
    with FakeEmbeddingServer(default_dimensions=8) as server:
        settings.KRONVEX_EMBEDDER = "openai"
        settings.KRONVEX_EMBEDDING_BASE_URL = server.base_url
        settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
        settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
        reset_embedder()
        yield server
    reset_embedder()


class RefusingProvider(LoopbackServer):
    """Embeddings on loopback that answer 400 to any request holding a text with POISON."""

    def start(self) -> RefusingProvider:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                if any("POISON" in text for text in texts):
                    status, payload = 400, {"error": {"message": "This input is refused"}}
                else:
                    vectors = [FakeEmbeddingServer.vector_for(text, 8).tolist() for text in texts]
                    status = 200
                    payload = {
                        "object": "list",
                        "data": [
                            {"object": "embedding", "index": index, "embedding": vector}
                            for index, vector in enumerate(vectors)
                        ],
                        "model": body.get("model", ""),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler)
        return self

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/v1"


def stored(memory: Memory) -> Memory:
    return Memory.objects.get(pk=memory.pk)


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_a_memory_left_pending_past_the_timeout_is_embedded_by_a_sweep(
    agent, fake_embedder, sweep_settings
):
    # Its on-commit queuing never runs here, as if the task had been lost.
    memory = services.remember(agent=agent, content="The user moved to Porto")
    assert stored(memory).status == EmbeddingStatus.PENDING

    too_early = services.memories_sweep(now=later(60))
    sweep = services.memories_sweep(now=later(121))

    assert too_early == services.Sweep(pending=0, failed=0, unqueued=0)
    assert sweep == services.Sweep(pending=1, failed=0, unqueued=0)
    assert sweep.queued == 1
    after = stored(memory)
    assert after.status == EmbeddingStatus.READY
    assert after.embedding_model == "fake-hash-384"
    assert (after.embedding_attempts, after.embedding_retry_at) == (0, None)


def test_sweeping_again_leaves_embedded_memories_alone(agent, fake_embedder, sweep_settings):
    memory = services.remember(agent=agent, content="The user moved to Porto")
    services.memories_sweep(now=later(121))
    embedded = stored(memory)

    again = services.memories_sweep(now=later(10_000))

    assert again == services.Sweep(pending=0, failed=0, unqueued=0)
    assert stored(memory).updated_at == embedded.updated_at
    assert services.memories_embed(memory_ids=[memory.pk]) == 0
    assert Memory.objects.filter(agent=agent).count() == 1


def test_a_transient_failure_is_retried_once_the_provider_is_back(
    agent, provider, django_capture_on_commit_callbacks
):
    provider.behaviour = "error_500"
    with django_capture_on_commit_callbacks(execute=True):
        memory = services.remember(agent=agent, content="The user likes green tea")
    failed = stored(memory)
    assert failed.status == EmbeddingStatus.FAILED
    assert "500" in failed.embedding_error
    assert failed.embedding_retry_at is not None

    provider.behaviour = "ok"
    not_yet = services.memories_sweep(now=failed.embedding_retry_at - timedelta(seconds=1))
    sweep = services.memories_sweep(now=failed.embedding_retry_at)

    assert not_yet.queued == 0
    assert sweep == services.Sweep(pending=0, failed=1, unqueued=0)
    after = stored(memory)
    assert after.status == EmbeddingStatus.READY
    assert after.embedding_error == ""
    assert (after.embedding_attempts, after.embedding_retry_at) == (0, None)


def test_a_memory_that_keeps_failing_backs_off_then_stays_failed_with_its_reason(
    agent, provider, django_capture_on_commit_callbacks
):
    provider.behaviour = "error_500"
    with django_capture_on_commit_callbacks(execute=True):
        memory = services.remember(agent=agent, content="The user likes green tea")
    delays = []
    for attempt in range(1, 4):
        failed = stored(memory)
        delays.append(round((failed.embedding_retry_at - failed.updated_at).total_seconds()))
        sweep = services.memories_sweep(now=failed.embedding_retry_at)
        assert sweep.failed == 1, attempt
        assert stored(memory).embedding_attempts == attempt

    given_up = stored(memory)
    assert given_up.status == EmbeddingStatus.FAILED
    assert "500" in given_up.embedding_error
    assert given_up.embedding_retry_at is None
    assert delays == [120, 240, 400]
    assert services.memories_sweep(now=later(100_000)).queued == 0
    assert len(provider.requests) == 4


def test_a_refused_text_fails_alone_for_good_and_the_rest_of_its_batch_is_embedded(
    agent, settings, sweep_settings, django_capture_on_commit_callbacks
):
    with RefusingProvider() as refusing:
        settings.KRONVEX_EMBEDDER = "openai"
        settings.KRONVEX_EMBEDDING_BASE_URL = refusing.base_url
        settings.KRONVEX_EMBEDDING_DIMENSIONS = 8
        settings.KRONVEX_EMBEDDING_MAX_RETRIES = 0
        reset_embedder()
        items = {
            index: {"content": content}
            for index, content in enumerate(["The user likes tea", "POISON", "The user is 40"])
        }
        with django_capture_on_commit_callbacks(execute=True):
            services.remember_batch(agent=agent, memories=items, total=3)
        reset_embedder()

    statuses = dict(Memory.objects.filter(agent=agent).values_list("content", "status"))
    refused = Memory.objects.get(agent=agent, content="POISON")
    assert statuses == {
        "The user likes tea": EmbeddingStatus.READY,
        "POISON": EmbeddingStatus.FAILED,
        "The user is 40": EmbeddingStatus.READY,
    }
    assert "This input is refused" in refused.embedding_error
    assert refused.embedding_retry_at is None
    assert services.memories_sweep(now=later(100_000)).queued == 0


def test_a_retry_by_hand_starts_the_attempts_again(
    agent, provider, django_capture_on_commit_callbacks
):
    provider.behaviour = "error_500"
    with django_capture_on_commit_callbacks(execute=True):
        memory = services.remember(agent=agent, content="The user likes green tea")
    Memory.objects.filter(pk=memory.pk).update(embedding_attempts=3, embedding_retry_at=None)

    provider.behaviour = "ok"
    with django_capture_on_commit_callbacks(execute=True):
        services.memory_embedding_retry(memory=stored(memory))

    retried = stored(memory)
    assert retried.status == EmbeddingStatus.READY
    assert (retried.embedding_attempts, retried.embedding_retry_at) == (0, None)
    with pytest.raises(MemoryAlreadyEmbedded):
        services.memory_embedding_retry(memory=retried)


def test_sweep_command_prints_a_summary(agent, fake_embedder, sweep_settings, capsys):
    sweep_settings.KRONVEX_SWEEP_PENDING_AFTER_SECONDS = 1
    memory = services.remember(agent=agent, content="The user moved to Porto")
    Memory.objects.filter(pk=memory.pk).update(updated_at=later(-5))

    call_command("sweep")
    call_command("sweep")

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Swept: 1 memories queued again (1 pending, 0 failed).",
        "Swept: 0 memories queued again (0 pending, 0 failed).",
    ]
    assert stored(memory).status == EmbeddingStatus.READY


def test_sweep_command_refuses_a_loop_of_no_time(db):
    with pytest.raises(CommandError, match="--loop"):
        call_command("sweep", "--loop", "0")
