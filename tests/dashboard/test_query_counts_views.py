"""With 100,000 memories in an agent, pages read one page of rows in a bounded number of queries."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.dashboard.conftest import Owner

MEMORIES = 100_000
# Session, user, account, agent, the page's rows and count, the session list, the flash
# messages: a page that loaded every memory, or one query per row, would go far past this.
MAX_QUERIES = 10


@pytest.fixture
def big_agent(owner: Owner) -> Owner:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO memories_memory (
                uuid, account_id, agent_id, content, type, session_id, metadata, pinned,
                access_count, created_at, updated_at, embedding_model, status,
                embedding_error, vector_version
            )
            SELECT gen_random_uuid(), %s, %s, 'memory number ' || n, 'episodic',
                   'user-' || (n %% 500), '{}', false, n %% 7,
                   now() - n * interval '1 minute', now(), '', 'pending', '', 0
            FROM generate_series(1, %s) AS n
            """,
            [owner.account.pk, owner.agent.pk, MEMORIES],
        )
        cursor.execute("ANALYZE memories_memory")
    return owner


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"page": 2000},
        {"q": "number 99999", "sort": "oldest"},
        {"session": "user-7", "type": "episodic", "sort": "most_used"},
    ],
    ids=["first-page", "last-page", "search", "filters"],
)
def test_memory_browser_reads_one_page_in_bounded_queries(
    big_agent: Owner, django_assert_max_num_queries: object, params: dict[str, object]
) -> None:
    with django_assert_max_num_queries(MAX_QUERIES):  # type: ignore[operator]
        response = big_agent.client.get(f"/dashboard/agents/{big_agent.agent.slug}/", params)

    assert response.status_code == 200
    page = response.context["page"]
    assert len(page.object_list) <= 50
    if not params:
        assert response.context["total"] == MEMORIES + 1
        assert page.paginator.num_pages == 2000
        assert len(page.object_list) == 50
    if "q" in params:
        assert [m.content for m in page.object_list] == ["memory number 99999"]


@pytest.mark.parametrize(
    "path", ["/dashboard/", "/dashboard/agents/", "/dashboard/agents/support-bot/delete/"]
)
def test_pages_that_count_memories_stay_bounded(
    big_agent: Owner, django_assert_max_num_queries: object, path: str
) -> None:
    with django_assert_max_num_queries(MAX_QUERIES):  # type: ignore[operator]
        response = big_agent.client.get(path)
    assert response.status_code == 200
    assert "100,001" in response.content.decode()
