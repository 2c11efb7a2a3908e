"""Receivers that put sign-ins and failed sign-ins into the audit log (dashboard/services.py)."""

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest

from audit.services import client_ip
from dashboard.services import sign_in_failure_record, sign_in_record


def on_user_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    sign_in_record(user=user, ip=client_ip(request))


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # allauth signs in by email; the admin's form names it `username`.
    email = credentials.get("email") or credentials.get("username") or ""
    if isinstance(email, str) and "@" in email:
        sign_in_failure_record(email=email, ip=client_ip(request))
