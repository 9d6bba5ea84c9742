"""The API's JSON parser (its own module: DRF imports it while building APIView, before
config.api, which imports APIView, could be imported)."""

import codecs
from typing import Any

from rest_framework import exceptions, parsers
from rest_framework.utils import json

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


class JsonNumber(float):
    """A JSON number with a fraction or an exponent: a float that remembers how it was written.

    Amounts are judged on their text (pricing.money.parse_amount): as a plain float, ``1e3``
    would read as "1000.0" and ``19.999999999999999999`` as "20.0", and both would pass.
    Everything else sees an ordinary float (json.dumps writes it with float's own repr).
    """

    text: str

    def __new__(cls, text: str) -> "JsonNumber":
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _strict_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    """DRF's parser, keeping numbers as written (JsonNumber) and refusing nesting past
    MAX_JSON_DEPTH with a 400 instead of a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            data = json.load(
                codecs.getreader(encoding)(stream), parse_constant=_strict_constant, parse_float=JsonNumber
            )
            too_deep = _too_deep(data, MAX_JSON_DEPTH)
        except RecursionError:
            too_deep = True
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if too_deep:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
