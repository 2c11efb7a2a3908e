"""Properties of the pure modules, over any input Hypothesis can think of.

Ranking scores stay in [0, 1] and its order is consistent; the context never overruns
its budget, by the module's own token estimate, and keeps each memory on one line;
query periods always parse to a non-empty stretch; lexical scores stay in [0, 1].
The runs are derandomized: what fails once fails every time.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from memories.context import ContextItem, build_context, estimate_tokens, render
from memories.lexical import CorpusStats, scores, scores_outside
from memories.periods import (
    MONTH_NAMES,
    NUMBERS,
    SEASONS,
    UNITS,
    asks_about_present,
    named_period,
)
from memories.ranking import (
    Candidate,
    Ranked,
    RankingWeights,
    frequency_score,
    rank,
    recency_score,
    score,
)

PROPERTIES = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TYPES = ("episodic", "semantic", "procedural")

# -- strategies ---------------------------------------------------------------------

# Every float, NaN and both infinities included.
any_float = st.floats(allow_nan=True, allow_infinity=True)
unit = st.floats(min_value=0.0, max_value=1.0)
offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
# Any moment, in any fixed offset, a day clear of the ends of what datetime can hold.
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
# Dates memories and queries really have.
recent = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
# Up to counts no float can hold.
access_counts = st.integers(min_value=-(10**400), max_value=10**400)


@st.composite
def weights(draw: st.DrawFn) -> RankingWeights:
    """Any valid weights: the three parts sum to 1, every other weight in its range."""
    similarity = draw(unit)
    recency = draw(st.floats(min_value=0.0, max_value=1.0 - similarity))
    return RankingWeights(
        lexical=draw(unit),
        similarity=similarity,
        recency=recency,
        frequency=max(0.0, 1.0 - similarity - recency),
        recency_midpoint_days=draw(st.floats(min_value=-1e6, max_value=1e6)),
        recency_scale_days=draw(st.floats(min_value=1e-6, max_value=1e6)),
        frequency_saturation=draw(st.integers(min_value=1, max_value=10**9)),
        relevance_ratio=draw(unit),
        period=draw(unit),
        newness=draw(unit),
        crowding=draw(unit),
        crowding_neighbours=draw(st.integers(min_value=1, max_value=100)),
    )


candidates = st.builds(
    Candidate,
    vector=st.none() | any_float,
    type=st.sampled_from(TYPES) | st.text(max_size=10),
    created_at=moments,
    access_count=access_counts,
    pinned=st.booleans(),
    lexical=any_float,
    superseded=st.booleans(),
    in_period=st.none() | st.booleans(),
    crowding=st.none() | any_float,
)
# Candidates that tie often: few distinct values, so that the order's tie-breaks matter.
TWO_DATES = [datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
tying_candidates = st.builds(
    Candidate,
    vector=st.sampled_from([None, 0.0, 0.5, 0.9, 1.0]),
    type=st.sampled_from(TYPES),
    created_at=st.sampled_from(
        [datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    ),
    access_count=st.sampled_from([0, 3, 100]),
    pinned=st.booleans(),
    lexical=st.sampled_from([0.0, 0.5]),
    superseded=st.booleans(),
    in_period=st.none() | st.booleans(),
)


def in_unit(value: float) -> bool:
    return 0.0 <= value <= 1.0


# -- ranking ------------------------------------------------------------------------


@PROPERTIES
@given(candidate=candidates, now=moments, weights=weights(), newness=st.none() | any_float)
@example(
    candidate=Candidate(
        vector=math.nan,
        type="episodic",
        created_at=datetime(1, 1, 2, tzinfo=UTC),
        access_count=10**400,
        lexical=math.inf,
    ),
    now=datetime(9999, 12, 30, tzinfo=UTC),
    weights=RankingWeights(),
    newness=-math.inf,
)
def test_every_score_part_is_in_0_1_whatever_the_candidate(
    candidate: Candidate,
    now: datetime,
    weights: RankingWeights,
    newness: float | None,
) -> None:
    result = score(candidate, now=now, weights=weights, newness=newness)

    for part in (result.confidence, result.similarity, result.recency, result.frequency):
        assert in_unit(part), result
    assert result.lexical is not None and in_unit(result.lexical)
    for optional in (result.vector, result.period, result.newness):
        assert optional is None or in_unit(optional), result


@PROPERTIES
@given(count=access_counts, more=st.integers(min_value=0, max_value=10**400), weights=weights())
def test_frequency_never_falls_as_accesses_grow(
    count: int, more: int, weights: RankingWeights
) -> None:
    assert frequency_score(count, weights) <= frequency_score(count + more, weights)


@PROPERTIES
@given(created_at=recent, older_by=st.timedeltas(min_value=timedelta(0)), now=recent)
def test_recency_never_rises_with_age(
    created_at: datetime, older_by: timedelta, now: datetime
) -> None:
    weights = RankingWeights()
    try:
        older = created_at - older_by
    except OverflowError:
        return

    def recency(moment: datetime) -> float:
        return recency_score(
            memory_type="episodic", created_at=moment, now=now, pinned=False, weights=weights
        )

    assert recency(older) <= recency(created_at)


def order_key(item: Ranked[Candidate], floor: float) -> tuple[bool, bool, float, float, float]:
    """rank()'s documented order: relevant first, superseded after, then by confidence,
    similarity and newness."""
    return (
        item.score.similarity < floor,
        item.candidate.superseded,
        -item.score.confidence,
        -item.score.similarity,
        -item.candidate.created_at.timestamp(),
    )


def ranked(
    pool: list[Candidate], now: datetime, weights: RankingWeights, limit: int, present: bool
) -> list[Ranked[Candidate]]:
    return rank(pool, now=now, weights=weights, limit=limit, present=present)


@PROPERTIES
@given(
    pool=st.lists(candidates | tying_candidates, max_size=25),
    now=moments,
    weights=weights(),
    limit=st.integers(min_value=-2, max_value=30),
    present=st.booleans(),
)
def test_rank_respects_its_limit_and_its_own_order(
    pool: list[Candidate], now: datetime, weights: RankingWeights, limit: int, present: bool
) -> None:
    result = ranked(pool, now, weights, limit, present)

    assert len(result) == max(0, min(limit, len(pool)))
    if not result:
        return
    everyone = ranked(pool, now, weights, len(pool), present)
    floor = max(item.score.similarity for item in everyone) * weights.relevance_ratio
    keys = [order_key(item, floor) for item in result]
    assert keys == sorted(keys)
    # Nothing left out comes before what was kept.
    assert all(order_key(item, floor) >= keys[-1] for item in everyone[len(result) :])
    for item in result:
        assert in_unit(item.score.confidence)


@PROPERTIES
@given(
    pool=st.lists(candidates | tying_candidates, min_size=1, max_size=25),
    now=moments,
    weights=weights(),
    limit=st.integers(min_value=1, max_value=30),
    present=st.booleans(),
    shuffle_seed=st.integers(),
)
def test_rank_is_deterministic_and_ignores_the_order_it_is_given(
    pool: list[Candidate],
    now: datetime,
    weights: RankingWeights,
    limit: int,
    present: bool,
    shuffle_seed: int,
) -> None:
    shuffled = list(pool)
    random.Random(shuffle_seed).shuffle(shuffled)

    first = ranked(pool, now, weights, limit, present)
    again = ranked(pool, now, weights, limit, present)
    other_order = ranked(shuffled, now, weights, limit, present)

    assert again == first
    # Candidates that tie on every part of the order may trade places; nothing else moves.
    floor = max(item.score.similarity for item in first) * weights.relevance_ratio
    assert [order_key(item, floor) for item in other_order] == [
        order_key(item, floor) for item in first
    ]


@PROPERTIES
@given(
    pool=st.lists(candidates | tying_candidates, min_size=1, max_size=25),
    now=moments,
    weights=weights(),
    limit=st.integers(min_value=1, max_value=30),
)
def test_a_relevant_memory_never_ranks_below_an_irrelevant_one(
    pool: list[Candidate], now: datetime, weights: RankingWeights, limit: int
) -> None:
    everyone = ranked(pool, now, weights, len(pool), False)
    floor = max(item.score.similarity for item in everyone) * weights.relevance_ratio
    relevant = [item.score.similarity >= floor for item in ranked(pool, now, weights, limit, False)]

    # All the relevant ones first, then the irrelevant ones.
    assert relevant == sorted(relevant, reverse=True)
    # An irrelevant one only takes a place no relevant one wanted.
    if not all(relevant):
        assert relevant.count(True) == sum(item.score.similarity >= floor for item in everyone)


# -- context ------------------------------------------------------------------------

# Any text without lone surrogates (which cannot reach us as UTF-8): control characters,
# right-to-left marks, emoji, zero-width characters and every line separator included.
SPECIAL_TEXT = [
    *("\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"),
    *("\u200b", "\u200d", "\ufeff", "\u202e", "\u200f", "\u0627", "\u05d0", "\x00", "\t"),
    *("\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "e\u0301", "\ufb01"),
]
any_text = st.lists(
    st.characters(blacklist_categories=["Cs"]) | st.sampled_from(SPECIAL_TEXT), max_size=60
).map("".join)
embeddings = st.none() | st.lists(
    st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3, max_size=3
)
context_items = st.builds(
    ContextItem,
    type=st.sampled_from(TYPES),
    created_at=moments,
    content=any_text,
    embedding=embeddings,
)


@PROPERTIES
@given(
    items=st.lists(context_items, max_size=12),
    max_tokens=st.none() | st.integers(min_value=-5, max_value=400),
)
@example(
    items=[ContextItem("semantic", datetime(2026, 1, 1, tzinfo=UTC), "a\u2028b")], max_tokens=9
)
def test_the_context_never_overruns_its_budget_and_keeps_each_memory_on_one_line(
    items: list[ContextItem], max_tokens: int | None
) -> None:
    chosen = build_context(items, max_tokens=max_tokens)

    assert chosen == sorted(set(chosen))
    assert all(0 <= index < len(items) for index in chosen)
    context = render([items[index] for index in chosen])
    if max_tokens is not None:
        assert estimate_tokens(context) <= max(max_tokens, 0)
    if chosen:
        lines = context.splitlines()
        assert len(lines) == len(chosen)
        for line, index in zip(lines, chosen, strict=True):
            assert line.startswith(f"[{items[index].type}, ")


@PROPERTIES
@given(items=st.lists(context_items, max_size=12))
def test_without_a_budget_only_duplicates_are_left_out(items: list[ContextItem]) -> None:
    chosen = build_context(items, max_tokens=None)

    assert (0 in chosen) == bool(items)


# -- periods ------------------------------------------------------------------------

# Words the period parser looks for, so that random text often names a period.
PERIOD_WORDS = [
    *MONTH_NAMES, *SEASONS, *UNITS, *NUMBERS, "may", "last", "this", "past", "in",
    "during", "since", "until", "over", "the", "of", "ago", "yesterday", "today", "now",
    "1999", "2024", "2099", "0", "999", "weeks", "days", "\u017fummer", "apr\u0131l",
    "\u0130n", "wee\u212a", ",", ".",
]  # fmt: skip
period_text = st.lists(st.sampled_from(PERIOD_WORDS) | any_text, max_size=8).map(" ".join)


@PROPERTIES
@given(text=period_text | any_text, now=recent)
@example(text="\u017fummer 2024 and apr\u0131l 2025", now=datetime(2026, 11, 25, tzinfo=UTC))
@example(text="\u017fix days ago", now=datetime(2026, 11, 25, tzinfo=UTC))
@example(text="999 years ago", now=datetime(2026, 11, 25, tzinfo=UTC))
def test_a_named_period_never_fails_and_is_never_empty(text: str, now: datetime) -> None:
    period = named_period(text, now=now)

    if period is not None:
        assert period.start < period.end
        assert period.start.utcoffset() == timedelta(0)
    asks_about_present(text)


# -- lexical ------------------------------------------------------------------------

lexemes = st.text(alphabet="abcdef", min_size=1, max_size=2)
counts = st.integers(min_value=-5, max_value=2**62)


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[str], list[set[str]], CorpusStats]:
    query = draw(st.lists(lexemes, max_size=6))
    documents = draw(st.lists(st.sets(lexemes, max_size=8), max_size=10))
    stats = CorpusStats(
        documents=draw(counts),
        average_length=draw(any_float),
        document_frequency=draw(st.dictionaries(lexemes, counts, max_size=8)),
    )
    return query, documents, stats


@PROPERTIES
@given(corpus=corpora())
def test_lexical_scores_are_in_0_1(corpus: tuple[list[str], list[set[str]], CorpusStats]) -> None:
    query, documents, stats = corpus

    for result in (
        scores(query_lexemes=query, documents=documents, stats=stats),
        scores_outside(query_lexemes=query, documents=documents, stats=stats),
    ):
        assert result.shape == (len(documents),)
        assert bool(np.all((result >= 0.0) & (result <= 1.0))), result
