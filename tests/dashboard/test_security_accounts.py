"""Accounts, hardened: password hashing, throttled password resets that reveal nothing,
and sign-ins in the audit log. (The sign-in and sign-up throttles and the sign-up and
reset answers for registered addresses are in test_accounts.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.test import Client

from audit.models import AuditEvent
from tests.dashboard.conftest import PASSWORD, Owner

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
RESET = "/accounts/password/reset/"
RESET_DONE = "/accounts/password/reset/done/"


def _login(client: Client, email: str, password: str) -> Any:
    return client.post(LOGIN, {"login": email, "password": password})


def _sign_ins(owner: Owner) -> list[tuple[str, str, str | None]]:
    return [
        (event.kind, event.actor, event.ip)
        for event in AuditEvent.objects.for_account(owner.account)
        .filter(kind__in=[AuditEvent.Kind.SIGNED_IN, AuditEvent.Kind.SIGN_IN_FAILED])
        .order_by("at", "pk")
    ]


def test_a_new_users_password_is_hashed_with_pbkdf2_at_djangos_default_strength(
    client: Client,
) -> None:
    password = "purple elephant umbrella 42"
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": password, "password2": password},
    )

    user = User.objects.get(email="new@example.com")
    algorithm, iterations, _salt, _hash = user.password.split("$")
    assert algorithm == "pbkdf2_sha256"
    assert int(iterations) == PBKDF2PasswordHasher.iterations >= 1_000_000
    assert password not in user.password
    assert user.check_password(password)


@pytest.mark.parametrize("email", ["owner@example.com", "nobody@example.com"])
def test_password_resets_for_one_address_are_limited_to_five_a_minute(
    owner: Owner, mailoutbox: list[Any], email: str
) -> None:
    """ACCOUNT_RATE_LIMITS["reset_password"]; an unknown address is limited alike, so the
    limit reveals nothing either."""
    answers = [Client().post(RESET, {"email": email}) for _ in range(6)]

    assert [answer.status_code for answer in answers] == [302] * 5 + [429]
    assert {answer["Location"] for answer in answers[:5]} == {RESET_DONE}
    assert len(mailoutbox) == 5
    # Another address is not held back by this one's limit.
    assert Client().post(RESET, {"email": "other@example.com"}).status_code == 302


def test_reset_answers_a_known_and_an_unknown_address_alike(owner: Owner) -> None:
    known = Client().post(RESET, {"email": "owner@example.com"}, follow=True)
    unknown = Client().post(RESET, {"email": "nobody@example.com"}, follow=True)

    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content == unknown.content


def test_a_sign_in_is_recorded_in_the_accounts_audit_log(owner: Owner) -> None:
    response = _login(Client(), "Owner@Example.com", PASSWORD)

    assert response.status_code == 302
    assert _sign_ins(owner) == [(AuditEvent.Kind.SIGNED_IN, "user:owner@example.com", "127.0.0.1")]


def test_a_failed_sign_in_is_recorded_and_never_holds_the_password(owner: Owner) -> None:
    response = _login(Client(), "owner@example.com", "a wrong guess")

    assert response.status_code == 200
    assert _sign_ins(owner) == [
        (AuditEvent.Kind.SIGN_IN_FAILED, "user:owner@example.com", "127.0.0.1")
    ]
    event = AuditEvent.objects.get(account=owner.account, kind=AuditEvent.Kind.SIGN_IN_FAILED)
    assert "a wrong guess" not in str(event.data)


def test_a_failed_sign_in_for_an_unknown_address_records_nothing(owner: Owner) -> None:
    before = AuditEvent.objects.count()

    response = _login(Client(), "nobody@example.com", "a wrong guess")

    assert response.status_code == 200
    assert AuditEvent.objects.count() == before


def test_a_sign_in_refused_by_the_throttle_is_not_recorded_as_a_password_failure(
    owner: Owner,
) -> None:
    for _ in range(5):
        _login(Client(), "owner@example.com", "a wrong guess")

    locked = _login(Client(), "owner@example.com", PASSWORD)

    assert locked.status_code == 200
    assert [kind for kind, _actor, _ip in _sign_ins(owner)] == [AuditEvent.Kind.SIGN_IN_FAILED] * 5


def test_sessions_made_by_code_are_not_sign_ins(owner: Owner) -> None:
    Client().force_login(owner.user)

    assert _sign_ins(owner) == []
