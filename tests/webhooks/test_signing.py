"""Signatures: what webhooks/signing.py sends is what the documented snippet accepts."""

import time

from tests.webhooks.conftest import signature_valid
from webhooks import signing

BODY = b'{"id":"evt_1","type":"memory.stored","data":{"count":1}}'


def test_documented_check_accepts_the_header_kronvex_sends() -> None:
    header = signing.signature_header(secret="whsec_a", timestamp=int(time.time()), body=BODY)

    assert signature_valid("whsec_a", header, BODY)
    assert signing.signature_valid(secret="whsec_a", header=header, body=BODY, now=time.time())


def test_signature_fails_with_another_secret_or_another_body() -> None:
    header = signing.signature_header(secret="whsec_a", timestamp=int(time.time()), body=BODY)

    assert not signature_valid("whsec_b", header, BODY)
    assert not signature_valid("whsec_a", header, BODY.replace(b"1}", b"2}"))
    assert not signing.signature_valid(secret="whsec_b", header=header, body=BODY, now=time.time())


def test_an_old_signature_is_refused_as_a_replay() -> None:
    then = int(time.time()) - signing.TOLERANCE_SECONDS - 10
    header = signing.signature_header(secret="whsec_a", timestamp=then, body=BODY)

    assert not signature_valid("whsec_a", header, BODY)
    assert not signing.signature_valid(secret="whsec_a", header=header, body=BODY, now=time.time())


def test_header_has_the_timestamp_and_the_hex_digest() -> None:
    header = signing.signature_header(secret="whsec_a", timestamp=1700000000, body=BODY)

    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1.startswith("v1=") and len(v1) == 3 + 64


def test_secrets_are_new_each_time() -> None:
    assert signing.secret_new() != signing.secret_new()
    assert signing.secret_new().startswith("whsec_")
