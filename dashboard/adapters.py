"""django-allauth hooks: every new user gets an account of their own."""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest

from billing.services import account_create


class AccountAdapter(DefaultAccountAdapter):
    def save_user(
        self, request: HttpRequest, user: AbstractBaseUser, form: Any, commit: bool = True
    ) -> AbstractBaseUser:
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                account_create(owner=user, name=getattr(user, "email", ""))  # type: ignore[arg-type]
        return user


def user_display(user: AbstractBaseUser) -> str:
    """Users are known by their email address."""
    return getattr(user, "email", "") or str(user)
