"""The API's JSON parser (its own module: DRF imports it while building APIView, before
config.api, which imports APIView, could be imported)."""

from typing import Any

from rest_framework import exceptions, parsers

# JSON nests no deeper than this anywhere in the API (an event is two levels down); deeper is
# an attack on the parser, whose recursion would otherwise end in a 500.
MAX_JSON_DEPTH = 32


def _too_deep(data: object, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > limit:
                return True
            stack.extend((item, depth + 1) for item in value if isinstance(item, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's parser, refusing nesting past MAX_JSON_DEPTH with a 400 instead of a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            too_deep = _too_deep(data, MAX_JSON_DEPTH)
        except RecursionError:
            too_deep = True
        if too_deep:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
