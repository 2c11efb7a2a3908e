"""Retention: an agent's episodic memories are erased once they are older than its
`retention_days`, counted from when each was last stated; pinned ones and other types stay."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import SYSTEM
from billing.models import Account
from memories import services, tasks
from memories.models import Agent, Memory

pytestmark = pytest.mark.usefixtures("fake_embedder")

NOW = timezone.now()


@pytest.fixture
def agent(account: Account) -> Agent:
    return services.agent_create(account=account, slug="support", name="Support", retention_days=30)


def stated(agent: Agent, content: str, *, days_ago: float, **fields: Any) -> Memory:
    return services.remember(
        agent=agent, content=content, created_at=NOW - timedelta(days=days_ago), **fields
    )


def left(agent: Agent) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content FROM memories_memory WHERE agent_id = %s ORDER BY content", [agent.pk]
        )
        return [row[0] for row in cursor.fetchall()]


def test_purge_erases_only_old_unpinned_episodic_memories(account: Account, agent: Agent) -> None:
    stated(agent, "old episode", days_ago=31)
    stated(agent, "recent episode", days_ago=29)
    stated(agent, "old pinned episode", days_ago=400, pinned=True)
    stated(agent, "old fact", days_ago=400, memory_type="semantic")
    stated(agent, "old how-to", days_ago=400, memory_type="procedural")
    forever = services.agent_create(account=account, slug="forever", name="Forever")
    stated(forever, "very old episode", days_ago=4000)

    purged = services.memories_retention_purge(now=NOW)

    assert purged == 1
    assert left(agent) == ["old fact", "old how-to", "old pinned episode", "recent episode"]
    assert left(forever) == ["very old episode"]
    assert Account.objects.get(pk=account.pk).memories_held == 5


def test_a_memory_stated_again_counts_from_its_last_statement(agent: Agent) -> None:
    old = stated(agent, "user asked about invoices", days_ago=60)
    services.remember(agent=agent, content="User asked about invoices!", created_at=NOW)

    assert Memory.objects.get(pk=old.pk).refreshed_at is not None
    assert services.memories_retention_purge(now=NOW) == 0
    assert services.memories_retention_purge(now=NOW + timedelta(days=31)) == 1
    assert left(agent) == []


def test_purge_is_audited_as_the_system_with_ids_and_never_content(
    account: Account, agent: Agent
) -> None:
    gone = [stated(agent, f"episode {n}", days_ago=40) for n in range(3)]

    services.memories_retention_purge(now=NOW)

    [event] = AuditEvent.objects.filter(account=account, kind=AuditEvent.Kind.MEMORIES_PURGED)
    assert (event.actor, event.target) == (SYSTEM, "support")
    assert event.data == {
        "retention_days": 30,
        "count": 3,
        "ids": sorted(str(memory.uuid) for memory in gone),
    }


def test_purge_works_in_chunks_until_nothing_is_due(account: Account, agent: Agent) -> None:
    for n in range(5):
        stated(agent, f"episode {n}", days_ago=40 + n)

    purged = services.memories_retention_purge(now=NOW, chunk_size=2)

    assert purged == 5
    assert left(agent) == []
    counts = AuditEvent.objects.filter(
        account=account, kind=AuditEvent.Kind.MEMORIES_PURGED
    ).values_list("data__count", flat=True)
    assert sorted(counts) == [1, 2, 2]


def test_the_command_and_the_task_run_the_purge(agent: Agent) -> None:
    stated(agent, "episode one", days_ago=40)
    stated(agent, "episode two", days_ago=50)

    out = io.StringIO()
    call_command("purge_retention", stdout=out)
    assert out.getvalue() == "Purged 2 memories past their agent's retention.\n"
    stated(agent, "episode three", days_ago=40)
    assert tasks.purge_retention() == 1
    assert left(agent) == []


def test_celery_beat_runs_the_purge() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["purge-retention"]

    assert entry["task"] == "memories.tasks.purge_retention"
    assert entry["schedule"] == settings.KRONVEX_PURGE_INTERVAL_SECONDS


def test_changing_the_retention_is_audited(account: Account, agent: Agent) -> None:
    services.agent_update(agent=agent, retention_days=7, actor="user:ada@example.com")
    services.agent_update(agent=agent, retention_days=7)
    services.agent_update(agent=agent, retention_days=0)

    assert Agent.objects.get(pk=agent.pk).retention_days is None
    events = AuditEvent.objects.filter(
        account=account, kind=AuditEvent.Kind.AGENT_RETENTION_CHANGED
    ).order_by("at", "id")
    assert [(e.actor, e.data) for e in events] == [
        ("user:ada@example.com", {"from": 30, "to": 7}),
        (SYSTEM, {"from": 7, "to": None}),
    ]
