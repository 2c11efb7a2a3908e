"""Serializer fields stricter than DRF's defaults, so wrong JSON types answer 400."""

import json
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from memories.models import MemoryType

TYPE_CHOICES = [choice.value for choice in MemoryType]
# A client's clock may run a little ahead of ours; further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)
# Metadata is for tags and ids to filter and show, not documents: the object itself is
# level 1, each object or array inside it one more. Far shallower than what overflows
# Python's stack when the object is serialised again on its way to the database.
MAX_METADATA_DEPTH = 5
# Keys of the object and of every object inside it, together.
MAX_METADATA_KEYS = 100
# The longest session id, in characters.
MAX_SESSION_ID_CHARS = 255


class StrictCharField(serializers.CharField):
    """A string and only a string: DRF's CharField would turn 123 into "123"."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "Must be a number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        return float(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class _JsonScan:
    """What a JSON value holds that PostgreSQL's jsonb cannot store, and how deep it nests."""

    depth: int = 0
    keys: int = 0
    null_character: bool = False
    surrogate: bool = False
    non_finite: bool = False

    def text(self, text: str) -> None:
        self.null_character = self.null_character or "\x00" in text
        self.surrogate = self.surrogate or _SURROGATE.search(text) is not None


def _scan_json(value: Any) -> _JsonScan:
    """Walked without recursion, since the value may nest deeper than Python's stack."""
    scan = _JsonScan()
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            scan.depth = max(scan.depth, level)
            scan.keys += len(item)
            for key in item:
                scan.text(key)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            scan.depth = max(scan.depth, level)
            stack.extend((child, level + 1) for child in item)
        elif isinstance(item, str):
            scan.text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            # 1e400 parses as infinity, which JSON (and jsonb) has no way to write.
            scan.non_finite = True
    return scan


class MetadataField(serializers.JSONField):
    """A JSON object of bounded size and depth that PostgreSQL's jsonb can store."""

    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_large": "Must be at most {limit} bytes as JSON.",
        "too_deep": "Must nest at most {limit} levels deep.",
        "too_many_keys": "Must hold at most {limit} keys, counting those of nested objects.",
        "null_character": "Must not contain null characters (\\u0000).",
        "surrogate": "Must not contain lone surrogate characters (\\ud800 to \\udfff).",
        "non_finite": "Numbers must be finite.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_object")
        scan = _scan_json(data)
        if scan.depth > MAX_METADATA_DEPTH:
            self.fail("too_deep", limit=MAX_METADATA_DEPTH)
        if scan.keys > MAX_METADATA_KEYS:
            self.fail("too_many_keys", limit=MAX_METADATA_KEYS)
        # What jsonb (or UTF-8) cannot hold would fail the insert after validation passed.
        if scan.null_character:
            self.fail("null_character")
        if scan.surrogate:
            self.fail("surrogate")
        if scan.non_finite:
            self.fail("non_finite")
        limit = settings.KRONVEX_MAX_METADATA_BYTES
        if len(json.dumps(data, ensure_ascii=False).encode()) > limit:
            self.fail("too_large", limit=limit)
        return data


class MemoryTypeField(serializers.ChoiceField):
    default_error_messages = {
        "invalid_choice": "Unknown memory type {input!r}: use episodic, semantic or procedural."
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=TYPE_CHOICES, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return str(super().to_internal_value(data))


class PastDateTimeField(serializers.DateTimeField):
    default_error_messages = {"future": "Must not be in the future."}

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        parsed = super().to_internal_value(value)
        if parsed > timezone.now() + CLOCK_SKEW:
            self.fail("future")
        return parsed


def content_field() -> StrictCharField:
    return StrictCharField(
        max_length=settings.KRONVEX_MAX_CONTENT_CHARS, trim_whitespace=False, allow_blank=False
    )


def session_field() -> StrictCharField:
    return StrictCharField(
        required=False, allow_null=True, max_length=MAX_SESSION_ID_CHARS, allow_blank=False
    )


def query_field() -> StrictCharField:
    return StrictCharField(
        required=False, allow_null=True, max_length=settings.KRONVEX_MAX_QUERY_CHARS
    )
