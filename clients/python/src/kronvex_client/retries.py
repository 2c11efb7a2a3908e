"""When to send a request again, and after how long: exponential backoff with jitter,
or the server's `Retry-After` when it gives one."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from kronvex_client.errors import (
    APIConnectionError,
    ConflictError,
    KronvexError,
    RateLimitError,
    ServiceUnavailableError,
)

# Sending these twice has the effect of sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this (the daily recall limit waits until midnight) is not
    # waited for: the error is raised at once.
    max_retry_after: float = 60.0

    def delay(
        self, *, method: str, error: KronvexError, attempt: int, keyed: bool = False
    ) -> float | None:
        """Seconds to wait before retry number `attempt` (from 0), or None to raise `error`.

        `keyed`: the request carries an Idempotency-Key, so sending it again is harmless.
        """
        if attempt >= self.max_retries or not retryable(method=method, error=error, keyed=keyed):
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # A little spread so that clients told the same second do not all come back in it.
            return float(retry_after) + random.uniform(0, 0.25)
        backoff = min(self.max_delay, self.initial_delay * 2**attempt)
        return random.uniform(backoff / 2, backoff)


def retryable(*, method: str, error: KronvexError, keyed: bool = False) -> bool:
    """429 and 503 change nothing on the server, and a request that never left can be sent
    again; a connection lost mid-request is retried only when sending twice is harmless:
    an idempotent method, or a POST with an Idempotency-Key (whose first attempt may still
    be running: the service answers 409 `idempotency_key_in_use` until it is done)."""
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        return True
    if isinstance(error, ConflictError):
        return keyed and error.code == "idempotency_key_in_use"
    if isinstance(error, APIConnectionError):
        if isinstance(error.__cause__, httpx.ConnectError | httpx.ConnectTimeout):
            return True
        return keyed or method.upper() in IDEMPOTENT_METHODS
    return False
