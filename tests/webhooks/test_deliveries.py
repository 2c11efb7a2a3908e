"""Events reach the endpoints subscribed to them, signed, retried, and logged."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import Account
from billing.quotas import QuotaExceeded
from memories import services
from memories.models import Agent, Memory
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_test_send,
    webhooks_sweep,
)

Register = Callable[..., WebhookEndpoint]


def bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in receiver.received]


def test_remember_sends_a_signed_memory_stored_event(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")

    memory = services.remember(
        agent=agent, content="The user's PIN is 1234", memory_type="semantic", session_id="u1"
    )
    sent = webhooks_sweep()

    assert sent == 1
    [request] = receiver.received
    assert request.signed
    assert request.path == "/hooks/kronvex?source=test"
    assert request.headers["Kronvex-Event"] == "memory.stored"
    assert request.headers["Content-Type"] == "application/json"
    event = json.loads(request.body)
    assert event["type"] == "memory.stored"
    assert event["id"].startswith("evt_")
    assert event["data"]["agent_id"] == "support-bot"
    assert event["data"]["count"] == 1
    [stored] = event["data"]["memories"]
    assert stored["id"] == str(memory.uuid)
    assert (stored["type"], stored["session_id"]) == ("semantic", "u1")
    # Ids only: the content never leaves in an event, nor stays in the delivery log.
    assert b"1234" not in request.body
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert request.headers["Kronvex-Delivery"] == str(delivery.uuid)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None
    assert "1234" not in json.dumps(delivery.payload)


def test_endpoints_get_only_the_events_they_subscribed_to(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.deleted")

    memory = services.remember(agent=agent, content="Tea, not coffee")
    assert not WebhookDelivery.objects.exists()
    services.forget(memory=memory)
    webhooks_sweep()

    assert receiver.events() == ["memory.deleted"]
    [event] = bodies(receiver)
    assert event["data"]["count"] == 1
    assert event["data"]["memory_ids"] == [str(memory.uuid)]
    assert event["data"]["agent_id"] == "support-bot"


def test_a_batch_sends_one_event_listing_its_new_memories(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.stored")

    _, outcomes = services.remember_batch(
        agent=agent, memories={0: {"content": "One"}, 1: {"content": "Two"}}, total=2
    )
    webhooks_sweep()

    [event] = bodies(receiver)
    assert event["data"]["count"] == 2
    assert [m["id"] for m in event["data"]["memories"]] == [
        str(outcomes[0].memory.uuid),  # type: ignore[union-attr]
        str(outcomes[1].memory.uuid),  # type: ignore[union-attr]
    ]


def test_deleting_an_agent_reports_its_memories(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.deleted")
    first = services.remember(agent=agent, content="One")
    second = services.remember(agent=agent, content="Two")

    services.agent_delete(agent=agent)
    webhooks_sweep()

    [event] = bodies(receiver)
    assert event["data"]["agent_id"] == "support-bot"
    assert sorted(event["data"]["memory_ids"]) == sorted([str(first.uuid), str(second.uuid)])


def test_memories_whose_ttl_ran_out_are_reported_when_purged(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.deleted")
    expiring = services.remember(agent=agent, content="The code is 4711", ttl_seconds=60)
    pinned = services.remember(agent=agent, content="Pinned", ttl_seconds=60, pinned=True)
    services.remember(agent=agent, content="Kept")
    Memory.objects.filter(pk__in=[expiring.pk, pinned.pk]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert services.memories_purge_expired() == 1
    webhooks_sweep()

    [event] = bodies(receiver)
    assert event["data"]["memory_ids"] == [str(expiring.uuid)]
    assert sorted(Memory.objects.values_list("content", flat=True)) == ["Kept", "Pinned"]


def test_nothing_is_sent_for_what_was_rolled_back(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.stored")

    with pytest.raises(RuntimeError), transaction.atomic():
        services.remember(agent=agent, content="Never stored")
        raise RuntimeError

    assert webhooks_sweep() == 0
    assert receiver.received == []


def test_a_failing_endpoint_is_retried_until_it_succeeds(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")
    receiver.statuses = [500]

    services.remember(agent=agent, content="Retried")
    webhooks_sweep()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: not now"
    webhooks_sweep()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert delivery.last_error == ""
    first, second = receiver.received
    assert first.signed and second.signed
    assert first.headers["Kronvex-Delivery"] == second.headers["Kronvex-Delivery"]
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]


def test_a_delivery_fails_after_its_last_try(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")
    receiver.statuses = [500, 503, 502, 500]

    services.remember(agent=agent, content="Never accepted")
    for _ in range(4):
        webhooks_sweep()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # Two retry delays in the tests' settings: three tries in all.
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 502)
    assert delivery.next_attempt_at is None
    assert len(receiver.received) == 3


def test_a_redirect_is_a_failed_try_and_is_not_followed(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")
    receiver.statuses = [302]

    services.remember(agent=agent, content="Moved")
    webhooks_sweep()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.received) == 1


def test_an_endpoint_nobody_listens_on_is_logged_and_retried(
    account: Account, agent: Agent, webhook_settings: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = webhook_endpoint_create(
        account=account, url=f"http://127.0.0.1:{port}/", events=["memory.stored"]
    )

    services.remember(agent=agent, content="Nobody home")
    webhooks_sweep()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "ConnectionRefusedError" in delivery.last_error


def test_a_wrong_secret_fails_the_documented_check(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("memory.stored")
    receiver.secret = "whsec_not_the_endpoints"

    services.remember(agent=agent, content="Signed with another secret")
    webhooks_sweep()

    [request] = receiver.received
    assert not request.signed


def test_quota_warning_and_reached_are_sent_once_each_when_crossed(
    account: Account, agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint_for("quota.warning", "quota.reached")
    # The free plan holds 500 memories: 80% is 400.
    Account.objects.filter(pk=account.pk).update(memories_held=398)

    for number in range(3):
        services.remember(agent=agent, content=f"Memory {number}")
    Account.objects.filter(pk=account.pk).update(memories_held=498)
    for number in range(3, 5):
        services.remember(agent=agent, content=f"Memory {number}")
    with pytest.raises(QuotaExceeded):
        services.remember(agent=agent, content="One too many")
    webhooks_sweep()

    assert receiver.events() == ["quota.warning", "quota.reached"]
    warning, reached = bodies(receiver)
    assert warning["data"] == {"resource": "memories", "used": 400, "limit": 500, "percent": 80}
    assert reached["data"] == {"resource": "memories", "used": 500, "limit": 500}


def test_the_test_event_goes_to_its_endpoint_alone_at_once(
    account: Account, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")

    delivery = webhook_test_send(endpoint=endpoint)

    assert (delivery.status, delivery.event, delivery.attempts) == ("succeeded", "webhook.test", 1)
    [request] = receiver.received
    assert request.signed
    assert request.headers["Kronvex-Event"] == "webhook.test"


def test_a_deleted_endpoint_gets_nothing_more(
    agent: Agent, endpoint_for: Register, receiver: Receiver
) -> None:
    endpoint = endpoint_for("memory.stored")
    receiver.statuses = [500]
    services.remember(agent=agent, content="First")
    webhooks_sweep()

    webhook_endpoint_delete(endpoint=endpoint)
    webhooks_sweep()

    assert len(receiver.received) == 1
    assert not WebhookDelivery.objects.exists()
