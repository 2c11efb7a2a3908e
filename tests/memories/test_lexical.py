"""BM25 over PostgreSQL's lexemes: pure scoring, and the documents the database makes."""

from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection

from memories import lexical
from memories.models import Memory


def stats_of(documents: list[set[str]], lexemes: list[str]) -> lexical.CorpusStats:
    return lexical.CorpusStats(
        documents=len(documents),
        average_length=float(np.mean([len(terms) for terms in documents])) if documents else 0.0,
        document_frequency={
            lexeme: sum(lexeme in terms for terms in documents) for lexeme in lexemes
        },
    )


CORPUS = [
    {"priya", "recommend", "ryokan", "kyoto"},
    {"stay", "hotel", "osaka", "week"},
    {"hotel", "book", "week", "lisbon"},
    {"hotel", "breakfast", "good"},
]


def scores(query: list[str], documents: list[set[str]] = CORPUS) -> list[float]:
    return lexical.scores(
        query_lexemes=query, documents=documents, stats=stats_of(documents, query)
    ).tolist()


def test_a_rare_word_outweighs_a_common_one():
    ranked = scores(["hotel", "kyoto"])
    assert ranked[0] > max(ranked[1:]) > 0


def test_a_memory_holding_every_query_word_scores_about_one_and_none_scores_zero():
    documents = [{"green", "tea"}, {"black", "coffee"}, {"green", "tea"}, {"milk", "tea"}]
    result = scores(["green", "tea"], documents)
    assert result[0] == pytest.approx(1.0)
    assert result[1] == 0.0
    assert all(0.0 <= value <= 1.0 for value in result)


def test_words_no_memory_holds_do_not_lower_the_scores():
    assert scores(["kyoto", "zzyzx"]) == scores(["kyoto"])


def test_of_two_memories_with_the_same_match_the_shorter_scores_higher():
    documents = [{"tea", "green"}, {"tea", "black", "strong", "morning", "milk", "sugar"}]
    short, long = scores(["tea"], documents)
    assert short > long > 0


def test_a_memory_outside_the_statistics_scores_as_if_it_had_been_added():
    pending = {"priya", "tea"}
    query = ["priya", "tea"]
    outside = lexical.scores_outside(
        query_lexemes=query, documents=[pending], stats=stats_of(CORPUS, query)
    )
    added = lexical.scores(
        query_lexemes=query, documents=[pending], stats=stats_of([*CORPUS, pending], query)
    )
    assert outside.tolist() == pytest.approx(added.tolist())


def test_no_documents_and_no_query_words_score_nothing():
    assert scores(["tea"], []) == []
    assert scores([]) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.django_db
@pytest.mark.parametrize("lexeme", ["it's", "back\\slash", "o''clock", "|", "&!", "a b", "são"])
def test_the_tsquery_matches_any_lexeme_however_it_is_spelled(lexeme):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_to_tsvector(%s::text[]) @@ %s::tsquery,"
            " array_to_tsvector(%s::text[]) @@ %s::tsquery",
            [
                [lexeme],
                lexical.tsquery_text(["other", lexeme]),
                ["other2"],
                lexical.tsquery_text([lexeme]),
            ],
        )
        assert cursor.fetchone() == (True, False)


def lexemes_of(memory: Memory) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(search_vector) FROM memories_memory WHERE id = %s",
            [memory.pk],
        )
        return set(cursor.fetchone()[0])


@pytest.mark.django_db
def test_the_lexical_document_holds_the_words_and_the_month_and_year_made(account):
    from memories import services

    agent = services.agent_create(account=account, slug="a", name="A")
    memory = Memory.objects.create(
        account=account,
        agent=agent,
        content="Bought a standing lamp for the study",
        created_at=datetime(2025, 3, 14, 23, 30, tzinfo=UTC),
    )
    assert lexemes_of(memory) == {"bought", "stand", "lamp", "studi", "march", "2025"}

    memory.created_at = datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    memory.save(update_fields=["created_at"])
    assert lexemes_of(memory) == {"bought", "stand", "lamp", "studi", "decemb", "2024"}

    # Recall's access counts leave the document as it is.
    Memory.objects.filter(pk=memory.pk).update(access_count=3)
    assert lexemes_of(memory) == {"bought", "stand", "lamp", "studi", "decemb", "2024"}
