"""The dashboard's privacy tools: the account's download, an agent's retention, and the
audit entries of deletions made from the dashboard."""

from __future__ import annotations

import json

from django.test import Client

from audit.models import AuditEvent
from memories.models import Agent, Memory
from tests.dashboard.conftest import Owner


def test_the_account_page_offers_the_download(owner: Owner) -> None:
    page = owner.client.get("/dashboard/account/").content.decode()

    assert 'href="/dashboard/account/export.json"' in page
    assert "Download everything (JSON)" in page


def test_the_download_is_the_whole_account_and_is_audited(owner: Owner, stranger: Owner) -> None:
    response = owner.client.get("/dashboard/account/export.json")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="kronvex-account-')
    document = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert document["account"]["uuid"] == str(owner.account.uuid)
    assert [agent["id"] for agent in document["agents"]] == ["support-bot"]
    assert [memory["content"] for memory in document["memories"]] == ["The user's name is Ada"]
    assert [key["name"] for key in document["api_keys"]] == ["production"]
    assert "green tea" not in json.dumps(document)
    [event] = AuditEvent.objects.filter(
        account=owner.account, kind=AuditEvent.Kind.ACCOUNT_EXPORTED
    )
    assert event.actor == "user:owner@example.com"


def test_the_download_asks_an_anonymous_visitor_to_sign_in(db: None) -> None:
    response = Client().get("/dashboard/account/export.json")

    assert response.status_code == 302


def test_the_agent_edit_page_sets_and_clears_the_retention(owner: Owner) -> None:
    url = f"/dashboard/agents/{owner.agent.slug}/edit/"
    assert 'name="retention_days"' in owner.client.get(url).content.decode()

    owner.client.post(url, {"name": "Support bot", "description": "", "retention_days": "30"})
    assert Agent.objects.get(pk=owner.agent.pk).retention_days == 30
    assert 'value="30"' in owner.client.get(url).content.decode()
    owner.client.post(url, {"name": "Support bot", "description": "", "retention_days": ""})

    assert Agent.objects.get(pk=owner.agent.pk).retention_days is None
    events = AuditEvent.objects.filter(
        account=owner.account, kind=AuditEvent.Kind.AGENT_RETENTION_CHANGED
    ).order_by("at", "id")
    assert [(e.actor, e.data) for e in events] == [
        ("user:owner@example.com", {"from": None, "to": 30}),
        ("user:owner@example.com", {"from": 30, "to": None}),
    ]


def test_a_negative_retention_is_refused(owner: Owner) -> None:
    response = owner.client.post(
        f"/dashboard/agents/{owner.agent.slug}/edit/",
        {"name": "Support bot", "description": "", "retention_days": "-1"},
    )

    assert response.status_code == 400
    assert Agent.objects.get(pk=owner.agent.pk).retention_days is None


def test_deleting_a_memory_from_the_dashboard_is_audited_by_the_user(owner: Owner) -> None:
    memory = owner.memory

    owner.client.post(f"/dashboard/agents/{owner.agent.slug}/memories/{memory.uuid}/delete/")

    assert not Memory.objects.filter(pk=memory.pk).exists()
    [event] = AuditEvent.objects.filter(
        account=owner.account, kind=AuditEvent.Kind.MEMORIES_DELETED
    )
    assert (event.actor, event.target) == ("user:owner@example.com", "support-bot")
    assert event.data == {"count": 1, "ids": [str(memory.uuid)]}
