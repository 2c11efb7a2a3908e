"""POST /agents/{id}/inject-context: prompt-ready lines for the query's best memories."""

import re
from datetime import UTC, datetime

import pytest

from memories.context import estimate_tokens
from memories.models import Memory
from tests.api.test_recall_api import RANKING_WEIGHTS

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/assistant/inject-context"
LINE = re.compile(r"^\[(episodic|semantic|procedural), (\d{4}-\d{2}-\d{2})\] (.+)$")


def inject(api, **body):
    response = api.post(URL, body)
    assert response.status_code == 200, response.json()
    return response.json()


def test_inject_context_gives_one_line_per_memory_with_type_and_date(api, agent):
    api.remember(
        agent, "The user prefers green tea", type="semantic", created_at="2024-03-05T08:00:00Z"
    )
    api.remember(agent, "The user ordered green tea", created_at="2025-11-30T23:59:00Z")

    body = inject(api, query="green tea")

    assert set(body) == {"context", "memories_used", "memories"}
    lines = body["context"].split("\n")
    assert all(LINE.match(line) for line in lines)
    assert sorted(lines) == [
        "[episodic, 2025-11-30] The user ordered green tea",
        "[semantic, 2024-03-05] The user prefers green tea",
    ]
    assert body["memories_used"] == 2
    # The lines follow the memories, best first.
    assert [LINE.match(line).group(3) for line in lines] == [m["content"] for m in body["memories"]]
    assert {m["agent_id"] for m in body["memories"]} == {"assistant"}


def test_inject_context_folds_line_breaks_inside_a_memory(api, agent):
    api.remember(agent, "Green tea:\nbrew at 80 degrees,\n\tthree minutes", type="procedural")

    body = inject(api, query="green tea")

    assert body["context"].endswith("] Green tea: brew at 80 degrees, three minutes")
    assert "\n" not in body["context"]


def test_inject_context_collapses_a_sentence_remembered_twice_into_one_line(api, agent):
    # In three sessions, where none is a duplicate of another when stored.
    api.remember(agent, "The user prefers green tea", session_id="a")
    api.remember(agent, "The user prefers green tea", session_id="b")
    api.remember(agent, "the user prefers GREEN tea!", session_id="c")

    body = inject(api, query="green tea")

    assert body["memories_used"] == 1
    assert len(body["memories"]) == 1
    assert body["context"].count("\n") == 0
    assert body["context"].endswith("] The user prefers green tea") or body["context"].endswith(
        "] the user prefers GREEN tea!"
    )


def test_inject_context_stays_within_max_tokens(api, agent):
    api.remember(agent, "Tea: green", type="semantic")
    api.remember(
        agent,
        "The user once explained at great length why green tea brewed at eighty degrees "
        "tastes better than any other tea they have tried in their long life",
        type="semantic",
    )
    api.remember(agent, "Green tea, no sugar", type="semantic")
    unlimited = inject(api, query="green tea")
    assert estimate_tokens(unlimited["context"]) > 25

    body = inject(api, query="green tea", max_tokens=25)

    assert 0 < estimate_tokens(body["context"]) <= 25
    assert body["memories_used"] == len(body["context"].split("\n")) == len(body["memories"])
    assert "great length" not in body["context"]


def test_inject_context_counts_one_access_for_exactly_the_memories_it_uses(api, agent):
    api.remember(agent, "The user prefers green tea", type="semantic")
    api.remember(agent, "The user prefers green tea", type="semantic")
    long = api.remember(
        agent,
        "The user once explained at great length why green tea brewed at eighty degrees "
        "tastes better than any other tea they have tried in their long life",
        type="semantic",
    )

    body = inject(api, query="green tea", max_tokens=20)

    used = {m["id"] for m in body["memories"]}
    assert len(used) == body["memories_used"] == 1
    assert long["id"] not in used
    assert [m["access_count"] for m in body["memories"]] == [1]
    for memory in Memory.objects.all():
        assert memory.access_count == (1 if str(memory.uuid) in used else 0)


def test_inject_context_with_a_budget_too_small_for_any_line_is_empty(api, agent):
    api.remember(agent, "The user prefers green tea")

    body = inject(api, query="green tea", max_tokens=3)

    assert body == {"context": "", "memories_used": 0, "memories": []}
    assert Memory.objects.get().access_count == 0


def test_inject_context_of_an_agent_without_memories_is_empty(api, agent):
    body = inject(api, query="What does the user like?")

    assert body == {"context": "", "memories_used": 0, "memories": []}


def test_inject_context_with_session_never_uses_other_sessions_or_sessionless_memories(api, agent):
    api.remember(agent, "Alice prefers green tea", session_id="alice")
    api.remember(agent, "Bob prefers green tea", session_id="bob")
    api.remember(agent, "Everybody prefers green tea")

    alice = inject(api, query="green tea", session_id="alice", top_k=50)
    carol = inject(api, query="green tea", session_id="carol", top_k=50)

    assert alice["context"].endswith("] Alice prefers green tea")
    assert alice["memories_used"] == 1
    assert [m["session_id"] for m in alice["memories"]] == ["alice"]
    assert carol == {"context": "", "memories_used": 0, "memories": []}


def test_inject_context_accepts_message_instead_of_query(api, agent):
    api.remember(agent, "The user prefers green tea")

    body = inject(api, message="green tea", query=None)

    assert body["memories_used"] == 1


def test_inject_context_respects_top_k_and_type(api, agent):
    for content in (
        "The user prefers green tea",
        "Green tea is grown in Japan and China",
        "Matcha is powdered green tea",
        "Green tea contains caffeine",
    ):
        api.remember(agent, content, type="semantic")
    api.remember(agent, "Brew green tea for three minutes", type="procedural")

    top_two = inject(api, query="green tea", top_k=2)
    procedural = inject(api, query="green tea", memory_type="procedural")

    assert top_two["memories_used"] == 2
    assert procedural["context"].startswith("[procedural, ")
    assert procedural["memories_used"] == 1


def test_inject_context_never_uses_an_expired_memory(api, agent):
    expired = api.remember(agent, "The user prefers green tea", ttl_days=1)
    Memory.objects.filter(uuid=expired["id"]).update(expires_at=datetime(2000, 1, 1, tzinfo=UTC))

    assert inject(api, query="green tea")["memories_used"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": "  "}, "query"),
        ({"message": ""}, "message"),
        ({"query": 5}, "query"),
        ({"query": "tea", "max_tokens": 0}, "max_tokens"),
        ({"query": "tea", "max_tokens": "lots"}, "max_tokens"),
        ({"query": "tea", "max_tokens": 1.5}, "max_tokens"),
        ({"query": "tea", "top_k": 0}, "top_k"),
        ({"query": "tea", "top_k": 51}, "top_k"),
        ({"query": "tea", "type": "unknown"}, "type"),
        ({"query": "tea", "session_id": ""}, "session_id"),
        ({"query": "tea", "threshold": 2}, "threshold"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_inject_context_with_bad_input_is_400_and_counts_no_access(api, agent, body, field):
    api.remember(agent, "The user prefers green tea")

    response = api.post(URL, body)

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_request"
    assert isinstance(error["detail"], str)
    assert field in error["errors"]
    assert Memory.objects.get().access_count == 0


def test_inject_context_with_malformed_json_is_400(api, agent):
    response = api.raw("post", URL, '{"query": ')

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert "errors" in response.json()


def test_inject_context_with_explain_shows_each_used_memorys_score_parts(api, agent):
    api.remember(agent, "Priya recommended a ryokan near the station in Kyoto")

    body = inject(api, query="Kyoto ryokan", explain=True)

    assert set(body["weights"]) == RANKING_WEIGHTS
    parts = body["memories"][0]["explain"]
    assert parts["lexical"] > 0
    assert parts["final"] == body["memories"][0]["confidence"]
