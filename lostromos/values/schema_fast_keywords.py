"""One compiler per JSON Schema keyword, for lostromos.values.schema_fast.

Each function mirrors the jsonschema keyword function the Helm validator class
uses for its draft (jsonschema/_keywords.py, _legacy_keywords.py, and the
number keywords of lostromos.values.schema_compile), over plain JSON data:
dict, list, str, int, float, bool and None, nothing else. A keyword that does
not apply to a value's type passes it, as there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema
from jsonschema._utils import equal  # the equality enum and const use

from lostromos.values.schema_compile import Resolver, exact_number

Check = Callable[[Any], bool]


def always(value: Any) -> bool:
    return True


def never(value: Any) -> bool:
    return False


def all_of(checks: list[Check]) -> Check:
    checks = [check for check in checks if check is not always]
    if not checks:
        return always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # the common case, without a loop
        first, second = checks
        return lambda value: first(value) and second(value)
    frozen = tuple(checks)

    def every(value: Any) -> bool:
        for check in frozen:  # noqa: SIM110 - a loop, not a generator per value
            if not check(value):
                return False
        return True

    return every


class SchemaCompiler(Protocol):
    """What keywords ask of the compiler (lostromos.values.schema_fast)."""

    draft: int
    formats: jsonschema.FormatChecker | None

    def descend(self, schema: Any, resolver: Resolver) -> Check: ...
    def evolve(self, schema: Any, resolver: Resolver) -> Check: ...
    def reference(self, ref: str, resolver: Resolver) -> Check: ...
    def pattern(self, pattern: str) -> Callable[[str], bool]: ...


@dataclass(frozen=True)
class KeywordContext:
    """What a keyword compiles against: its schema object and that object's scope."""

    compiler: SchemaCompiler
    schema: dict[str, Any]
    resolver: Resolver

    @property
    def draft(self) -> int:
        return self.compiler.draft

    def descend(self, schema: Any) -> Check:
        return self.compiler.descend(schema, self.resolver)

    def evolve(self, schema: Any) -> Check:
        return self.compiler.evolve(schema, self.resolver)


class Unsupported(Exception):
    """The schema uses something this module does not compile; jsonschema judges it."""


# --- types --------------------------------------------------------------------

_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "number": (int, float),
    "integer": (int,),  # and integral floats, below
}


def type_(context: KeywordContext, types: Any) -> Check:
    names = types if isinstance(types, list) else [types]
    if any(name not in _PLAIN_TYPES for name in names):
        raise Unsupported(f"type {types!r}")
    exact = frozenset(kind for name in names for kind in _PLAIN_TYPES[name])
    if "integer" in names and "number" not in names:
        # Helm's rule, and JSON Schema's: 1.0 is an integer; True is not
        return lambda value: type(value) in exact or (type(value) is float and value.is_integer())
    if len(exact) == 1:
        (only,) = exact
        return lambda value: type(value) is only
    return lambda value: type(value) in exact


def is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


# --- numbers (schema_compile's Helm rules: exact decimals) ----------------------


def _bound(fails: Callable[[Any, Any], bool], limit: Any) -> Check:
    exact_limit = exact_number(limit)

    def check(value: Any) -> bool:
        if type(value) is type(limit):
            # int with int, float with float: Python's order is the exact decimals' order
            return not fails(value, limit)
        if not is_number(value):
            return True
        return not fails(exact_number(value), exact_limit)

    return check


def minimum(context: KeywordContext, limit: Any) -> Check:
    if context.draft == 4:
        if context.schema.get("exclusiveMinimum") is True:
            return _bound(lambda value, bound: value <= bound, limit)
    elif isinstance(limit, bool):
        return always
    return _bound(lambda value, bound: value < bound, limit)


def maximum(context: KeywordContext, limit: Any) -> Check:
    if context.draft == 4:
        if context.schema.get("exclusiveMaximum") is True:
            return _bound(lambda value, bound: value >= bound, limit)
    elif isinstance(limit, bool):
        return always
    return _bound(lambda value, bound: value > bound, limit)


def exclusive_minimum(context: KeywordContext, limit: Any) -> Check:
    if isinstance(limit, bool):
        return always
    return _bound(lambda value, bound: value <= bound, limit)


def exclusive_maximum(context: KeywordContext, limit: Any) -> Check:
    if isinstance(limit, bool):
        return always
    return _bound(lambda value, bound: value >= bound, limit)


def multiple_of(context: KeywordContext, step: Any) -> Check:
    if isinstance(step, bool) or step == 0:
        return always
    exact_step = exact_number(step)

    def check(value: Any) -> bool:
        if type(value) is int and type(step) is int:
            return value % step == 0
        if not is_number(value):
            return True
        return (exact_number(value) / exact_step).denominator == 1

    return check


# --- strings --------------------------------------------------------------------


def min_length(context: KeywordContext, least: Any) -> Check:
    return lambda value: type(value) is not str or not len(value) < least


def max_length(context: KeywordContext, most: Any) -> Check:
    return lambda value: type(value) is not str or not len(value) > most


def pattern(context: KeywordContext, pattern: Any) -> Check:
    matches = context.compiler.pattern(pattern)
    return lambda value: type(value) is not str or matches(value)


def format_(context: KeywordContext, name: Any) -> Check:
    checker = context.compiler.formats
    if checker is None or name not in checker.checkers:
        return always  # an annotation in 2019-09 and later; an unknown format passes
    function, _raises = checker.checkers[name]
    return lambda value: bool(function(value))


# --- anything -------------------------------------------------------------------


def enum(context: KeywordContext, allowed: Any) -> Check:
    if isinstance(allowed, list) and all(type(each) is str for each in allowed):
        strings = frozenset(allowed)
        return lambda value: type(value) is str and value in strings
    options = tuple(allowed)
    return lambda value: any(equal(each, value) for each in options)


def const(context: KeywordContext, expected: Any) -> Check:
    return lambda value: equal(value, expected)


def all_of_keyword(context: KeywordContext, branches: Any) -> Check:
    return all_of([context.descend(branch) for branch in branches])


def any_of(context: KeywordContext, branches: Any) -> Check:
    checks = tuple(context.descend(branch) for branch in branches)
    return lambda value: any(check(value) for check in checks)


def one_of(context: KeywordContext, branches: Any) -> Check:
    # jsonschema finds the first match through descend, judges the rest through
    # evolve; for subschemas without their own $id (compiler.evolve) both are one
    first = tuple(context.descend(branch) for branch in branches)
    rest = tuple(context.evolve(branch) for branch in branches)

    def check(value: Any) -> bool:
        for index, branch in enumerate(first):
            if branch(value):
                return not any(other(value) for other in rest[index + 1 :])
        return False

    return check


def not_(context: KeywordContext, schema: Any) -> Check:
    inner = context.evolve(schema)
    return lambda value: not inner(value)


def if_(context: KeywordContext, schema: Any) -> Check:
    condition = context.evolve(schema)
    then = context.descend(context.schema["then"]) if "then" in context.schema else always
    otherwise = context.descend(context.schema["else"]) if "else" in context.schema else always
    return lambda value: then(value) if condition(value) else otherwise(value)


def ref(context: KeywordContext, ref: Any) -> Check:
    return context.compiler.reference(ref, context.resolver)
