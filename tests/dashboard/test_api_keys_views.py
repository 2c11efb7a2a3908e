from __future__ import annotations

import re

from django.test import Client

from api.models import ApiKey
from api.services import hash_key
from tests.dashboard.conftest import Owner


def test_created_key_is_shown_once_and_stored_only_as_a_hash(owner: Owner) -> None:
    response = owner.client.post("/dashboard/keys/", {"name": "laptop"}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    raw_key = re.search(r'data-testid="new-api-key">(kv-[^<]+)<', page).group(1)
    stored = ApiKey.objects.get(account=owner.account, name="laptop")
    assert stored.key_hash == hash_key(raw_key)
    assert raw_key.startswith(stored.prefix)
    assert "Key “laptop” created." in page
    assert raw_key not in owner.client.get("/dashboard/keys/").content.decode()


def test_created_key_authenticates_against_the_api(owner: Owner) -> None:
    page = owner.client.post("/dashboard/keys/", {"name": "ci"}, follow=True).content.decode()
    raw_key = re.search(r"(kv-[A-Za-z0-9_-]{20,})", page).group(1)

    response = Client().get("/api/v1/agents", HTTP_X_API_KEY=raw_key)

    assert response.status_code == 200
    assert [agent["id"] for agent in response.json()["agents"]] == ["support-bot"]


def test_key_without_a_name_is_refused(owner: Owner) -> None:
    response = owner.client.post("/dashboard/keys/", {"name": "  "})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ApiKey.objects.filter(account=owner.account).count() == 1


def test_key_list_shows_name_prefix_created_and_last_used(owner: Owner) -> None:
    page = owner.client.get("/dashboard/keys/").content.decode()

    assert "production" in page
    assert owner.api_key.prefix in page
    assert "never" in page  # not used yet
    assert owner.api_key.key_hash not in page


def test_revoke_asks_first_then_refuses_the_key(owner: Owner) -> None:
    _, raw_key = owner.api_key, None
    page = owner.client.post("/dashboard/keys/", {"name": "temp"}, follow=True).content.decode()
    raw_key = re.search(r"(kv-[A-Za-z0-9_-]{20,})", page).group(1)
    temp = ApiKey.objects.get(name="temp")

    confirm = owner.client.get(f"/dashboard/keys/{temp.uuid}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke “temp”?" in confirm.content.decode()
    assert ApiKey.objects.get(pk=temp.pk).revoked_at is None

    response = owner.client.post(f"/dashboard/keys/{temp.uuid}/revoke/", follow=True)

    assert "revoked" in response.content.decode()
    assert ApiKey.objects.get(pk=temp.pk).revoked_at is not None
    api = Client().get("/api/v1/agents", HTTP_X_API_KEY=raw_key)
    assert api.status_code == 401
    assert api.json()["code"] == "revoked_api_key"


def test_keys_page_needs_login(db: None) -> None:
    response = Client().get("/dashboard/keys/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/keys/"
