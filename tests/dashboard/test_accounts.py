"""Sign-up, sign-in, throttles, password and email changes and account deletion, over HTTP.

The accounts pages are django-allauth's, configured in kronvex/settings.py (email login,
mandatory verification, ACCOUNT_PREVENT_ENUMERATION, ACCOUNT_RATE_LIMITS); deleting an
account is the dashboard's own view. Each test asserts the answer, the page and the rows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.test import Client
from pytest_django.fixtures import Settings

from api.models import ApiKey
from api.services import api_key_create
from billing.models import Account, Membership, UsageDay
from billing.services import account_get_or_create_for_email
from memories.models import Agent, Memory
from tests.dashboard.conftest import PASSWORD, Owner

NEW_EMAIL = "new@example.com"
NEW_PASSWORD = "purple elephant umbrella 42"
LOGIN = "/accounts/login/"
VERIFICATION_SENT = "/accounts/confirm-email/"
RESET_DONE = "/accounts/password/reset/done/"
TOO_MANY_LOGINS = "Too many failed login attempts. Try again later."
WRONG_CREDENTIALS = "The email address and/or password you specified are not correct."

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """PBKDF2 at full strength costs a noticeable fraction of a second per hash, and these
    tests hash dozens of times (fixtures' users included: autouse fixtures run first)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _signup(client: Client, email: str = NEW_EMAIL, **fields: str) -> Any:
    data = {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **fields}
    return client.post("/accounts/signup/", data)


def _login(client: Client, email: str, password: str) -> Any:
    return client.post(LOGIN, {"login": email, "password": password})


def _link(message: EmailMessage, path_pattern: str) -> str:
    """The path of the one link in `message` whose path matches `path_pattern`."""
    found = re.findall(r"https?://testserver(" + path_pattern + r")", message.body)
    assert len(found) == 1, message.body
    return found[0]


def _signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def _form_errors(response: Any) -> dict[str, list[str]]:
    return dict(response.context["form"].errors)


# -- sign-up --------------------------------------------------------------------------------


def test_signup_creates_an_unverified_user_who_owns_a_new_account(client: Client, mailoutbox):
    response = _signup(client)

    assert response.status_code == 302
    assert response["Location"] == VERIFICATION_SENT
    user = User.objects.get(email=NEW_EMAIL)
    assert user.check_password(NEW_PASSWORD)
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (NEW_EMAIL, False, True)
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert Account.objects.filter(memberships__user=user).count() == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [NEW_EMAIL]
    assert mailoutbox[0].subject.startswith("[Kronvex] ")
    assert not _signed_in(client)

    page = client.get(VERIFICATION_SENT)
    assert page.status_code == 200
    assert "Verify Your Email Address" in page.content.decode()


def test_the_confirmation_link_verifies_the_address_and_signs_in_to_the_dashboard(
    client: Client, mailoutbox
):
    _signup(client)
    link = _link(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")

    page = client.get(link)
    assert page.status_code == 200
    assert NEW_EMAIL in page.content.decode()
    # Looking at the link does not confirm; only the page's POST does.
    assert not EmailAddress.objects.get(email=NEW_EMAIL).verified

    response = client.post(link)

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert EmailAddress.objects.get(email=NEW_EMAIL).verified
    assert _signed_in(client)
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 200
    assert NEW_EMAIL in dashboard.content.decode()


def test_an_unconfirmed_user_cannot_sign_in_to_the_dashboard(mailoutbox):
    _signup(Client())
    browser = Client()

    response = _login(browser, NEW_EMAIL, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == VERIFICATION_SENT
    assert not _signed_in(browser)
    dashboard = browser.get("/dashboard/")
    assert dashboard.status_code == 302
    assert dashboard["Location"] == f"{LOGIN}?next=/dashboard/"


def test_the_signup_page_shows_its_form(client: Client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    assert set(response.context["form"].fields) >= {"email", "password1", "password2"}


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"password2": "something else entirely"}, "password2", "same password each time"),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password1": "password", "password2": "password"}, "password1", "too common"),
        ({"password1": "12345678", "password2": "12345678"}, "password1", "entirely numeric"),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
    ],
    ids=["mismatched-passwords", "invalid-email", "common-password", "numeric", "short"],
)
def test_signup_with_bad_input_shows_the_form_again_and_creates_nobody(
    client: Client, mailoutbox, fields: dict[str, str], field: str, error: str
):
    response = _signup(client, **fields)

    assert response.status_code == 200
    errors = _form_errors(response)
    assert any(error in message for message in errors[field]), errors
    assert error in response.content.decode().replace("&#x27;", "'")
    assert not User.objects.exists()
    assert not Account.objects.exists()
    assert mailoutbox == []


def test_signup_with_a_registered_email_answers_like_a_new_one_and_creates_nobody(
    owner: Owner, mailoutbox
):
    """ACCOUNT_PREVENT_ENUMERATION: no form error; the address's owner is mailed instead."""
    users_before = User.objects.count()

    taken = _signup(Client(), email="OWNER@example.com")
    fresh = _signup(Client(), email=NEW_EMAIL)

    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"] == VERIFICATION_SENT
    assert User.objects.filter(email__iexact="owner@example.com").count() == 1
    assert User.objects.count() == users_before + 1  # only the fresh address's user
    assert Account.objects.filter(memberships__user__email__iexact="owner@example.com").count() == 1
    # Each address gets one mail: the owner learns someone tried to sign up with it.
    assert [message.to for message in mailoutbox] == [["owner@example.com"], [NEW_EMAIL]]
    assert "already" in mailoutbox[0].subject.lower()
    assert "/accounts/confirm-email/" not in mailoutbox[0].body
    assert "/accounts/confirm-email/" in mailoutbox[1].body


# -- sign-in and sign-out -------------------------------------------------------------------


def test_login_with_the_right_password_lands_on_the_dashboard(owner: Owner):
    browser = Client()

    response = _login(browser, "owner@example.com", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert browser.session[SESSION_KEY] == str(owner.user.pk)
    assert browser.get("/dashboard/").status_code == 200


def test_login_returns_to_the_page_named_in_next(owner: Owner):
    browser = Client()

    response = browser.post(
        f"{LOGIN}?next=/dashboard/keys/", {"login": "owner@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/keys/"


def test_login_refuses_an_offsite_next(owner: Owner):
    browser = Client()

    response = browser.post(
        f"{LOGIN}?next=https://evil.example/", {"login": "owner@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


def test_login_with_a_wrong_password_is_refused_with_a_form_error(owner: Owner):
    browser = Client()

    response = _login(browser, "owner@example.com", "not my password")

    assert response.status_code == 200
    assert _form_errors(response)["__all__"] == [WRONG_CREDENTIALS]
    assert not _signed_in(browser)


def test_login_for_an_unknown_email_answers_like_a_wrong_password(owner: Owner):
    response = _login(Client(), "nobody@example.com", "not my password")

    assert response.status_code == 200
    assert _form_errors(response)["__all__"] == [WRONG_CREDENTIALS]


def test_logout_by_get_only_asks_for_confirmation(owner: Owner):
    response = owner.client.get("/accounts/logout/")

    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()
    assert _signed_in(owner.client)
    assert owner.client.get("/dashboard/").status_code == 200


def test_logout_by_post_signs_out_and_the_dashboard_then_asks_to_sign_in(owner: Owner):
    response = owner.client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not _signed_in(owner.client)
    dashboard = owner.client.get("/dashboard/")
    assert dashboard.status_code == 302
    assert dashboard["Location"] == f"{LOGIN}?next=/dashboard/"


# -- throttles ------------------------------------------------------------------------------


def test_five_failed_logins_for_an_email_lock_it_even_against_the_right_password(owner: Owner):
    """ACCOUNT_RATE_LIMITS["login_failed"]: 5 per 300 s per address."""
    for _ in range(5):
        wrong = _login(Client(), "owner@example.com", "guess")
        assert _form_errors(wrong)["__all__"] == [WRONG_CREDENTIALS]

    browser = Client()
    response = _login(browser, "owner@example.com", PASSWORD)

    # allauth answers the form again with an error, not a 429.
    assert response.status_code == 200
    assert _form_errors(response)["__all__"] == [TOO_MANY_LOGINS]
    assert TOO_MANY_LOGINS in response.content.decode()
    assert not _signed_in(browser)


def test_the_email_lock_does_not_lock_out_other_addresses(owner: Owner, stranger: Owner):
    for _ in range(5):
        _login(Client(), "owner@example.com", "guess")

    response = _login(Client(), "stranger@example.com", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


def test_successful_logins_do_not_count_towards_the_lock(owner: Owner):
    for _ in range(4):
        _login(Client(), "owner@example.com", "guess")
    for _ in range(3):
        assert _login(Client(), "owner@example.com", PASSWORD).status_code == 302

    assert _login(Client(), "owner@example.com", PASSWORD).status_code == 302


def test_ten_failed_logins_from_one_ip_lock_every_address_from_it(owner: Owner):
    """ACCOUNT_RATE_LIMITS["login_failed"]: 10 per minute per IP, whatever the address."""
    for number in range(10):
        _login(Client(), f"guess{number}@example.com", "guess")

    response = _login(Client(), "owner@example.com", PASSWORD)

    assert response.status_code == 200
    assert _form_errors(response)["__all__"] == [TOO_MANY_LOGINS]


def test_signup_is_limited_to_ten_posts_a_minute_per_ip(client: Client):
    """ACCOUNT_RATE_LIMITS["signup"]: the 11th POST answers 429 without looking at the form."""
    for _ in range(10):
        assert client.post("/accounts/signup/", {}).status_code == 200

    response = _signup(Client())

    assert response.status_code == 429
    assert "Too Many Requests" in response.content.decode()
    assert not User.objects.exists()
    # Showing the form is not counted.
    assert client.get("/accounts/signup/").status_code == 200


# -- password reset -------------------------------------------------------------------------


def test_password_reset_mails_a_link_that_sets_a_new_password(owner: Owner, mailoutbox):
    browser = Client()

    response = browser.post("/accounts/password/reset/", {"email": "owner@example.com"})

    assert response.status_code == 302
    assert response["Location"] == RESET_DONE
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["owner@example.com"]
    link = _link(mailoutbox[0], r"/accounts/password/reset/key/[^/\s]+/")

    # The link hides its key in the session and moves to a key-less address.
    form_page = browser.get(link, follow=True)
    assert form_page.status_code == 200
    assert "password1" in form_page.context["form"].fields
    form_url = form_page.redirect_chain[-1][0]
    done = browser.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/key/done/"
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)
    assert not owner.user.check_password(PASSWORD)
    assert _login(Client(), "owner@example.com", PASSWORD).status_code == 200
    new_login = _login(Client(), "owner@example.com", NEW_PASSWORD)
    assert new_login.status_code == 302
    assert new_login["Location"] == "/dashboard/"
    # The link is spent.
    again = browser.get(link, follow=True)
    assert again.context["token_fail"]
    assert "Bad Token" in again.content.decode()


def test_password_reset_for_an_unknown_address_answers_the_same_and_sends_no_link(
    owner: Owner, mailoutbox
):
    known = Client().post("/accounts/password/reset/", {"email": "owner@example.com"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == RESET_DONE
    # ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS (allauth's default): the unknown address is told it has
    # no account, with no key to use.
    to_nobody = [message for message in mailoutbox if message.to == ["nobody@example.com"]]
    assert len(to_nobody) == 1
    assert "/accounts/password/reset/key/" not in to_nobody[0].body
    assert "/accounts/signup/" in to_nobody[0].body
    assert not User.objects.filter(email="nobody@example.com").exists()


def test_a_user_made_by_createapikey_reaches_their_account_through_a_password_reset(
    mailoutbox,
):
    """`manage.py createapikey` makes a user with no password and no EmailAddress row."""
    account, _ = account_get_or_create_for_email(email="cli@example.com")
    browser = Client()

    browser.post("/accounts/password/reset/", {"email": "cli@example.com"})
    form_page = browser.get(
        _link(mailoutbox[0], r"/accounts/password/reset/key/[^/\s]+/"), follow=True
    )
    browser.post(
        form_page.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    unverified = _login(browser, "cli@example.com", NEW_PASSWORD)
    assert unverified["Location"] == VERIFICATION_SENT
    confirmed = browser.post(_link(mailoutbox[-1], r"/accounts/confirm-email/[^/\s]+/"))

    assert confirmed["Location"] == "/dashboard/"
    dashboard = browser.get("/dashboard/")
    assert dashboard.status_code == 200
    assert dashboard.context["account"] == account
    assert Account.objects.filter(memberships__user__email="cli@example.com").count() == 1


# -- password and email changes -------------------------------------------------------------


def test_changing_the_password_needs_the_old_one(owner: Owner):
    data = {"oldpassword": "not my password", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    response = owner.client.post("/accounts/password/change/", data)

    assert response.status_code == 200
    assert _form_errors(response)["oldpassword"] == ["Please type your current password."]
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)


def test_changing_the_password_with_the_old_one_sets_the_new_one(owner: Owner):
    elsewhere = Client()
    elsewhere.force_login(owner.user)
    data = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    response = owner.client.post("/accounts/password/change/", data)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/change/"
    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)
    # The session that changed it stays signed in; the user's other sessions do not.
    assert owner.client.get("/dashboard/").status_code == 200
    assert elsewhere.get("/dashboard/").status_code == 302
    assert _login(Client(), "owner@example.com", PASSWORD).status_code == 200
    assert _login(Client(), "owner@example.com", NEW_PASSWORD).status_code == 302


def test_the_password_change_page_is_behind_login(db: None):
    response = Client().get("/accounts/password/change/")

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/accounts/password/change/"


def test_changing_the_email_replaces_the_old_address_once_confirmed(owner: Owner, mailoutbox):
    owner.client.post("/accounts/email/", {"action_add": "", "email": NEW_EMAIL})
    assert EmailAddress.objects.filter(user=owner.user).count() == 2  # until confirmed
    link = _link(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")

    owner.client.post(link)

    addresses = list(EmailAddress.objects.filter(user=owner.user).values_list("email", "primary"))
    assert addresses == [(NEW_EMAIL, True)]
    owner.user.refresh_from_db()
    assert owner.user.email == NEW_EMAIL
    owner.client.post("/accounts/logout/")
    signed_in = Client().post("/accounts/login/", {"login": NEW_EMAIL, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/dashboard/"


def test_adding_an_email_address_sends_it_a_confirmation(owner: Owner, mailoutbox):
    response = owner.client.post("/accounts/email/", {"action_add": "", "email": NEW_EMAIL})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/email/"
    added = EmailAddress.objects.get(email=NEW_EMAIL)
    assert (added.user_id, added.verified, added.primary) == (owner.user.pk, False, False)
    assert EmailAddress.objects.get(email="owner@example.com").primary
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [NEW_EMAIL]
    link = _link(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")

    assert owner.client.post(link).status_code == 302
    assert EmailAddress.objects.get(email=NEW_EMAIL).verified
    page = owner.client.get("/accounts/email/")
    assert page.status_code == 200
    assert NEW_EMAIL in page.content.decode()


def test_adding_another_users_address_never_verifies_it_for_the_adder(
    owner: Owner, stranger: Owner, mailoutbox
):
    """ACCOUNT_PREVENT_ENUMERATION: allauth answers as for a free address, and adds it
    unverified; with ACCOUNT_UNIQUE_EMAIL it can never be verified while the other user
    holds it verified, so the adder gains no way to sign in or reset with it."""
    response = owner.client.post(
        "/accounts/email/", {"action_add": "", "email": "stranger@example.com"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/email/"
    assert [message.to for message in mailoutbox] == [["stranger@example.com"]]
    link = _link(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")
    owner.client.post(link)
    Client().post(link)

    theirs = EmailAddress.objects.get(email="stranger@example.com", user=stranger.user)
    assert (theirs.verified, theirs.primary) == (True, True)
    added = EmailAddress.objects.get(email="stranger@example.com", user=owner.user)
    assert (added.verified, added.primary) == (False, False)
    assert EmailAddress.objects.get(user=owner.user, primary=True).email == "owner@example.com"


# -- account deletion -----------------------------------------------------------------------


def _everything_of(owner: Owner) -> dict[str, bool]:
    return {
        "user": User.objects.filter(pk=owner.user.pk).exists(),
        "account": Account.objects.filter(pk=owner.account.pk).exists(),
        "membership": Membership.objects.filter(user_id=owner.user.pk).exists(),
        "agents": Agent.objects.filter(account_id=owner.account.pk).exists(),
        "memories": Memory.objects.filter(account_id=owner.account.pk).exists(),
        "api_keys": ApiKey.objects.filter(account_id=owner.account.pk).exists(),
        "email_addresses": EmailAddress.objects.filter(user_id=owner.user.pk).exists(),
    }


ALL_THERE = dict.fromkeys(
    ["user", "account", "membership", "agents", "memories", "api_keys", "email_addresses"], True
)


def test_the_account_page_shows_what_deleting_would_remove(owner: Owner):
    response = owner.client.get("/dashboard/account/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "owner@example.com" in page
    assert "1 agent," in page
    assert 'name="password"' in page


def test_deleting_the_account_with_a_wrong_password_deletes_nothing(owner: Owner):
    response = owner.client.post("/dashboard/account/", {"password": "not my password"})

    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    assert _everything_of(owner) == ALL_THERE
    assert _signed_in(owner.client)


def test_deleting_the_account_with_an_empty_password_deletes_nothing(owner: Owner):
    response = owner.client.post("/dashboard/account/", {"password": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert _everything_of(owner) == ALL_THERE


def test_deleting_the_account_removes_all_its_data_and_signs_out(owner: Owner, stranger: Owner):
    UsageDay.objects.create(
        account=owner.account, agent_uuid=owner.agent.uuid, day="2025-01-01", remember_calls=3
    )
    memory_count = Memory.objects.filter(account=owner.account).count()

    response = owner.client.post("/dashboard/account/", {"password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _everything_of(owner) == dict.fromkeys(ALL_THERE, False)
    assert not UsageDay.objects.filter(account_id=owner.account.pk).exists()
    assert not _signed_in(owner.client)
    landing = owner.client.get("/")
    assert f"{memory_count:,} memor" in landing.content.decode()
    dashboard = owner.client.get("/dashboard/")
    assert dashboard.status_code == 302
    assert dashboard["Location"] == f"{LOGIN}?next=/dashboard/"
    # The deleted user cannot sign in any more.
    assert _login(Client(), "owner@example.com", PASSWORD).status_code == 200
    # The other account is untouched.
    assert _everything_of(stranger) == ALL_THERE
    assert Memory.objects.get(pk=stranger.memory.pk).content == "The stranger likes green tea"
    assert ApiKey.objects.get(pk=stranger.api_key.pk).revoked_at is None
    assert stranger.client.get("/dashboard/").status_code == 200


def test_deleting_the_account_signs_out_its_other_sessions_too(owner: Owner):
    elsewhere = Client()
    elsewhere.force_login(owner.user)

    owner.client.post("/dashboard/account/", {"password": PASSWORD})

    response = elsewhere.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/dashboard/"


def test_a_deleted_accounts_api_key_stops_working_at_once(owner: Owner):
    _, raw_key = api_key_create(account=owner.account, name="test")
    api = Client(headers={"authorization": f"Bearer {raw_key}"})
    assert api.get("/api/v1/agents").status_code == 200

    owner.client.post("/dashboard/account/", {"password": PASSWORD})

    assert api.get("/api/v1/agents").status_code == 401


def test_the_account_page_asks_an_anonymous_visitor_to_sign_in(db: None):
    response = Client().get("/dashboard/account/")

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/dashboard/account/"


def test_deleting_by_post_anonymously_deletes_nothing(owner: Owner):
    response = Client().post("/dashboard/account/", {"password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/dashboard/account/"
    assert _everything_of(owner) == ALL_THERE


def test_password_guessing_on_the_delete_form_is_throttled(owner: Owner):
    """ACCOUNT_RATE_LIMITS["reauthenticate"]: 10 tries a minute per user, then none at all."""
    for _ in range(10):
        assert owner.client.post("/dashboard/account/", {"password": "guess"}).status_code == 400

    response = owner.client.post("/dashboard/account/", {"password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/account/"
    assert _everything_of(owner) == ALL_THERE
    page = owner.client.get("/dashboard/account/")
    assert "Too many attempts; wait a minute and try again." in page.content.decode()


# -- pages behind login ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/keys/",
        "/dashboard/agents/",
        "/dashboard/account/",
        "/dashboard/agents/support-bot/",
        "/dashboard/agents/support-bot/playground/",
        "/dashboard/agents/support-bot/edit/",
        "/dashboard/agents/support-bot/export.json",
    ],
)
def test_pages_behind_login_send_an_anonymous_visitor_to_sign_in(owner: Owner, path: str):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"


def test_signing_in_from_a_protected_page_returns_to_it(owner: Owner):
    browser = Client()
    target = f"/dashboard/agents/{owner.agent.slug}/playground/"
    login_url = browser.get(target)["Location"]

    response = browser.post(login_url, {"login": "owner@example.com", "password": PASSWORD})

    assert response["Location"] == target
    assert browser.get(target).status_code == 200


# -- CSRF -----------------------------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_refused_and_creates_nothing(owner: Owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)
    keys_before = ApiKey.objects.count()

    response = browser.post("/dashboard/keys/", {"name": "sneaky"})

    assert response.status_code == 403
    assert ApiKey.objects.count() == keys_before
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_a_post_with_the_pages_csrf_token_creates_the_key(owner: Owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)
    token = browser.get("/dashboard/keys/").context["csrf_token"]

    response = browser.post("/dashboard/keys/", {"name": "wanted", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert ApiKey.objects.filter(account=owner.account, name="wanted").exists()


def test_logout_without_a_csrf_token_is_refused(owner: Owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)

    response = browser.post("/accounts/logout/")

    assert response.status_code == 403
    assert _signed_in(browser)


def test_account_deletion_without_a_csrf_token_is_refused(owner: Owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)

    response = browser.post("/dashboard/account/", {"password": PASSWORD})

    assert response.status_code == 403
    assert _everything_of(owner) == ALL_THERE
