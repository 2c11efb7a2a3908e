"""Lexical relevance: BM25 over PostgreSQL's lexemes, each agent's memories its own corpus.

PostgreSQL's `english` text-search configuration turns a memory into lexemes (stemmed
words, stop words dropped, plus the month and year the memory was made: see migration
0006), and the query into lexemes the same way. A memory's BM25 score sums, over the
query's lexemes it holds, the lexeme's inverse document frequency among the agent's
memories, damped for longer memories:

    bm25(m) = sum over the query lexemes t that m holds of  idf(t) * (k1 + 1) / norm(m)
    norm(m) = 1 + k1 * (1 - b + b * len(m) / average len)
    idf(t)  = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

Memories are short, so a lexeme counts once however often it occurs (binary term
frequency), and a memory's length is its number of distinct lexemes. The score is
reported as a share of what a memory of average length holding every query lexeme
found in the agent would score (the sum of their idf), capped at 1: 1 means every
word of the query that the agent's memories know, 0 none. Lexemes no memory holds
take no part, so words like "when" or a misspelling do not lower every score alike.

Rare words (names, places, products) weigh the most, which is what makes lexical
search strong where questions reuse a memory's exact nouns (RETRIEVAL-NOTES.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class CorpusStats:
    """What BM25 needs to know about an agent's memories for one query."""

    documents: int
    average_length: float
    document_frequency: dict[str, int]


def idf(document_frequency: int, documents: int) -> float:
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


def length_factor(lengths: np.ndarray, average_length: float) -> np.ndarray:
    """BM25's term weight for a lexeme present once, for memories of these lengths."""
    average = average_length if average_length > 0 else 1.0
    return (K1 + 1.0) / (1.0 + K1 * (1.0 - B + B * lengths / average))


def tsquery_text(lexemes: Iterable[str]) -> str:
    """A tsquery matching any of the lexemes, each quoted as one lexeme (for `::tsquery`)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


def scores(
    *, query_lexemes: Iterable[str], documents: list[set[str]], stats: CorpusStats
) -> np.ndarray:
    """Normalised BM25 of each of `documents` (their sets of lexemes) in a corpus with
    these statistics."""
    result = np.zeros(len(documents), dtype=np.float64)
    if not documents:
        return result
    lengths = np.array([len(terms) for terms in documents], dtype=np.float64)
    factors = length_factor(lengths, stats.average_length)
    ideal = 0.0
    for lexeme in set(query_lexemes):
        frequency = stats.document_frequency.get(lexeme, 0)
        if frequency <= 0:
            continue
        weight = idf(frequency, max(stats.documents, frequency))
        ideal += weight
        holds = np.fromiter((lexeme in terms for terms in documents), bool, len(documents))
        result[holds] += weight * factors[holds]
    return normalised(result, ideal)


def scores_outside(
    *, query_lexemes: Iterable[str], documents: list[set[str]], stats: CorpusStats
) -> np.ndarray:
    """As `scores`, for documents not counted in the statistics (memories still waiting
    for their vector): each is scored as if it had been added to the corpus."""
    lexemes = set(query_lexemes)
    result = np.zeros(len(documents), dtype=np.float64)
    for index, terms in enumerate(documents):
        joined = CorpusStats(
            documents=stats.documents + 1,
            average_length=stats.average_length if stats.documents else float(len(terms)),
            document_frequency={
                lexeme: stats.document_frequency.get(lexeme, 0) + (lexeme in terms)
                for lexeme in lexemes
            },
        )
        result[index] = scores(query_lexemes=lexemes, documents=[terms], stats=joined)[0]
    return result


def normalised(raw: np.ndarray, ideal: float) -> np.ndarray:
    if ideal <= 0:
        return np.zeros_like(raw)
    return np.minimum(raw / ideal, 1.0)
