"""Stripe's webhook: signed events, applied once, in any order, become the account's plan."""

from __future__ import annotations

import itertools
import json
import logging
import time
from datetime import UTC, datetime

import pytest

from billing.models import Account, StripeEvent, Subscription
from memories.models import Memory
from tests.billing.conftest import (
    WEBHOOK_SECRET,
    Webhook,
    checkout_completed,
    invoice_for,
)
from tests.dashboard.conftest import Owner
from tests.fakes.stripe_server import FakeStripeServer, stripe_event, stripe_signature

CUSTOMER = "cus_owner"
SUB = "sub_1"


def _plan(owner: Owner) -> str:
    return Account.objects.get(pk=owner.account.pk).plan


def _customer(owner: Owner) -> None:
    Account.objects.filter(pk=owner.account.pk).update(stripe_customer_id=CUSTOMER)


# -- each event ----------------------------------------------------------------------------


def test_checkout_completed_links_the_customer_and_subscription_and_sets_the_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_startup")

    response = webhook.send(
        "checkout.session.completed",
        checkout_completed(
            account_uuid=str(owner.account.uuid), customer=CUSTOMER, subscription=SUB
        ),
    )

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    account = Account.objects.get(pk=owner.account.pk)
    assert account.plan == "startup"
    assert account.stripe_customer_id == CUSTOMER
    subscription = Subscription.objects.get(account=account)
    assert subscription.stripe_subscription_id == SUB
    assert subscription.status == "active"
    assert subscription.price_id == "price_startup"
    assert subscription.plan == "startup"
    assert subscription.current_period_end == datetime(2026, 12, 1, tzinfo=UTC)
    assert subscription.cancel_at_period_end is False
    assert billing_on.calls("GET", f"/v1/subscriptions/{SUB}")


def test_checkout_completed_for_an_unknown_account_changes_nothing(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    billing_on.subscription_set(SUB, customer=CUSTOMER)
    response = webhook.send(
        "checkout.session.completed",
        checkout_completed(
            account_uuid="6f1c1b9e-0000-4000-8000-000000000000", customer=CUSTOMER, subscription=SUB
        ),
    )
    assert response.status_code == 200
    assert _plan(owner) == "free"
    assert not Subscription.objects.exists()
    assert StripeEvent.objects.get().processed is True


def test_subscription_created_gives_the_plan_of_its_price(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    sub = billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_builder")

    assert webhook.send("customer.subscription.created", sub).status_code == 200

    assert _plan(owner) == "builder"


def test_subscription_found_by_metadata_when_the_customer_is_not_linked_yet(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    sub = billing_on.subscription_set(
        SUB, customer=CUSTOMER, metadata={"kronvex_account": str(owner.account.uuid)}
    )
    webhook.send("customer.subscription.created", sub)
    account = Account.objects.get(pk=owner.account.pk)
    assert account.plan == "builder"
    assert account.stripe_customer_id == CUSTOMER


def test_subscription_updated_to_another_price_changes_the_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created", billing_on.subscription_set(SUB, customer=CUSTOMER)
    )

    sub = billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_business")
    webhook.send("customer.subscription.updated", sub)

    assert _plan(owner) == "business"
    assert Subscription.objects.get().price_id == "price_business"


def test_subscription_deleted_returns_the_account_to_free_and_deletes_nothing(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created", billing_on.subscription_set(SUB, customer=CUSTOMER)
    )
    assert _plan(owner) == "builder"

    sub = billing_on.subscription_set(SUB, customer=CUSTOMER, status="canceled")
    webhook.send("customer.subscription.deleted", sub)

    assert _plan(owner) == "free"
    assert Subscription.objects.get().status == "canceled"
    assert Memory.objects.filter(account=owner.account).count() == 1


@pytest.mark.parametrize("status", ["canceled", "incomplete_expired", "unpaid", "paused"])
def test_a_subscription_that_no_longer_pays_means_the_free_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook, status: str
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created", billing_on.subscription_set(SUB, customer=CUSTOMER)
    )

    webhook.send(
        "customer.subscription.updated",
        billing_on.subscription_set(SUB, customer=CUSTOMER, status=status),
    )

    assert _plan(owner) == "free"


def test_payment_failed_keeps_the_plan_while_stripe_retries(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created", billing_on.subscription_set(SUB, customer=CUSTOMER)
    )

    billing_on.subscription_set(SUB, customer=CUSTOMER, status="past_due")
    response = webhook.send(
        "invoice.payment_failed", invoice_for(SUB, customer=CUSTOMER, status="open")
    )

    assert response.status_code == 200
    assert _plan(owner) == "builder"
    assert Subscription.objects.get().status == "past_due"


def test_invoice_paid_after_a_failure_clears_it(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    billing_on.subscription_set(SUB, customer=CUSTOMER, status="past_due")
    webhook.send("invoice.payment_failed", invoice_for(SUB, customer=CUSTOMER, status="open"))
    assert Subscription.objects.get().status == "past_due"

    billing_on.subscription_set(SUB, customer=CUSTOMER, current_period_end=1_798_761_600)
    webhook.send("invoice.paid", invoice_for(SUB, customer=CUSTOMER))

    subscription = Subscription.objects.get()
    assert subscription.status == "active"
    assert subscription.current_period_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert _plan(owner) == "builder"


def test_an_invoice_of_the_older_api_shape_names_its_subscription_on_top(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_startup")
    invoice = {"id": "in_1", "object": "invoice", "customer": CUSTOMER, "subscription": SUB}
    webhook.send("invoice.paid", invoice)
    assert _plan(owner) == "startup"


def test_an_invoice_without_a_subscription_changes_nothing(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    invoice = {"id": "in_1", "object": "invoice", "customer": CUSTOMER, "parent": None}
    assert webhook.send("invoice.paid", invoice).status_code == 200
    assert _plan(owner) == "free"
    assert not billing_on.requests


def test_an_unknown_price_keeps_the_plan_and_is_logged(
    owner: Owner,
    billing_on: FakeStripeServer,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created",
        billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_startup"),
    )

    with caplog.at_level(logging.WARNING, logger="billing.services"):
        webhook.send(
            "customer.subscription.updated",
            billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_legacy_2019"),
        )

    assert _plan(owner) == "startup"
    assert Subscription.objects.get().price_id == "price_legacy_2019"
    assert "price_legacy_2019" in caplog.text


def test_event_types_kronvex_does_not_use_are_acknowledged(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    response = webhook.send("customer.updated", {"id": CUSTOMER, "object": "customer"})
    assert response.status_code == 200
    assert StripeEvent.objects.get().type == "customer.updated"
    assert not billing_on.requests


def test_the_subscription_of_another_customer_is_not_taken(
    owner: Owner, stranger: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    Account.objects.filter(pk=stranger.account.pk).update(stripe_customer_id="cus_stranger")
    billing_on.subscription_set(SUB, customer="cus_stranger", price="price_business")

    # A checkout event naming the owner's account for the stranger's subscription.
    webhook.send(
        "checkout.session.completed",
        checkout_completed(
            account_uuid=str(owner.account.uuid), customer="cus_stranger", subscription=SUB
        ),
    )

    assert _plan(owner) == "free"
    assert _plan(stranger) == "free"
    assert not Subscription.objects.exists()


# -- once, in any order ----------------------------------------------------------------------


def test_a_duplicate_delivery_is_applied_once(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    sub = billing_on.subscription_set(SUB, customer=CUSTOMER)
    first = webhook.send("customer.subscription.created", sub, event_id="evt_same")
    # Stripe changes meanwhile; a second delivery of the old event must not read it again.
    billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_business")

    second = webhook.send("customer.subscription.created", sub, event_id="evt_same")

    assert first.json() == {"received": True, "duplicate": False}
    assert second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert len(billing_on.calls("GET", f"/v1/subscriptions/{SUB}")) == 1
    assert _plan(owner) == "builder"
    assert StripeEvent.objects.filter(stripe_event_id="evt_same", processed=True).count() == 1


LIFECYCLE = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_order_of_created_updated_deleted_ends_on_the_free_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook, order: tuple[int, ...]
) -> None:
    _customer(owner)
    # What each event carried when Stripe sent it; Stripe now holds the last state.
    snapshots = [
        billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_builder"),
        billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_startup"),
        billing_on.subscription_set(
            SUB, customer=CUSTOMER, price="price_startup", status="canceled"
        ),
    ]
    created = [1_793_491_200, 1_793_491_200, 1_793_491_260]  # the first two in one second

    for index in order:
        response = webhook.send(
            LIFECYCLE[index], snapshots[index], event_id=f"evt_{index}", created=created[index]
        )
        assert response.status_code == 200

    assert _plan(owner) == "free"
    subscription = Subscription.objects.get()
    assert (subscription.stripe_subscription_id, subscription.status) == (SUB, "canceled")
    assert subscription.stripe_updated == datetime.fromtimestamp(1_793_491_260, tz=UTC)


UPGRADE = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "invoice.paid",
)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_order_of_a_checkout_and_an_upgrade_ends_on_the_new_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook, order: tuple[int, ...]
) -> None:
    # No customer linked yet: only the checkout event or the metadata links it.
    metadata = {"kronvex_account": str(owner.account.uuid)}
    first = billing_on.subscription_set(SUB, customer=CUSTOMER, metadata=metadata)
    upgraded = billing_on.subscription_set(
        SUB, customer=CUSTOMER, price="price_startup", metadata=metadata
    )
    objects = [
        checkout_completed(
            account_uuid=str(owner.account.uuid), customer=CUSTOMER, subscription=SUB
        ),
        first,
        upgraded,
        invoice_for(SUB, customer=CUSTOMER),
    ]

    for index in order:
        webhook.send(UPGRADE[index], objects[index], event_id=f"evt_{index}")

    account = Account.objects.get(pk=owner.account.pk)
    assert (account.plan, account.stripe_customer_id) == ("startup", CUSTOMER)
    assert Subscription.objects.get().price_id == "price_startup"


SWITCH = ("old.created", "old.deleted", "new.created", "new.updated")


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_order_of_one_subscription_ending_and_the_next_starting_keeps_the_new_one(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook, order: tuple[int, ...]
) -> None:
    _customer(owner)
    old = billing_on.subscription_set("sub_old", customer=CUSTOMER, created=1_790_000_000)
    old_ended = billing_on.subscription_set(
        "sub_old", customer=CUSTOMER, status="canceled", created=1_790_000_000
    )
    new = billing_on.subscription_set(
        "sub_new", customer=CUSTOMER, status="incomplete", price="price_business"
    )
    new_paid = billing_on.subscription_set("sub_new", customer=CUSTOMER, price="price_business")
    events = [
        ("customer.subscription.created", old),
        ("customer.subscription.deleted", old_ended),
        ("customer.subscription.created", new),
        ("customer.subscription.updated", new_paid),
    ]

    for index in order:
        kind, obj = events[index]
        webhook.send(kind, obj, event_id=f"evt_{SWITCH[index]}")

    assert _plan(owner) == "business"
    subscription = Subscription.objects.get()
    assert (subscription.stripe_subscription_id, subscription.status) == ("sub_new", "active")


# -- refused ---------------------------------------------------------------------------------


def _signed_event(owner: Owner) -> bytes:
    event = stripe_event(
        "checkout.session.completed",
        checkout_completed(
            account_uuid=str(owner.account.uuid), customer=CUSTOMER, subscription=SUB
        ),
        event_id="evt_refused",
    )
    return json.dumps(event).encode()


def _assert_refused(response: object, owner: Owner, server: FakeStripeServer, code: str) -> None:
    assert response.status_code == 400  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    assert body["detail"]
    assert not StripeEvent.objects.exists()
    assert not Subscription.objects.exists()
    account = Account.objects.get(pk=owner.account.pk)
    assert (account.plan, account.stripe_customer_id) == ("free", "")
    assert not server.requests


@pytest.fixture
def paid_in_stripe(billing_on: FakeStripeServer) -> FakeStripeServer:
    billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_business")
    return billing_on


def test_a_forged_signature_is_refused(
    owner: Owner, paid_in_stripe: FakeStripeServer, webhook: Webhook
) -> None:
    payload = _signed_event(owner)
    forged = stripe_signature(payload, secret="whsec_guessed")
    _assert_refused(
        webhook.post(payload, signature=forged), owner, paid_in_stripe, "invalid_signature"
    )


def test_a_signature_of_another_body_is_refused(
    owner: Owner, paid_in_stripe: FakeStripeServer, webhook: Webhook
) -> None:
    payload = _signed_event(owner)
    signature = stripe_signature(payload, secret=WEBHOOK_SECRET)
    tampered = payload.replace(b'"evt_refused"', b'"evt_tampered"')
    _assert_refused(
        webhook.post(tampered, signature=signature), owner, paid_in_stripe, "invalid_signature"
    )


def test_a_stale_signature_is_refused(
    owner: Owner, paid_in_stripe: FakeStripeServer, webhook: Webhook
) -> None:
    payload = _signed_event(owner)
    stale = stripe_signature(payload, secret=WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    _assert_refused(
        webhook.post(payload, signature=stale), owner, paid_in_stripe, "invalid_signature"
    )


def test_a_missing_signature_is_refused(
    owner: Owner, paid_in_stripe: FakeStripeServer, webhook: Webhook
) -> None:
    _assert_refused(
        webhook.post(_signed_event(owner), signature=None),
        owner,
        paid_in_stripe,
        "invalid_signature",
    )


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'{"id": "evt_1"}', b"\xff\xfe"])
def test_a_signed_body_that_is_not_an_event_is_refused(
    owner: Owner, paid_in_stripe: FakeStripeServer, webhook: Webhook, payload: bytes
) -> None:
    response = webhook.post(payload)
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_payload", "invalid_signature"}
    assert not StripeEvent.objects.exists()
    assert not paid_in_stripe.requests


def test_the_webhook_answers_post_only(billing_on: FakeStripeServer, webhook: Webhook) -> None:
    assert webhook.client.get("/billing/stripe/webhook").status_code == 405


def test_without_billing_the_webhook_is_not_there(
    owner: Owner, billing_off: FakeStripeServer, webhook: Webhook
) -> None:
    response = webhook.post(_signed_event(owner))
    assert response.status_code == 404
    assert response.json()["code"] == "billing_not_configured"
    assert not StripeEvent.objects.exists()
    assert not billing_off.requests


def test_when_stripe_cannot_be_read_the_event_waits_for_stripes_retry(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    sub = billing_on.subscription_set(SUB, customer=CUSTOMER, price="price_startup")
    billing_on.behaviour = "error_500"

    failed = webhook.send("customer.subscription.created", sub, event_id="evt_retry")

    assert failed.status_code == 503
    assert failed.json()["code"] == "stripe_unavailable"
    assert _plan(owner) == "free"
    assert StripeEvent.objects.get(stripe_event_id="evt_retry").processed is False

    billing_on.behaviour = "ok"
    retried = webhook.send("customer.subscription.created", sub, event_id="evt_retry")

    assert retried.json() == {"received": True, "duplicate": False}
    assert _plan(owner) == "startup"
    assert StripeEvent.objects.get(stripe_event_id="evt_retry").processed is True


def test_a_subscription_stripe_no_longer_has_counts_as_ended(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _customer(owner)
    webhook.send(
        "customer.subscription.created", billing_on.subscription_set(SUB, customer=CUSTOMER)
    )
    del billing_on.subscriptions[SUB]

    webhook.send(
        "customer.subscription.deleted", {"id": SUB, "object": "subscription", "customer": CUSTOMER}
    )

    assert _plan(owner) == "free"
    assert Subscription.objects.get().status == "canceled"
