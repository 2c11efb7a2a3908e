"""The plan table and an account's plan: pure, no database."""

import dataclasses
import itertools
import logging

import pytest

from billing.models import Account
from billing.plans import DEFAULT_PLAN, PLANS, Plan, UnknownPlan, plan_get
from billing.selectors import account_plan

LIMITS = ("max_agents", "max_memories", "requests_per_minute", "recalls_per_day")


def at_least(limit: int | None, other: int | None) -> bool:
    """None is unlimited: more than any number."""
    return limit is None or (other is not None and limit >= other)


def test_plans_are_listed_cheapest_first():
    assert [plan.slug for plan in PLANS] == ["free", "builder", "startup", "business", "enterprise"]
    assert [plan.name for plan in PLANS] == ["Free", "Builder", "Startup", "Business", "Enterprise"]
    assert [plan.price_eur_month for plan in PLANS] == [0, 29, 99, 349, None]


def test_plans_have_the_published_limits():
    limits = {plan.slug: tuple(getattr(plan, name) for name in LIMITS) for plan in PLANS}

    assert limits == {
        "free": (3, 500, 60, 1_000),
        "builder": (10, 25_000, 300, 20_000),
        "startup": (50, 250_000, 1_000, 200_000),
        "business": (None, 2_000_000, 3_000, 1_000_000),
        "enterprise": (None, None, None, None),
    }


def test_every_plan_allows_at_least_what_the_one_before_it_allows():
    for cheaper, dearer in itertools.pairwise(PLANS):
        for name in LIMITS:
            assert at_least(getattr(dearer, name), getattr(cheaper, name)), (dearer.slug, name)


def test_every_plan_has_a_summary_for_the_pricing_page():
    for plan in PLANS:
        assert plan.summary.strip()
        assert "\n" not in plan.summary
        assert all(feature.strip() for feature in plan.features)


def test_plan_get_finds_each_plan_by_its_slug():
    for plan in PLANS:
        assert plan_get(plan.slug) is plan


def test_plan_get_refuses_an_unknown_slug_with_a_value_error():
    with pytest.raises(UnknownPlan):
        plan_get("gold")
    assert issubclass(UnknownPlan, ValueError)


def test_the_default_plan_is_free():
    assert DEFAULT_PLAN == "free"
    assert plan_get(DEFAULT_PLAN).price_eur_month == 0


def test_plans_cannot_be_changed_in_place():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLANS[0].max_agents = 1_000  # type: ignore[misc]


def test_a_plan_lists_no_features_unless_given():
    plan = Plan(
        slug="x",
        name="X",
        price_eur_month=1,
        max_agents=1,
        max_memories=1,
        requests_per_minute=1,
        recalls_per_day=1,
        summary="x",
    )
    assert plan.features == ()


def test_account_plan_is_the_plan_its_slug_names():
    assert account_plan(account=Account(name="a", plan="startup")) is plan_get("startup")


def test_account_plan_falls_back_to_free_for_an_unknown_slug_and_logs_it(caplog):
    with caplog.at_level(logging.WARNING, logger="billing.selectors"):
        plan = account_plan(account=Account(name="a", plan="gold"))

    assert plan is plan_get("free")
    assert "gold" in caplog.text
