"""The API keys page: scopes chosen at creation, rotation with a grace period, the secret
shown once, and each change in the audit log as the signed-in user."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api.models import ApiKey
from audit.models import AuditEvent
from memories import services
from tests.dashboard.conftest import Owner


def new_key_on(page: str) -> str:
    found = re.search(r'data-testid="new-api-key">(kv-[^<]+)<', page)
    assert found, "no new key on the page"
    return found.group(1)


def test_a_key_created_read_only_and_limited_to_an_agent_keeps_that_scope(owner: Owner) -> None:
    other = services.agent_create(account=owner.account, slug="other-bot", name="Other bot")

    response = owner.client.post(
        "/dashboard/keys/",
        {"name": "reporting", "read_only": "on", "agents": [str(owner.agent.uuid)]},
        follow=True,
    )

    raw_key = new_key_on(response.content.decode())
    key = ApiKey.objects.get(account=owner.account, name="reporting")
    assert (key.read_only, key.limit_agents) == (True, True)
    assert list(key.agents.all()) == [owner.agent]
    api = Client(HTTP_X_API_KEY=raw_key)
    assert [a["id"] for a in api.get("/api/v1/agents").json()["agents"]] == ["support-bot"]
    assert api.get(f"/api/v1/agents/{other.slug}").status_code == 404
    write = api.post(
        "/api/v1/agents/support-bot/remember", {"content": "x"}, content_type="application/json"
    )
    assert write.json()["code"] == "read_only_key"


def test_a_key_created_without_choices_reaches_every_agent_and_writes(owner: Owner) -> None:
    owner.client.post("/dashboard/keys/", {"name": "full"})

    key = ApiKey.objects.get(account=owner.account, name="full")
    assert (key.read_only, key.limit_agents, list(key.agents.all())) == (False, False, [])


def test_another_accounts_agent_cannot_be_chosen(owner: Owner, stranger: Owner) -> None:
    response = owner.client.post(
        "/dashboard/keys/", {"name": "sneaky", "agents": [str(stranger.agent.uuid)]}
    )

    assert response.status_code == 400
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_the_list_shows_each_keys_scope_and_never_a_secret(owner: Owner) -> None:
    created = owner.client.post(
        "/dashboard/keys/",
        {"name": "scoped", "read_only": "on", "agents": [str(owner.agent.uuid)]},
        follow=True,
    ).content.decode()
    raw_key = new_key_on(created)

    page = owner.client.get("/dashboard/keys/").content.decode()

    scopes = re.findall(r'data-testid="key-scope">(.*?)</td>', page, flags=re.S)
    flat = [" ".join(re.sub(r"<[^>]+>", " ", scope).split()) for scope in scopes]
    assert flat == ["read-only agents: support-bot", "read and write all agents"]
    assert raw_key not in page
    assert "new-api-key" not in page


def test_rotate_asks_for_the_grace_then_shows_the_new_key_once(owner: Owner) -> None:
    old = owner.api_key
    confirm = owner.client.get(f"/dashboard/keys/{old.uuid}/rotate/")
    assert confirm.status_code == 200
    assert "Rotate “production”?" in confirm.content.decode()

    response = owner.client.post(
        f"/dashboard/keys/{old.uuid}/rotate/", {"grace": "3600"}, follow=True
    )

    page = response.content.decode()
    raw_key = new_key_on(page)
    assert "rotated: the old key" in page
    old.refresh_from_db()
    assert old.revoked_at is None
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    new = ApiKey.objects.get(account=owner.account, expires_at__isnull=True)
    assert new.name == "production" and raw_key.startswith(new.prefix)
    assert Client(HTTP_X_API_KEY=raw_key).get("/api/v1/agents").status_code == 200
    assert raw_key not in owner.client.get("/dashboard/keys/").content.decode()
    event = AuditEvent.objects.get(account=owner.account, kind=AuditEvent.Kind.API_KEY_ROTATED)
    assert (event.actor, event.target) == (f"user:{owner.user.email}", old.prefix)


def test_rotating_with_no_grace_revokes_the_old_key_at_once(owner: Owner) -> None:
    owner.client.post(f"/dashboard/keys/{owner.api_key.uuid}/rotate/", {"grace": "0"})

    owner.api_key.refresh_from_db()
    assert owner.api_key.revoked_at is not None


@pytest.mark.parametrize("grace", ["", "-1", "123"])
def test_rotate_refuses_a_grace_not_offered(owner: Owner, grace: str) -> None:
    response = owner.client.post(f"/dashboard/keys/{owner.api_key.uuid}/rotate/", {"grace": grace})

    assert response.status_code == 400
    assert ApiKey.objects.filter(account=owner.account).count() == 1


def test_a_rotated_key_cannot_be_rotated_again(owner: Owner) -> None:
    url = f"/dashboard/keys/{owner.api_key.uuid}/rotate/"
    owner.client.post(url, {"grace": "86400"})

    again = owner.client.post(url, {"grace": "86400"}, follow=True)

    assert "is revoked or already rotated" in again.content.decode()
    assert ApiKey.objects.filter(account=owner.account).count() == 2


def test_another_accounts_key_cannot_be_rotated(owner: Owner, stranger: Owner) -> None:
    response = owner.client.post(f"/dashboard/keys/{stranger.api_key.uuid}/rotate/", {"grace": "0"})

    assert response.status_code == 404
    stranger.api_key.refresh_from_db()
    assert stranger.api_key.revoked_at is None and stranger.api_key.expires_at is None


def test_creating_and_revoking_are_audited_as_the_signed_in_user(owner: Owner) -> None:
    owner.client.post("/dashboard/keys/", {"name": "temp", "read_only": "on"})
    temp = ApiKey.objects.get(name="temp")
    owner.client.post(f"/dashboard/keys/{temp.uuid}/revoke/")

    events = AuditEvent.objects.filter(account=owner.account, target=temp.prefix).order_by("at")
    assert [(e.kind, e.actor, e.data) for e in events] == [
        (
            "api_key.created",
            f"user:{owner.user.email}",
            {"name": "temp", "read_only": True, "agents": None},
        ),
        (
            "api_key.revoked",
            f"user:{owner.user.email}",
            {"name": "temp", "read_only": True, "agents": None},
        ),
    ]
    assert events[0].ip == "127.0.0.1"
