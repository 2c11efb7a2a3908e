"""Rate limits of the public API, from the account's plan, checked before a view does any work.

- `requests_per_minute` per API key over every /api/v1 endpoint, in a fixed window aligned
  to the minute (every count starts again at hh:mm:00 UTC);
- `recalls_per_day` per account over recall and inject-context calls, per UTC day.

Every request of a limited key counts towards its minute, a rejected one too. A recall
counts towards the day only when it is let through, so a client held back by the minute
limit does not spend its day. Each response of a limited key tells the truth about its
minute in X-RateLimit-Limit, -Remaining (left after this request) and -Reset (Unix time
the window ends); a plan without a per-minute limit gets none of these headers.

The counts live in Redis when KRONVEX_REDIS_URL names one: one Lua script per request,
atomic. Otherwise in an UNLOGGED PostgreSQL table: one upsert statement per request.
When Redis fails the request goes through unlimited and without headers (they could not
tell the truth), and the failure is logged at most once a minute.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connection
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework import status
from rest_framework.exceptions import APIException

from api.models import ApiKey
from billing.models import Account
from billing.selectors import account_plan

logger = logging.getLogger(__name__)

MINUTE = 60
DAY = 86_400
# A Redis that has not answered within this is taken to be down...
REDIS_TIMEOUT_SECONDS = 0.5
# ...and is left alone for this long: an outage costs each process one timeout every few
# seconds, not one per request.
REDIS_RETRY_SECONDS = 5.0
WARNING_INTERVAL_SECONDS = 60.0
# How often each process deletes PostgreSQL counters of windows that ended more than ten
# minutes ago (the margin allows for clocks that disagree). It rides along in a request's
# statement, so no request ever pays a second round trip.
PURGE_INTERVAL_SECONDS = 300.0


class RateLimited(APIException):
    """Over one of the plan's limits: answered 429 before the view does anything."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, *, code: str, detail: str, limit: int, retry_after: int) -> None:
        super().__init__(detail=detail, code=code)
        self.code = code
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimit:
    """One request's place in its API key's minute, and the limit it went over if any.

    `limit` None: the plan has no per-minute limit, or the store did not answer.
    """

    limit: int | None = None
    remaining: int = 0
    resets_at: int = 0
    exceeded: RateLimited | None = None

    def headers(self) -> dict[str, str]:
        if self.limit is None:
            return {}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.resets_at),
        }


NOT_LIMITED = RateLimit()


@dataclass(frozen=True)
class Window:
    """One counter: hits of `key` until `resets_at` (Unix seconds), `limit` of them allowed."""

    key: str
    limit: int
    resets_at: int


@dataclass(frozen=True)
class Hits:
    """What a store counted: the key's requests this minute (this one included; 0 when not
    counted), and whether the recall was let through and counted towards the day."""

    requests: int
    recall_admitted: bool


class StoreUnavailable(Exception):
    """The counter store did not answer."""


class CounterStore(Protocol):
    def hit(self, *, requests: Window | None, recalls: Window | None, now: float) -> Hits:
        """Atomically: one more request in `requests`; then, if that is within its limit and
        `recalls` has room, one more recall in `recalls`."""
        ...


def _window_end(now: float, length: int) -> int:
    return (int(now) // length + 1) * length


def _seconds_until(moment: int, now: float) -> int:
    return max(1, math.ceil(moment - now))


def _ttl(window: Window, now: float) -> int:
    return _seconds_until(window.resets_at, now)


def request_counter_key(*, api_key: ApiKey, now: float) -> str:
    # {account} is a Redis Cluster hash tag: both keys of one script share a slot.
    return f"kronvex:rl:{{{api_key.account_id}}}:key:{api_key.pk}:m{int(now) // MINUTE}"


def recall_counter_key(*, account_id: int, now: float) -> str:
    return f"kronvex:rl:{{{account_id}}}:recalls:d{int(now) // DAY}"


def rate_limit_hit(
    *, account: Account, api_key: ApiKey | None, recall: bool, now: float
) -> RateLimit:
    """Count one request of `api_key` (and, if `recall`, one recall of `account`) against the
    account's plan; the result's `exceeded` says which limit, if any, it went over.

    Without a key (the dashboard's playground, signed in) only the day's recalls count.
    """
    plan = account_plan(account=account)
    requests = None
    if api_key is not None and plan.requests_per_minute is not None:
        requests = Window(
            key=request_counter_key(api_key=api_key, now=now),
            limit=plan.requests_per_minute,
            resets_at=_window_end(now, MINUTE),
        )
    recalls = None
    if recall and plan.recalls_per_day is not None:
        recalls = Window(
            key=recall_counter_key(account_id=account.pk, now=now),
            limit=plan.recalls_per_day,
            resets_at=_window_end(now, DAY),
        )
    if requests is None and recalls is None:
        return NOT_LIMITED
    try:
        hits = counter_store().hit(requests=requests, recalls=recalls, now=now)
    except StoreUnavailable:
        return NOT_LIMITED
    result = NOT_LIMITED
    if requests is not None:
        result = RateLimit(
            limit=requests.limit,
            remaining=max(0, requests.limit - hits.requests),
            resets_at=requests.resets_at,
        )
        if hits.requests > requests.limit:
            retry_after = _seconds_until(requests.resets_at, now)
            return replace(
                result,
                exceeded=RateLimited(
                    code="rate_limited",
                    detail=f"Rate limit reached: this API key may make {requests.limit} "
                    f"requests per minute. Retry in {retry_after} s.",
                    limit=requests.limit,
                    retry_after=retry_after,
                ),
            )
    if recalls is not None and not hits.recall_admitted:
        retry_after = _seconds_until(recalls.resets_at, now)
        return replace(
            result,
            exceeded=RateLimited(
                code="recall_limit_reached",
                detail=f"Daily recall limit reached: this account may make {recalls.limit} "
                "recall and inject-context calls per UTC day. It resets at midnight UTC, "
                f"in {retry_after} s.",
                limit=recalls.limit,
                retry_after=retry_after,
            ),
        )
    return result


# -- Redis -------------------------------------------------------------------------------

# KEYS: the key's minute counter, the account's day counter. ARGV: the minute's limit and
# TTL, the day's limit and TTL; a limit of -1 leaves that counter alone.
_SCRIPT = """
local requests = 0
local limit = tonumber(ARGV[1])
if limit >= 0 then
    requests = redis.call('INCR', KEYS[1])
    if requests == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
local admitted = 0
local day_limit = tonumber(ARGV[3])
if day_limit >= 0 and (limit < 0 or requests <= limit) then
    if tonumber(redis.call('GET', KEYS[2]) or '0') < day_limit then
        if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
        admitted = 1
    end
end
return {requests, admitted}
"""


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


class RedisStore:
    """Counts in Redis: one EVALSHA per request, atomic as every Lua script is."""

    def __init__(self, url: str) -> None:
        self.where = _redacted(url)
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            # One immediate retry: a pooled connection may have been closed by a restart.
            retry=Retry(NoBackoff(), 1),
        )
        self._script = client.register_script(_SCRIPT)
        self._down_until = 0.0
        self._warned_at: float | None = None
        self._recovery_unreported = False

    def hit(self, *, requests: Window | None, recalls: Window | None, now: float) -> Hits:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"Redis at {self.where} failed moments ago")
        first, second = requests or recalls, recalls or requests
        assert first is not None and second is not None
        args = [
            *((-1, 0) if requests is None else (requests.limit, _ttl(requests, now))),
            *((-1, 0) if recalls is None else (recalls.limit, _ttl(recalls, now))),
        ]
        try:
            counted, admitted = self._script(keys=[first.key, second.key], args=args)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            raise StoreUnavailable(str(exc)) from exc
        if self._recovery_unreported:
            self._recovery_unreported = False
            logger.info("Redis at %s answers again: API rate limits apply again", self.where)
        return Hits(requests=int(counted), recall_admitted=bool(admitted))

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + REDIS_RETRY_SECONDS
        if self._warned_at is None or now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            self._recovery_unreported = True
            logger.warning(
                "Redis at %s failed (%s): API requests go without rate limits until it answers",
                self.where,
                exc,
            )


# -- PostgreSQL --------------------------------------------------------------------------

# The day counter moves only if the minute counter stayed within its limit (or is not
# counted) and the day has room; a NULL limit leaves that counter alone. `purge` (a
# constant, so the planner drops the scan when it is false) deletes the counters of
# windows that ended ten minutes ago or more.
_HIT = """
WITH purged AS (
    DELETE FROM api_ratecounter
    WHERE %(purge)s AND expires_at < now() - interval '10 minutes'
),
requests AS (
    INSERT INTO api_ratecounter AS c (bucket, hits, expires_at)
    SELECT %(requests_key)s, 1, to_timestamp(%(requests_reset)s)
    WHERE %(requests_limit)s::integer IS NOT NULL
    ON CONFLICT (bucket) DO UPDATE SET hits = c.hits + 1
    RETURNING c.hits
),
recalls AS (
    INSERT INTO api_ratecounter AS c (bucket, hits, expires_at)
    SELECT %(recalls_key)s, 1, to_timestamp(%(recalls_reset)s)
    WHERE %(recalls_limit)s::integer > 0
        AND NOT EXISTS (SELECT FROM requests WHERE requests.hits > %(requests_limit)s::integer)
    ON CONFLICT (bucket) DO UPDATE SET hits = c.hits + 1 WHERE c.hits < %(recalls_limit)s::integer
    RETURNING c.hits
)
SELECT (SELECT hits FROM requests), EXISTS (SELECT FROM recalls)
"""


class PostgresStore:
    """Counts in the UNLOGGED table api_ratecounter: one upsert statement per request.

    Unlogged: no WAL for counters that only matter for a minute or a day; a crash of the
    database empties the table, which forgets the counts so far.
    """

    def __init__(self) -> None:
        self._purge_at = 0.0

    def hit(self, *, requests: Window | None, recalls: Window | None, now: float) -> Hits:
        purge = time.monotonic() >= self._purge_at
        if purge:
            self._purge_at = time.monotonic() + PURGE_INTERVAL_SECONDS
        params = {
            "purge": purge,
            **_params("requests", requests),
            **_params("recalls", recalls),
        }
        # A database error is not caught: without the database the request fails anyway.
        with connection.cursor() as cursor:
            cursor.execute(_HIT, params)
            counted, admitted = cursor.fetchone()
        return Hits(requests=counted or 0, recall_admitted=admitted)


def _params(name: str, window: Window | None) -> dict[str, str | int | None]:
    if window is None:
        return {f"{name}_key": None, f"{name}_limit": None, f"{name}_reset": None}
    return {
        f"{name}_key": window.key,
        f"{name}_limit": window.limit,
        f"{name}_reset": window.resets_at,
    }


_stores: dict[str, CounterStore] = {}
_stores_lock = threading.Lock()


def counter_store() -> CounterStore:
    """Redis if KRONVEX_REDIS_URL names one, else PostgreSQL; one store per URL and process."""
    url = settings.KRONVEX_REDIS_URL
    store = _stores.get(url)
    if store is None:
        with _stores_lock:
            store = _stores.get(url)
            if store is None:
                store = _stores[url] = RedisStore(url) if url else PostgresStore()
    return store
