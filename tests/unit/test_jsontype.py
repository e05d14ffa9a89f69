"""One name for a JSON value's type, JSON Schema's: a whole float is an integer."""

from __future__ import annotations

from typing import Any

import pytest

from lostromos.values.jsontype import a_json_type, json_type


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (2, "integer"),
        (2.0, "integer"),
        (-0.0, "integer"),
        (2.5, "number"),
        ("2", "string"),
        ([2], "array"),
        ({"a": 2}, "object"),
    ],
)
def test_json_type(value: Any, name: str) -> None:
    assert json_type(value) == name


def test_with_its_article() -> None:
    assert [a_json_type(v) for v in (2.0, 2.5, "x", [], {})] == [
        "an integer",
        "a number",
        "a string",
        "an array",
        "an object",
    ]
