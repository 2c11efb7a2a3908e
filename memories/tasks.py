"""Thin Celery tasks: they take ids, are idempotent, and are queued on commit."""

from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from memories import services
from memories.embedding import EmbeddingError

MAX_EMBED_RETRIES = 5


@shared_task(bind=True, max_retries=MAX_EMBED_RETRIES, acks_late=True)
def embed_memories(self: Any, memory_ids: list[int]) -> int:
    """Embed these memories; a worker also takes other waiting ones into the same batch."""
    eager = bool(self.request.is_eager)
    try:
        return services.memories_embed(
            memory_ids=memory_ids,
            fill_to=0 if eager else settings.KRONVEX_EMBEDDING_BATCH_SIZE,
        )
    except EmbeddingError as exc:
        transient = services.embedding_failure_is_transient(exc)
        if eager or not transient or self.request.retries >= self.max_retries:
            # The sweeper tries a transient failure again later (memories_sweep).
            services.memories_embedding_failed(memory_ids=memory_ids, error=exc)
            return 0
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc


@shared_task
def purge_expired_memories() -> int:
    return services.memories_purge_expired()


@shared_task
def purge_retention() -> int:
    """Erase the episodic memories past their agent's retention period; how many."""
    return services.memories_retention_purge(now=timezone.now())


@shared_task
def sweep_memories() -> int:
    """Queue again the embeddings that were lost or failed for a while; how many."""
    return services.memories_sweep().queued
