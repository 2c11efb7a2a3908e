"""Real-browser tests: Playwright driving the system's Chromium against a live server.

Playwright's own browser downloads are never used: the browser is Debian's
`chromium` (`.ci/run` installs it). Without it these tests skip on a developer's
machine and fail on CI (KRONVEX_REQUIRE_BROWSER=1), where a missing browser is an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOT_DIR = Path(
    os.environ.get("KRONVEX_SCREENSHOT_DIR") or Path(settings.BASE_DIR) / ".data" / "screenshots"
)


def chromium_path() -> str | None:
    configured = os.environ.get("KRONVEX_CHROMIUM")
    if configured:
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@pytest.fixture
def browser_page(live_server: object) -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        reason = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("KRONVEX_REQUIRE_BROWSER"):
            pytest.fail(reason + "; KRONVEX_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # The test talks to the service only through the browser and HTTP, as a user does:
    # Playwright's sync API runs the test in a greenlet of its own, where a database
    # connection would be one pytest-django never closes.
    # The live server answers each browser connection in a thread of its own, which
    # would keep its database connection for as long as the browser keeps the socket
    # alive, past the end of the test: close it after each request instead.
    database = connections["default"].settings_dict
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    cache.clear()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            page = context.new_page()
            yield page
            context.close()
            browser.close()
    finally:
        database["CONN_MAX_AGE"] = kept_for
        cache.clear()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
