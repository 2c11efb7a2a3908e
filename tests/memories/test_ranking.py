"""The confidence formula and ordering: pure, no database."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memories.ranking import (
    Candidate,
    RankingWeights,
    crowding_scores,
    frequency_score,
    rank,
    recency_score,
    score,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Vector similarity alone: the fusion with lexical scores has tests of its own.
WEIGHTS = RankingWeights(lexical=0.0)


def candidate(
    similarity: float,
    *,
    days_old: float = 0,
    kind: str = "episodic",
    accesses: int = 0,
    pinned: bool = False,
) -> Candidate:
    return Candidate(
        vector=similarity,
        type=kind,
        created_at=NOW - timedelta(days=days_old),
        access_count=accesses,
        pinned=pinned,
    )


def test_confidence_is_the_weighted_sum_of_its_parts():
    parts = score(candidate(0.8, days_old=30, accesses=3), now=NOW, weights=WEIGHTS)
    assert parts.recency == pytest.approx(0.5)
    assert parts.confidence == pytest.approx(
        WEIGHTS.similarity * 0.8 + WEIGHTS.recency * 0.5 + WEIGHTS.frequency * parts.frequency
    )


def test_episodic_recency_is_a_falling_sigmoid_with_its_midpoint_at_30_days():
    def at(days: float) -> float:
        return recency_score(
            memory_type="episodic",
            created_at=NOW - timedelta(days=days),
            now=NOW,
            pinned=False,
            weights=WEIGHTS,
        )

    assert at(30) == pytest.approx(0.5)
    assert at(0) > 0.9
    assert at(90) < 0.01
    assert at(0) > at(10) > at(30) > at(60)


def test_recency_midpoint_is_a_setting():
    weights = RankingWeights(recency_midpoint_days=7)
    value = recency_score(
        memory_type="episodic",
        created_at=NOW - timedelta(days=7),
        now=NOW,
        pinned=False,
        weights=weights,
    )
    assert value == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["semantic", "procedural"])
def test_semantic_and_procedural_memories_do_not_decay(kind):
    old = recency_score(
        memory_type=kind,
        created_at=NOW - timedelta(days=3650),
        now=NOW,
        pinned=False,
        weights=WEIGHTS,
    )
    assert old == 1.0


def test_pinned_memories_do_not_decay():
    old = recency_score(
        memory_type="episodic",
        created_at=NOW - timedelta(days=3650),
        now=NOW,
        pinned=True,
        weights=WEIGHTS,
    )
    assert old == 1.0


def test_recency_stays_finite_for_any_age_and_future_dates():
    ancient = recency_score(
        memory_type="episodic",
        created_at=datetime(1, 1, 1, tzinfo=UTC),
        now=NOW,
        pinned=False,
        weights=WEIGHTS,
    )
    future = recency_score(
        memory_type="episodic",
        created_at=NOW + timedelta(days=5),
        now=NOW,
        pinned=False,
        weights=WEIGHTS,
    )
    assert 0.0 <= ancient < 1e-9
    assert future == recency_score(
        memory_type="episodic", created_at=NOW, now=NOW, pinned=False, weights=WEIGHTS
    )


def test_frequency_grows_with_the_log_of_accesses_and_saturates_at_50():
    assert frequency_score(0, WEIGHTS) == 0.0
    assert frequency_score(1, WEIGHTS) == pytest.approx(math.log(2) / math.log(51))
    assert frequency_score(5, WEIGHTS) < frequency_score(10, WEIGHTS) < frequency_score(50, WEIGHTS)
    assert frequency_score(50, WEIGHTS) == pytest.approx(1.0)
    assert frequency_score(10_000, WEIGHTS) == 1.0


def test_similarity_is_clipped_to_the_unit_interval():
    assert score(candidate(-0.3), now=NOW, weights=WEIGHTS).similarity == 0.0
    assert score(candidate(1.0000002), now=NOW, weights=WEIGHTS).similarity == 1.0
    assert score(candidate(float("nan")), now=NOW, weights=WEIGHTS).similarity == 0.0


def test_weights_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        RankingWeights(similarity=0.5, recency=0.2, frequency=0.2)
    with pytest.raises(ValueError):
        RankingWeights(similarity=1.2, recency=-0.1, frequency=-0.1)


def test_rank_orders_by_confidence_and_respects_the_limit():
    candidates = [candidate(0.5), candidate(0.9), candidate(0.7)]
    ranked = rank(candidates, now=NOW, weights=WEIGHTS, limit=2)
    assert [item.candidate.vector for item in ranked] == [0.9, 0.7]


def test_recall_prefers_recent_memory_when_similarity_ties():
    old, recent = candidate(0.8, days_old=60), candidate(0.8, days_old=1)
    ranked = rank([old, recent], now=NOW, weights=WEIGHTS, limit=2)
    assert ranked[0].candidate is recent


def test_frequently_used_memory_wins_a_similarity_tie():
    plain, popular = candidate(0.8, kind="semantic"), candidate(0.8, kind="semantic", accesses=20)
    ranked = rank([plain, popular], now=NOW, weights=WEIGHTS, limit=2)
    assert ranked[0].candidate is popular


def test_exact_tie_goes_to_the_newer_memory():
    older = Candidate(0.8, "semantic", NOW - timedelta(days=3), 0)
    newer = Candidate(0.8, "semantic", NOW - timedelta(days=1), 0)
    assert rank([older, newer], now=NOW, weights=WEIGHTS, limit=1)[0].candidate is newer


def test_old_irrelevant_memory_never_outranks_a_relevant_one():
    # Pinned, used a thousand times, but about something else entirely.
    irrelevant = candidate(0.05, kind="semantic", accesses=1000, pinned=True)
    relevant = candidate(0.55, days_old=400)
    # Weights under which its confidence is the higher one.
    weights = RankingWeights(lexical=0.0, similarity=0.6, recency=0.2, frequency=0.2)
    assert (
        score(irrelevant, now=NOW, weights=weights).confidence
        > score(relevant, now=NOW, weights=weights).confidence
    )
    ranked = rank([irrelevant, relevant], now=NOW, weights=weights, limit=2)
    assert [item.candidate for item in ranked] == [relevant, irrelevant]


def test_irrelevant_memories_still_fill_top_k():
    ranked = rank(
        [candidate(0.9), candidate(0.1), candidate(0.05)], now=NOW, weights=WEIGHTS, limit=3
    )
    assert len(ranked) == 3


def test_rank_of_nothing_is_empty():
    assert rank([], now=NOW, weights=WEIGHTS, limit=5) == []
    assert rank([candidate(0.5)], now=NOW, weights=WEIGHTS, limit=0) == []


def test_scores_stay_in_the_unit_interval():
    for similarity in (-1.0, 0.0, 0.3, 1.0):
        for days in (0, 30, 10_000):
            for accesses in (0, 7, 10**9):
                parts = score(
                    candidate(similarity, days_old=days, accesses=accesses),
                    now=NOW,
                    weights=WEIGHTS,
                )
                for value in (parts.confidence, parts.similarity, parts.recency, parts.frequency):
                    assert 0.0 <= value <= 1.0


def test_similarity_fuses_vector_and_lexical_scores_by_the_lexical_weight():
    weights = RankingWeights(lexical=0.25)
    parts = score(
        Candidate(vector=0.8, lexical=0.4, type="semantic", created_at=NOW, access_count=0),
        now=NOW,
        weights=weights,
    )
    assert parts.similarity == pytest.approx(0.75 * 0.8 + 0.25 * 0.4)
    assert (parts.vector, parts.lexical) == (0.8, 0.4)


def test_a_memory_without_a_vector_takes_its_lexical_score_as_similarity():
    parts = score(
        Candidate(vector=None, lexical=0.6, type="semantic", created_at=NOW, access_count=0),
        now=NOW,
        weights=RankingWeights(lexical=0.1),
    )
    assert parts.similarity == pytest.approx(0.6)
    assert parts.vector is None


def test_the_lexical_weight_must_lie_in_the_unit_interval():
    with pytest.raises(ValueError):
        RankingWeights(lexical=1.5)


def test_a_superseded_memory_ranks_after_the_relevant_ones_nobody_superseded():
    old = Candidate(vector=0.9, type="semantic", created_at=NOW, access_count=0, superseded=True)
    new = Candidate(vector=0.7, type="semantic", created_at=NOW, access_count=0)
    unrelated = Candidate(vector=0.1, type="semantic", created_at=NOW, access_count=0)
    ranked = rank([old, unrelated, new], now=NOW, weights=WEIGHTS, limit=3)
    assert [item.candidate for item in ranked] == [new, old, unrelated]


def test_a_memory_inside_the_period_the_query_names_gains_the_period_weight():
    weights = RankingWeights(lexical=0.0, period=0.25)
    inside, outside, no_period = (
        score(
            Candidate(vector=0.6, type="semantic", created_at=NOW, access_count=0, in_period=flag),
            now=NOW,
            weights=weights,
        )
        for flag in (True, False, None)
    )
    assert inside.similarity == pytest.approx(0.75 * 0.6 + 0.25)
    assert outside.similarity == pytest.approx(0.75 * 0.6)
    assert no_period.similarity == pytest.approx(0.6)
    assert (inside.period, outside.period, no_period.period) == (1.0, 0.0, None)


def test_asked_about_the_present_newer_candidates_gain_by_their_place_between_oldest_and_newest():
    weights = RankingWeights(lexical=0.0, newness=0.5)
    oldest, middle, newest = (
        candidate(0.8, days_old=days, kind="semantic") for days in (40, 30, 0)
    )
    ranked = rank([oldest, middle, newest], now=NOW, weights=weights, limit=3, present=True)
    assert [item.candidate for item in ranked] == [newest, middle, oldest]
    assert [item.score.newness for item in ranked] == pytest.approx([1.0, 0.25, 0.0])
    assert ranked[0].score.similarity == pytest.approx(0.5 * 0.8 + 0.5)
    unasked = rank([oldest, middle, newest], now=NOW, weights=weights, limit=3)
    assert {item.score.newness for item in unasked} == {None}
    assert [item.score.similarity for item in unasked] == pytest.approx([0.8] * 3)


def test_crowding_is_the_mean_similarity_to_the_nearest_other_rows_centred_on_the_pool():
    # Three rows close together and one far from them, unnormalised on purpose.
    vectors = np.array([[1.0, 0.0], [2.0, 0.2], [0.9, -0.1], [0.0, 3.0]])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = unit @ unit.T
    nearest = [
        (cosines[0, 1] + cosines[0, 2]) / 2,
        (cosines[1, 0] + cosines[1, 2]) / 2,
        (cosines[2, 0] + cosines[2, 1]) / 2,
        (cosines[3, 1] + cosines[3, 0]) / 2,
    ]

    crowding = crowding_scores(vectors, neighbours=2)

    assert crowding == pytest.approx(np.array(nearest) - np.mean(nearest))
    assert crowding[3] < 0 < min(crowding[:3])
    assert crowding.sum() == pytest.approx(0.0, abs=1e-12)


def test_crowding_asks_for_no_more_neighbours_than_there_are_other_rows():
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    assert crowding_scores(vectors, neighbours=50) == pytest.approx(
        crowding_scores(vectors, neighbours=2)
    )
    assert crowding_scores(vectors[:1], neighbours=5).tolist() == [0.0]
    assert crowding_scores(np.zeros((0, 2)), neighbours=5).tolist() == []
    # A zero vector resembles nothing; it does not make every score NaN.
    assert np.isfinite(crowding_scores(np.array([[0.0, 0.0], [1.0, 0.0]]), neighbours=1)).all()


def test_a_crowded_memory_loses_its_weighted_crowding_and_a_distinctive_one_gains():
    weights = RankingWeights(lexical=0.0, crowding=0.5)
    generic = Candidate(vector=0.6, type="semantic", created_at=NOW, access_count=0, crowding=0.2)
    distinctive = Candidate(
        vector=0.55, type="semantic", created_at=NOW, access_count=0, crowding=-0.2
    )

    ranked = rank([generic, distinctive], now=NOW, weights=weights, limit=2)

    assert [item.candidate for item in ranked] == [distinctive, generic]
    assert ranked[0].score.similarity == pytest.approx(0.55 + 0.5 * 0.2)
    assert ranked[1].score.similarity == pytest.approx(0.6 - 0.5 * 0.2)
    assert (ranked[0].score.crowding, ranked[0].score.vector) == (-0.2, 0.55)
    unweighted = rank(
        [generic, distinctive], now=NOW, weights=RankingWeights(lexical=0.0, crowding=0.0), limit=2
    )
    assert [item.candidate for item in unweighted] == [generic, distinctive]


@pytest.mark.parametrize("name", ["period", "newness", "crowding"])
def test_the_period_newness_and_crowding_weights_must_lie_in_the_unit_interval(name):
    with pytest.raises(ValueError):
        RankingWeights(**{name: -0.1})
    with pytest.raises(ValueError):
        RankingWeights(**{name: 1.5})


def test_crowding_needs_at_least_one_neighbour():
    with pytest.raises(ValueError, match="crowding_neighbours"):
        RankingWeights(crowding_neighbours=0)
