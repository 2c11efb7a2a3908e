"""The audit log is append-only in PostgreSQL itself, and goes only with its account."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import SYSTEM, account_log_erasure, audit_record
from billing.services import account_get_or_create_for_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> AuditEvent:
    account = account_get_or_create_for_email(email="owner@example.com")[0]
    return audit_record(
        account=account,
        kind=AuditEvent.Kind.AGENT_DELETED,
        actor=SYSTEM,
        target="support-bot",
        data={"memories": 3},
    )


def test_an_entry_records_what_who_and_when(event: AuditEvent) -> None:
    stored = AuditEvent.objects.get(pk=event.pk)

    assert (stored.kind, stored.actor, stored.target, stored.data) == (
        "agent.deleted",
        "system",
        "support-bot",
        {"memories": 3},
    )
    assert stored.at is not None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET actor = 'someone else' WHERE id = %s",
        "UPDATE audit_auditevent SET data = '{}' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_postgres_refuses_to_change_or_delete_an_entry(event: AuditEvent, statement: str) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event.pk])

    assert AuditEvent.objects.get(pk=event.pk).actor == "system"


def test_the_orm_cannot_change_or_delete_an_entry_either(event: AuditEvent) -> None:
    event.actor = "someone else"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk, actor="system").exists()


def test_erasing_another_account_does_not_open_this_ones_log(event: AuditEvent) -> None:
    other = account_get_or_create_for_email(email="other@example.com")[0]

    with pytest.raises(DatabaseError), transaction.atomic(), account_log_erasure(other):
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_log_goes_with_its_account_and_closes_again(event: AuditEvent) -> None:
    account = event.account
    kept = audit_record(
        account=account_get_or_create_for_email(email="other@example.com")[0],
        kind=AuditEvent.Kind.SIGNED_IN,
        actor="user:other@example.com",
    )

    with account_log_erasure(account):
        account.delete()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent WHERE account_id = %s", [account.pk])
        assert cursor.fetchone() == (0,)
        # The permission ended with the erasure.
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [kept.pk])
    assert AuditEvent.objects.filter(pk=kept.pk).exists()
