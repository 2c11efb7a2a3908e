"""The hot paths keep a fixed number of queries, however many memories are involved.

Measured with a key already used in the last minute (its last_used_at write is
skipped); a key's first request in a minute adds one UPDATE. The on-commit
embedding runs inside the measured block, as it does in-process in production.
remember is measured outside a test transaction, exactly as in production;
elsewhere savepoints stand where BEGIN and COMMIT would be: same count.
"""

import pytest

pytestmark = pytest.mark.django_db

# Every request of a rate-limited key also counts itself: one upsert in PostgreSQL when
# no Redis is configured (as here), none with Redis.
# remember: key, rate limit, agent, INSERT taking the quota (committed alone), the
# account's webhook endpoints wanting memory.stored (none here), then the in-process
# embedding task's BEGIN, SELECT ... FOR UPDATE, the agent's vector version, the UPDATE
# that stores the vector, COMMIT. Its result says the memory is ready.
REMEMBER_QUERIES = 10
# recall: key, rate limit, agent, vector search (ids and distances from the covering
# index), the candidates' ranking facts, lexical search of unembedded memories, the
# winners' rows, access UPDATE (once the response is written, still within the request).
RECALL_QUERIES = 8


@pytest.fixture
def warm_api(api, agent, settings):
    # The usage counters are written by whichever request ends once their interval has
    # passed (billing/usage.py): one upsert every few seconds across all requests, not
    # part of any one request's count, so kept out of the measured one.
    settings.KRONVEX_USAGE_FLUSH_SECONDS = 10**9
    assert api.get("/api/v1/agents").status_code == 200
    return api


@pytest.mark.django_db(transaction=True)
def test_remember_runs_a_fixed_number_of_queries(warm_api, django_assert_num_queries):
    with django_assert_num_queries(REMEMBER_QUERIES):
        response = warm_api.post(
            "/api/v1/agents/assistant/remember",
            {"content": "The user likes green tea", "session_id": "s1", "metadata": {"a": 1}},
        )

    assert response.status_code == 200
    assert response.json()["status"] == "ready"


@pytest.mark.parametrize("memories", [1, 20])
def test_recall_runs_a_fixed_number_of_queries_whatever_it_returns(
    warm_api, agent, memories, django_assert_max_num_queries
):
    for index in range(memories):
        warm_api.remember(agent, f"Tea note {index}: the user likes green tea", session_id="s1")

    with django_assert_max_num_queries(RECALL_QUERIES):
        response = warm_api.post(
            "/api/v1/agents/assistant/recall",
            {"query": "green tea", "top_k": 20, "session_id": "s1"},
        )

    assert len(response.json()["memories"]) == memories


def test_inject_context_runs_as_many_queries_as_recall(
    warm_api, agent, django_assert_max_num_queries
):
    for content in ("The user likes green tea", "Matcha is powdered green tea", "Tea at five"):
        warm_api.remember(agent, content)

    with django_assert_max_num_queries(RECALL_QUERIES):
        response = warm_api.post(
            "/api/v1/agents/assistant/inject-context", {"query": "green tea", "top_k": 10}
        )

    assert response.json()["memories_used"] >= 2


# recall from a current in-process copy of the agent's vectors: key, rate limit, agent,
# the agent's vector versions (and whether any memory waits for a vector), the candidates'
# ranking facts, the winners' rows, access UPDATE. No vector scan and, with every memory
# embedded, no lexical fallback.
RECALL_FROM_COPY_QUERIES = 7


@pytest.mark.django_db(transaction=True)
def test_recall_from_a_current_vector_copy_skips_the_scan(
    warm_api, agent, django_assert_num_queries
):
    for index in range(5):
        warm_api.remember(agent, f"Tea note {index}: the user likes green tea")
    warm_api.post("/api/v1/agents/assistant/recall", {"query": "tea"})  # fills the copy

    with django_assert_num_queries(RECALL_FROM_COPY_QUERIES):
        response = warm_api.post(
            "/api/v1/agents/assistant/recall", {"query": "green tea", "top_k": 3}
        )

    assert len(response.json()["memories"]) == 3
