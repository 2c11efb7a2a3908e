"""POST /agents/{id}/remember: store a memory, embedded before the answer in eager mode."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Account
from memories.embedding import get_embedder
from memories.models import Memory

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/assistant/remember"
MEMORY_KEYS = {
    "id",
    "agent_id",
    "content",
    "type",
    "memory_type",
    "session_id",
    "metadata",
    "pinned",
    "created_at",
    "updated_at",
    "expires_at",
    "access_count",
    "last_accessed_at",
    "refreshed_at",
    "superseded_by",
    "status",
    "embedding_model",
    "embedding_error",
}


def test_remember_stores_the_memory_and_embeds_it(api, agent):
    before = timezone.now()
    response = api.post(
        URL,
        {
            "content": "User prefers concise answers",
            "type": "semantic",
            "session_id": "user-42",
            "metadata": {"source": "chat", "turn": 3},
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == MEMORY_KEYS | {"deduplicated"}
    assert body["deduplicated"] is False
    assert body["agent_id"] == "assistant"
    assert body["content"] == "User prefers concise answers"
    assert body["type"] == body["memory_type"] == "semantic"
    assert body["session_id"] == "user-42"
    assert body["metadata"] == {"source": "chat", "turn": 3}
    assert (body["pinned"], body["expires_at"], body["access_count"]) == (False, None, 0)
    assert body["last_accessed_at"] is None
    assert body["created_at"].endswith("Z")
    stored = Memory.objects.get(uuid=body["id"])
    assert stored.agent_id == agent.pk
    assert stored.account_id == agent.account_id
    assert (stored.content, stored.type, stored.session_id) == (
        "User prefers concise answers",
        "semantic",
        "user-42",
    )
    assert stored.metadata == {"source": "chat", "turn": 3}
    assert before <= stored.created_at <= timezone.now()
    assert stored.status == "ready"
    assert stored.embedding_model == get_embedder().model_name
    assert len(stored.embedding) == get_embedder().dimensions


def test_remember_defaults_to_an_episodic_memory_without_session(api, agent):
    body = api.remember(agent, "Deployed v2 on Friday")

    assert (body["type"], body["session_id"], body["metadata"], body["pinned"]) == (
        "episodic",
        None,
        {},
        False,
    )
    stored = Memory.objects.get(uuid=body["id"])
    assert (stored.type, stored.session_id, stored.metadata) == ("episodic", None, {})


def test_remember_keeps_the_content_exactly_as_sent(api, agent):
    content = "  Line one\n\tline two  "

    body = api.remember(agent, content)

    assert body["content"] == content
    assert Memory.objects.get(uuid=body["id"]).content == content


def test_remember_accepts_memory_type_as_a_synonym_of_type(api, agent):
    body = api.remember(agent, "Run migrations before deploying", memory_type="procedural")

    assert body["type"] == body["memory_type"] == "procedural"
    assert Memory.objects.get(uuid=body["id"]).type == "procedural"


def test_remember_treats_null_optional_fields_as_omitted(api, agent):
    body = api.remember(
        agent,
        "Nothing optional given",
        type=None,
        memory_type=None,
        session_id=None,
        metadata=None,
        pinned=None,
        ttl_days=None,
        ttl_seconds=None,
        created_at=None,
    )

    stored = Memory.objects.get(uuid=body["id"])
    assert (stored.type, stored.session_id, stored.metadata) == ("episodic", None, {})
    assert (stored.pinned, stored.expires_at) == (False, None)
    assert timezone.now() - stored.created_at < timedelta(minutes=1)


def test_remember_ignores_unknown_fields(api, agent):
    body = api.remember(agent, "Extra fields are fine", colour="blue", nested={"a": 1})

    assert "colour" not in body
    assert Memory.objects.get(uuid=body["id"]).content == "Extra fields are fine"


def test_remember_accepts_content_of_the_maximum_length(api, agent):
    content = "word " * (settings.KRONVEX_MAX_CONTENT_CHARS // 5)
    assert len(content) == settings.KRONVEX_MAX_CONTENT_CHARS

    body = api.remember(agent, content)

    assert Memory.objects.get(uuid=body["id"]).content == content


def test_remember_stores_a_given_created_at(api, agent):
    body = api.remember(agent, "Imported from the old system", created_at="2024-01-15T10:30:00Z")

    assert body["created_at"] == "2024-01-15T10:30:00Z"
    stored = Memory.objects.get(uuid=body["id"])
    assert stored.created_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def test_remember_converts_a_created_at_with_offset_to_utc(api, agent):
    body = api.remember(agent, "Imported with an offset", created_at="2024-01-15T12:30:00+02:00")

    assert body["created_at"] == "2024-01-15T10:30:00Z"
    assert Memory.objects.get(uuid=body["id"]).created_at == datetime(
        2024, 1, 15, 10, 30, tzinfo=UTC
    )


def test_remember_with_ttl_days_sets_expires_at(api, agent):
    body = api.remember(agent, "Temporary fact", ttl_days=7)

    stored = Memory.objects.get(uuid=body["id"])
    expected = timezone.now() + timedelta(days=7)
    assert abs(stored.expires_at - expected) < timedelta(minutes=1)
    assert body["expires_at"] == stored.expires_at.isoformat().replace("+00:00", "Z")


def test_remember_with_ttl_seconds_sets_expires_at(api, agent):
    body = api.remember(agent, "Very temporary fact", ttl_seconds=90)

    stored = Memory.objects.get(uuid=body["id"])
    expected = timezone.now() + timedelta(seconds=90)
    assert abs(stored.expires_at - expected) < timedelta(seconds=30)


def test_remember_pinned_memory(api, agent):
    body = api.remember(agent, "Never forget this", pinned=True)

    assert body["pinned"] is True
    assert Memory.objects.get(uuid=body["id"]).pinned is True


def test_remember_into_a_missing_agent_is_404_and_stores_nothing(api, agent):
    response = api.post("/api/v1/agents/nobody/remember", {"content": "Lost"})

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No agent 'nobody' in this account.",
        "code": "agent_not_found",
    }
    assert Memory.objects.count() == 0


def test_remember_by_agent_uuid_stores_into_that_agent(api, agent):
    response = api.post(f"/api/v1/agents/{agent.uuid}/remember", {"content": "By uuid"})

    assert response.status_code == 200
    assert response.json()["agent_id"] == "assistant"
    assert Memory.objects.get().agent_id == agent.pk


BAD_BODIES = [
    ({}, "content"),
    ({"content": 123}, "content"),
    ({"content": None}, "content"),
    ({"content": ["a list"]}, "content"),
    ({"content": {"an": "object"}}, "content"),
    ({"content": True}, "content"),
    ({"content": ""}, "content"),
    ({"content": "   \n\t "}, "content"),
    ({"content": "x" * (settings.KRONVEX_MAX_CONTENT_CHARS + 1)}, "content"),
    ({"content": "ok", "type": "unknown"}, "type"),
    ({"content": "ok", "type": "Semantic"}, "type"),
    ({"content": "ok", "type": ""}, "type"),
    ({"content": "ok", "type": 1}, "type"),
    ({"content": "ok", "memory_type": "bogus"}, "memory_type"),
    ({"content": "ok", "session_id": ""}, "session_id"),
    ({"content": "ok", "session_id": 42}, "session_id"),
    ({"content": "ok", "session_id": "s" * 256}, "session_id"),
    ({"content": "ok", "metadata": "not an object"}, "metadata"),
    ({"content": "ok", "metadata": [1, 2]}, "metadata"),
    ({"content": "ok", "metadata": 3}, "metadata"),
    (
        {"content": "ok", "metadata": {"blob": "x" * settings.KRONVEX_MAX_METADATA_BYTES}},
        "metadata",
    ),
    ({"content": "ok", "metadata": {"k": "null \u0000 inside"}}, "metadata"),
    ({"content": "ok", "metadata": {"null \u0000 key": 1}}, "metadata"),
    ({"content": "ok", "metadata": {"deep": [["\u0000"]]}}, "metadata"),
    (
        {
            "content": "ok",
            "metadata": {
                "a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
            },
        },
        "metadata",
    ),
    ({"content": "ok", "pinned": "yes"}, "pinned"),
    ({"content": "ok", "pinned": 1}, "pinned"),
    ({"content": "ok", "ttl_days": 0}, "ttl_days"),
    ({"content": "ok", "ttl_days": -1}, "ttl_days"),
    ({"content": "ok", "ttl_days": 1.5}, "ttl_days"),
    ({"content": "ok", "ttl_days": True}, "ttl_days"),
    ({"content": "ok", "ttl_days": "soon"}, "ttl_days"),
    ({"content": "ok", "ttl_days": 36_501}, "ttl_days"),
    ({"content": "ok", "ttl_seconds": 0}, "ttl_seconds"),
    ({"content": "ok", "ttl_days": 1, "ttl_seconds": 60}, "ttl_seconds"),
    ({"content": "ok", "created_at": "yesterday"}, "created_at"),
    ({"content": "ok", "created_at": 1700000000}, "created_at"),
    ({"content": "ok", "created_at": "2999-01-01T00:00:00Z"}, "created_at"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[repr(b)[:60] for b, _ in BAD_BODIES])
def test_remember_with_bad_input_is_400_naming_the_field_and_stores_nothing(
    api, agent, body, field
):
    response = api.post(URL, body)

    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"detail", "code", "errors"}
    assert error["code"] == "invalid_request"
    assert isinstance(error["detail"], str)
    assert field in error["detail"]
    assert field in error["errors"]
    assert all(isinstance(message, str) for message in error["errors"][field])
    assert Memory.objects.count() == 0


def test_remember_with_created_at_a_day_ahead_says_it_is_in_the_future(api, agent):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()

    response = api.post(URL, {"content": "From the future", "created_at": tomorrow})

    assert response.status_code == 400
    assert response.json()["errors"] == {"created_at": ["Must not be in the future."]}
    assert Memory.objects.count() == 0


def test_remember_with_created_at_a_minute_ahead_is_accepted_as_clock_skew(api, agent):
    soon = (timezone.now() + timedelta(minutes=1)).isoformat()

    body = api.remember(agent, "Client clock runs ahead", created_at=soon)

    assert Memory.objects.get(uuid=body["id"]).created_at > timezone.now()


@pytest.mark.parametrize(
    "raw_body",
    ['{"content": "unterminated', "{'content': 'single quotes'}", '{"content": NaN}', "not json"],
    ids=["unterminated", "single-quotes", "nan", "plain-text"],
)
def test_remember_with_malformed_json_is_400_malformed_json(api, agent, raw_body):
    response = api.raw("post", URL, raw_body)

    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"detail", "code", "errors"}
    assert error["code"] == "malformed_json"
    assert isinstance(error["detail"], str)
    assert Memory.objects.count() == 0


@pytest.mark.parametrize("raw_body", ['["User prefers tea"]', '"User prefers tea"', "42", "null"])
def test_remember_with_a_json_body_that_is_not_an_object_is_400(api, agent, raw_body):
    response = api.raw("post", URL, raw_body)

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_request"
    assert list(error["errors"]) == ["request"]
    assert Memory.objects.count() == 0


def test_remember_with_metadata_nested_hundreds_of_levels_deep_is_400(api, agent):
    nested = "[" * 500 + "]" * 500
    response = api.raw("post", URL, '{"content": "ok", "metadata": {"a": ' + nested + "}}")

    assert response.status_code == 400
    assert "metadata" in response.json()["errors"]
    assert Memory.objects.count() == 0


def test_remember_with_a_body_nested_too_deeply_to_parse_is_400_malformed_json(api, agent):
    nested = "[" * 100_000 + "]" * 100_000
    response = api.raw("post", URL, '{"content": "ok", "metadata": {"a": ' + nested + "}}")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert Memory.objects.count() == 0


def test_remember_with_a_non_json_content_type_is_415(api, agent):
    response = api.raw(
        "post", URL, "content=hello", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert Memory.objects.count() == 0


def test_remember_with_a_body_over_the_size_limit_is_413(api, agent):
    body = '{"content": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'

    response = api.raw("post", URL, body)

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert Memory.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_remember_answers_with_the_memory_already_embedded(account, agent, api_key):
    # A real commit, so the on-commit embedding runs before the view answers, as in production.
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key[1])

    response = client.post(URL, {"content": "Embedded before the answer"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["embedding_model"], body["embedding_error"]) == (
        "ready",
        get_embedder().model_name,
        None,
    )
    assert Memory.objects.get(uuid=body["id"]).status == "ready"


@pytest.mark.django_db
def test_remember_rejects_type_and_memory_type_that_disagree(api, agent):
    response = api.post(
        f"/api/v1/agents/{agent.slug}/remember",
        {"content": "x", "type": "semantic", "memory_type": "episodic"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "memory_type" in response.json()["errors"]
    assert not Memory.objects.filter(agent=agent).exists()


@pytest.mark.django_db
def test_remember_accepts_type_and_memory_type_that_agree(api, agent):
    response = api.post(
        f"/api/v1/agents/{agent.slug}/remember",
        {"content": "x", "type": "semantic", "memory_type": "semantic"},
    )
    assert response.status_code == 200
    assert response.json()["type"] == "semantic"


def test_remembering_the_same_content_again_returns_the_first_memory_refreshed(api, agent):
    first = api.remember(agent, "The user likes green tea", session_id="s1", created_at=ago(40))

    again = api.post(
        URL, {"content": "  the user LIKES green-tea! ", "session_id": "s1", "pinned": True}
    )

    body = again.json()
    assert again.status_code == 200
    assert body["deduplicated"] is True
    assert body["id"] == first["id"]
    assert body["content"] == "The user likes green tea"
    assert body["pinned"] is True
    assert body["refreshed_at"] > first["created_at"]
    assert Memory.objects.filter(agent=agent).count() == 1
    assert Account.objects.get(pk=agent.account_id).memories_held == 1


def test_a_refreshed_duplicate_ranks_as_recent(api, agent):
    stale = api.remember(agent, "The user likes green tea", created_at=ago(120))
    api.remember(agent, "The user likes green tea")

    [recalled] = api.post("/api/v1/agents/assistant/recall", {"query": "green tea"}).json()[
        "memories"
    ]
    assert recalled["id"] == stale["id"]
    assert recalled["recency"] > 0.9


@pytest.mark.parametrize(
    "second",
    [
        {"content": "The user likes green tea", "session_id": "other"},
        {"content": "The user likes green tea"},
        {"content": "The user likes green tea a lot", "session_id": "s1"},
    ],
    ids=["other-session", "no-session", "other-words"],
)
def test_only_the_same_words_in_the_same_session_are_a_duplicate(api, agent, second):
    first = api.remember(agent, "The user likes green tea", session_id="s1")

    body = api.post(URL, second).json()

    assert body["deduplicated"] is False
    assert body["id"] != first["id"]
    assert Memory.objects.filter(agent=agent).count() == 2


def test_an_expired_memory_is_no_duplicate(api, agent):
    first = api.remember(agent, "Temporary note", ttl_seconds=60)
    Memory.objects.filter(uuid=first["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    body = api.post(URL, {"content": "Temporary note"}).json()

    assert body["deduplicated"] is False
    assert body["id"] != first["id"]


def test_another_agents_memory_is_no_duplicate(api, agent, account):
    from memories import services

    services.agent_create(account=account, slug="other", name="Other")
    api.remember("other", "The user likes green tea")

    assert api.post(URL, {"content": "The user likes green tea"}).json()["deduplicated"] is False


def ago(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def test_a_memory_can_supersede_earlier_ones_which_stay_listable_and_rank_after(api, agent):
    lyon = api.remember(agent, "The user lives in Lyon, near the old town", created_at=ago(200))
    flat = api.remember(agent, "The user rents a flat in Lyon", created_at=ago(150))

    porto = api.post(
        URL, {"content": "The user moved to Porto", "supersedes": [lyon["id"], flat["id"]]}
    )

    assert porto.status_code == 200
    new_id = porto.json()["id"]
    assert porto.json()["superseded_by"] is None
    listed = {
        m["id"]: m["superseded_by"]
        for m in api.get("/api/v1/agents/assistant/memories").json()["memories"]
    }
    assert listed == {lyon["id"]: new_id, flat["id"]: new_id, new_id: None}
    # The newest statement comes first, however close the older ones are to the question.
    recalled = api.post(
        "/api/v1/agents/assistant/recall", {"query": "Where does the user live?"}
    ).json()["memories"]
    assert recalled[0]["id"] == new_id
    assert {m["id"] for m in recalled} == {lyon["id"], flat["id"], new_id}


def test_deleting_the_newer_memory_leaves_the_older_one_superseded_no_more(api, agent):
    old = api.remember(agent, "Works at Acme")
    new = api.post(URL, {"content": "Works at Globex", "supersedes": [old["id"]]}).json()

    assert api.delete(f"/api/v1/agents/assistant/memories/{new['id']}").status_code == 200

    assert Memory.objects.get(uuid=old["id"]).superseded_by is None


@pytest.mark.parametrize("target", ["missing", "other-account", "not-a-uuid"])
def test_superseding_what_the_agent_does_not_hold_is_400_and_stores_nothing(
    api, agent, other_api, other_account, target
):
    from memories import services

    theirs = services.remember(
        agent=services.agent_create(account=other_account, slug="x", name="X"), content="theirs"
    )
    memory_id = {
        "missing": "6f1c6c38-1d8b-4f4a-9a55-3f3c7c1e0000",
        "other-account": str(theirs.uuid),
        "not-a-uuid": "nope",
    }[target]

    response = api.post(URL, {"content": "New fact", "supersedes": [memory_id]})

    assert response.status_code == 400
    assert [field for field in response.json()["errors"] if field.startswith("supersedes")]
    assert not Memory.objects.filter(agent=agent).exists()
    assert Memory.objects.get(pk=theirs.pk).superseded_by is None
