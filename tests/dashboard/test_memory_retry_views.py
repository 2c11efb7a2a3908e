"""The memory browser shows why a memory failed to embed, and retries it on request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from memories import services
from memories.models import EmbeddingStatus, Memory
from tests.dashboard.conftest import Owner

REASON = "Cannot reach the embedding endpoint http://10.0.0.5:8080/v1 (connection refused)"


@pytest.fixture
def failed(owner: Owner) -> Memory:
    Memory.objects.filter(pk=owner.memory.pk).update(
        status=EmbeddingStatus.FAILED, embedding_error=REASON, embedding_attempts=5
    )
    return Memory.objects.get(pk=owner.memory.pk)


def retry_url(owner: Owner, memory: Memory) -> str:
    return f"/dashboard/agents/{owner.agent.slug}/memories/{memory.uuid}/retry/"


def test_browser_lists_a_failed_memory_with_its_reason_and_a_retry_button(
    owner: Owner, failed: Memory
) -> None:
    html = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/").content.decode()

    assert '<span class="badge failed">failed</span>' in html
    assert REASON in html
    assert f'formaction="{retry_url(owner, failed)}"' in html


def test_memory_page_shows_the_reason_and_a_retry_form(owner: Owner, failed: Memory) -> None:
    html = owner.client.get(
        f"/dashboard/agents/{owner.agent.slug}/memories/{failed.uuid}/"
    ).content.decode()

    assert f"Failed: {REASON}" in html
    assert "Not tried again automatically" in html
    assert f'action="{retry_url(owner, failed)}"' in html
    assert "Retry embedding" in html


@pytest.fixture
def embedded(owner: Owner) -> Memory:
    services.memories_embed(memory_ids=[owner.memory.pk])
    return Memory.objects.get(pk=owner.memory.pk)


def test_an_embedded_memory_has_no_retry_button(owner: Owner, embedded: Memory) -> None:
    detail = owner.client.get(
        f"/dashboard/agents/{owner.agent.slug}/memories/{owner.memory.uuid}/"
    ).content.decode()
    listing = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/").content.decode()

    assert "Retry embedding" not in detail
    assert retry_url(owner, owner.memory) not in listing


def test_retry_embeds_the_memory_and_returns_to_it(
    owner: Owner, failed: Memory, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.client.post(retry_url(owner, failed))

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/agents/{owner.agent.slug}/memories/{failed.uuid}/"
    stored = Memory.objects.get(pk=failed.pk)
    assert stored.status == EmbeddingStatus.READY
    assert stored.embedding_error == ""
    assert (stored.embedding_attempts, stored.embedding_retry_at) == (0, None)
    page = owner.client.get(response["Location"]).content.decode()
    assert "Memory queued for embedding again." in page


def test_retry_from_the_browser_returns_to_the_browser_page(owner: Owner, failed: Memory) -> None:
    back = f"/dashboard/agents/{owner.agent.slug}/?page=1&sort=oldest"

    response = owner.client.post(retry_url(owner, failed), {"next": back})
    elsewhere = owner.client.post(retry_url(owner, failed), {"next": "https://evil.example/"})

    assert response["Location"] == back
    assert elsewhere["Location"] == (
        f"/dashboard/agents/{owner.agent.slug}/memories/{failed.uuid}/"
    )


def test_retry_of_an_embedded_memory_changes_nothing(owner: Owner, embedded: Memory) -> None:
    before = embedded

    response = owner.client.post(retry_url(owner, owner.memory), follow=True)

    assert "This memory is embedded already." in response.content.decode()
    after = Memory.objects.get(pk=owner.memory.pk)
    assert (after.status, after.updated_at) == (EmbeddingStatus.READY, before.updated_at)


def test_retry_is_a_post(owner: Owner, failed: Memory) -> None:
    assert owner.client.get(retry_url(owner, failed)).status_code == 405
    assert Memory.objects.get(pk=failed.pk).status == EmbeddingStatus.FAILED


def test_retry_without_a_csrf_token_is_refused(owner: Owner, failed: Memory) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)

    assert browser.post(retry_url(owner, failed)).status_code == 403
    assert Memory.objects.get(pk=failed.pk).status == EmbeddingStatus.FAILED


def test_retry_of_another_accounts_memory_is_404(owner: Owner, stranger: Owner) -> None:
    Memory.objects.filter(pk=stranger.memory.pk).update(status=EmbeddingStatus.FAILED)

    theirs = owner.client.post(retry_url(owner, stranger.memory))
    missing = owner.client.post(
        f"/dashboard/agents/{owner.agent.slug}/memories/30046bbe-69bd-4d43-acb0-47155e0e4657/retry/"
    )

    assert theirs.status_code == missing.status_code == 404
    assert Memory.objects.get(pk=stranger.memory.pk).status == EmbeddingStatus.FAILED
