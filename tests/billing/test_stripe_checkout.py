"""Buying a plan: the dashboard sends the customer to Stripe Checkout or the Customer Portal."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.models import Account
from tests.billing.conftest import PRICES, Webhook
from tests.dashboard.conftest import Owner
from tests.fakes.stripe_server import FakeStripeServer

CHECKOUT = "/dashboard/billing/checkout/"
PORTAL = "/dashboard/billing/portal/"
BILLING = "http://testserver/dashboard/billing/"


def test_checkout_creates_the_customer_once_and_redirects_to_the_session(
    owner: Owner, billing_on: FakeStripeServer
) -> None:
    first = owner.client.post(CHECKOUT, {"plan": "builder"})
    second = owner.client.post(CHECKOUT, {"plan": "startup"})

    customers = billing_on.calls("POST", "/v1/customers")
    assert len(customers) == 1
    assert customers[0]["params"]["email"] == "owner@example.com"
    assert customers[0]["params"]["metadata[kronvex_account]"] == str(owner.account.uuid)
    assert customers[0]["authorization"] == "Bearer sk_test_kronvex"
    customer_id = Account.objects.get(pk=owner.account.pk).stripe_customer_id
    assert customer_id.startswith("cus_")

    sessions = billing_on.calls("POST", "/v1/checkout/sessions")
    assert [s["params"]["line_items[0][price]"] for s in sessions] == [
        "price_builder",
        "price_startup",
    ]
    params = sessions[0]["params"]
    assert params["mode"] == "subscription"
    assert params["customer"] == customer_id
    assert params["client_reference_id"] == str(owner.account.uuid)
    assert params["line_items[0][quantity]"] == "1"
    assert params["subscription_data[metadata][kronvex_account]"] == str(owner.account.uuid)
    assert params["success_url"] == BILLING + "?checkout=done"
    assert params["cancel_url"] == BILLING

    assert first.status_code == 302
    assert first["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    assert second["Location"] != first["Location"]
    # Nothing changes until Stripe's webhook says the payment went through.
    assert Account.objects.get(pk=owner.account.pk).plan == "free"


@pytest.mark.parametrize("plan", ["builder", "startup", "business"])
def test_checkout_uses_the_price_of_the_chosen_plan(
    owner: Owner, billing_on: FakeStripeServer, plan: str
) -> None:
    response = owner.client.post(CHECKOUT, {"plan": plan})
    assert response.status_code == 302
    (session,) = billing_on.calls("POST", "/v1/checkout/sessions")
    assert session["params"]["line_items[0][price]"] == PRICES[plan]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("gold", "There is no plan &#x27;gold&#x27;."),
        ("", "There is no plan &#x27;&#x27;."),
        ("enterprise", "The Enterprise plan is arranged with us, not bought online: contact us."),
        ("free", "To go back to the Free plan, cancel the subscription in Manage billing."),
    ],
)
def test_checkout_of_a_plan_that_cannot_be_bought_says_why_and_calls_nothing(
    owner: Owner, billing_on: FakeStripeServer, plan: str, message: str
) -> None:
    response = owner.client.post(CHECKOUT, {"plan": plan})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not billing_on.requests


def test_checkout_of_a_plan_without_a_price_on_this_server_is_refused(
    owner: Owner, billing_on: FakeStripeServer, settings: object
) -> None:
    settings.STRIPE_PRICE_BUSINESS = ""  # type: ignore[attr-defined]
    response = owner.client.post(CHECKOUT, {"plan": "business"})
    assert response.status_code == 400
    assert "The Business plan is not sold online here." in response.content.decode()
    assert not billing_on.requests


def test_without_billing_checkout_explains_and_calls_nothing(
    owner: Owner, billing_off: FakeStripeServer
) -> None:
    response = owner.client.post(CHECKOUT, {"plan": "builder"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Online payment is not configured on this server" in page
    assert "setplan" in page
    assert not billing_off.requests
    assert Account.objects.get(pk=owner.account.pk).stripe_customer_id == ""


def test_without_billing_the_portal_explains_and_calls_nothing(
    owner: Owner, billing_off: FakeStripeServer
) -> None:
    response = owner.client.post(PORTAL)
    assert response.status_code == 400
    assert "Online payment is not configured on this server" in response.content.decode()
    assert not billing_off.requests


def test_when_stripe_cannot_be_reached_checkout_says_so(
    owner: Owner, billing_on: FakeStripeServer
) -> None:
    billing_on.behaviour = "error_500"
    response = owner.client.post(CHECKOUT, {"plan": "builder"})
    assert response.status_code == 502
    assert "Stripe cannot be reached right now; nothing was charged." in response.content.decode()
    assert Account.objects.get(pk=owner.account.pk).stripe_customer_id == ""


def test_a_paying_account_changes_plan_in_the_portal_not_with_a_second_subscription(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    Account.objects.filter(pk=owner.account.pk).update(stripe_customer_id="cus_owner")
    webhook.send(
        "customer.subscription.created",
        billing_on.subscription_set("sub_1", customer="cus_owner", price="price_builder"),
    )

    response = owner.client.post(CHECKOUT, {"plan": "startup"})

    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.test/p/session/")
    assert not billing_on.calls("POST", "/v1/checkout/sessions")
    (portal,) = billing_on.calls("POST", "/v1/billing_portal/sessions")
    params = portal["params"]
    assert params["customer"] == "cus_owner"
    assert params["flow_data[type]"] == "subscription_update_confirm"
    assert params["flow_data[subscription_update_confirm][subscription]"] == "sub_1"
    assert params["flow_data[subscription_update_confirm][items][0][id]"] == "si_sub_1"
    assert params["flow_data[subscription_update_confirm][items][0][price]"] == "price_startup"
    assert params["flow_data[after_completion][redirect][return_url]"] == (
        BILLING + "?checkout=done"
    )


def test_choosing_the_plan_already_paid_for_changes_nothing(
    owner: Owner, billing_on: FakeStripeServer, webhook: Webhook
) -> None:
    Account.objects.filter(pk=owner.account.pk).update(stripe_customer_id="cus_owner")
    webhook.send(
        "customer.subscription.created",
        billing_on.subscription_set("sub_1", customer="cus_owner", price="price_builder"),
    )
    response = owner.client.post(CHECKOUT, {"plan": "builder"}, follow=True)
    assert "This account already pays for the Builder plan." in response.content.decode()
    assert not billing_on.calls("POST", "/v1/checkout/sessions")
    assert not billing_on.calls("POST", "/v1/billing_portal/sessions")


def test_manage_billing_redirects_to_the_customer_portal(
    owner: Owner, billing_on: FakeStripeServer
) -> None:
    Account.objects.filter(pk=owner.account.pk).update(stripe_customer_id="cus_owner")

    response = owner.client.post(PORTAL)

    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.test/p/session/bps_")
    (portal,) = billing_on.calls("POST", "/v1/billing_portal/sessions")
    assert portal["params"] == {"customer": "cus_owner", "return_url": BILLING}


def test_manage_billing_before_any_checkout_has_nothing_to_manage(
    owner: Owner, stranger: Owner, billing_on: FakeStripeServer
) -> None:
    # The stranger has a customer; the owner's portal never opens it.
    Account.objects.filter(pk=stranger.account.pk).update(stripe_customer_id="cus_stranger")

    response = owner.client.post(PORTAL)

    assert response.status_code == 400
    assert "There is nothing to manage yet: choose a plan first." in response.content.decode()
    assert not billing_on.requests


@pytest.mark.parametrize("path", [CHECKOUT, PORTAL])
def test_billing_actions_need_login_and_post(
    owner: Owner, billing_on: FakeStripeServer, path: str
) -> None:
    response = Client().post(path, {"plan": "builder"})
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    assert owner.client.get(path).status_code == 405
    assert not billing_on.requests
