import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from audit.models import AuditEvent
from audit.services import SYSTEM, audit_record
from billing import stripe_api
from billing.models import Account, Membership, StripeEvent, Subscription
from billing.plans import DEFAULT_PLAN, Plan, plan_get
from billing.prices import billing_enabled, plan_for_price, plan_price_id
from billing.selectors import SUBSCRIPTION_LIVE_STATUSES, account_owned_by
from billing.stripe_api import BillingNotConfigured, SubscriptionState

logger = logging.getLogger(__name__)


class PlanNotSold(Exception):
    """This plan cannot be bought online here (free, enterprise, or no Stripe price set)."""


class AlreadyOnPlan(Exception):
    """The account already pays for this plan."""


class NoBillingCustomer(Exception):
    """Stripe does not know this account yet: it has never started a checkout."""


@transaction.atomic
def account_create(*, owner: User, name: str) -> Account:
    """Create an account with `owner` as its owning member."""
    account = Account.objects.create(name=name)
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    return account


@transaction.atomic
def account_get_or_create_for_email(*, email: str) -> tuple[Account, bool]:
    """The account owned by the user with this email, creating user and account if needed."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=email, defaults={"email": email})
    account = account_owned_by(user=user)
    if account is not None:
        return account, False
    if not user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return account_create(owner=user, name=email), True


def account_plan_set(*, account: Account, plan: Plan, actor: str = SYSTEM) -> Account:
    """Put the account on `plan`. A downgrade deletes nothing: over the new limits, the
    account keeps reading and deleting and cannot add until it is back under."""
    previous = account.plan
    account.plan = plan.slug
    with transaction.atomic():
        account.save(update_fields=["plan"])
        if previous != plan.slug:
            audit_record(
                account=account,
                kind=AuditEvent.Kind.PLAN_CHANGED,
                actor=actor,
                target=plan.slug,
                data={"from": previous, "to": plan.slug},
            )
    return account


# -- Stripe ------------------------------------------------------------------------------


def _owner_email(account: Account) -> str:
    membership = (
        Membership.objects.select_related("user")
        .filter(account=account, role=Membership.Role.OWNER)
        .order_by("created_at")
        .first()
    )
    return membership.user.email if membership is not None else ""


def _customer_ensure(*, account: Account) -> str:
    """The account's Stripe customer id, creating the customer on first use."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    with transaction.atomic():
        # Locked, so two checkouts started at once create one customer.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if not locked.stripe_customer_id:
            locked.stripe_customer_id = stripe_api.customer_create(
                email=_owner_email(locked), name=locked.name, account_uuid=str(locked.uuid)
            )
            locked.save(update_fields=["stripe_customer_id"])
    account.stripe_customer_id = locked.stripe_customer_id
    return account.stripe_customer_id


def billing_checkout_start(
    *, account: Account, plan: Plan, success_url: str, cancel_url: str
) -> str:
    """The Stripe page where the account pays for `plan`: Checkout for a first
    subscription; for an account that already pays, the Customer Portal's confirmation
    of the switch, so nobody ends up with two subscriptions."""
    if not billing_enabled():
        raise BillingNotConfigured("STRIPE_SECRET_KEY is not set")
    price_id = plan_price_id(plan=plan)
    if price_id is None:
        raise PlanNotSold(plan.slug)
    current = Subscription.objects.filter(account=account).first()
    if current is not None and current.status in SUBSCRIPTION_LIVE_STATUSES:
        state = stripe_api.subscription_retrieve(subscription_id=current.stripe_subscription_id)
        if state is not None and state.status in SUBSCRIPTION_LIVE_STATUSES and state.items:
            if any(item.price_id == price_id for item in state.items):
                raise AlreadyOnPlan(plan.slug)
            return stripe_api.portal_plan_change_create(
                customer_id=state.customer_id,
                return_url=cancel_url,
                done_url=success_url,
                subscription_id=state.id,
                item_id=state.items[0].id,
                price_id=price_id,
            )
    customer_id = _customer_ensure(account=account)
    return stripe_api.checkout_session_create(
        customer_id=customer_id,
        price_id=price_id,
        account_uuid=str(account.uuid),
        success_url=success_url,
        cancel_url=cancel_url,
    )


def billing_portal_url(*, account: Account, return_url: str) -> str:
    """A Stripe Customer Portal session for the account (payment method, invoices,
    cancellation); NoBillingCustomer if Stripe does not know the account yet."""
    if not billing_enabled():
        raise BillingNotConfigured("STRIPE_SECRET_KEY is not set")
    if not account.stripe_customer_id:
        raise NoBillingCustomer(str(account.uuid))
    return stripe_api.portal_session_create(
        customer_id=account.stripe_customer_id, return_url=return_url
    )


SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})
CHECKOUT_EVENTS = frozenset({"checkout.session.completed"})


def stripe_event_apply(*, event: dict[str, Any]) -> bool:
    """Apply one verified Stripe event, once (billing/webhooks.py says how and why).

    False for an event already applied. Raises stripe_api.StripeUnavailable if Stripe
    cannot be read; the event stays unprocessed and Stripe's retry applies it.
    """
    # Recorded first, in its own transaction: an event that fails to apply stays
    # visible (processed=False) until a retry applies it.
    received, _ = StripeEvent.objects.get_or_create(
        stripe_event_id=event["id"], defaults={"type": event["type"][:100]}
    )
    with transaction.atomic():
        # Locked: a second delivery of the same event waits here, then sees it processed.
        received = StripeEvent.objects.select_for_update().get(pk=received.pk)
        if received.processed:
            return False
        _event_apply(event)
        received.processed = True
        received.save(update_fields=["processed"])
    return True


def _event_apply(event: dict[str, Any]) -> None:
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
    if kind in CHECKOUT_EVENTS:
        account = _account_by_uuid(obj.get("client_reference_id"))
        subscription_id = stripe_api.object_id(obj.get("subscription"))
        customer_id = stripe_api.object_id(obj.get("customer"))
    elif kind in SUBSCRIPTION_EVENTS:
        subscription_id = stripe_api.object_id(obj.get("id"))
        customer_id = stripe_api.object_id(obj.get("customer"))
        account = _account_for_subscription(
            subscription_id=subscription_id,
            customer_id=customer_id,
            account_uuid=(obj.get("metadata") or {}).get("kronvex_account"),
        )
    elif kind in INVOICE_EVENTS:
        subscription_id = _invoice_subscription_id(obj)
        customer_id = stripe_api.object_id(obj.get("customer"))
        account = _account_for_subscription(
            subscription_id=subscription_id, customer_id=customer_id, account_uuid=None
        )
    else:
        logger.debug("stripe event %s: type %s is not used", event["id"], kind)
        return
    if account is None:
        logger.warning("stripe event %s (%s): no account matches it", event["id"], kind)
        return
    if not subscription_id:
        logger.info("stripe event %s (%s): no subscription in it", event["id"], kind)
        return
    _subscription_sync(
        account=account, subscription_id=subscription_id, customer_id=customer_id, seen=created
    )


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    # Since API version 2025-03-31 the subscription is under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return stripe_api.object_id(invoice.get("subscription") or details.get("subscription"))


def _account_by_uuid(value: Any) -> Account | None:
    try:
        return Account.objects.filter(uuid=uuid.UUID(str(value))).first()
    except ValueError:
        return None


def _account_for_subscription(
    *, subscription_id: str, customer_id: str, account_uuid: Any
) -> Account | None:
    known = (
        Subscription.objects.select_related("account")
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if known is not None:
        return known.account
    if customer_id:
        account = Account.objects.filter(stripe_customer_id=customer_id).first()
        if account is not None:
            return account
    return _account_by_uuid(account_uuid) if account_uuid else None


def _rank(*, status: str, created: datetime, subscription_id: str) -> tuple[bool, datetime, str]:
    """Which of two subscriptions of one account decides its plan: a live one over an
    ended one, then the newer. A total order on the subscriptions, not on the events."""
    return (status in SUBSCRIPTION_LIVE_STATUSES, created, subscription_id)


def _subscription_sync(
    *, account: Account, subscription_id: str, customer_id: str, seen: datetime
) -> None:
    # The account row stays locked while Stripe is read, so of two events for one account
    # processed at once, the one that reads Stripe later also writes later.
    account = Account.objects.select_for_update().get(pk=account.pk)
    state = stripe_api.subscription_retrieve(subscription_id=subscription_id)
    current = Subscription.objects.filter(account=account).first()
    if state is None:
        # Stripe no longer has it: as good as canceled, if it is the account's.
        if current is not None and current.stripe_subscription_id == subscription_id:
            current.status = "canceled"
            current.stripe_updated = max(current.stripe_updated, seen)
            current.save(update_fields=["status", "stripe_updated", "updated_at"])
            account_plan_set(account=account, plan=plan_get(DEFAULT_PLAN))
        return
    if not _customer_link(account=account, customer_id=state.customer_id or customer_id):
        return
    taken = Subscription.objects.filter(stripe_subscription_id=state.id).exclude(account=account)
    if taken.exists():
        logger.error("subscription %s already belongs to another account", state.id)
        return
    if current is not None and current.stripe_subscription_id != state.id:
        mine = _rank(
            status=current.status,
            created=current.stripe_created,
            subscription_id=current.stripe_subscription_id,
        )
        if _rank(status=state.status, created=state.created, subscription_id=state.id) < mine:
            logger.info(
                "subscription %s (%s) does not replace %s (%s) on account %s",
                state.id,
                state.status,
                current.stripe_subscription_id,
                current.status,
                account.pk,
            )
            return
    _subscription_store(account=account, state=state, current=current, seen=seen)


def _customer_link(*, account: Account, customer_id: str) -> bool:
    """Record the account's Stripe customer if it has none; False if it has another."""
    if not customer_id or account.stripe_customer_id == customer_id:
        return True
    if account.stripe_customer_id:
        logger.error(
            "stripe customer %s is not account %s's customer %s",
            customer_id,
            account.pk,
            account.stripe_customer_id,
        )
        return False
    if Account.objects.filter(stripe_customer_id=customer_id).exists():
        logger.error("stripe customer %s already belongs to another account", customer_id)
        return False
    account.stripe_customer_id = customer_id
    account.save(update_fields=["stripe_customer_id"])
    return True


def _subscription_store(
    *,
    account: Account,
    state: SubscriptionState,
    current: Subscription | None,
    seen: datetime,
) -> None:
    # The first item whose price is one of ours decides; otherwise the first item's price.
    price_id = state.items[0].price_id if state.items else ""
    plan: Plan | None = None
    for item in state.items:
        plan = plan_for_price(price_id=item.price_id)
        if plan is not None:
            price_id = item.price_id
            break
    same = current is not None and current.stripe_subscription_id == state.id
    Subscription.objects.update_or_create(
        account=account,
        defaults={
            "stripe_subscription_id": state.id,
            "status": state.status,
            "price_id": price_id,
            "plan": plan.slug if plan is not None else "",
            "current_period_end": state.current_period_end,
            "cancel_at_period_end": state.cancel_at_period_end,
            "cancel_at": state.cancel_at,
            "stripe_created": state.created,
            "stripe_updated": max(current.stripe_updated, seen)
            if same and current is not None
            else seen,
        },
    )
    if state.status not in SUBSCRIPTION_LIVE_STATUSES:
        account_plan_set(account=account, plan=plan_get(DEFAULT_PLAN))
    elif plan is not None:
        account_plan_set(account=account, plan=plan)
    else:
        logger.warning(
            "subscription %s of account %s has no configured price (%s); plan %s kept",
            state.id,
            account.pk,
            ", ".join(item.price_id for item in state.items) or "no items",
            account.plan,
        )
