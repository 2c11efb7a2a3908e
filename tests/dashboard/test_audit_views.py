"""The audit log page: the account's entries only, filtered, paged and exported."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from tests.dashboard.conftest import Owner


def record(owner: Owner, kind: str, **fields: object) -> AuditEvent:
    return audit_record(
        account=owner.account, kind=kind, actor=f"user:{owner.user.email}", **fields
    )


def record_at(owner: Owner, kind: str, *, days_ago: int, target: str) -> AuditEvent:
    # Entries are only ever inserted: an older one is inserted with its time.
    return AuditEvent.objects.create(
        account=owner.account,
        at=timezone.now() - timedelta(days=days_ago),
        kind=kind,
        actor=f"user:{owner.user.email}",
        target=target,
    )


def test_the_page_lists_the_accounts_entries_newest_first(owner: Owner, stranger: Owner) -> None:
    record(owner, AuditEvent.Kind.AGENT_CREATED, target="first-bot")
    record(owner, AuditEvent.Kind.MEMORIES_DELETED, target="support-bot", data={"deleted": 2})
    record(stranger, AuditEvent.Kind.AGENT_CREATED, target="their-secret-bot")

    response = owner.client.get("/dashboard/audit/")

    assert response.status_code == 200
    events = list(response.context["page"].object_list)
    # After the two the owner's sign-up recorded (its agent and key).
    assert [event.kind for event in events] == [
        "memories.deleted",
        "agent.created",
        "api_key.created",
        "agent.created",
    ]
    body = response.content.decode()
    assert "first-bot" in body and "deleted: 2" in body
    assert "their-secret-bot" not in body


def test_entries_filter_by_event_actor_and_days(owner: Owner) -> None:
    record_at(owner, AuditEvent.Kind.SESSION_EXPORTED, days_ago=10, target="s-old")
    record_at(owner, AuditEvent.Kind.AGENT_DELETED, days_ago=3, target="gone-bot")
    record(owner, AuditEvent.Kind.SESSION_EXPORTED, target="s-new")
    audit_record(account=owner.account, kind=AuditEvent.Kind.MEMORIES_PURGED, actor="system")
    everything = AuditEvent.objects.filter(account=owner.account).count()
    today = timezone.now().date()

    def targets(query: str) -> list[str]:
        response = owner.client.get(f"/dashboard/audit/?{query}")
        assert response.status_code == 200
        return [event.target for event in response.context["page"].object_list]

    assert targets("kind=session.exported") == ["s-new", "s-old"]
    assert targets("actor=OWNER@example") == ["s-new", "gone-bot", "s-old"]
    assert targets(f"kind=session.exported&since={today - timedelta(days=2)}") == ["s-new"]
    assert targets(f"until={today - timedelta(days=2)}") == ["gone-bot", "s-old"]
    assert targets(f"since={today - timedelta(days=4)}&until={today - timedelta(days=3)}") == [
        "gone-bot"
    ]
    # Filters that do not parse are ignored, not an error.
    assert len(targets("kind=nonsense&since=yesterday")) == everything


def test_entries_page_by_one_hundred(owner: Owner) -> None:
    for index in range(105):
        record(owner, AuditEvent.Kind.AGENT_DELETED, target=f"bot-{index}")

    first = owner.client.get("/dashboard/audit/?kind=agent.deleted")
    second = owner.client.get("/dashboard/audit/?kind=agent.deleted&page=2")

    assert len(first.context["page"].object_list) == 100
    assert [event.target for event in second.context["page"].object_list] == [
        "bot-4",
        "bot-3",
        "bot-2",
        "bot-1",
        "bot-0",
    ]


def test_the_export_streams_the_filtered_entries_and_is_logged(owner: Owner) -> None:
    record(owner, AuditEvent.Kind.AGENT_DELETED, target="=HYPERLINK(1)", data={"memories": 4})
    record(owner, AuditEvent.Kind.SIGNED_IN)

    as_json = owner.client.get("/dashboard/audit/export/?kind=agent.deleted")
    as_csv = owner.client.get("/dashboard/audit/export/?format=csv&kind=agent.deleted")

    assert as_json["Content-Type"] == "application/json"
    assert as_json["Content-Disposition"].startswith('attachment; filename="kronvex-audit-')
    events = json.loads(b"".join(as_json.streaming_content))["events"]
    assert [(item["kind"], item["target"], item["data"]) for item in events] == [
        ("agent.deleted", "=HYPERLINK(1)", {"memories": 4})
    ]
    rows = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    # A spreadsheet does not run it as a formula.
    assert [row["target"] for row in rows] == ["'=HYPERLINK(1)"]
    exports = AuditEvent.objects.filter(
        account=owner.account, kind=AuditEvent.Kind.AUDIT_EXPORTED
    ).order_by("at")
    assert [event.data["format"] for event in exports] == ["json", "csv"]
    assert exports[0].actor == "user:owner@example.com"


@pytest.mark.parametrize("path", ["/dashboard/audit/", "/dashboard/audit/export/"])
def test_the_log_cannot_be_changed_from_the_dashboard(owner: Owner, path: str) -> None:
    event = record(owner, AuditEvent.Kind.AGENT_CREATED, target="bot")

    for method in ("post", "put", "patch", "delete"):
        assert getattr(owner.client, method)(path).status_code == 405

    assert AuditEvent.objects.get(pk=event.pk).target == "bot"


def test_signed_out_visitors_are_sent_to_log_in(client) -> None:
    response = client.get("/dashboard/audit/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
