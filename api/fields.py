"""Serializer fields stricter than DRF's defaults, so wrong JSON types answer 400."""

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from memories.models import MemoryType

TYPE_CHOICES = [choice.value for choice in MemoryType]
# A client's clock may run a little ahead of ours; further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)
# Far deeper than any real metadata, far shallower than what overflows Python's stack
# when the object is serialised again on its way to the database.
MAX_METADATA_DEPTH = 32


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


def _depth_and_null_character(value: Any) -> tuple[int, bool]:
    """How deep a JSON value nests, and whether a string or key in it holds U+0000.

    Walked without recursion, since the value may nest deeper than Python's stack.
    """
    depth, has_null = 0, False
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            depth = max(depth, level)
            has_null = has_null or any("\x00" in key for key in item)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in item)
        elif isinstance(item, str):
            has_null = has_null or "\x00" in item
    return depth, has_null


class MetadataField(serializers.JSONField):
    """A JSON object of bounded size and depth that PostgreSQL's jsonb can store."""

    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_large": "Must be at most {limit} bytes as JSON.",
        "too_deep": "Must nest at most {limit} levels deep.",
        "null_character": "Must not contain null characters (\\u0000).",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_object")
        depth, has_null = _depth_and_null_character(data)
        if depth > MAX_METADATA_DEPTH:
            self.fail("too_deep", limit=MAX_METADATA_DEPTH)
        # jsonb rejects U+0000, which would fail the insert after validation passed.
        if has_null:
            self.fail("null_character")
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
    return StrictCharField(required=False, allow_null=True, max_length=255, allow_blank=False)


def query_field() -> StrictCharField:
    return StrictCharField(
        required=False, allow_null=True, max_length=settings.KRONVEX_MAX_QUERY_CHARS
    )
