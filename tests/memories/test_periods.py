"""Periods and the present in a query: pure, no database."""

from datetime import UTC, datetime

import pytest

from memories.periods import asks_about_present, named_period

NOW = datetime(2025, 5, 16, 12, 0, tzinfo=UTC)


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("Which book did I finish in February 2024?", "2024-02-01", "2024-03-01"),
        ("what did I buy in april, 2025", "2025-04-01", "2025-05-01"),
        ("Jan 2024 plans", "2024-01-01", "2024-02-01"),
        ("Where did I go in the spring of 2024?", "2024-03-01", "2024-06-01"),
        ("hiking in summer 2024", "2024-06-01", "2024-09-01"),
        ("the autumn of 2024", "2024-09-01", "2024-12-01"),
        ("ski trip in winter 2024", "2024-12-01", "2025-03-01"),
        ("What did I do in 2023?", "2023-01-01", "2024-01-01"),
        # A month without a year: the latest that has begun, "last" the one before.
        ("What happened in December?", "2024-12-01", "2025-01-01"),
        ("What happened in May?", "2025-05-01", "2025-06-01"),
        ("What happened last May?", "2024-05-01", "2024-06-01"),
        ("Where did we go last summer?", "2024-06-01", "2024-09-01"),
        ("any plans this summer?", "2025-06-01", "2025-09-01"),
        ("What did I read last week?", "2025-05-05", "2025-05-12"),
        ("What did I read this month?", "2025-05-01", "2025-06-01"),
        ("What did I read last month?", "2025-04-01", "2025-05-01"),
        ("What did I read last year?", "2024-01-01", "2025-01-01"),
        ("What did I eat yesterday?", "2025-05-15", "2025-05-16"),
        ("What did I eat today?", "2025-05-16", "2025-05-17"),
        ("What did I do two weeks ago?", "2025-04-29", "2025-05-06"),
        ("What did I do 3 days ago?", "2025-05-13", "2025-05-14"),
        # Several periods: from the first to the last.
        ("in March 2024 and in June 2024", "2024-03-01", "2024-07-01"),
    ],
)
def test_a_named_period_is_the_half_open_stretch_it_names(query, start, end):
    period = named_period(query, now=NOW)
    assert period is not None
    assert (period.start, period.end) == (day(start), day(end))


@pytest.mark.parametrize(
    "query",
    [
        "When did I start the Italian course?",
        "This may be wrong",
        "What did I get from June?",  # a name, not a month
        "Ask Jan about it",
        "What is my favourite cuisine?",
    ],
)
def test_a_query_naming_no_period_has_none(query):
    assert named_period(query, now=NOW) is None


def test_a_period_holds_its_start_but_not_its_end():
    period = named_period("in March 2025", now=NOW)
    assert period is not None
    assert day("2025-03-01") in period
    assert day("2025-03-31T23:59:59") in period
    assert day("2025-04-01") not in period


@pytest.mark.parametrize(
    ("query", "present"),
    [
        ("Which city do I live in now?", True),
        ("How am I eating these days?", True),
        ("Who is my current employer?", True),
        ("Who do I report to at the moment?", True),
        ("Do I still run on Sundays?", True),
        ("What is my latest laptop?", True),
        ("Which book did I finish in February 2024?", False),
        ("Where did I go on holiday?", False),
        ("What do I know about nowhere towns?", False),
    ],
)
def test_asks_about_present(query, present):
    assert asks_about_present(query) is present
