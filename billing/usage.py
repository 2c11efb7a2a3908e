"""The usage meter: counts of remember / recall / inject-context calls per account, agent and day.

Recording only increments a counter in this process (recall's hot path pays a lock
and a dict update, no I/O). The counts reach `UsageDay` rows in batches: one upsert
per flush, which adds to what other processes and earlier flushes wrote. A flush
happens after a request once `KRONVEX_USAGE_FLUSH_SECONDS` have passed since the
last one, at process exit, and whenever a caller that reads usage asks for it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

KINDS = ("remember", "recall", "inject_context")
_KIND_INDEX = {kind: index for index, kind in enumerate(KINDS)}
DEFAULT_FLUSH_SECONDS = 5.0

_Key = tuple[int, uuid.UUID, date]

_lock = threading.Lock()
# (account id, agent uuid, UTC day) -> [remember, recall, inject_context] calls.
_counts: dict[_Key, list[int]] = {}
# The database the pending counts were recorded against: they are never written to
# another one, should the process's database settings change in between.
_counts_database: str | None = None
_last_flush_at = time.monotonic()

# Accounts gone since their calls were recorded are dropped by the join, not retried.
_UPSERT = """
INSERT INTO billing_usageday
    (account_id, agent_uuid, day, remember_calls, recall_calls, inject_context_calls)
SELECT u.account_id, u.agent_uuid, u.day, u.remember_calls, u.recall_calls,
       u.inject_context_calls
FROM unnest(%s::bigint[], %s::uuid[], %s::date[], %s::bigint[], %s::bigint[], %s::bigint[])
    AS u (account_id, agent_uuid, day, remember_calls, recall_calls, inject_context_calls)
WHERE EXISTS (SELECT 1 FROM billing_account AS a WHERE a.id = u.account_id)
ON CONFLICT (account_id, agent_uuid, day) DO UPDATE SET
    remember_calls = billing_usageday.remember_calls + EXCLUDED.remember_calls,
    recall_calls = billing_usageday.recall_calls + EXCLUDED.recall_calls,
    inject_context_calls = billing_usageday.inject_context_calls + EXCLUDED.inject_context_calls
"""


def _database_name() -> str:
    return str(connection.settings_dict["NAME"])


def usage_record(*, account_id: int, agent_uuid: uuid.UUID, kind: str) -> None:
    """Count one call of `kind` by this agent today (UTC); in memory only, no I/O."""
    global _counts_database
    index = _KIND_INDEX.get(kind)
    if index is None:
        raise ValueError(f"unknown usage kind {kind!r}; expected one of {KINDS}")
    key = (account_id, agent_uuid, datetime.now(UTC).date())
    with _lock:
        if not _counts:
            _counts_database = _database_name()
        row = _counts.get(key)
        if row is None:
            row = _counts[key] = [0, 0, 0]
        row[index] += 1


def usage_flush() -> int:
    """Write the pending counts in one upsert; returns the rows written. Never raises:
    counts that could not be written stay pending and the error is logged."""
    global _counts, _counts_database, _last_flush_at
    with _lock:
        pending, database = _counts, _counts_database
        _counts, _counts_database = {}, None
        _last_flush_at = time.monotonic()
    if not pending:
        return 0
    if database != _database_name():
        # Recorded against a database this process no longer uses: nothing to write
        # them to (this may run at exit, where logging may no longer have a stream).
        return 0
    keys = sorted(pending)  # one order for every process: concurrent upserts cannot deadlock
    columns: list[list[Any]] = [
        [account_id for account_id, _, _ in keys],
        [agent_uuid for _, agent_uuid, _ in keys],
        [day for _, _, day in keys],
        *([pending[key][index] for key in keys] for index in range(len(KINDS))),
    ]
    try:
        # A savepoint when called inside a transaction, so a failure leaves it usable.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_UPSERT, columns)
            written = cursor.rowcount
    except Exception:
        logger.exception("usage flush failed; %d rows kept for the next flush", len(pending))
        _merge_back(pending, database=database)
        return 0
    if written < len(pending):
        logger.warning("dropped %d usage rows of deleted accounts", len(pending) - written)
    return written


def _merge_back(pending: dict[_Key, list[int]], *, database: str | None) -> None:
    global _counts_database
    with _lock:
        if _counts and _counts_database != database:
            return
        _counts_database = database
        for key, calls in pending.items():
            row = _counts.setdefault(key, [0, 0, 0])
            for index, count in enumerate(calls):
                row[index] += count


def usage_discard() -> int:
    """Forget the pending counts without writing them; returns how many rows they were."""
    global _counts, _counts_database
    with _lock:
        discarded = len(_counts)
        _counts, _counts_database = {}, None
    return discarded


def flush_when_due(sender: object, **kwargs: Any) -> None:
    """`request_finished` receiver: flush if the interval has passed since the last flush."""
    global _last_flush_at
    # Inside a transaction the rows would share its fate (a test's rollback, for one):
    # leave the counts for a later request.
    if connection.in_atomic_block:
        return
    interval = float(getattr(settings, "KRONVEX_USAGE_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS))
    now = time.monotonic()
    with _lock:
        if now - _last_flush_at < interval:
            return
        # Claimed even with nothing pending: a batch started now is written one interval
        # later, not by the very request that starts it.
        _last_flush_at = now
        if not _counts:
            return
    usage_flush()
    # Django closes an obsolete connection before our receiver runs; do it after the write.
    connection.close_if_unusable_or_obsolete()


def flush_at_exit() -> None:
    """Best effort at process exit: whatever cannot be written now is lost."""
    usage_flush()
