"""Deleting the account from the dashboard erases it for real: afterwards no row of any
table refers to the account or to one of its agents, the audit log included."""

from __future__ import annotations

import json

from django.apps import apps
from django.db import connection, models

from api.services import api_key_create
from billing.models import Account, UsageDay
from memories.models import Agent
from tests.dashboard.conftest import PASSWORD, Owner


def referring_rows(model: type[models.Model], pk: int) -> dict[str, int]:
    """For every table with a foreign key to `model`: how many of its rows refer to `pk`,
    counted by PostgreSQL itself."""
    counts = {}
    for table_model in apps.get_models(include_auto_created=True):
        for field in table_model._meta.concrete_fields:
            if field.is_relation and field.related_model is model:
                table = table_model._meta.db_table
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT count(*) FROM {table} WHERE {field.column} = %s",
                        [pk],
                    )
                    counts[f"{table}.{field.column}"] = cursor.fetchone()[0]
    return counts


def test_deleting_the_account_leaves_no_row_that_refers_to_it(owner: Owner, stranger: Owner):
    account, agent = owner.account, owner.agent
    raw_key = api_key_create(account=account, name="app")[1]
    owner.client.post(
        f"/api/v1/agents/{agent.slug}/remember",
        json.dumps({"content": "The user's IBAN is DE89 3704", "session_id": "u1"}),
        content_type="application/json",
        headers={"x-api-key": raw_key, "idempotency-key": "first"},
    )
    owner.client.post(
        f"/api/v1/agents/{agent.slug}/remember/batch",
        json.dumps({"memories": [{"content": "A batch memory"}]}),
        content_type="application/json",
        headers={"x-api-key": raw_key},
    )
    UsageDay.objects.create(account=account, agent_uuid=agent.uuid, day="2026-01-01")
    before = referring_rows(Account, account.pk)
    # Every kind of row is there to be erased: memories, batches, keys, stored answers,
    # usage, the audit log.
    for table in (
        "memories_memory.account_id",
        "memories_memorybatch.account_id",
        "api_apikey.account_id",
        "api_idempotencykey.account_id",
        "billing_usageday.account_id",
        "audit_auditevent.account_id",
    ):
        assert before[table] > 0, table

    response = owner.client.post("/dashboard/account/", {"password": PASSWORD})

    assert response.status_code == 302
    assert set(referring_rows(Account, account.pk).values()) == {0}
    assert set(referring_rows(Agent, agent.pk).values()) == {0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM memories_memory WHERE content LIKE %s", ["%IBAN%"])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM billing_account WHERE id = %s", [account.pk])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM auth_user WHERE id = %s", [owner.user.pk])
        assert cursor.fetchone()[0] == 0
    # The other account keeps everything.
    assert referring_rows(Account, stranger.account.pk)["memories_memory.account_id"] == 1
