"""A new user's first session, in a real browser against a live server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core import mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "ada@example.com"
PASSWORD = "a long and unguessable passphrase"
SECRET = "The launch code is 7-4-1 and it is stored in the blue binder"


def api(live_server: Any, key: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{live_server.url}/api/v1{path}", headers={"X-API-Key": key}, timeout=30, **kwargs
    )


def recall(live_server: Any, key: str, query: str) -> list[dict[str, Any]]:
    response = api(
        live_server,
        key,
        "post",
        "/agents/my-langchain-agent/recall",
        json={"query": query, "top_k": 5},
    )
    assert response.status_code == 200, response.text
    return response.json()["memories"]


def test_sign_up_to_forgotten_memory(
    browser_page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    page = browser_page
    shot = lambda name: page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)  # noqa: E731

    page.goto(live_server.url + "/")
    assert page.get_by_role("heading", name="Long-term memory for AI agents").is_visible()
    shot("landing")
    page.goto(live_server.url + "/pricing/")
    shot("pricing")
    page.goto(live_server.url + "/docs/")
    shot("docs")

    # Sign up, then confirm the address from the mail that was sent.
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    shot("signup")
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_text("Verify Your Email Address").first.wait_for()
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body)
    assert link is not None, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/dashboard/")
    assert page.get_by_text(f"You have confirmed {EMAIL}").is_visible()
    shot("dashboard")

    # An API key, shown once.
    page.get_by_role("link", name="API keys").first.click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-api-key").inner_text().strip()
    assert key.startswith("kv-")
    shot("api-keys")
    page.reload()
    assert page.get_by_test_id("new-api-key").count() == 0

    # A first agent, with the id the tutorial uses.
    page.get_by_role("link", name="Agents").first.click()
    page.get_by_label("Name").fill("My LangChain agent")
    page.get_by_label("Agent id").fill("my-langchain-agent")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url("**/dashboard/agents/my-langchain-agent/")

    # The app remembers through the API with that key.
    for content in (SECRET, "The user prefers short answers", "The user lives in Lyon"):
        response = api(
            live_server,
            key,
            "post",
            "/agents/my-langchain-agent/remember",
            json={"content": content},
        )
        assert response.status_code == 200, response.text
    recalled = recall(live_server, key, "where is the launch code kept?")
    assert recalled[0]["content"] == SECRET

    # The agent page's query box shows the recall with its scores, in place (htmx).
    page.reload()
    agent_url = page.url
    page.get_by_label("Query", exact=True).fill("where is the launch code kept?")
    page.get_by_role("button", name="Recall").click()
    results = page.locator("#query-results tbody tr")
    results.first.wait_for()
    assert results.count() == 3
    assert "launch code" in results.first.inner_text()
    assert page.url == agent_url  # swapped into the page, not a new page load
    shot("agent")

    # Found in the browser by search, inspected, deleted.
    page.get_by_label("Search").fill("launch code")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#memory-browser tbody tr")
    assert rows.count() == 1
    rows.first.get_by_role("link").first.click()
    assert page.get_by_text("Confidence parts now").is_visible()
    memory_id = page.url.rstrip("/").rsplit("/", 1)[1]
    shot("memory")
    page.get_by_role("link", name="Delete").click()
    shot("memory-delete")
    page.get_by_role("button", name="Delete memory").click()
    assert page.get_by_text("Memory deleted.").is_visible()
    gone = api(live_server, key, "get", f"/agents/my-langchain-agent/memories/{memory_id}")
    assert gone.status_code == 404
    assert gone.json()["code"] == "memory_not_found"

    # Recall through the API no longer returns it.
    recalled = [m["content"] for m in recall(live_server, key, "where is the launch code kept?")]
    assert SECRET not in recalled
    assert len(recalled) == 2

    # The playground calls the same API from the page.
    page.goto(live_server.url + "/dashboard/agents/my-langchain-agent/playground/")
    page.get_by_label("Call", exact=True).select_option("recall")
    page.get_by_label("Request body (JSON)").fill('{"query": "how long should answers be?"}')
    page.get_by_role("button", name="Send").click()
    page.locator("#pg-status", has_text="200").wait_for()
    assert "The user prefers short answers" in page.locator("#pg-response").inner_text()
    shot("playground")

    page.goto(live_server.url + "/dashboard/")
    shot("dashboard-after")
    page.goto(live_server.url + "/dashboard/account/")
    shot("account")
    page.get_by_role("link", name="Change email").click()
    shot("account-email")
    page.goto(live_server.url + "/accounts/password/change/")
    shot("account-password")

    # Log out, then the sign-in pages.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/dashboard/")
    page.wait_for_url("**/accounts/login/?next=/dashboard/")
    shot("login")
    page.goto(live_server.url + "/accounts/password/reset/")
    shot("password-reset")

    # Readable on a phone: nothing wider than the screen but the tables that scroll.
    page.set_viewport_size({"width": 375, "height": 800})
    for name, path in (
        ("phone-dashboard", "/dashboard/"),
        ("phone-agent", "/dashboard/agents/my-langchain-agent/"),
    ):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        shot(name)
