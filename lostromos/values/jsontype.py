"""The JSON Schema type of a decoded JSON value, as validators and messages name it."""

from __future__ import annotations

from typing import Any


def json_type(value: Any) -> str:
    """JSON Schema's name for the type of `value`.

    A float with no fraction is an "integer", as JSON Schema defines it (2.0 is
    the integer 2) and as the API server decodes it.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def a_json_type(value: Any) -> str:
    """`json_type` with its article, for prose: "an integer", "a string"."""
    name = json_type(value)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"
