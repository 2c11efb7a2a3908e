"""Signatures of webhook deliveries: HMAC-SHA256 over "<timestamp>.<body>" with the
endpoint's secret, sent as `Kronvex-Signature: t=<timestamp>,v1=<hex digest>`."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Kronvex-Signature"
# Receivers should refuse a signature older than this (replayed deliveries).
TOLERANCE_SECONDS = 300


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_valid(
    *, secret: str, header: str, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether a Kronvex-Signature header signs this body with this secret, recently."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", ""))
