"""Whether values are plain JSON data, in one pass that builds nothing.

Plain: dicts with string keys, lists, strings without lone surrogates, finite
floats, integers a float64 can hold, booleans and None, nested at most
``max_depth`` levels; exact types, no subclasses. That is what the admission
request's JSON decodes to, and what the values engine's fast paths are written
for (lostromos.values.schema_fast); anything else takes the general path, whose
walk also names what is wrong.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any

_FLOAT64_EXACT = 2**53
_FLOAT64_MAX = sys.float_info.max
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class PlainJson:
    plain: bool
    # an integer beyond 2**53, which Helm's float64 would round (values.engine)
    inexact_integers: bool = False


def scan(value: Any, max_depth: int) -> PlainJson:  # noqa: PLR0911, PLR0912 - one loop, no call per value
    inexact = False
    # (container, depth of its items); the value itself is the item of a wrapper
    stack: list[tuple[Any, int]] = [([value], 0)]
    while stack:
        current, depth = stack.pop()
        if depth > max_depth and current:
            return PlainJson(plain=False)
        if type(current) is dict:
            if any(type(key) is not str for key in current):
                return PlainJson(plain=False)
            children = current.values()
        else:
            children = current
        for child in children:
            kind = type(child)
            if kind is str:
                if not child.isascii() and _SURROGATE.search(child):
                    return PlainJson(plain=False)
            elif kind is int:
                if child > _FLOAT64_EXACT or child < -_FLOAT64_EXACT:
                    if abs(child) > _FLOAT64_MAX:
                        return PlainJson(plain=False)
                    inexact = True
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is float:
                if not math.isfinite(child):
                    return PlainJson(plain=False)
            elif kind is not bool and child is not None:
                return PlainJson(plain=False)
    return PlainJson(plain=True, inexact_integers=inexact)
