"""Confidence scoring: pure functions over plain dataclasses, `now` passed in.

    vector     = cosine - w_c * crowding                               (when the pool has vectors)
    similarity = (1 - w_l) * vector + w_l * lexical                   (the fused relevance)
    similarity = (1 - w_p) * similarity + w_p * period        when the query names a period
    similarity = (1 - w_n) * similarity + w_n * newness       when it asks about the present
    confidence = w_s * similarity + w_r * recency + w_f * frequency   (weights sum to 1)

- vector: cosine similarity of query and memory, clipped to [0, 1]; None while the
  memory waits for its vector, when its similarity is its lexical score alone.
- crowding: how much more the memory resembles its `crowding_neighbours` nearest fellow
  candidates than the pool's memories do on average (mean cosine to them, less the pool's
  mean of that). Generic memories ("Sounds good, thanks!") sit near many others and near
  every query: this is the hubness correction of cross-domain similarity local scaling
  (CSLS). Centred on the pool, it moves similarities down for crowded memories and up for
  distinctive ones, so a threshold keeps its meaning.
- lexical: the memory's BM25 score for the query's words over the agent's memories,
  as a share of what a memory holding every query word would score (memories/lexical.py),
  in [0, 1]. `w_l` is the lexical weight of the fusion.
- recency: for episodic memories a falling sigmoid of age, 0.5 at the midpoint
  (30 days by default) and steeper or flatter with `scale_days`; semantic and
  procedural memories, and pinned ones, do not decay (recency 1).
- frequency: ln(1 + access_count) / ln(1 + saturation), capped at 1: it saturates
  at `saturation` accesses (50 by default).

Ordering happens in two tiers so that an irrelevant memory never outranks a
relevant one however recent or popular it is: candidates whose similarity is at
least `relevance_ratio` of the best candidate's come first, by confidence; the
rest only fill the remaining places, also by confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import numpy as np

NON_DECAYING_TYPES = frozenset({"semantic", "procedural"})
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class RankingWeights:
    lexical: float = 0.05
    similarity: float = 0.9
    recency: float = 0.05
    frequency: float = 0.05
    recency_midpoint_days: float = 30.0
    recency_scale_days: float = 10.0
    frequency_saturation: int = 50
    relevance_ratio: float = 0.6
    period: float = 0.3
    newness: float = 0.2
    crowding: float = 0.5
    crowding_neighbours: int = 5

    def __post_init__(self) -> None:
        parts = (self.similarity, self.recency, self.frequency)
        if any(part < 0 for part in parts) or not math.isclose(sum(parts), 1.0, abs_tol=1e-6):
            raise ValueError(f"ranking weights must be >= 0 and sum to 1, got {parts}")
        for name in ("lexical", "period", "newness", "relevance_ratio", "crowding"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"the {name} weight must be in [0, 1], got {getattr(self, name)}")
        if self.recency_scale_days <= 0 or self.frequency_saturation < 1:
            raise ValueError("recency_scale_days must be > 0 and frequency_saturation >= 1")
        if self.crowding_neighbours < 1:
            raise ValueError("crowding_neighbours must be >= 1")
        # NaN passes every comparison above and would make every recency NaN.
        if not (
            math.isfinite(self.recency_midpoint_days) and math.isfinite(self.recency_scale_days)
        ):
            raise ValueError("recency_midpoint_days and recency_scale_days must be finite")


@dataclass(frozen=True)
class Candidate:
    """What scoring needs to know about one memory."""

    vector: float | None
    type: str
    created_at: datetime
    access_count: int
    pinned: bool = False
    lexical: float = 0.0
    # A newer memory restated and changed this one.
    superseded: bool = False
    # Whether the memory was made inside the period the query names; None if it names none.
    in_period: bool | None = None
    # How much more than its fellow candidates it resembles them; None without a vector.
    crowding: float | None = None


@dataclass(frozen=True)
class Score:
    confidence: float
    similarity: float
    recency: float
    frequency: float
    vector: float | None = 0.0
    lexical: float = 0.0
    period: float | None = None
    newness: float | None = None
    crowding: float | None = None


def unit_score(value: float) -> float:
    """A score part clipped to [0, 1]; NaN counts as 0."""
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


def relevance(
    *,
    vector: float | None,
    lexical: float,
    weights: RankingWeights,
    in_period: bool | None = None,
    newness: float | None = None,
    crowding: float | None = None,
) -> float:
    """The fused similarity of a memory to the query; its lexical score stands for the
    vector's while it has none, so that a memory is findable the moment it is stored."""
    if vector is None:
        fused = unit_score(lexical)
    else:
        if crowding is not None and math.isfinite(crowding):
            vector -= weights.crowding * crowding
        fused = (1.0 - weights.lexical) * unit_score(vector) + weights.lexical * unit_score(lexical)
    if in_period is not None:
        fused = (1.0 - weights.period) * fused + weights.period * float(in_period)
    if newness is not None:
        fused = (1.0 - weights.newness) * fused + weights.newness * unit_score(newness)
    return fused


def recency_score(
    *, memory_type: str, created_at: datetime, now: datetime, pinned: bool, weights: RankingWeights
) -> float:
    if pinned or memory_type in NON_DECAYING_TYPES:
        return 1.0
    age_days = max(0.0, (now - created_at).total_seconds() / _SECONDS_PER_DAY)
    exponent = (age_days - weights.recency_midpoint_days) / weights.recency_scale_days
    # Written to stay finite for any age: exp() of a large exponent overflows.
    if exponent > 0:
        decay = math.exp(-exponent)
        return decay / (1.0 + decay)
    return 1.0 / (1.0 + math.exp(exponent))


def frequency_score(access_count: int, weights: RankingWeights) -> float:
    if access_count <= 0:
        return 0.0
    # Saturated without a logarithm: a count past what a float holds has none.
    if access_count >= weights.frequency_saturation:
        return 1.0
    return min(1.0, math.log1p(access_count) / math.log1p(weights.frequency_saturation))


def score(
    candidate: Candidate,
    *,
    now: datetime,
    weights: RankingWeights,
    newness: float | None = None,
) -> Score:
    similarity = relevance(
        vector=candidate.vector,
        lexical=candidate.lexical,
        weights=weights,
        in_period=candidate.in_period,
        newness=newness,
        crowding=candidate.crowding,
    )
    recency = recency_score(
        memory_type=candidate.type,
        created_at=candidate.created_at,
        now=now,
        pinned=candidate.pinned,
        weights=weights,
    )
    frequency = frequency_score(candidate.access_count, weights)
    confidence = (
        weights.similarity * similarity + weights.recency * recency + weights.frequency * frequency
    )
    return Score(
        confidence=min(1.0, max(0.0, confidence)),
        similarity=similarity,
        recency=recency,
        frequency=frequency,
        vector=None if candidate.vector is None else unit_score(candidate.vector),
        lexical=unit_score(candidate.lexical),
        period=None if candidate.in_period is None else float(candidate.in_period),
        newness=None if newness is None else unit_score(newness),
        crowding=candidate.crowding,
    )


C = TypeVar("C", bound=Candidate)


@dataclass(frozen=True)
class Ranked(Generic[C]):
    candidate: C
    score: Score


def crowding_scores(vectors: np.ndarray, neighbours: int) -> np.ndarray:
    """Each row's mean cosine similarity to its `neighbours` most similar other rows, less
    the mean of that over the rows (0 for every row when there are fewer than two)."""
    count = len(vectors)
    if count < 2:
        return np.zeros(count)
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms > 0, norms, 1.0)
    similarities = matrix @ matrix.T
    np.fill_diagonal(similarities, -np.inf)
    nearest = min(neighbours, count - 1)
    closest = np.partition(similarities, count - nearest, axis=1)[:, count - nearest :]
    crowding = closest.mean(axis=1)
    return crowding - crowding.mean()


def newness_scores(candidates: list[C]) -> list[float]:
    """Each candidate's date as a share of the way from the oldest candidate's to the
    newest's (all 1 when they share one date)."""
    moments = [candidate.created_at.timestamp() for candidate in candidates]
    oldest, newest = min(moments), max(moments)
    if newest <= oldest:
        return [1.0] * len(moments)
    return [(moment - oldest) / (newest - oldest) for moment in moments]


def rank(
    candidates: list[C],
    *,
    now: datetime,
    weights: RankingWeights,
    limit: int,
    present: bool = False,
) -> list[Ranked[C]]:
    """The best `limit` candidates: relevant ones by confidence, then the rest by confidence;
    within each, memories a newer one superseded come after the others. `present`: the
    query asks about the present, and newer candidates gain similarity.

    Ties on confidence go to the more similar memory, then to the newer one.
    """
    if not candidates or limit <= 0:
        return []
    newness: list[float | None] = (
        list(newness_scores(candidates)) if present else [None] * len(candidates)
    )
    scored = [
        Ranked(c, score(c, now=now, weights=weights, newness=new))
        for c, new in zip(candidates, newness, strict=True)
    ]
    best = max(item.score.similarity for item in scored)
    floor = best * weights.relevance_ratio

    def order(item: Ranked[C]) -> tuple[bool, bool, float, float, float]:
        return (
            item.score.similarity < floor,
            item.candidate.superseded,
            -item.score.confidence,
            -item.score.similarity,
            -item.candidate.created_at.timestamp(),
        )

    return sorted(scored, key=order)[:limit]
