"""Thin Celery tasks of the API app."""

from celery import shared_task
from django.utils import timezone

from api.idempotency import idempotency_keys_purge


@shared_task
def purge_idempotency_keys() -> int:
    """Forget the Idempotency-Keys (and the answers kept with them) past their 24 hours."""
    return idempotency_keys_purge(now=timezone.now())
