"""Thin Celery tasks: they take ids, are idempotent, and are queued on commit."""

from celery import shared_task

from webhooks import services


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    """Send one webhook delivery if it is due; with a broker, queue its retry at its time."""
    attempt = services.webhook_deliver(delivery_id=delivery_id)
    if attempt is None:
        return None
    if attempt.retry_in is not None:
        services.webhook_retry_later(delivery_id=delivery_id, countdown=attempt.retry_in)
    return str(attempt.delivery.status)


@shared_task
def sweep_webhooks() -> int:
    """Queue the webhook deliveries that are due and were not sent; how many."""
    return services.webhooks_sweep()
