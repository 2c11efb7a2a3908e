"""The dashboard's Webhooks pages: endpoints, their secret shown once, the delivery log."""

from __future__ import annotations

import re
from typing import Any

import pytest

from audit.models import AuditEvent
from tests.dashboard.conftest import Owner
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create


def add(owner: Owner, url: str, *events: str) -> Any:
    return owner.client.post(
        "/dashboard/webhooks/", {"url": url, "events": list(events)}, follow=True
    )


def test_added_endpoint_shows_its_secret_once(
    owner: Owner, receiver: Receiver, webhook_settings: Any
) -> None:
    response = add(owner, receiver.url, "memory.stored", "quota.reached")

    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', page).group(1)
    endpoint = WebhookEndpoint.objects.get(account=owner.account)
    assert endpoint.secret == secret
    assert endpoint.events == ["memory.stored", "quota.reached"]
    assert secret not in owner.client.get(f"/dashboard/webhooks/{endpoint.uuid}/").content.decode()
    listing = owner.client.get("/dashboard/webhooks/").content.decode()
    assert receiver.url.replace("&", "&amp;") in listing
    assert secret not in listing
    entry = AuditEvent.objects.get(account=owner.account, kind=AuditEvent.Kind.WEBHOOK_CREATED)
    assert entry.actor == "user:owner@example.com"
    assert entry.target == str(endpoint.uuid)


@pytest.mark.parametrize(
    ("url", "events", "error"),
    [
        ("http://127.0.0.1:8000/hook", ["memory.stored"], "public addresses"),
        ("http://169.254.169.254/latest/", ["memory.stored"], "public addresses"),
        ("ftp://93.184.215.14/", ["memory.stored"], "http:// or https://"),
        ("https://93.184.215.14/hook", [], "This field is required."),
        ("https://93.184.215.14/hook", ["memory.exploded"], "Select a valid choice."),
    ],
)
def test_refused_endpoints_say_why(
    owner: Owner, settings: Any, url: str, events: list[str], error: str
) -> None:
    settings.KRONVEX_WEBHOOK_ALLOW_PRIVATE = False

    response = owner.client.post("/dashboard/webhooks/", {"url": url, "events": events})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_test_event_button_delivers_and_logs_it(
    owner: Owner, receiver: Receiver, webhook_settings: Any
) -> None:
    endpoint = webhook_endpoint_create(
        account=owner.account, url=receiver.url, events=["memory.stored"]
    )
    receiver.secret = endpoint.secret

    response = owner.client.post(f"/dashboard/webhooks/{endpoint.uuid}/test/", follow=True)

    page = response.content.decode()
    assert "Test event delivered: HTTP 200." in page
    [row] = re.findall(r'<tr data-testid="delivery">(.*?)</tr>', page, re.S)
    assert "webhook.test" in row and "succeeded" in row and ">200<" in row
    [request] = receiver.received
    assert request.signed
    assert request.headers["Kronvex-Event"] == "webhook.test"


def test_a_failed_test_event_shows_the_error(
    owner: Owner, receiver: Receiver, webhook_settings: Any
) -> None:
    endpoint = webhook_endpoint_create(
        account=owner.account, url=receiver.url, events=["memory.stored"]
    )
    receiver.statuses = [500]

    response = owner.client.post(f"/dashboard/webhooks/{endpoint.uuid}/test/", follow=True)

    page = response.content.decode()
    assert "Test event not delivered: HTTP 500: not now" in page
    assert "pending" in page


def test_deleting_an_endpoint_asks_first_then_deletes_and_records_it(
    owner: Owner, receiver: Receiver, webhook_settings: Any
) -> None:
    endpoint = webhook_endpoint_create(
        account=owner.account, url=receiver.url, events=["memory.stored"]
    )
    path = f"/dashboard/webhooks/{endpoint.uuid}/delete/"

    assert "Delete this endpoint?" in owner.client.get(path).content.decode()
    response = owner.client.post(path)

    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(
        account=owner.account, kind=AuditEvent.Kind.WEBHOOK_DELETED, target=str(endpoint.uuid)
    ).exists()


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", "test/"), ("post", "delete/")]
)
def test_another_accounts_endpoint_is_not_found(
    owner: Owner, stranger: Owner, method: str, suffix: str
) -> None:
    theirs = WebhookEndpoint.objects.create(
        account=stranger.account, url="https://hooks.example.com/", events=["memory.stored"]
    )

    response = getattr(owner.client, method)(f"/dashboard/webhooks/{theirs.uuid}/{suffix}")

    assert response.status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()
    assert not theirs.deliveries.exists()
