"""API keys: never logged, rotation with a grace period, failed authentications rate
limited per client IP, and each change of a key in the audit log."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

from api.authentication import AUTH_FAILURES_PER_MINUTE, ApiKeyAuthentication
from api.models import ApiKey
from api.services import (
    ApiKeyNotActive,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    hash_key,
)
from audit.models import AuditEvent
from billing.models import Account
from memories.models import Agent, Memory
from tests.api.conftest import BASE
from tests.api.test_rate_limits_api import fresh_minute

pytestmark = pytest.mark.django_db


def client_with(raw_key: str, **extra: str) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


# -- never logged ---------------------------------------------------------------------------


def record_text(record: logging.LogRecord) -> str:
    return " ".join(
        [record.getMessage(), record.exc_text or "", repr(record.args), repr(vars(record))]
    )


@pytest.mark.parametrize("how", ["X-API-Key", "Bearer"])
def test_no_log_record_holds_the_raw_key_of_a_request_that_succeeds_or_fails(
    caplog, account, api_key, agent, how
):
    key, raw_key = api_key
    headers = (
        {"HTTP_X_API_KEY": raw_key}
        if how == "X-API-Key"
        else {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    )
    caplog.set_level(logging.DEBUG)

    ok = APIClient().get(f"{BASE}/agents", **headers)
    missing = APIClient().get(f"{BASE}/agents/nope", **headers)
    api_key_revoke(api_key=key)
    revoked = APIClient().get(f"{BASE}/agents", **headers)
    unknown = APIClient().get(f"{BASE}/agents", HTTP_X_API_KEY=raw_key[:-1] + "x")

    assert (ok.status_code, missing.status_code, revoked.status_code) == (200, 404, 401)
    assert unknown.status_code == 401
    assert caplog.records, "the 4xx answers are logged by django.request"
    for record in caplog.records:
        assert raw_key not in record_text(record)
        assert raw_key[:-1] not in record_text(record)
    for response in (ok, missing, revoked, unknown):
        assert raw_key not in response.content.decode()


class ExplodingKey(str):
    """A key whose hashing fails (TypeError: not callable): a crash in the middle of
    authentication, raised without a frame of its own."""

    encode = None


def crash_report(request: Any) -> tuple[str, str]:
    """Django's error report (text, HTML) of a crash while the request's key is checked."""
    try:
        ApiKeyAuthentication().api_key_for(ExplodingKey(request.META["HTTP_X_API_KEY"]))
    except TypeError as exc:
        report = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        return report.get_traceback_text(), report.get_traceback_html()
    raise AssertionError("authentication did not crash")


def test_an_error_report_of_a_crash_in_authentication_hides_the_key(api_key):
    raw_key = api_key[1]
    request = RequestFactory().get(
        f"{BASE}/agents", HTTP_X_API_KEY=raw_key, HTTP_AUTHORIZATION=f"Bearer {raw_key}"
    )

    text, html = crash_report(request)

    # The frames and the headers are there, their values starred.
    assert "in api_key_for" in text and "in hash_key" in text
    assert "HTTP_X_API_KEY" in text and "HTTP_AUTHORIZATION" in text
    assert raw_key not in text
    assert raw_key not in html


def test_the_key_is_stored_only_as_its_hash_and_prefix(api_key):
    key, raw_key = api_key
    stored = ApiKey.objects.values().get(pk=key.pk)

    assert stored["key_hash"] == hash_key(raw_key)
    assert raw_key.startswith(stored["prefix"]) and len(stored["prefix"]) == 11
    assert raw_key not in repr(stored)


# -- rotation -------------------------------------------------------------------------------


def test_both_keys_work_during_the_grace_period(account, api_key, agent):
    old, old_raw = api_key

    new, new_raw = api_key_rotate(api_key=old, grace=timedelta(hours=1))

    for raw_key in (old_raw, new_raw):
        response = client_with(raw_key).get(f"{BASE}/agents")
        assert response.status_code == 200
    old.refresh_from_db()
    assert old.revoked_at is None
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    assert new.expires_at is None and new.name == old.name and new_raw != old_raw


def test_the_old_key_answers_401_once_the_grace_period_ended(account, api_key, agent):
    old, old_raw = api_key
    new_raw = api_key_rotate(api_key=old)[1]
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    refused = client_with(old_raw).post(
        f"{BASE}/agents/{agent.slug}/remember", {"content": "late"}, format="json"
    )

    assert refused.status_code == 401
    assert refused.json() == {
        "detail": "This API key was rotated and its grace period has ended.",
        "code": "revoked_api_key",
    }
    assert refused["WWW-Authenticate"] == 'Bearer realm="kronvex"'
    assert Memory.objects.count() == 0
    assert client_with(new_raw).get(f"{BASE}/agents").status_code == 200


def test_the_default_grace_period_is_24_hours(api_key):
    old = api_key[0]

    api_key_rotate(api_key=old)

    old.refresh_from_db()
    assert timedelta(hours=23, minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=24)


def test_rotating_without_grace_refuses_the_old_key_at_once(api_key, agent):
    old, old_raw = api_key

    api_key_rotate(api_key=old, grace=timedelta(0))

    response = client_with(old_raw).get(f"{BASE}/agents")
    assert response.status_code == 401
    assert response.json()["code"] == "revoked_api_key"


def test_the_new_key_keeps_the_old_ones_scope(account, agent):
    old, _ = api_key_create(account=account, name="reporting", read_only=True, agents=[agent])

    new, new_raw = api_key_rotate(api_key=old)

    assert (new.name, new.read_only, new.limit_agents) == ("reporting", True, True)
    assert list(new.agents.all()) == [agent]
    refused = client_with(new_raw).post(f"{BASE}/agents/{agent.slug}/remember", {"content": "x"})
    assert refused.status_code == 403


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_key_that_no_longer_works_cannot_be_rotated(account, api_key, how):
    key = api_key[0]
    if how == "revoked":
        api_key_revoke(api_key=key)
    else:
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())

    with pytest.raises(ApiKeyNotActive):
        api_key_rotate(api_key=key)

    assert ApiKey.objects.filter(account=account).count() == 1


# -- failed authentications -----------------------------------------------------------------


def test_repeated_unknown_keys_from_one_address_answer_429(settings, account, api_key, agent):
    settings.KRONVEX_REDIS_URL = ""  # the PostgreSQL store, inside the test's transaction
    now = fresh_minute(10)
    guesser = client_with("kv-guess", REMOTE_ADDR="203.0.113.7")

    answers = [guesser.get(f"{BASE}/agents") for _ in range(AUTH_FAILURES_PER_MINUTE + 1)]

    assert {response.status_code for response in answers[:-1]} == {401}
    limited = answers[-1]
    assert limited.status_code == 429
    retry_after = int(limited["Retry-After"])
    assert 1 <= retry_after <= 60 - int(now) % 60
    body = limited.json()
    assert (body["code"], body["limit"], body["retry_after"]) == (
        "rate_limited",
        AUTH_FAILURES_PER_MINUTE,
        retry_after,
    )
    # A valid key from that address still works; another address is not held back.
    valid = client_with(api_key[1], REMOTE_ADDR="203.0.113.7").get(f"{BASE}/agents")
    elsewhere = client_with("kv-guess", REMOTE_ADDR="198.51.100.1").get(f"{BASE}/agents")
    assert (valid.status_code, elsewhere.status_code) == (200, 401)


def test_mcp_counts_failed_authentications_too(settings, db):
    settings.KRONVEX_REDIS_URL = ""
    fresh_minute(10)
    client = APIClient(REMOTE_ADDR="203.0.113.8")

    answers = [
        client.post(
            "/mcp",
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            format="json",
            HTTP_X_API_KEY="kv-guess",
        )
        for _ in range(AUTH_FAILURES_PER_MINUTE + 1)
    ]

    assert [response.status_code for response in answers[-2:]] == [401, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert "Retry-After" in answers[-1]


# -- audit ----------------------------------------------------------------------------------


def events(account: Account) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (event.kind, event.actor, event.target, event.data)
        for event in AuditEvent.objects.filter(account=account).order_by("at", "pk")
    ]


def test_creating_rotating_and_revoking_a_key_are_audited(account):
    agent = Agent.objects.create(account=account, slug="bot", name="Bot")

    key, raw_key = api_key_create(
        account=account, name="ci", read_only=True, agents=[agent], actor="user:a@example.com"
    )
    new, new_raw = api_key_rotate(api_key=key, actor="user:a@example.com", ip="192.0.2.1")
    api_key_revoke(api_key=new, actor="user:b@example.com")

    scope = {"name": "ci", "read_only": True, "agents": ["bot"]}
    assert events(account) == [
        ("api_key.created", "user:a@example.com", key.prefix, scope),
        ("api_key.created", "user:a@example.com", new.prefix, scope),
        (
            "api_key.rotated",
            "user:a@example.com",
            key.prefix,
            {**scope, "new_key": new.prefix, "grace_seconds": 86_400},
        ),
        ("api_key.revoked", "user:b@example.com", new.prefix, scope),
    ]
    logged = repr(list(AuditEvent.objects.filter(account=account).values()))
    assert raw_key not in logged and new_raw not in logged
    assert AuditEvent.objects.get(kind="api_key.rotated").ip == "192.0.2.1"


def test_revoking_a_revoked_key_is_not_audited_again(account, api_key):
    key = api_key[0]
    api_key_revoke(api_key=key)
    api_key_revoke(api_key=key)

    assert [kind for kind, *_ in events(account)].count("api_key.revoked") == 1
