"""The usage meter: calls counted in memory, written to UsageDay rows by flushes, read back."""

import contextlib
import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from api.services import api_key_create
from billing.models import Account, UsageDay
from billing.selectors import DailyUsage, usage_daily, usage_on
from billing.services import account_get_or_create_for_email
from billing.usage import usage_discard, usage_flush, usage_record
from memories import services
from memories.models import Agent
from tests.api.conftest import BASE, Api, make_api

pytestmark = pytest.mark.django_db

AGENT_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
AGENT_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")
MAX_BIGINT = 2**63 - 1


@pytest.fixture
def account(db) -> Account:
    return account_get_or_create_for_email(email="owner@example.com")[0]


@pytest.fixture
def other_account(db) -> Account:
    return account_get_or_create_for_email(email="someone-else@example.com")[0]


@pytest.fixture
def api(account, django_capture_on_commit_callbacks) -> Api:
    return make_api(api_key_create(account=account)[1], django_capture_on_commit_callbacks)


@pytest.fixture
def agent(account) -> Agent:
    return services.agent_create(account=account, slug="assistant", name="Assistant")


def utc_today() -> date:
    return datetime.now(UTC).date()


def record(account: Account, agent_uuid: uuid.UUID, kind: str, times: int = 1) -> None:
    for _ in range(times):
        usage_record(account_id=account.pk, agent_uuid=agent_uuid, kind=kind)


def rows() -> set[tuple[int, uuid.UUID, date, int, int, int]]:
    return set(
        UsageDay.objects.values_list(
            "account_id",
            "agent_uuid",
            "day",
            "remember_calls",
            "recall_calls",
            "inject_context_calls",
        )
    )


def usage_row(account: Account, agent_uuid: uuid.UUID, day: date, counts: tuple[int, int, int]):
    return UsageDay.objects.create(
        account=account,
        agent_uuid=agent_uuid,
        day=day,
        remember_calls=counts[0],
        recall_calls=counts[1],
        inject_context_calls=counts[2],
    )


@contextlib.contextmanager
def database_unreachable(tmp_path):
    """The database stops answering: new connections go to a socket nobody listens on."""
    saved = connection.settings_dict["HOST"]
    connection.close()
    connection.settings_dict["HOST"] = str(tmp_path)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["HOST"] = saved


# -- recording and flushing ---------------------------------------------------------


def test_recording_touches_no_database(account, django_assert_num_queries):
    with django_assert_num_queries(0):
        record(account, AGENT_A, "recall", times=100)


def test_flush_writes_one_row_per_account_agent_and_day_with_its_counts(account, other_account):
    record(account, AGENT_A, "remember", times=3)
    record(account, AGENT_A, "recall", times=2)
    record(account, AGENT_B, "inject_context")
    record(other_account, AGENT_A, "recall", times=5)
    today = utc_today()

    assert usage_flush() == 3

    assert rows() == {
        (account.pk, AGENT_A, today, 3, 2, 0),
        (account.pk, AGENT_B, today, 0, 0, 1),
        (other_account.pk, AGENT_A, today, 0, 5, 0),
    }


def test_a_second_flush_adds_to_the_rows_the_first_wrote(account):
    record(account, AGENT_A, "recall", times=2)
    usage_flush()
    record(account, AGENT_A, "recall", times=3)
    record(account, AGENT_A, "remember")

    assert usage_flush() == 1

    assert rows() == {(account.pk, AGENT_A, utc_today(), 1, 5, 0)}


def test_a_flush_writes_everything_with_one_statement(account, other_account):
    for agent_uuid in (AGENT_A, AGENT_B, uuid.uuid4(), uuid.uuid4()):
        record(account, agent_uuid, "recall")
        record(other_account, agent_uuid, "remember")

    with CaptureQueriesContext(connection) as queries:
        assert usage_flush() == 8

    writes = [query["sql"] for query in queries if "billing_usageday" in query["sql"]]
    assert len(writes) == 1


def test_a_flush_with_nothing_recorded_does_not_touch_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert usage_flush() == 0


def test_a_flushed_count_is_written_once(account):
    record(account, AGENT_A, "remember")
    usage_flush()

    assert usage_flush() == 0
    assert rows() == {(account.pk, AGENT_A, utc_today(), 1, 0, 0)}


def test_recording_refuses_an_unknown_kind(account):
    with pytest.raises(ValueError, match="forget"):
        usage_record(account_id=account.pk, agent_uuid=AGENT_A, kind="forget")

    assert usage_flush() == 0


def test_discarded_counts_are_never_written(account):
    record(account, AGENT_A, "recall", times=4)

    assert usage_discard() == 1
    assert usage_flush() == 0
    assert rows() == set()


# -- failures --------------------------------------------------------------------------


def test_counts_of_a_deleted_account_are_dropped_and_the_others_written(
    account, other_account, caplog
):
    record(account, AGENT_A, "recall", times=2)
    record(other_account, AGENT_B, "remember", times=7)
    other_account.delete()

    with caplog.at_level(logging.WARNING, logger="billing.usage"):
        assert usage_flush() == 1

    assert rows() == {(account.pk, AGENT_A, utc_today(), 0, 2, 0)}
    assert "dropped 1 usage rows" in caplog.text
    # Dropped, not kept for a retry that could never succeed.
    assert usage_flush() == 0


def test_a_failed_write_keeps_every_count_and_leaves_the_transaction_usable(account, caplog):
    # A real database error: adding one more call overflows a bigint column.
    full = usage_row(account, AGENT_A, utc_today(), (MAX_BIGINT, 0, 0))
    record(account, AGENT_A, "remember")
    record(account, AGENT_B, "recall", times=3)

    with transaction.atomic():
        with caplog.at_level(logging.ERROR, logger="billing.usage"):
            assert usage_flush() == 0
        # The failure was rolled back to the flush's savepoint, not beyond it.
        assert UsageDay.objects.count() == 1

    assert "usage flush failed; 2 rows kept" in caplog.text
    UsageDay.objects.filter(pk=full.pk).update(remember_calls=10)
    record(account, AGENT_B, "recall")

    assert usage_flush() == 2

    assert rows() == {
        (account.pk, AGENT_A, utc_today(), 11, 0, 0),
        (account.pk, AGENT_B, utc_today(), 0, 4, 0),
    }


@pytest.mark.django_db(transaction=True)
def test_counts_recorded_while_the_database_is_down_are_written_once_it_is_back(
    account, tmp_path, caplog
):
    record(account, AGENT_A, "recall", times=2)

    with database_unreachable(tmp_path):
        with caplog.at_level(logging.ERROR, logger="billing.usage"):
            assert usage_flush() == 0
        record(account, AGENT_A, "recall")
        record(account, AGENT_B, "remember")
        assert usage_flush() == 0

    assert "usage flush failed" in caplog.text
    assert usage_flush() == 2
    assert rows() == {
        (account.pk, AGENT_A, utc_today(), 0, 3, 0),
        (account.pk, AGENT_B, utc_today(), 1, 0, 0),
    }


def test_counts_recorded_against_one_database_are_never_written_to_another(account):
    # What a test run does at exit: its test database is gone, the real one is back.
    record(account, AGENT_A, "recall")
    test_database = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = "kronvex_elsewhere"
    try:
        assert usage_flush() == 0
    finally:
        connection.settings_dict["NAME"] = test_database

    assert usage_flush() == 0
    assert rows() == set()


# -- flushing after requests -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_finished_request_flushes_once_the_interval_has_passed(api, agent, settings):
    settings.KRONVEX_USAGE_FLUSH_SECONDS = 0

    response = api.post(f"{BASE}/agents/assistant/recall", {"query": "tea"})

    assert response.status_code == 200
    assert rows() == {(agent.account_id, agent.uuid, utc_today(), 0, 1, 0)}


@pytest.mark.django_db(transaction=True)
def test_a_finished_request_does_not_flush_within_the_interval(api, agent, settings):
    settings.KRONVEX_USAGE_FLUSH_SECONDS = 3600
    usage_flush()

    api.post(f"{BASE}/agents/assistant/recall", {"query": "tea"})

    assert rows() == set()
    assert usage_flush() == 1


def test_a_request_inside_a_transaction_leaves_its_counts_for_later(api, agent, settings):
    settings.KRONVEX_USAGE_FLUSH_SECONDS = 0

    api.post(f"{BASE}/agents/assistant/recall", {"query": "tea"})

    assert rows() == set()
    assert usage_flush() == 1


# -- the API records its calls -----------------------------------------------------------


def test_remember_recall_and_inject_context_calls_are_counted_for_their_agent(api, agent):
    api.remember(agent, "The user likes green tea")
    for path, body in (("recall", {"query": "tea"}), ("inject-context", {"message": "tea"})):
        response = api.post(f"{BASE}/agents/assistant/{path}", body)
        assert response.status_code == 200, response.json()
    api.post(f"{BASE}/agents/assistant/recall", {"query": "green"})

    usage_flush()

    assert rows() == {(agent.account_id, agent.uuid, utc_today(), 1, 2, 1)}


def test_refused_calls_are_not_counted(api, agent):
    refused = [
        ("remember", {"content": "   "}),
        ("recall", {"query": ""}),
        ("recall", {"query": "tea", "top_k": 0}),
        ("inject-context", {"query": "tea", "max_tokens": "lots"}),
    ]
    for path, body in refused:
        response = api.post(f"{BASE}/agents/assistant/{path}", body)
        assert response.status_code == 400, (path, response.json())
    assert api.post(f"{BASE}/agents/nobody/recall", {"query": "tea"}).status_code == 404

    assert usage_flush() == 0
    assert rows() == set()


# -- reading usage -----------------------------------------------------------------------


def test_usage_daily_is_fourteen_days_oldest_first_with_the_missing_days_zero(
    account, other_account, django_assert_num_queries
):
    today = date(2026, 3, 20)
    usage_row(account, AGENT_A, today, (1, 2, 3))
    usage_row(account, AGENT_B, today, (10, 20, 30))
    usage_row(account, AGENT_A, today - timedelta(days=13), (0, 7, 0))
    usage_row(account, AGENT_A, today - timedelta(days=14), (100, 100, 100))  # too old
    usage_row(account, AGENT_A, today + timedelta(days=1), (100, 100, 100))  # after today
    usage_row(other_account, AGENT_A, today, (100, 100, 100))  # someone else's

    with django_assert_num_queries(1):
        series = usage_daily(account=account, today=today)

    assert [entry.day for entry in series] == [
        today - timedelta(days=13 - offset) for offset in range(14)
    ]
    assert series[0] == DailyUsage(day=today - timedelta(days=13), recall=7)
    assert series[-1] == DailyUsage(day=today, remember=11, recall=22, inject_context=33)
    assert all(entry == DailyUsage(day=entry.day) for entry in series[1:-1])


def test_usage_daily_covers_as_many_days_as_asked(account):
    today = date(2026, 3, 20)

    series = usage_daily(account=account, days=3, today=today)

    assert series == [DailyUsage(day=today - timedelta(days=n)) for n in (2, 1, 0)]


def test_usage_daily_refuses_fewer_than_one_day(account):
    with pytest.raises(ValueError):
        usage_daily(account=account, days=0, today=date(2026, 3, 20))


def test_usage_on_sums_the_accounts_agents_on_that_day(account, other_account):
    day = date(2026, 3, 20)
    usage_row(account, AGENT_A, day, (1, 2, 3))
    usage_row(account, AGENT_B, day, (4, 5, 6))
    usage_row(account, AGENT_A, day - timedelta(days=1), (100, 100, 100))
    usage_row(other_account, AGENT_A, day, (100, 100, 100))

    assert usage_on(account=account, day=day) == DailyUsage(
        day=day, remember=5, recall=7, inject_context=9
    )
    assert usage_on(account=account, day=day + timedelta(days=1)) == DailyUsage(
        day=day + timedelta(days=1)
    )
