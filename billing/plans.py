"""The plan table: what each plan costs and allows. Data in code, no database, no rules."""

from __future__ import annotations

from dataclasses import dataclass


class UnknownPlan(ValueError):
    """No plan has this slug."""


@dataclass(frozen=True)
class Plan:
    """One plan. A limit of None means unlimited; a price of None means by arrangement."""

    slug: str
    name: str
    price_eur_month: int | None
    max_agents: int | None
    max_memories: int | None
    requests_per_minute: int | None
    recalls_per_day: int | None
    summary: str
    features: tuple[str, ...] = ()


# In display order, cheapest first.
PLANS: tuple[Plan, ...] = (
    Plan(
        slug="free",
        name="Free",
        price_eur_month=0,
        max_agents=3,
        max_memories=500,
        requests_per_minute=60,
        recalls_per_day=1_000,
        summary="Try Kronvex with a prototype agent.",
        features=("Community support",),
    ),
    Plan(
        slug="builder",
        name="Builder",
        price_eur_month=29,
        max_agents=10,
        max_memories=25_000,
        requests_per_minute=300,
        recalls_per_day=20_000,
        summary="A side project or a first agent in production.",
        features=("Email support",),
    ),
    Plan(
        slug="startup",
        name="Startup",
        price_eur_month=99,
        max_agents=50,
        max_memories=250_000,
        requests_per_minute=1_000,
        recalls_per_day=200_000,
        summary="A product with many agents and real users.",
        features=("Priority email support",),
    ),
    Plan(
        slug="business",
        name="Business",
        price_eur_month=349,
        max_agents=None,
        max_memories=2_000_000,
        requests_per_minute=3_000,
        recalls_per_day=1_000_000,
        summary="Agents at scale, for a whole team.",
        features=("Priority support",),
    ),
    Plan(
        slug="enterprise",
        name="Enterprise",
        price_eur_month=None,
        max_agents=None,
        max_memories=None,
        requests_per_minute=None,
        recalls_per_day=None,
        summary="Limits, contract and support agreed with you.",
        features=("Dedicated support", "Self-hosting assistance"),
    ),
)

DEFAULT_PLAN = "free"

_BY_SLUG = {plan.slug: plan for plan in PLANS}


def plan_get(slug: str) -> Plan:
    """The plan with this slug; UnknownPlan if there is none."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise UnknownPlan(f"no plan {slug!r}") from None
