"""Production mode (KRONVEX_PRODUCTION): `check --deploy` is clean, and a missing or weak
SECRET_KEY or a missing ALLOWED_HOSTS stops the service at start with a clear message.

The subprocess tests run `manage.py` as an operator does; the others execute
kronvex/settings.py in-process with a given environment, which is faster."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from pytest_django.fixtures import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "kronvex" / "settings.py"
# Every variable .env.example lists: none of the developer's own may leak into a child.
CONFIGURED = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
GOOD_KEY = secrets.token_urlsafe(50)


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIGURED}
    env.update(
        DJANGO_SETTINGS_MODULE="kronvex.settings",
        KRONVEX_DATA_DIR=str(tmp_path),
        KRONVEX_PRODUCTION="true",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="kronvex.example.com",
        CSRF_TRUSTED_ORIGINS="https://kronvex.example.com",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **overrides: str | None
) -> dict[str, Any]:
    """kronvex/settings.py's values under the production environment plus `overrides`."""
    for name in CONFIGURED:
        monkeypatch.delenv(name, raising=False)
    for name, value in production_env(tmp_path, **overrides).items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_check_deploy_reports_nothing_in_production(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set when KRONVEX_PRODUCTION is true"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must be set when KRONVEX_PRODUCTION is true"),
    ],
)
def test_production_refuses_to_start_without(tmp_path: Path, missing: str, message: str) -> None:
    result = manage("check", env=production_env(tmp_path, **{missing: None}))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
    # Nothing was generated in its place.
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        "too-short-" + "x" * 30,
        "django-insecure-" + secrets.token_urlsafe(50),
        "ab" * 40,
    ],
    ids=["empty", "blank", "short", "django-insecure", "few-characters"],
)
def test_production_refuses_a_weak_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(monkeypatch, tmp_path, SECRET_KEY=key)


def test_production_turns_on_https_only_cookies_hsts_and_the_redirect(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = load_settings(monkeypatch, tmp_path)

    assert values["SECRET_KEY"] == GOOD_KEY
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["ACCOUNT_DEFAULT_HTTP_PROTOCOL"] == "https"
    assert "SECURE_PROXY_SSL_HEADER" not in values


def test_the_tls_proxy_header_and_hsts_are_configurable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = load_settings(
        monkeypatch,
        tmp_path,
        KRONVEX_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_HSTS_SECONDS="600",
        SECURE_SSL_REDIRECT="false",
    )

    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_SSL_REDIRECT"] is False


def test_the_embedded_default_needs_no_configuration_and_serves_plain_http(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = load_settings(
        monkeypatch, tmp_path, KRONVEX_PRODUCTION=None, SECRET_KEY=None, ALLOWED_HOSTS=None
    )

    assert len(values["SECRET_KEY"]) >= 50
    assert (tmp_path / "secret_key").read_text() == values["SECRET_KEY"]
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    # What needs no https holds in every mode.
    assert values["SESSION_COOKIE_HTTPONLY"] is values["CSRF_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["X_FRAME_OPTIONS"] == "DENY"


@pytest.mark.django_db
def test_the_https_redirect_spares_the_health_check(settings: Settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    client = Client()

    redirected = client.get("/dashboard/")
    probed = client.get("/healthz")
    secure = client.get("/pricing/", secure=True)

    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/dashboard/"
    assert probed.status_code != 301
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
