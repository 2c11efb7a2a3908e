from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from billing.plans import PLANS

PUBLIC = ["/", "/pricing/", "/docs/", "/docs/quickstart/", "/docs/api/", "/docs/integrations/"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_need_no_login(client: Client, db: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "Sign up" in response.content.decode()


def test_landing_shows_the_three_calls_a_code_sample_and_the_plans(
    client: Client, db: None
) -> None:
    page = client.get("/").content.decode()
    for call in ("remember", "recall", "inject-context"):
        assert f"<code>{call}</code>" in page
    assert "requests.post(" in page
    for plan in PLANS:
        assert plan.name in page


def test_pricing_comes_from_the_plan_table(client: Client, db: None) -> None:
    page = client.get("/pricing/").content.decode()
    for plan in PLANS:
        assert plan.name in page
        if plan.price_eur_month:
            assert f"{plan.price_eur_month} €" in page
        if plan.max_memories:
            assert f"{plan.max_memories:,}" in page
    assert "500 memories" in page
    assert "3 agents" in page


def test_docs_render_each_markdown_page(client: Client, db: None) -> None:
    api = client.get("/docs/api/").content.decode()
    assert "<table>" in api
    assert "/agents/{agent_id}/recall" in api
    quickstart = client.get("/docs/").content.decode()
    assert "curl" in quickstart
    assert 'href="/docs/integrations/"' in quickstart
    assert "KronvexRetriever" in client.get("/docs/integrations/").content.decode()
    assert client.get("/docs/missing/").status_code == 404


@pytest.mark.parametrize("path", [*PUBLIC, "/accounts/login/", "/accounts/signup/"])
def test_pages_load_nothing_from_other_hosts(client: Client, db: None, path: str) -> None:
    page = client.get(path).content.decode()
    # What a browser fetches by itself: scripts, stylesheets, images, frames, fonts.
    loaded = re.findall(r'<(?:script|img|iframe|source)\b[^>]*\bsrc="([^"]+)"', page)
    loaded += re.findall(r'<link\b[^>]*\bhref="([^"]+)"', page)
    assert len(loaded) >= 3
    for source in loaded:
        assert source.startswith("/static/"), source
    assert "<script>" not in page  # no inline script: only files from static/


def test_every_referenced_static_file_exists(client: Client, db: None) -> None:
    page = client.get("/").content.decode()
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert {"css/kronvex.css", "js/kronvex.js", "vendor/htmx/htmx.min.js"} <= set(assets)
    for asset in assets:
        assert finders.find(asset), asset
    stylesheet = Path(settings.BASE_DIR, "static/css/kronvex.css").read_text()
    assert "url(http" not in stylesheet
    assert "@import" not in stylesheet


def test_unknown_pages_answer_an_html_404(client: Client, db: None) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Not found" in response.content.decode()
