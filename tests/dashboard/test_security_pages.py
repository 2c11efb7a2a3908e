"""Every page carries the Content-Security-Policy, and satisfies it: no inline script, no
`on...=` handler, no inline style, no `javascript:` URL (kronvex/csp.py)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import URLPattern, reverse

from dashboard import urls as dashboard_urls
from dashboard.docs import PAGES
from kronvex.csp import API_DOCS_POLICY, HEADER, POLICY, header_value
from memories import services
from tests.dashboard.conftest import Owner

pytestmark = pytest.mark.django_db

# Scripts of these types are data for the page's own scripts, never run.
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction"}


class InlineCode(HTMLParser):
    """Collects what a strict policy would block, one line per find."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")
        if tag == "style":
            self.found.append("<style> element")
        script_type = (attributes.get("type") or "").lower()
        if tag == "script" and not attributes.get("src") and script_type not in DATA_SCRIPT_TYPES:
            self.found.append("<script> without src")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_strict_page(response: Any, path: str) -> None:
    assert response.status_code == 200, path
    assert response[HEADER] == header_value(POLICY), path
    assert response["X-Frame-Options"] == "DENY", path
    assert response["X-Content-Type-Options"] == "nosniff", path
    assert inline_code(response.content.decode()) == [], path


def dashboard_paths(owner: Owner) -> list[str]:
    """Every GET page of the dashboard, with the owner's own ids."""
    ids = {
        "agent_id": owner.agent.slug,
        "memory_id": str(owner.memory.uuid),
        "key_id": str(owner.api_key.uuid),
    }
    paths = []
    for pattern in dashboard_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        names = set(pattern.pattern.regex.groupindex)
        if not names <= set(ids):  # exports and the playground's API calls: not pages
            continue
        paths.append(reverse(f"dashboard:{pattern.name}", kwargs={n: ids[n] for n in names}))
    return paths


def test_the_policy_allows_only_this_sites_own_files() -> None:
    assert header_value(POLICY) == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def test_with_billing_on_forms_may_also_go_to_stripe(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_x"

    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com;" in (
        header_value(POLICY)
    )


def test_every_dashboard_page_carries_the_policy_and_no_inline_code(owner: Owner) -> None:
    services.remember(agent=owner.agent, content="In a session", session_id="s-1")
    paths = dashboard_paths(owner)
    checked = 0
    for path in paths:
        response = owner.client.get(path)
        assert HEADER in response, path
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            assert_strict_page(response, path)
            checked += 1
    # The memory browser with a query, and its sessions filter, render more of the page.
    for path in (
        f"/dashboard/agents/{owner.agent.slug}/?query=name&top_k=3",
        f"/dashboard/agents/{owner.agent.slug}/sessions/clear/?session=s-1",
    ):
        assert_strict_page(owner.client.get(path), path)
    assert checked >= 12, paths


@pytest.mark.parametrize(
    "name", ["account_email", "account_change_password", "account_logout", "account_login"]
)
def test_signed_in_account_pages_carry_no_inline_code(owner: Owner, name: str) -> None:
    # A pending change of address shows allauth's hidden form too.
    EmailAddress.objects.create(user=owner.user, email="next@example.com", verified=False)

    path = reverse(name)
    response = owner.client.get(path, follow=True)

    assert_strict_page(response, path)


PUBLIC_PAGES = [
    "/",
    "/pricing/",
    "/docs/",
    *(f"/docs/{slug}/" for slug in PAGES),
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/confirm-email/",
]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_carry_the_policy_and_no_inline_code(client: Client, path: str) -> None:
    assert_strict_page(client.get(path), path)


def test_the_not_found_page_carries_the_policy(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response[HEADER] == header_value(POLICY)
    assert inline_code(response.content.decode()) == []


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_reference_pages_run_no_inline_script_under_their_own_policy(
    client: Client, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response[HEADER] == header_value(API_DOCS_POLICY)
    assert "script-src 'self';" in response[HEADER]
    assert inline_code(response.content.decode()) == []


def test_api_answers_carry_the_policy_too(client: Client) -> None:
    response = client.get("/api/v1/agents")

    assert response[HEADER] == header_value(POLICY)
