"""The billing page in each state an account's subscription can be in."""

from __future__ import annotations

from typing import Any

from billing.models import Account
from tests.billing.conftest import Webhook
from tests.dashboard.conftest import Owner
from tests.fakes.stripe_server import FakeStripeServer

PAGE = "/dashboard/billing/"
CUSTOMER = "cus_owner"


def _page(owner: Owner) -> str:
    response = owner.client.get(PAGE)
    assert response.status_code == 200
    return response.content.decode()


def _subscribe(owner: Owner, server: FakeStripeServer, webhook: Webhook, **state: Any) -> None:
    """Make Stripe hold the owner's subscription in `state` and tell the webhook."""
    Account.objects.filter(pk=owner.account.pk).update(stripe_customer_id=CUSTOMER)
    subscription = server.subscription_set("sub_1", customer=CUSTOMER, **state)
    assert webhook.send("customer.subscription.updated", subscription).status_code == 200


def test_free_without_billing_shows_the_plans_and_how_an_operator_sets_one(
    owner: Owner, billing_off: FakeStripeServer
) -> None:
    page = _page(owner)

    assert "Free plan" in page
    assert "Online payment is not configured on this server" in page
    assert "python manage.py setplan EMAIL PLAN" in page
    assert "Builder" in page and "Business" in page
    assert "Upgrade" not in page
    assert "Manage billing" not in page
    assert "Invoices" not in page
    assert not billing_off.requests


def test_free_with_billing_offers_an_upgrade_to_each_plan_sold(
    owner: Owner, billing_on: FakeStripeServer
) -> None:
    page = _page(owner)

    assert "Online payment is not configured" not in page
    for plan in ("builder", "startup", "business"):
        assert f'<input type="hidden" name="plan" value="{plan}">' in page
    assert 'aria-label="Upgrade to Builder"' in page
    assert '<input type="hidden" name="plan" value="enterprise">' not in page
    assert "Contact us" in page
    assert "Current plan" in page
    assert "Manage billing" not in page  # no Stripe customer yet
    assert "Invoices" not in page
    assert not billing_on.requests


def test_a_plan_without_a_price_is_not_offered(
    owner: Owner, billing_on: FakeStripeServer, settings: Any
) -> None:
    settings.STRIPE_PRICE_STARTUP = ""
    page = _page(owner)
    assert '<input type="hidden" name="plan" value="startup">' not in page
    assert "Not sold online here" in page


def test_a_paid_plan_shows_its_renewal_date_invoices_and_plan_changes(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook, price="price_startup")
    billing_on.invoice_add(CUSTOMER, amount_paid=9900, created=1_793_491_200, number="KRX-0002")
    billing_on.invoice_add(CUSTOMER, amount_paid=2900, created=1_790_812_800, number="KRX-0001")

    page = _page(owner)

    assert "Startup plan" in page
    assert "The subscription renews on <strong>1 December 2026</strong>." in page
    assert "cancels on" not in page
    assert "Manage billing" in page
    assert 'aria-label="Change plan to Builder"' in page
    assert 'aria-label="Upgrade to Business"' in page
    assert "Cancel the subscription in Manage billing" in page  # the Free row
    assert page.index("KRX-0002") < page.index("KRX-0001")
    assert "99.00 EUR" in page and "29.00 EUR" in page
    assert 'href="https://invoice.stripe.test/i/' in page
    (listing,) = billing_on.calls("GET", "/v1/invoices")
    assert listing["params"] == {"customer": CUSTOMER, "limit": "12"}


def test_a_scheduled_cancellation_shows_its_date(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook, cancel_at_period_end=True)

    page = _page(owner)

    assert "Builder plan" in page
    assert "The subscription cancels on <strong>1 December 2026</strong>" in page
    assert "renews on" not in page


def test_a_cancellation_at_a_set_time_shows_that_date(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook, cancel_at=1_794_700_800)  # 2026-11-15
    assert "The subscription cancels on <strong>15 November 2026</strong>" in _page(owner)


def test_a_failed_payment_warns_and_keeps_the_plan(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook, status="past_due", price="price_business")

    page = _page(owner)

    assert "Business plan" in page
    assert "The last payment failed." in page
    assert "update the payment method in Manage billing" in page


def test_after_deletion_the_page_is_back_to_free(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook)
    subscription = billing_on.subscription_set("sub_1", customer=CUSTOMER, status="canceled")
    webhook.send("customer.subscription.deleted", subscription)

    page = _page(owner)

    assert "Free plan" in page
    assert "The subscription has ended (canceled): the account is on the Free plan." in page
    assert "renews on" not in page
    assert "The last payment failed" not in page
    assert 'aria-label="Upgrade to Builder"' in page
    assert "Manage billing" in page  # past invoices stay reachable


def test_invoices_that_cannot_be_read_do_not_break_the_page(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    _subscribe(owner, billing_on, webhook)
    billing_on.behaviour = "error_500"

    page = _page(owner)

    assert "Builder plan" in page
    assert "Invoices cannot be read from Stripe right now" in page


def test_back_from_checkout_the_page_says_the_plan_follows_the_payment(
    owner: Owner, billing_on: FakeStripeServer
) -> None:
    page = owner.client.get(PAGE + "?checkout=done").content.decode()
    assert "The new plan applies as soon as Stripe confirms the payment" in page


def test_the_admin_shows_the_subscription_and_the_events_read_only(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook, admin_client: Any
) -> None:
    _subscribe(owner, billing_on, webhook, price="price_startup")

    page = admin_client.get(f"/admin/billing/account/{owner.account.pk}/change/")
    events = admin_client.get("/admin/billing/stripeevent/")

    assert page.status_code == 200
    assert "sub_1" in page.content.decode()
    assert 'name="subscription-0-status"' not in page.content.decode()
    assert events.status_code == 200
    assert "customer.subscription.updated" in events.content.decode()
