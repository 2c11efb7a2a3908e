"""Prompt-ready context: one line per memory, near-duplicates collapsed, within a token budget.

Tokens are estimated, not counted with a model's tokenizer, because the prompt's
model is the caller's and unknown to us: every four ASCII characters count as one
token and every other character as one token of its own. For English this is at
or above what GPT-style tokenizers produce, so the budget is kept, not overrun.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

# Cosine at or above which two memories say the same thing (see RETRIEVAL-NOTES).
DUPLICATE_COSINE = 0.95
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class ContextItem:
    type: str
    created_at: datetime
    content: str
    embedding: Sequence[float] | np.ndarray | None = None


def estimate_tokens(text: str) -> int:
    ascii_chars = sum(1 for char in text if ord(char) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def normalise(text: str) -> str:
    """Text reduced for duplicate detection: case, accents' forms, punctuation and spacing."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def format_line(item: ContextItem) -> str:
    # One memory per line: line breaks inside a memory would read as new entries.
    content = " ".join(item.content.split())
    return f"[{item.type}, {item.created_at:%Y-%m-%d}] {content}"


def _is_duplicate(item: ContextItem, kept: list[ContextItem], seen: set[str]) -> bool:
    if normalise(item.content) in seen:
        return True
    if item.embedding is None:
        return False
    vector = np.asarray(item.embedding, dtype=np.float64)
    for other in kept:
        if other.embedding is None:
            continue
        other_vector = np.asarray(other.embedding, dtype=np.float64)
        if len(other_vector) != len(vector):
            continue
        # A vector holding inf or NaN has no cosine: it is compared as nothing alike.
        with np.errstate(all="ignore"):
            denominator = float(np.linalg.norm(vector) * np.linalg.norm(other_vector)) or 1.0
            cosine = float(np.dot(vector, other_vector)) / denominator
        if cosine >= DUPLICATE_COSINE:
            return True
    return False


def build_context(items: Sequence[ContextItem], *, max_tokens: int | None) -> list[int]:
    """Indexes of `items` (best first) that make the context, in the order given.

    A memory that would overrun the budget is left out and smaller ones after it
    may still fit.
    """
    chosen: list[int] = []
    kept: list[ContextItem] = []
    seen: set[str] = set()
    used_tokens = 0
    for index, item in enumerate(items):
        if _is_duplicate(item, kept, seen):
            continue
        # +1 for the line break that joins this line to the previous one.
        cost = estimate_tokens(format_line(item)) + (1 if chosen else 0)
        if max_tokens is not None and used_tokens + cost > max_tokens:
            continue
        used_tokens += cost
        chosen.append(index)
        kept.append(item)
        seen.add(normalise(item.content))
    return chosen


def render(items: Sequence[ContextItem]) -> str:
    return "\n".join(format_line(item) for item in items)
