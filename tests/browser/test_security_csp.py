"""The Content-Security-Policy in a real browser: no page breaks it (Chromium logs every
refusal on the console), and the scripts that need it still work under it."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User

from billing.services import account_create
from memories import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "csp@example.com"
PASSWORD = "a long and unguessable passphrase"
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture
def agent_slug(transactional_db: None, fake_embedder: None) -> str:
    """A confirmed user with an agent and a memory holding script, made before the browser."""
    user = User.objects.create_user(username=EMAIL, email=EMAIL, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    account = account_create(owner=user, name=EMAIL)
    agent = services.agent_create(account=account, name="CSP bot", slug="csp-bot")
    services.remember(agent=agent, content=PAYLOAD, session_id="s-1", metadata={"x": PAYLOAD})
    return agent.slug


def test_no_page_breaks_the_policy_and_the_scripts_still_work(
    agent_slug: str, browser_page: Any, live_server: Any
) -> None:
    page = browser_page
    refusals: list[str] = []
    dialogs: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            refusals.append(f"{page.url}: {message.text}")

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("dialog", on_dialog)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/dashboard/")

    agent = f"{live_server.url}/dashboard/agents/{agent_slug}/"
    for url in (
        live_server.url + "/",
        live_server.url + "/docs/api/",
        live_server.url + "/dashboard/",
        agent,
        agent + "?session=s-1",
        live_server.url + "/accounts/email/",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")

    # htmx: the query box swaps recall's results into the page.
    page.goto(agent)
    page.get_by_label("Query", exact=True).fill("alert")
    page.get_by_role("button", name="Recall").click()
    page.locator("#query-results tbody tr").first.wait_for()
    # The playground's script calls the API and shows the answer as text.
    page.goto(agent + "playground/")
    page.get_by_label("Call", exact=True).select_option("recall")
    page.get_by_label("Request body (JSON)").fill('{"query": "alert"}')
    page.get_by_role("button", name="Send").click()
    page.locator("#pg-status", has_text="200").wait_for()
    assert "<script>alert(1)</script>" in page.locator("#pg-response").inner_text()

    # The API reference pages render under their own policy.
    page.goto(live_server.url + "/api/docs/")
    page.locator(".swagger-ui .info .title").first.wait_for()
    page.goto(live_server.url + "/api/redoc/")
    page.get_by_text("Kronvex API").first.wait_for()
    page.wait_for_load_state("networkidle")

    # ReDoc's "powered by" logo is the one thing asked of another host, and is refused as
    # everything from outside the site is.
    assert [text for text in refusals if "https://cdn.redoc.ly/" not in text] == []
    assert dialogs == []  # the planted script never ran
