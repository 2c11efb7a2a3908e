from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from billing.models import Account, Membership


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
    membership = (
        Membership.objects.select_related("account")
        .filter(user=user, role=Membership.Role.OWNER)
        .order_by("created_at")
        .first()
    )
    if membership is not None:
        return membership.account, False
    if not user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return account_create(owner=user, name=email), True
