"""POST /agents/{id}/recall: the agent's best memories for a query, best first."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from memories.models import Memory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/assistant/recall"
RECALLED_KEYS = {
    "id",
    "agent_id",
    "content",
    "type",
    "memory_type",
    "session_id",
    "metadata",
    "created_at",
    "confidence",
    "similarity",
    "recency",
    "frequency",
    "access_count",
    "pinned",
    "superseded_by",
    "status",
}


def ago(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def recall(api, **body):
    response = api.post(URL, body)
    assert response.status_code == 200, response.json()
    return response.json()["memories"]


def test_recall_answers_the_memory_with_its_scores(api, agent):
    stored = api.remember(
        agent, "The user likes green tea", type="semantic", session_id="s1", metadata={"k": 1}
    )

    memories = recall(api, query="green tea")

    assert len(memories) == 1
    item = memories[0]
    assert set(item) == RECALLED_KEYS
    assert item["id"] == stored["id"]
    assert (item["agent_id"], item["content"], item["type"], item["memory_type"]) == (
        "assistant",
        "The user likes green tea",
        "semantic",
        "semantic",
    )
    assert (item["session_id"], item["metadata"], item["pinned"]) == ("s1", {"k": 1}, False)
    assert item["created_at"] == stored["created_at"]
    assert item["status"] == "ready"
    assert item["access_count"] == 1


def test_recall_finds_the_memory_that_means_what_the_query_asks(api, agent):
    api.remember(agent, "The server listens on port 8000")
    api.remember(agent, "The user prefers green tea over coffee")
    api.remember(agent, "The meeting with the accountant is on Tuesday")

    memories = recall(api, query="What does the user like to drink?", top_k=1)

    assert [m["content"] for m in memories] == ["The user prefers green tea over coffee"]


def test_recall_scores_are_in_0_1_and_confidence_is_their_weighted_sum(api, agent):
    api.remember(agent, "The user likes green tea")
    api.remember(agent, "The user drank green tea a month ago", created_at=ago(31))
    api.remember(agent, "Green tea is the user's favourite", type="semantic")
    Memory.objects.filter(content__startswith="Green tea").update(access_count=7)

    memories = recall(api, query="green tea")

    assert len(memories) == 3
    for item in memories:
        for score in ("confidence", "similarity", "recency", "frequency"):
            assert 0.0 <= item[score] <= 1.0
        weighted = (
            settings.KRONVEX_WEIGHT_SIMILARITY * item["similarity"]
            + settings.KRONVEX_WEIGHT_RECENCY * item["recency"]
            + settings.KRONVEX_WEIGHT_FREQUENCY * item["frequency"]
        )
        assert item["confidence"] == pytest.approx(weighted, abs=1e-5)
    by_content = {item["content"]: item for item in memories}
    assert by_content["Green tea is the user's favourite"]["recency"] == 1.0
    assert by_content["Green tea is the user's favourite"]["frequency"] > 0
    assert by_content["The user likes green tea"]["frequency"] == 0
    assert by_content["The user drank green tea a month ago"]["recency"] < 0.5


def test_recall_orders_equally_similar_memories_by_confidence(api, agent):
    # Same sentence, so the same similarity: only recency and use tell them apart (each
    # in its own session, where it is no duplicate).
    tea = "The user likes green tea"
    old = api.remember(agent, tea, created_at=ago(90), session_id="a")
    fresh = api.remember(agent, tea, created_at=ago(1), session_id="b")
    fact = api.remember(agent, tea, type="semantic", created_at=ago(90), session_id="c")
    used = api.remember(agent, tea, created_at=ago(90), session_id="d")
    Memory.objects.filter(uuid=used["id"]).update(access_count=50)

    memories = recall(api, query="green tea", top_k=4)

    assert [m["id"] for m in memories] == [used["id"], fact["id"], fresh["id"], old["id"]]
    confidences = [m["confidence"] for m in memories]
    assert confidences == sorted(confidences, reverse=True)
    assert len({m["similarity"] for m in memories}) == 1


def test_recall_returns_at_most_top_k_memories(api, agent):
    for index in range(7):
        api.remember(agent, f"Note number {index} about green tea")

    assert len(recall(api, query="green tea")) == 5
    assert len(recall(api, query="green tea", top_k=None)) == 5
    assert len(recall(api, query="green tea", top_k=2)) == 2
    assert len(recall(api, query="green tea", top_k=50)) == 7


def test_recall_counts_one_access_for_exactly_the_returned_memories(api, agent):
    for content in (
        "The user likes green tea",
        "The user likes jasmine tea",
        "The user likes oolong",
    ):
        api.remember(agent, content)
    before = timezone.now()

    first = recall(api, query="tea", top_k=2)
    second = recall(api, query="tea", top_k=2)

    returned = {m["id"] for m in first}
    assert len(returned) == 2
    assert {m["id"] for m in second} == returned
    assert [m["access_count"] for m in second] == [2, 2]
    for memory in Memory.objects.all():
        if str(memory.uuid) in returned:
            assert memory.access_count == 2
            assert memory.last_accessed_at >= before
        else:
            assert memory.access_count == 0
            assert memory.last_accessed_at is None


def test_recall_with_threshold_leaves_out_less_similar_memories(api, agent):
    api.remember(agent, "The user likes green tea")
    api.remember(agent, "The server listens on port 8000")

    everything = recall(api, query="green tea", threshold=0.0)
    similar = recall(api, query="green tea", threshold=0.5)

    assert len(everything) == 2
    assert [m["content"] for m in similar] == ["The user likes green tea"]
    assert all(m["similarity"] >= 0.5 for m in similar)
    unrelated = Memory.objects.get(content="The server listens on port 8000")
    assert unrelated.access_count == 1  # counted by the first recall only


def test_recall_with_session_never_returns_other_sessions_or_sessionless_memories(api, agent):
    alice = api.remember(agent, "The user's favourite drink is green tea", session_id="alice")
    api.remember(agent, "The user's favourite drink is green tea!", session_id="bob")
    api.remember(agent, "The user's favourite drink is green tea.", session_id=None)
    api.remember(agent, "The user's favourite drink is green tea", session_id="alice-2")

    memories = recall(api, query="favourite drink green tea", session_id="alice", top_k=50)

    assert [m["id"] for m in memories] == [alice["id"]]
    assert memories[0]["session_id"] == "alice"
    assert Memory.objects.exclude(session_id="alice").filter(access_count__gt=0).count() == 0


def test_recall_with_an_unknown_session_returns_nothing(api, agent):
    api.remember(agent, "The user likes green tea", session_id="alice")

    assert recall(api, query="green tea", session_id="nobody") == []


def test_recall_without_session_searches_every_session(api, agent):
    api.remember(agent, "The user likes green tea", session_id="alice")
    api.remember(agent, "The user likes black tea", session_id="bob")
    api.remember(agent, "The user likes tea")

    assert len(recall(api, query="tea", session_id=None)) == 3


@pytest.mark.parametrize("field", ["type", "memory_type"])
def test_recall_filters_by_type_under_either_name(api, agent, field):
    api.remember(agent, "The user likes green tea", type="semantic")
    api.remember(agent, "The user drank green tea today", type="episodic")
    api.remember(agent, "To brew green tea, use water at 80 degrees", type="procedural")

    memories = recall(api, query="green tea", **{field: "procedural"})

    assert [m["content"] for m in memories] == ["To brew green tea, use water at 80 degrees"]
    assert memories[0]["type"] == memories[0]["memory_type"] == "procedural"


def test_recall_never_returns_an_expired_memory_but_a_pinned_one_never_expires(api, agent):
    expired = api.remember(agent, "The user likes green tea", ttl_days=1)
    pinned = api.remember(agent, "The user likes green tea a lot", ttl_days=1, pinned=True)
    Memory.objects.filter(uuid__in=[expired["id"], pinned["id"]]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    memories = recall(api, query="green tea", top_k=50)

    assert [m["id"] for m in memories] == [pinned["id"]]
    assert Memory.objects.get(uuid=expired["id"]).access_count == 0


def test_recall_finds_a_memory_whose_vector_has_not_landed_yet_by_its_words(api, agent):
    stored = api.remember(agent, "The user likes green tea")
    Memory.objects.filter(uuid=stored["id"]).update(status="pending", embedding=None)

    memories = recall(api, query="green tea")

    assert [m["id"] for m in memories] == [stored["id"]]
    assert memories[0]["status"] == "pending"


def test_recall_treats_null_optional_fields_as_omitted(api, agent):
    api.remember(agent, "The user likes green tea", session_id="alice")

    memories = recall(
        api,
        query="green tea",
        top_k=None,
        session_id=None,
        type=None,
        memory_type=None,
        threshold=None,
        unknown_field="ignored",
    )

    assert [m["content"] for m in memories] == ["The user likes green tea"]


def test_recall_of_an_agent_without_memories_is_empty(api, agent):
    assert recall(api, query="anything") == []


BAD_BODIES = [
    ({}, "query"),
    ({"query": None}, "query"),
    ({"query": ""}, "query"),
    ({"query": "   "}, "query"),
    ({"query": 123}, "query"),
    ({"query": ["tea"]}, "query"),
    ({"query": "x" * (settings.KRONVEX_MAX_QUERY_CHARS + 1)}, "query"),
    ({"query": "tea", "top_k": 0}, "top_k"),
    ({"query": "tea", "top_k": 51}, "top_k"),
    ({"query": "tea", "top_k": -1}, "top_k"),
    ({"query": "tea", "top_k": 2.5}, "top_k"),
    ({"query": "tea", "top_k": "many"}, "top_k"),
    ({"query": "tea", "top_k": True}, "top_k"),
    ({"query": "tea", "threshold": -0.1}, "threshold"),
    ({"query": "tea", "threshold": 1.5}, "threshold"),
    ({"query": "tea", "threshold": "high"}, "threshold"),
    ({"query": "tea", "threshold": False}, "threshold"),
    ({"query": "tea", "type": "unknown"}, "type"),
    ({"query": "tea", "memory_type": "unknown"}, "memory_type"),
    ({"query": "tea", "session_id": ""}, "session_id"),
    ({"query": "tea", "session_id": 7}, "session_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[repr(b)[:50] for b, _ in BAD_BODIES])
def test_recall_with_bad_input_is_400_naming_the_field_and_counts_no_access(
    api, agent, body, field
):
    api.remember(agent, "The user likes green tea")

    response = api.post(URL, body)

    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"detail", "code", "errors"}
    assert error["code"] == "invalid_request"
    assert isinstance(error["detail"], str)
    assert field in error["errors"]
    assert Memory.objects.get().access_count == 0


@pytest.mark.parametrize(
    ("raw_body", "code"),
    [
        ('{"query": "tea", "top_k": 3', "malformed_json"),
        ('{"query": "tea", "threshold": NaN}', "malformed_json"),
        ('[{"query": "tea"}]', "invalid_request"),
        ('"tea"', "invalid_request"),
    ],
    ids=["unterminated", "nan", "list", "string"],
)
def test_recall_with_a_body_that_is_not_a_json_object_is_400(api, agent, raw_body, code):
    api.remember(agent, "The user likes green tea")

    response = api.raw("post", URL, raw_body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert set(response.json()) == {"detail", "code", "errors"}
    assert Memory.objects.get().access_count == 0


RANKING_WEIGHTS = {
    "lexical",
    "period",
    "newness",
    "crowding",
    "similarity",
    "recency",
    "frequency",
}


def test_recall_with_explain_returns_every_score_part_and_the_weights(api, agent):
    api.remember(agent, "Priya recommended a ryokan near the station in Kyoto")
    api.remember(agent, "We stayed at a quiet hotel by the river in Osaka")

    response = api.post(URL, {"query": "What did Priya recommend in Kyoto?", "explain": True})

    body = response.json()
    weights = body["weights"]
    assert set(weights) == RANKING_WEIGHTS
    first = body["memories"][0]
    parts = first["explain"]
    assert set(parts) == RANKING_WEIGHTS | {"vector", "final"}
    assert first["content"].startswith("Priya")
    assert parts["lexical"] > 0
    # The query names no period and does not ask about the present.
    assert parts["period"] is None
    assert parts["newness"] is None
    # Two candidates are each other's nearest: equally crowded, so centred on 0.
    assert [item["explain"]["crowding"] for item in body["memories"]] == pytest.approx([0, 0])
    assert parts["similarity"] == pytest.approx(
        (1 - weights["lexical"]) * (parts["vector"] - weights["crowding"] * parts["crowding"])
        + weights["lexical"] * parts["lexical"],
        abs=1e-5,
    )
    assert parts["final"] == first["confidence"]
    assert parts["final"] == pytest.approx(
        weights["similarity"] * parts["similarity"]
        + weights["recency"] * parts["recency"]
        + weights["frequency"] * parts["frequency"],
        abs=1e-5,
    )


def test_recall_prefers_memories_made_in_the_period_the_query_names(api, agent):
    for day, content in (
        ("2025-03-14", "Finished reading The Glass Orchard, loved the ending"),
        ("2025-06-02", "Finished reading Paper Tigers on the train"),
        ("2025-09-20", "Finished reading A Map of Small Rooms at last"),
    ):
        api.remember(agent, content, created_at=f"{day}T10:00:00Z")

    body = api.post(
        URL, {"query": "Which book did I finish in June 2025?", "top_k": 3, "explain": True}
    ).json()

    first = body["memories"][0]
    assert first["content"] == "Finished reading Paper Tigers on the train"
    assert first["explain"]["period"] == 1.0
    assert [item["explain"]["period"] for item in body["memories"][1:]] == [0.0, 0.0]


def test_recall_asked_about_the_present_prefers_the_newest_statement(api, agent):
    for day, content in (
        ("2025-01-10", "I live in Hamburg now"),
        ("2025-05-07", "I live in Vienna now"),
        ("2024-11-02", "I live in Rotterdam now"),
    ):
        api.remember(agent, content, created_at=f"{day}T10:00:00Z")
    query = {"query": "Which city do I live in these days?", "top_k": 3, "explain": True}

    body = api.post(URL, query).json()

    assert [item["content"] for item in body["memories"]] == [
        "I live in Vienna now",
        "I live in Hamburg now",
        "I live in Rotterdam now",
    ]
    assert [item["explain"]["newness"] for item in body["memories"]] == pytest.approx(
        [1.0, 69 / 186, 0.0]
    )


def test_recall_ranks_a_distinctive_memory_above_generic_ones_that_resemble_each_other(
    api, agent, settings
):
    for content in (
        "A strong espresso gets me going before work.",
        "Good morning! Thanks, that helps.",
        "Morning! Thanks, that helps a lot.",
        "Good morning, thanks for the help.",
        "Thanks, good morning to you too.",
        "Morning, that helps, thank you.",
    ):
        api.remember(agent, content)
    query = {"query": "What do I drink in the morning?", "top_k": 6, "explain": True}

    body = api.post(URL, query).json()

    first = body["memories"][0]
    assert first["content"] == "A strong espresso gets me going before work."
    # The chit-chat resembles itself: the espresso memory is the least crowded candidate.
    crowding = [item["explain"]["crowding"] for item in body["memories"]]
    assert first["explain"]["crowding"] == min(crowding) < 0
    assert sum(crowding) == pytest.approx(0, abs=1e-5)
    # By its cosine alone a generic greeting comes first.
    assert max(body["memories"], key=lambda item: item["explain"]["vector"]) != first

    settings.KRONVEX_WEIGHT_CROWDING = 0.0
    unweighted = api.post(URL, query).json()["memories"]
    assert unweighted[0]["content"] == "Morning! Thanks, that helps a lot."


def test_recall_explains_nothing_unless_asked(api, agent):
    api.remember(agent, "The user likes green tea")
    body = api.post(URL, {"query": "tea", "explain": False}).json()
    assert "weights" not in body
    assert "explain" not in body["memories"][0]
