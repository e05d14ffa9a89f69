"""Schema violations as data, and how a person reads them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_GIVEN_CHARS = 60
MISSING = "required property is missing"


@dataclass(frozen=True, order=True)
class Violation:
    path: tuple[str | int, ...]
    message: str
    given: str = ""

    @property
    def missing(self) -> bool:
        """A required property is absent (the path names the property)."""
        return self.message == MISSING and not self.given

    def describe(self, root: str = "spec") -> str:
        where = format_path(self.path, root)
        if self.given:
            return f"{where}: {self.given} is not allowed: {self.message}"
        return f"{where}: {self.message}"


def format_path(path: Iterable[str | int], root: str = "spec") -> str:
    """spec.php.version, spec.plugins[0].name, spec["odd.key"]."""
    text = root
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part) and part.isascii():
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def short_repr(value: Any, limit: int = MAX_GIVEN_CHARS) -> str:
    """A short, JSON-like rendering of a value for an error message."""
    if isinstance(value, str) and len(value) > limit:
        return f'a string of {len(value)} characters {json.dumps(value[: limit // 2])[:-1]}..."'
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError, TypeError):
        text = f"a {type(value).__name__}"
    if len(text) > limit:
        if isinstance(value, dict):
            return f"an object with {len(value)} properties {text[: limit // 2]}...}}"
        if isinstance(value, list):
            return f"a list of {len(value)} items {text[: limit // 2]}...]"
        return text[:limit] + "..."
    return text


def sort_key(violation: Violation) -> tuple[Any, ...]:
    return (
        tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in violation.path),
        violation.message,
        violation.given,
    )


def sorted_unique(violations: Iterable[Violation]) -> list[Violation]:
    return sorted(set(violations), key=sort_key)
