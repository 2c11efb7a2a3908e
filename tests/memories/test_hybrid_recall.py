"""Recall fuses vector similarity with BM25 over the agent's memories, in both search paths."""

from datetime import UTC, datetime

import pytest

from memories import services
from memories.models import Agent, EmbeddingStatus, Memory

# Committed rows, so recall may fill its in-process copies from them.
pytestmark = pytest.mark.django_db(transaction=True)

PURCHASES = [
    ("I bought a standing lamp for the study", datetime(2025, 1, 12, tzinfo=UTC)),
    ("Picked up a wool rug for the hallway", datetime(2025, 2, 3, tzinfo=UTC)),
    ("Got myself a new kettle, the old one leaked", datetime(2025, 3, 9, tzinfo=UTC)),
    ("Ordered a bookshelf for the living room", datetime(2025, 4, 21, tzinfo=UTC)),
    ("Finally bought the espresso machine", datetime(2025, 5, 30, tzinfo=UTC)),
    ("Priya recommended a ryokan near the station in Kyoto", datetime(2025, 6, 2, tzinfo=UTC)),
    ("We stayed at a quiet hotel by the river in Osaka", datetime(2025, 6, 8, tzinfo=UTC)),
    ("The hotel in Lisbon had a rooftop pool", datetime(2025, 7, 15, tzinfo=UTC)),
]


@pytest.fixture
def agent(account) -> Agent:
    agent = services.agent_create(account=account, slug="diary", name="Diary")
    for content, created_at in PURCHASES:
        services.remember(agent=agent, content=content, created_at=created_at)
    return agent


def contents(agent: Agent, query: str, top_k: int = 3) -> list[str]:
    return [
        item.memory.content
        for item in services.recall(agent=agent, query=query, top_k=top_k, count_access=False)
    ]


@pytest.mark.parametrize("vector_cache_mb", [256, 0], ids=["in-memory", "postgres"])
def test_a_question_naming_a_month_finds_what_happened_then(agent, settings, vector_cache_mb):
    settings.KRONVEX_VECTOR_CACHE_MB = vector_cache_mb
    # The month is in no memory's words, only in when it was made.
    assert contents(agent, "What did I buy in March 2025?")[0] == PURCHASES[2][0]
    assert contents(agent, "what did I get in may 2025")[0] == PURCHASES[4][0]


@pytest.mark.parametrize("vector_cache_mb", [256, 0], ids=["in-memory", "postgres"])
def test_a_rare_name_in_the_question_brings_its_memory_first(agent, settings, vector_cache_mb):
    settings.KRONVEX_VECTOR_CACHE_MB = vector_cache_mb
    assert contents(agent, "Where did Priya say we should stay?")[0] == PURCHASES[5][0]


def test_at_lexical_weight_0_similarity_is_the_vectors_and_lexical_is_still_explained(
    agent, settings
):
    settings.KRONVEX_WEIGHT_LEXICAL = 0.0
    settings.KRONVEX_WEIGHT_PERIOD = 0.0  # the query names March 2025
    settings.KRONVEX_WEIGHT_CROWDING = 0.0
    recalled = services.recall(
        agent=agent, query="What did I buy in March 2025?", top_k=8, count_access=False
    )
    assert {item.score.lexical for item in recalled} != {0.0}, "still computed, for explain"
    assert all(item.score.similarity == item.score.vector for item in recalled)


def test_both_search_paths_score_every_memory_alike(agent, settings):
    def scored(query: str) -> list[tuple[str, float, float, float | None]]:
        recalled = services.recall(agent=agent, query=query, top_k=8, count_access=False)
        return [
            (
                item.memory.content,
                round(item.score.vector, 5),
                round(item.score.lexical, 5),
                item.score.period,
            )
            for item in recalled
        ]

    queries = ["hotel in Kyoto or Osaka", "What did I buy in March 2025?", "kettle"]
    in_memory = [scored(query) for query in queries]
    settings.KRONVEX_VECTOR_CACHE_MB = 0
    assert [scored(query) for query in queries] == in_memory
    assert any(lexical > 0 for rows in in_memory for _, _, lexical, _ in rows)
    assert any(period == 1.0 for rows in in_memory for *_, period in rows)


def test_a_memory_waiting_for_its_vector_is_scored_against_the_agents_words(agent):
    waiting = Memory.objects.create(
        account=agent.account,
        agent=agent,
        content="Priya moved to Kyoto for good",
        status=EmbeddingStatus.PENDING,
    )
    recalled = services.recall(agent=agent, query="Priya Kyoto", top_k=3, count_access=False)
    assert recalled[0].memory.pk == waiting.pk
    assert recalled[0].score.vector is None
    assert 0 < recalled[0].score.lexical <= 1
    # Until its vector lands its words alone make its similarity.
    assert recalled[0].score.similarity == recalled[0].score.lexical
