"""`Idempotency-Key` on the POSTs of the public API: a retried request writes once.

The first request with a key claims it with one committed INSERT ... ON CONFLICT DO
NOTHING on (account, key), so of two concurrent duplicates, in any processes, exactly
one goes on to the view. When it is answered, the answer (status, JSON body and the
headers the view set) is stored, and for 24 hours the same key with the same method,
path and body gets that answer again, with `Idempotent-Replayed: true`, and writes
nothing. The same key with anything else is a 422; while the first request is still in
flight a duplicate is a 409 with `Retry-After: 1`. A 5xx answer or an exception frees
the key, so that the client's retry with it runs for real; 4xx answers are kept like
successes, since sending the same request again would be refused the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.http import HttpResponseBase
from django.http.request import RawPostDataException
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.models import IdempotencyKey
from billing.models import Account

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)
# A key still unanswered after this was held by a process that died mid-request (a
# worker killed on its timeout): the next request with it takes it over.
ABANDONED_AFTER = timedelta(minutes=5)
IN_USE_RETRY_AFTER_SECONDS = 1
# How often each process deletes the keys past their lifetime, on a request's way.
PURGE_INTERVAL_SECONDS = 300.0

# Headers that describe this answer's transport or this request's rate-limit window,
# not the answer itself: a replay gets its own.
_UNSTORED_HEADERS = frozenset(
    {
        "allow",
        "content-length",
        "content-type",
        "vary",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        REPLAYED_HEADER.lower(),
    }
)


class IdempotencyKeyReused(APIException):
    """The key was first sent with another method, path or body."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        f"This {HEADER} was already used with another request (method, path or body). "
        "Use a new key for a new request."
    )


class IdempotencyKeyInUse(APIException):
    """The first request with the key has not been answered yet."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"
    default_detail = (
        f"A request with this {HEADER} is still in progress; retry in "
        f"{IN_USE_RETRY_AFTER_SECONDS} s to get its answer."
    )
    retry_after = IN_USE_RETRY_AFTER_SECONDS


class Replayed(Exception):
    """The key was answered already: `response` is that answer, to send instead."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str
    headers: dict[str, str]


# -- pure parts --------------------------------------------------------------------------


def key_from(value: str | None) -> str | None:
    """The header's key, None when not sent; anything but 1-255 printable ASCII is a 400."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in value):
        raise serializers.ValidationError(
            {HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."]}
        )
    return value


def canonical_body(raw: bytes) -> bytes:
    """The JSON body with sorted keys and no spacing; a body that is not JSON as it is."""
    try:
        parsed = json.loads(raw)
        return json.dumps(
            parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        return raw


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.rstrip("/").encode(), canonical_body(body)):
        # The length first: no two different (method, path, body) give the same bytes.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def stored_headers(response: HttpResponseBase) -> dict[str, str]:
    return {
        name: value for name, value in response.items() if name.lower() not in _UNSTORED_HEADERS
    }


def replay_response(answer: StoredAnswer) -> Response:
    return Response(
        json.loads(answer.body) if answer.body else None,
        status=answer.status_code,
        headers={**answer.headers, REPLAYED_HEADER: "true"},
    )


# -- services ----------------------------------------------------------------------------

# A conflicting key is taken over only when it has expired or was abandoned in flight;
# otherwise nothing is returned and the caller reads what is there.
_CLAIM = """
INSERT INTO api_idempotencykey AS k
    (account_id, key, fingerprint, created_at, status_code, response_body, response_headers)
VALUES (%(account_id)s, %(key)s, %(fingerprint)s, %(now)s, NULL, '', '{}')
ON CONFLICT (account_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at,
        status_code = NULL, response_body = '', response_headers = '{}'
    WHERE k.created_at <= %(expired_at)s
        OR (k.status_code IS NULL AND k.created_at <= %(abandoned_at)s)
RETURNING k.id
"""

_purge_lock = threading.Lock()
_purge_at = 0.0


def idempotency_key_claim(
    *, account: Account, key: str, fingerprint: str, now: datetime
) -> int | StoredAnswer:
    """The key's row id when this request is the one to answer it, else the stored answer.

    Raises IdempotencyKeyReused for another request's key and IdempotencyKeyInUse while
    the first request with it is in flight.
    """
    _purge_now_and_then(now=now)
    for _ in range(3):
        # Committed before the view runs, so every other request sees the claim.
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute(
                _CLAIM,
                {
                    "account_id": account.pk,
                    "key": key,
                    "fingerprint": fingerprint,
                    "now": now,
                    "expired_at": now - KEY_LIFETIME,
                    "abandoned_at": now - ABANDONED_AFTER,
                },
            )
            claimed = cursor.fetchone()
        if claimed is not None:
            return int(claimed[0])
        held = IdempotencyKey.objects.filter(account=account, key=key).first()
        if held is None:
            continue  # freed between the two statements by a failed first request
        if held.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if held.status_code is None:
            raise IdempotencyKeyInUse()
        return StoredAnswer(
            status_code=held.status_code,
            body=held.response_body,
            headers=held.response_headers,
        )
    raise IdempotencyKeyInUse()


def idempotency_key_answer(*, key_id: int, response: HttpResponseBase) -> None:
    """Keep the answer of a claimed key, or free the key when there is nothing to keep."""
    if response.status_code >= 500 or not isinstance(response, Response):
        idempotency_key_release(key_id=key_id)
        return
    IdempotencyKey.objects.filter(pk=key_id, status_code__isnull=True).update(
        status_code=response.status_code,
        response_body=JSONRenderer().render(response.data).decode(),
        response_headers=stored_headers(response),
    )


def idempotency_key_release(*, key_id: int) -> None:
    """Free a key whose request failed, so that a retry with it runs."""
    try:
        IdempotencyKey.objects.filter(pk=key_id, status_code__isnull=True).delete()
    except DatabaseError:
        # The answer to the client matters more; an abandoned key is taken over later.
        logger.exception("could not free idempotency key %s", key_id)


def idempotency_keys_purge(*, now: datetime) -> int:
    """Delete the keys older than their lifetime; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=now - KEY_LIFETIME).delete()
    return deleted


def _purge_now_and_then(*, now: datetime) -> None:
    global _purge_at
    with _purge_lock:
        if time.monotonic() < _purge_at:
            return
        _purge_at = time.monotonic() + PURGE_INTERVAL_SECONDS
    idempotency_keys_purge(now=now)


# -- the view's side ---------------------------------------------------------------------


def request_claim(*, request: Request, account: Account, now: datetime) -> int | None:
    """For a POST with an Idempotency-Key: the claimed key's row id for the view to answer.

    None without a key. Raises Replayed with the stored answer, and the errors above.
    """
    key = key_from(request.headers.get(HEADER))
    if key is None:
        return None
    try:
        body = request.body
    except RawPostDataException:
        # A form body the dashboard's CSRF check has read already: not JSON, so this API
        # refuses it (415) whatever it holds.
        body = b""
    fingerprint = request_fingerprint(method=request.method or "", path=request.path, body=body)
    claimed = idempotency_key_claim(account=account, key=key, fingerprint=fingerprint, now=now)
    if isinstance(claimed, StoredAnswer):
        raise Replayed(replay_response(claimed))
    return claimed
