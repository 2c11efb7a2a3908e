from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from billing.models import Account, Membership
from billing.plans import Plan
from billing.selectors import account_owned_by


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


def account_plan_set(*, account: Account, plan: Plan) -> Account:
    """Put the account on `plan`. A downgrade deletes nothing: over the new limits, the
    account keeps reading and deleting and cannot add until it is back under."""
    account.plan = plan.slug
    account.save(update_fields=["plan"])
    return account
