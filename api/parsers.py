"""The API's JSON parser: DRF's, with bodies nested beyond Python's stack answering 400."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json.load recurses once per nesting level: "[[[[..." would otherwise be a 500.
            raise ParseError("JSON parse error - nested too deeply") from None
