"""Recall's in-process vector copies answer exactly what PostgreSQL would, whatever changed."""

import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from memories import services
from memories.embedding import get_embedder
from memories.models import Agent, EmbeddingStatus, Memory
from memories.vector_cache import AgentVectors, VectorCache, get_vector_cache, row_bytes

pytestmark = pytest.mark.django_db(transaction=True)

TEXTS = [
    "The user lives in Lyon with two cats",
    "Deploys go out on Tuesdays after the review",
    "Prefers tea over coffee in the afternoon",
    "Runs the migrations before restarting workers",
    "Sister works as a nurse in Porto",
    "The quarterly report is due on the fifth",
    "Favourite editor is Helix with a dark theme",
    "Allergic to peanuts, mentioned at the team lunch",
]


@pytest.fixture
def agent(account, fake_embedder) -> Agent:
    agent = services.agent_create(account=account, slug="helper", name="Helper")
    for index, text in enumerate(TEXTS):
        services.remember(agent=agent, content=text, session_id=f"user-{index % 2}")
    return agent


def in_order(pairs) -> list[int]:
    """Ids by similarity, equal similarities (meaning-free vectors tie often) by id."""
    return [pk for similarity, pk in sorted((-round(sim, 5), pk) for pk, sim in pairs)]


def nearest(cache: VectorCache, agent: Agent, query: str, **filters) -> list[int] | None:
    embedder = get_embedder()
    found = cache.nearest(
        agent=agent,
        model_name=embedder.model_name,
        dimensions=embedder.dimensions,
        query=embedder.embed([query])[0],
        limit=filters.pop("limit", 50),
        now=filters.pop("now", timezone.now()),
        **filters,
    )
    return (
        None
        if found is None
        else in_order((item.memory_id, item.similarity) for item in found.neighbours)
    )


def _sql_ids(agent: Agent, query: str, **filters) -> list[int]:
    from memories.selectors import recall_candidates

    embedder = get_embedder()
    candidates = recall_candidates(
        agent=agent,
        query=query,
        query_vector=embedder.embed([query])[0],
        model_name=embedder.model_name,
        limit=filters.pop("limit", 50),
        lexical_weight=0.0,
        **filters,
    )
    return in_order((c.memory_id, c.vector) for c in candidates if c.vector is not None)


def recalled_contents(agent: Agent, query: str, **kwargs) -> list[str]:
    return [
        item.memory.content
        for item in services.recall(agent=agent, query=query, count_access=False, **kwargs)
    ]


def test_the_copy_returns_the_same_neighbours_as_postgres(agent, settings):
    cache = VectorCache(64 * 1024 * 1024)
    for query in TEXTS[:4]:
        settings.KRONVEX_VECTOR_CACHE_MB = 0
        expected = _sql_ids(agent, query)
        assert nearest(cache, agent, query) == expected
        assert nearest(cache, agent, query, session_id="user-1") == _sql_ids(
            agent, query, session_id="user-1"
        )
    assert cache.holds(agent_pk=agent.pk, model_name=get_embedder().model_name)


def test_recall_loads_the_agent_into_the_process_cache(agent):
    assert recalled_contents(agent, TEXTS[3], top_k=1) == [TEXTS[3]]
    assert get_vector_cache().holds(agent_pk=agent.pk, model_name=get_embedder().model_name)


def test_a_memory_remembered_after_the_copy_was_made_is_found(agent):
    assert recalled_contents(agent, "Pottery class on Thursday evenings", top_k=1) != [
        "Pottery class on Thursday evenings"
    ]
    services.remember(agent=agent, content="Pottery class on Thursday evenings")
    with CaptureQueriesContext(connection) as queries:
        found = recalled_contents(agent, "Pottery class on Thursday evenings", top_k=1)
    assert found == ["Pottery class on Thursday evenings"]
    # Only the rows changed since the copy were read, not the whole agent again.
    assert any("vector_version >" in query["sql"] for query in queries.captured_queries)


def test_a_forgotten_memory_leaves_the_copy_and_top_k_stays_full(agent):
    assert recalled_contents(agent, TEXTS[2], top_k=1) == [TEXTS[2]]
    services.forget(memory=Memory.objects.get(content=TEXTS[2]))
    found = recalled_contents(agent, TEXTS[2], top_k=len(TEXTS))
    assert TEXTS[2] not in found
    assert len(found) == len(TEXTS) - 1


def test_clearing_a_session_removes_its_memories_from_the_copy(agent):
    assert len(recalled_contents(agent, "anything", top_k=20)) == len(TEXTS)
    services.memories_delete(agent=agent, session_id="user-0")
    found = recalled_contents(agent, "anything", top_k=20)
    assert sorted(found) == sorted(TEXTS[1::2])


def test_type_edits_reach_the_copy(agent):
    memory = Memory.objects.get(content=TEXTS[4])
    assert TEXTS[4] not in recalled_contents(agent, TEXTS[4], memory_type="semantic")
    services.memory_update(memory=memory, memory_type="semantic")
    assert recalled_contents(agent, TEXTS[4], memory_type="semantic") == [TEXTS[4]]


def test_expiry_is_applied_at_search_time_and_pinning_revives(agent):
    memory = Memory.objects.get(content=TEXTS[5])
    services.memory_update(memory=memory, ttl_seconds=1)
    assert TEXTS[5] in recalled_contents(agent, TEXTS[5], top_k=3)
    time.sleep(1.2)
    # The copy still holds the row; its expiry keeps it out.
    assert TEXTS[5] not in recalled_contents(agent, TEXTS[5], top_k=len(TEXTS))
    services.memory_update(memory=memory, pinned=True)
    assert recalled_contents(agent, TEXTS[5], top_k=1) == [TEXTS[5]]


def test_purging_expired_memories_prunes_the_copy(agent):
    memory = Memory.objects.get(content=TEXTS[6])
    services.memory_update(memory=memory, ttl_seconds=1)
    recalled_contents(agent, "anything")
    time.sleep(1.2)
    assert services.memories_purge_expired() == 1
    cache = get_vector_cache()
    assert memory.pk not in nearest(cache, agent, TEXTS[6], now=timezone.now() - timedelta(days=1))


def test_two_processes_each_follow_every_change(agent, settings):
    """Two caches stand for two web processes: neither hears of a change except through
    the database."""
    first, second = VectorCache(64 * 1024 * 1024), VectorCache(64 * 1024 * 1024)
    query = "where does the user live?"
    assert nearest(first, agent, query) == nearest(second, agent, query)
    services.forget(memory=Memory.objects.get(content=TEXTS[0]))
    services.remember(agent=agent, content="The user moved to Berlin last spring")
    services.memory_update(memory=Memory.objects.get(content=TEXTS[1]), memory_type="procedural")
    settings.KRONVEX_VECTOR_CACHE_MB = 0
    expected = _sql_ids(agent, query)
    assert nearest(first, agent, query) == expected
    assert nearest(second, agent, query) == expected
    assert nearest(first, agent, query, memory_type="procedural") == _sql_ids(
        agent, query, memory_type="procedural"
    )


def test_memories_without_a_vector_are_still_found_lexically(agent):
    embedder = get_embedder()
    cache = get_vector_cache()
    query = embedder.embed(["gardening"])[0]
    found = cache.nearest(
        agent=agent,
        model_name=embedder.model_name,
        dimensions=embedder.dimensions,
        query=query,
        limit=5,
        now=timezone.now(),
    )
    assert found is not None and not found.unembedded
    # A memory whose embedding has not landed (a worker is behind, or the provider failed).
    Memory.objects.create(
        account=agent.account,
        agent=agent,
        content="Gardening on Sunday mornings",
        status=EmbeddingStatus.FAILED,
    )
    found = cache.nearest(
        agent=agent,
        model_name=embedder.model_name,
        dimensions=embedder.dimensions,
        query=query,
        limit=5,
        now=timezone.now(),
    )
    assert found is not None and found.unembedded
    assert recalled_contents(agent, "gardening", top_k=1) == ["Gardening on Sunday mornings"]


def test_a_stale_copy_is_not_refreshed_inside_a_transaction(agent):
    cache = VectorCache(64 * 1024 * 1024)
    assert nearest(cache, agent, "tea") is not None
    services.remember(agent=agent, content="Switched to green tea")
    with transaction.atomic():
        # The transaction might see rows of its own that later roll back.
        assert nearest(cache, agent, "tea") is None
    assert nearest(cache, agent, "tea") is not None


def test_an_agent_larger_than_the_budget_is_searched_in_postgres(agent):
    dimensions = get_embedder().dimensions
    cache = VectorCache(budget_bytes=(len(TEXTS) - 1) * row_bytes(dimensions))
    assert nearest(cache, agent, "tea") is None
    assert not cache.holds(agent_pk=agent.pk, model_name=get_embedder().model_name)
    services.forget(memory=Memory.objects.get(content=TEXTS[0]))
    assert nearest(cache, agent, "tea") is not None, "it fits once a memory is deleted"


def test_an_agent_that_outgrows_the_budget_moves_to_postgres(agent):
    dimensions = get_embedder().dimensions
    cache = VectorCache(budget_bytes=len(TEXTS) * row_bytes(dimensions))
    assert nearest(cache, agent, "tea") is not None
    services.remember(agent=agent, content="One memory too many")
    assert nearest(cache, agent, "tea") is None
    assert not cache.holds(agent_pk=agent.pk, model_name=get_embedder().model_name)


def test_least_recently_used_agents_leave_first(account, fake_embedder):
    agents = []
    for index in range(3):
        agent = services.agent_create(account=account, slug=f"agent-{index}", name="A")
        for text in TEXTS:
            services.remember(agent=agent, content=text)
        agents.append(agent)
    dimensions = get_embedder().dimensions
    model = get_embedder().model_name
    # Room for two agents of 8 rows (copies grow in steps of 16 rows) and their lexemes,
    # not three.
    cache = VectorCache(budget_bytes=48 * row_bytes(dimensions))
    for agent in agents:
        assert nearest(cache, agent, "tea") is not None
    assert [cache.holds(agent_pk=a.pk, model_name=model) for a in agents] == [False, True, True]
    assert cache.nbytes <= cache.budget_bytes


def test_concurrent_writers_and_readers_end_with_an_exact_copy(agent):
    """Versions commit in order per agent, so a copy refreshed while writers race
    still ends up holding exactly the agent's ready memories."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(worker: int) -> None:
        try:
            for index in range(12):
                services.remember(agent=agent, content=f"worker {worker} note {index}")
            victim = Memory.objects.filter(content=f"worker {worker} note 0").first()
            services.forget(memory=victim)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def read() -> None:
        try:
            while not stop.is_set():
                recalled_contents(agent, "note", top_k=5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    ready = set(
        Memory.objects.filter(agent=agent, status=EmbeddingStatus.READY).values_list(
            "id", flat=True
        )
    )
    assert len(ready) == len(TEXTS) + 4 * 11
    assert set(nearest(get_vector_cache(), agent, "note", limit=1000)) == ready


def test_agent_vectors_keep_rows_aligned_through_removals():
    vectors = AgentVectors(version=1, dimensions=3)

    def row(memory_id, vector, session=None, memory_type="episodic", pinned=False):
        data = b"\x00\x03\x00\x00" + np.asarray(vector, dtype=">f4").tobytes()
        return (memory_id, data, pinned, None, session, memory_type, [], timezone.now())

    vectors.upsert([row(1, [1, 0, 0]), row(2, [0, 1, 0], "s"), row(3, [0, 0, 1], "s")])
    vectors.remove({1})
    vectors.upsert([row(4, [1, 1, 0], memory_type="semantic")])
    now = timezone.now()
    found = vectors.nearest(np.array([0, 1, 0.1]), limit=10, now=now)
    assert [item.memory_id for item in found] == [2, 4, 3]
    assert found[0].similarity == pytest.approx(1 / np.sqrt(1.01))
    in_session = vectors.nearest(np.array([0, 1, 0.5]), limit=9, now=now, session_id="s")
    assert [item.memory_id for item in in_session] == [2, 3]
    assert [
        item.memory_id
        for item in vectors.nearest(np.ones(3), limit=9, now=now, memory_type="semantic")
    ] == [4]
    assert vectors.nearest(np.ones(3), limit=9, now=now, session_id="unknown") == []
    assert vectors.cached_ids() == {2, 3, 4}
