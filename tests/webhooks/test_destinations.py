"""Server-side request forgery: webhooks reach public addresses only, unless allowed."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from billing.models import Account
from tests.webhooks.conftest import Receiver
from webhooks import destinations
from webhooks.exceptions import DestinationRefused
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_endpoint_create, webhooks_emit, webhooks_sweep

NOT_PUBLIC = [
    "http://127.0.0.1:8000/hook",
    "http://127.1/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:8000/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[::1]:8000/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://localhost:8000/hook",
]
NOT_HTTP = [
    "ftp://93.184.215.14/hook",
    "file:///etc/passwd",
    "gopher://93.184.215.14:70/_x",
    "javascript:alert(1)",
    "93.184.215.14/hook",
    "https:///hook",
    "http://user:secret@93.184.215.14/hook",
]
PUBLIC = "https://93.184.215.14/hook"


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_urls_reaching_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefused, match="public addresses"):
        destinations.destination_check(url, allow_private=False, require_https=False)


@pytest.mark.parametrize("url", NOT_HTTP)
def test_urls_that_are_not_plain_http_or_https_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefused):
        destinations.destination_check(url, allow_private=False, require_https=False)


def test_public_address_is_accepted_and_private_ones_only_when_allowed() -> None:
    destinations.destination_check(PUBLIC, allow_private=False, require_https=True)
    destinations.destination_check("http://127.0.0.1:9/x", allow_private=True, require_https=False)


def test_http_is_refused_when_https_is_required() -> None:
    with pytest.raises(DestinationRefused, match="https://"):
        destinations.destination_check(
            "http://93.184.215.14/hook", allow_private=False, require_https=True
        )


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("::ffff:93.184.215.14", True),
        ("::ffff:169.254.169.254", False),
        ("fe80::1", False),
        ("ff02::1", False),
    ],
)
def test_address_public(address: str, public: bool) -> None:
    assert destinations.address_public(ipaddress.ip_address(address)) is public


def test_destination_keeps_path_query_and_host_header() -> None:
    destination = destinations.destination_parse("https://Hooks.Example.com:8443/a/b?x=1#frag")

    assert (destination.host, destination.port) == ("hooks.example.com", 8443)
    assert destination.target == "/a/b?x=1"
    assert destination.host_header == "hooks.example.com:8443"


def test_registering_a_loopback_endpoint_is_refused_by_default(
    account: Account, settings: Any
) -> None:
    settings.KRONVEX_WEBHOOK_ALLOW_PRIVATE = False

    with pytest.raises(DestinationRefused):
        webhook_endpoint_create(
            account=account, url="http://localhost:8000/hook", events=["memory.stored"]
        )

    assert not WebhookEndpoint.objects.exists()


def test_address_is_checked_again_at_delivery_time(
    account: Account, receiver: Receiver, webhook_settings: Any
) -> None:
    """Registered while allowed; the operator then forbids private addresses: the delivery
    is refused before any connection, and logged as a failed try."""
    endpoint = webhook_endpoint_create(account=account, url=receiver.url, events=["quota.warning"])
    webhook_settings.KRONVEX_WEBHOOK_ALLOW_PRIVATE = False

    webhooks_emit(account_id=account.pk, event="quota.warning", data={})
    webhooks_sweep()

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert receiver.received == []
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "public addresses" in delivery.last_error
