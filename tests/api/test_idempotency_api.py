"""Idempotency-Key on every POST: a retried request gets the first answer and writes once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection, connections
from django.urls import include, path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from api import idempotency, ratelimit
from api.models import IdempotencyKey
from api.services import api_key_create
from api.tasks import purge_idempotency_keys
from api.views import AccountApi
from billing.models import Account
from billing.services import account_get_or_create_for_email
from memories import services
from memories.models import Agent, Memory, MemoryBatch
from tests.api.conftest import BASE, Api

pytestmark = pytest.mark.django_db

REMEMBER = f"{BASE}/agents/assistant/remember"
KEY = "3f1c9a52-6f0e-4d0b-9b9e-2c8e1f7d4a10"


def keyed(key: str = KEY) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def without_rate_limit_headers(response: Any) -> dict[str, str]:
    return {
        name: value
        for name, value in response.items()
        if not name.startswith("X-RateLimit-") and name != idempotency.REPLAYED_HEADER
    }


# -- replays -----------------------------------------------------------------------------


def test_a_replayed_remember_answers_the_first_answer_and_stores_one_memory(
    api: Api, agent: Agent
) -> None:
    body = {"content": "The user likes green tea", "session_id": "user-42"}

    first = api.post(REMEMBER, body, **keyed())
    again = api.post(REMEMBER, body, **keyed())

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert without_rate_limit_headers(again) == without_rate_limit_headers(first)
    assert idempotency.REPLAYED_HEADER not in first
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert Memory.objects.filter(agent=agent).count() == 1
    stored = IdempotencyKey.objects.get(key=KEY)
    assert (stored.account_id, stored.status_code) == (agent.account_id, 200)


def test_a_replay_is_replayed_again_and_needs_the_same_body_only_up_to_json_formatting(
    api: Api, agent: Agent
) -> None:
    first = api.post(REMEMBER, {"content": "Lives in Porto", "session_id": "s1"}, **keyed())
    # The same JSON with its keys in another order and other spacing is the same body.
    reordered = api.client.post(
        REMEMBER,
        '{ "session_id" : "s1",\n  "content" : "Lives in Porto" }',
        content_type="application/json",
        **keyed(),
    )
    twice = api.post(REMEMBER, {"content": "Lives in Porto", "session_id": "s1"}, **keyed())

    assert reordered.content == twice.content == first.content
    assert reordered[idempotency.REPLAYED_HEADER] == twice[idempotency.REPLAYED_HEADER] == "true"
    assert Memory.objects.filter(agent=agent).count() == 1


def test_a_replayed_batch_creates_one_batch_and_its_memories_once(api: Api, agent: Agent) -> None:
    body = {"memories": [{"content": "Likes tea"}, {"content": "Lives in Porto"}, {"content": ""}]}

    first = api.post(f"{BASE}/agents/assistant/remember/batch", body, **keyed())
    again = api.post(f"{BASE}/agents/assistant/remember/batch", body, **keyed())

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert [item["status"] for item in again.json()["items"]] == ["created", "created", "rejected"]
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert MemoryBatch.objects.filter(agent=agent).count() == 1
    assert Memory.objects.filter(agent=agent).count() == 2


def test_a_replayed_agent_creation_answers_201_with_the_same_agent(
    api: Api, account: Account
) -> None:
    # Without an id the name gives one, and a second creation would get `support-bot-2`.
    first = api.post(f"{BASE}/agents", {"name": "Support bot"}, **keyed())
    again = api.post(f"{BASE}/agents", {"name": "Support bot"}, **keyed())

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert first.json()["id"] == "support-bot"
    assert list(Agent.objects.filter(account=account).values_list("slug", flat=True)) == [
        "support-bot"
    ]


def test_a_refused_first_answer_is_replayed_like_a_success(api: Api, account: Account) -> None:
    body = {"content": "The user likes tea"}

    first = api.post(REMEMBER, body, **keyed())
    # The agent exists now, but the key was answered: it keeps its answer.
    services.agent_create(account=account, slug="assistant", name="Assistant")
    again = api.post(REMEMBER, body, **keyed())

    assert first.status_code == again.status_code == 404
    assert (
        again.json()
        == first.json()
        == {
            "detail": "No agent 'assistant' in this account.",
            "code": "agent_not_found",
        }
    )
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert Memory.objects.count() == 0
    # A new key is a new request.
    assert api.post(REMEMBER, body, **keyed("another-key")).status_code == 200


def test_an_invalid_body_is_answered_400_and_replayed(api: Api, agent: Agent) -> None:
    first = api.post(REMEMBER, {"content": "  "}, **keyed())
    again = api.post(REMEMBER, {"content": "  "}, **keyed())

    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert first.json()["code"] == "invalid_request"
    assert again[idempotency.REPLAYED_HEADER] == "true"


# -- refusals ----------------------------------------------------------------------------


def test_the_same_key_with_another_body_or_path_is_422_and_writes_nothing(
    api: Api, agent: Agent
) -> None:
    api.post(REMEMBER, {"content": "The user likes tea"}, **keyed())

    other_body = api.post(REMEMBER, {"content": "The user likes coffee"}, **keyed())
    other_path = api.post(f"{BASE}/agents", {"content": "The user likes tea"}, **keyed())

    for refused in (other_body, other_path):
        assert refused.status_code == 422
        assert refused.json() == {
            "detail": "This Idempotency-Key was already used with another request (method, "
            "path or body). Use a new key for a new request.",
            "code": "idempotency_key_reused",
        }
        assert idempotency.REPLAYED_HEADER not in refused
    assert list(Memory.objects.values_list("content", flat=True)) == ["The user likes tea"]
    assert Agent.objects.count() == 1


def test_keys_belong_to_their_account(
    api: Api, agent: Agent, other_api: Api, other_agent: Agent
) -> None:
    mine = api.post(REMEMBER, {"content": "The user likes tea"}, **keyed())
    theirs = other_api.post(
        f"{BASE}/agents/their-agent/remember", {"content": "The user likes tea"}, **keyed()
    )
    # The other account's key with my body and path is theirs too: not a replay of mine.
    their_own = other_api.post(REMEMBER, {"content": "The user likes tea"}, **keyed("k2"))

    assert mine.status_code == theirs.status_code == 200
    assert idempotency.REPLAYED_HEADER not in theirs
    assert theirs.json()["id"] != mine.json()["id"]
    assert their_own.status_code == 404
    assert Memory.objects.filter(agent=agent).count() == 1
    assert Memory.objects.filter(agent=other_agent).count() == 1
    assert IdempotencyKey.objects.filter(key=KEY).count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "clé-1", "tab\there"])
def test_an_invalid_key_is_a_400_naming_the_header(api: Api, agent: Agent, key: str) -> None:
    response = api.post(REMEMBER, {"content": "The user likes tea"}, **keyed(key))

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid request. Idempotency-Key: Must be 1 to 255 printable ASCII characters.",
        "code": "invalid_request",
        "errors": {"Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."]},
    }
    assert Memory.objects.count() == IdempotencyKey.objects.count() == 0


def test_a_key_of_255_printable_characters_is_taken(api: Api, agent: Agent) -> None:
    key = "".join(chr(33 + i % 94) for i in range(255))

    response = api.post(REMEMBER, {"content": "The user likes tea"}, **keyed(key))

    assert response.status_code == 200
    assert IdempotencyKey.objects.get().key == key


def test_other_methods_ignore_the_header(api: Api, agent: Agent, memory: Memory) -> None:
    path = f"{BASE}/agents/assistant/memories/{memory.uuid}"

    first = api.patch(path, {"pinned": True}, **keyed())
    second = api.patch(path, {"pinned": False}, **keyed())

    assert first.json()["pinned"] is True and second.json()["pinned"] is False
    assert IdempotencyKey.objects.count() == 0


def test_unauthenticated_and_rate_limited_requests_are_not_recorded(
    anonymous: Api, api: Api, account: Account, agent: Agent
) -> None:
    unauthenticated = anonymous.post(REMEMBER, {"content": "The user likes tea"}, **keyed())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_ratecounter (bucket, hits, expires_at) "
            "VALUES (%s, 1000, now() + interval '1 day')",
            [ratelimit.recall_counter_key(account_id=account.pk, now=time.time())],
        )
    limited = api.post(f"{BASE}/agents/assistant/recall", {"query": "tea"}, **keyed())

    assert unauthenticated.status_code == 401
    assert limited.status_code == 429
    assert IdempotencyKey.objects.count() == 0


# -- in flight, failed, expired ----------------------------------------------------------


def held_key(account: Account, body: dict[str, Any], *, age: timedelta) -> IdempotencyKey:
    """The key as the first request of `body` to remember holds it while in flight."""
    return IdempotencyKey.objects.create(
        account=account,
        key=KEY,
        fingerprint=idempotency.request_fingerprint(
            method="POST", path=REMEMBER, body=json.dumps(body).encode()
        ),
        created_at=timezone.now() - age,
    )


def test_a_duplicate_of_a_request_in_flight_is_409_in_use(
    api: Api, account: Account, agent: Agent
) -> None:
    body = {"content": "The user likes tea"}
    held_key(account, body, age=timedelta(seconds=2))

    response = api.post(REMEMBER, body, **keyed())

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "detail": "A request with this Idempotency-Key is still in progress; retry in 1 s "
        "to get its answer.",
        "code": "idempotency_key_in_use",
    }
    assert Memory.objects.count() == 0


def test_a_key_abandoned_in_flight_is_taken_over(api: Api, account: Account, agent: Agent) -> None:
    body = {"content": "The user likes tea"}
    held_key(account, body, age=idempotency.ABANDONED_AFTER + timedelta(seconds=1))

    response = api.post(REMEMBER, body, **keyed())

    assert response.status_code == 200
    assert idempotency.REPLAYED_HEADER not in response
    assert Memory.objects.count() == 1
    assert IdempotencyKey.objects.get().status_code == 200


def test_a_request_answered_5xx_frees_its_key_for_the_retry(
    api: Api, agent: Agent, memory: Memory, unbuildable_embedder: Callable[[], None]
) -> None:
    recall = f"{BASE}/agents/assistant/recall"

    failed = api.post(recall, {"query": "colour"}, **keyed())
    assert failed.status_code == 503
    assert failed.json()["code"] == "embedding_unavailable"
    assert IdempotencyKey.objects.count() == 0

    unbuildable_embedder()
    retried = api.post(recall, {"query": "colour"}, **keyed())

    assert retried.status_code == 200
    assert idempotency.REPLAYED_HEADER not in retried
    assert [found["id"] for found in retried.json()["memories"]] == [str(memory.uuid)]
    assert IdempotencyKey.objects.get().status_code == 200


class CrashApi(AccountApi):
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise RuntimeError("a bug in a view")


urlpatterns = [
    path("api/v1/crash", CrashApi.as_view()),
    path("api/v1/", include("api.urls")),
]


@pytest.mark.urls(__name__)
def test_a_request_that_raised_frees_its_key(api: Api, agent: Agent) -> None:
    api.client.raise_request_exception = False

    first = api.post(f"{BASE}/crash", {"n": 1}, **keyed())
    again = api.post(f"{BASE}/crash", {"n": 1}, **keyed())

    assert first.status_code == again.status_code == 500
    assert idempotency.REPLAYED_HEADER not in again
    assert IdempotencyKey.objects.count() == 0


def test_a_key_past_24_hours_is_not_replayed(api: Api, agent: Agent) -> None:
    api.post(REMEMBER, {"content": "The user likes tea"}, **keyed())
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    # Expired: a new request, even with another body.
    response = api.post(REMEMBER, {"content": "The user likes coffee"}, **keyed())

    assert response.status_code == 200
    assert idempotency.REPLAYED_HEADER not in response
    assert Memory.objects.count() == 2


def test_purge_deletes_keys_older_than_24_hours(api: Api, agent: Agent) -> None:
    for key in ("old", "recent"):
        api.post(REMEMBER, {"content": f"Memory {key}"}, **keyed(key))
    now = timezone.now()
    IdempotencyKey.objects.filter(key="old").update(created_at=now - timedelta(hours=25))

    assert idempotency.idempotency_keys_purge(now=now) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    # The periodic task purges by the clock.
    IdempotencyKey.objects.update(created_at=now - timedelta(hours=24, seconds=1))
    assert purge_idempotency_keys.delay().get() == 1
    assert IdempotencyKey.objects.count() == 0


# -- concurrent duplicates, over real HTTP ----------------------------------------------


@pytest.fixture
def short_lived_connections() -> Iterator[None]:
    """The live server answers each request in a thread of its own: close its database
    connection when the request ends rather than leave it open past the test."""
    database = connections["default"].settings_dict
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = kept_for


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_write_once(
    live_server: Any, short_lived_connections: None, fake_embedder: None
) -> None:
    account = account_get_or_create_for_email(email="owner@example.com")[0]
    raw_key = api_key_create(account=account)[1]
    agent = services.agent_create(account=account, slug="assistant", name="Assistant")
    # A batch: each call that runs makes a batch row, even where remember would deduplicate.
    url = f"{live_server.url}{BASE}/agents/assistant/remember/batch"
    headers = {"X-API-Key": raw_key, "Idempotency-Key": KEY}
    body = {"memories": [{"content": "The user likes tea", "session_id": "user-42"}]}
    senders = 6
    start = threading.Barrier(senders)
    answers: list[httpx.Response] = []

    def send() -> None:
        start.wait()
        answers.append(httpx.post(url, json=body, headers=headers, timeout=60))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = httpx.post(url, json=body, headers=headers, timeout=60)

    assert MemoryBatch.objects.filter(agent=agent).count() == 1
    assert Memory.objects.filter(agent=agent).count() == 1
    assert after.status_code == 200 and after.headers[idempotency.REPLAYED_HEADER] == "true"
    assert len(answers) == senders
    assert {answer.status_code for answer in answers} <= {200, 409}
    answered = [answer for answer in answers if answer.status_code == 200]
    # Exactly one request ran; every other one replayed its answer or was told to retry.
    assert sum(idempotency.REPLAYED_HEADER not in answer.headers for answer in answered) == 1
    assert all(answer.content == after.content for answer in answered)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["code"] == "idempotency_key_in_use"
