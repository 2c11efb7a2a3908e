"""Another account's agents, memories and keys answer 404, exactly like missing ones."""

from __future__ import annotations

import re
import uuid

import pytest

from api.models import ApiKey
from memories.models import Agent, Memory
from tests.dashboard.conftest import Owner

MISSING = str(uuid.UUID(int=7))

# (method, URL template): {agent}, {memory} and {key} are filled with the ids under test.
PAGES = [
    ("get", "/dashboard/keys/{key}/revoke/"),
    ("post", "/dashboard/keys/{key}/revoke/"),
    ("get", "/dashboard/agents/{agent}/"),
    ("get", "/dashboard/agents/{agent}/edit/"),
    ("post", "/dashboard/agents/{agent}/edit/"),
    ("get", "/dashboard/agents/{agent}/delete/"),
    ("post", "/dashboard/agents/{agent}/delete/"),
    ("get", "/dashboard/agents/{agent}/memories/{memory}/"),
    ("get", "/dashboard/agents/{agent}/memories/{memory}/delete/"),
    ("post", "/dashboard/agents/{agent}/memories/{memory}/delete/"),
    ("post", "/dashboard/agents/{agent}/memories/delete/"),
    ("get", "/dashboard/agents/{agent}/sessions/clear/?session=s"),
    ("post", "/dashboard/agents/{agent}/sessions/clear/"),
    ("get", "/dashboard/agents/{agent}/export.json"),
    ("get", "/dashboard/agents/{agent}/export.csv"),
    ("get", "/dashboard/agents/{agent}/playground/"),
    ("post", "/dashboard/agents/{agent}/playground/recall"),
]


def _request(owner: Owner, method: str, url: str, memory: str) -> bytes:
    data = {"name": "x", "memory": memory, "confirm": "yes", "session": "s"}
    if method == "get":
        response = owner.client.get(url)
    elif url.endswith("/recall"):
        response = owner.client.post(url, {"query": "tea"}, content_type="application/json")
    else:
        response = owner.client.post(url, data)
    assert response.status_code == 404, (url, response.status_code)
    # The page's CSRF token is masked afresh on every response.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)


@pytest.mark.parametrize(("method", "template"), PAGES)
def test_another_accounts_ids_answer_404_like_missing_ones(
    owner: Owner, stranger: Owner, method: str, template: str
) -> None:
    stranger.memory.session_id = "s"
    stranger.memory.save(update_fields=["session_id"])
    theirs = template.format(
        agent=stranger.agent.uuid, memory=stranger.memory.uuid, key=stranger.api_key.uuid
    )
    missing = template.format(agent=MISSING, memory=MISSING, key=MISSING)

    assert _request(owner, method, theirs, str(stranger.memory.uuid)) == _request(
        owner, method, missing, MISSING
    )

    # Nothing of theirs changed.
    assert Agent.objects.filter(pk=stranger.agent.pk, name="Support bot").exists()
    assert Memory.objects.filter(pk=stranger.memory.pk).exists()
    assert ApiKey.objects.get(pk=stranger.api_key.pk).revoked_at is None


@pytest.mark.parametrize(
    "template",
    [
        "/dashboard/agents/{agent}/memories/{memory}/",
        "/dashboard/agents/{agent}/memories/{memory}/delete/",
    ],
)
def test_another_accounts_memory_under_own_agent_is_404(
    owner: Owner, stranger: Owner, template: str
) -> None:
    url = template.format(agent=owner.agent.slug, memory=stranger.memory.uuid)
    assert owner.client.get(url).status_code == 404
    if url.endswith("/delete/"):
        assert owner.client.post(url).status_code == 404
    assert Memory.objects.filter(pk=stranger.memory.pk).exists()


def test_selected_delete_ignores_another_accounts_memory_ids(owner: Owner, stranger: Owner) -> None:
    response = owner.client.post(
        f"/dashboard/agents/{owner.agent.slug}/memories/delete/",
        {"memory": [str(stranger.memory.uuid), str(owner.memory.uuid)], "confirm": "yes"},
    )
    assert response.status_code == 302
    assert Memory.objects.filter(pk=stranger.memory.pk).exists()
    assert not Memory.objects.filter(pk=owner.memory.pk).exists()


def test_lists_show_only_the_accounts_own_objects(owner: Owner, stranger: Owner) -> None:
    stranger_key = ApiKey.objects.get(pk=stranger.api_key.pk)
    keys = owner.client.get("/dashboard/keys/").content.decode()
    assert owner.api_key.prefix in keys
    assert stranger_key.prefix not in keys

    browser = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/").content.decode()
    assert "The user&#x27;s name is Ada" in browser
    assert "green tea" not in browser

    exported = owner.client.get(f"/dashboard/agents/{owner.agent.slug}/export.json")
    body = b"".join(exported.streaming_content).decode()
    assert "Ada" in body
    assert "green tea" not in body
