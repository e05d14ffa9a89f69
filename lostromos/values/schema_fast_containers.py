"""Object and array keywords for lostromos.values.schema_fast.

As in schema_fast_keywords: each mirrors the jsonschema keyword function of the
Helm validator class for its draft, over plain JSON data.
"""

from __future__ import annotations

from typing import Any

from jsonschema._utils import uniq  # the uniqueness uniqueItems uses

from lostromos.values.schema_fast_keywords import (
    Check,
    KeywordContext,
    Unsupported,
    always,
)

# --- objects --------------------------------------------------------------------


def properties(context: KeywordContext, schemas: Any) -> Check:
    named = tuple((name, context.descend(sub)) for name, sub in schemas.items())
    named = tuple((name, check) for name, check in named if check is not always)
    if not named:
        return always

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name, judge in named:  # noqa: SIM110 - a loop, not a generator per value
            if name in value and not judge(value[name]):
                return False
        return True

    return check


def additional_properties(context: KeywordContext, additional: Any) -> Check:
    # find_additional_properties: not a listed property, not matching any pattern
    known = frozenset(context.schema.get("properties", {}))
    joined = "|".join(context.schema.get("patternProperties", {}))
    patterned = context.compiler.pattern(joined) if joined else None
    if isinstance(additional, dict):
        judge = context.descend(additional)
    elif not additional:
        judge = None  # no extra property at all
    else:
        return always

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name in value:
            if name in known or (patterned is not None and patterned(name)):
                continue
            if judge is None or not judge(value[name]):
                return False
        return True

    return check


def pattern_properties(context: KeywordContext, schemas: Any) -> Check:
    patterned = tuple(
        (context.compiler.pattern(pattern), context.descend(sub))
        for pattern, sub in schemas.items()
    )

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for matches, judge in patterned:
            for name, child in value.items():
                if matches(name) and not judge(child):
                    return False
        return True

    return check


def property_names(context: KeywordContext, schema: Any) -> Check:
    judge = context.descend(schema)
    return lambda value: type(value) is not dict or all(judge(name) for name in value)


def required(context: KeywordContext, names: Any) -> Check:
    listed = tuple(names)
    return lambda value: type(value) is not dict or all(name in value for name in listed)


def min_properties(context: KeywordContext, least: Any) -> Check:
    return lambda value: type(value) is not dict or not len(value) < least


def max_properties(context: KeywordContext, most: Any) -> Check:
    return lambda value: type(value) is not dict or not len(value) > most


def _when_present(dependents: tuple[tuple[str, Check], ...]) -> Check:
    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        return all(judge(value) for name, judge in dependents if name in value)

    return check


def _all_present(names: Any) -> Check:
    listed = tuple(names)
    return lambda value: all(name in value for name in listed)


def dependent_required(context: KeywordContext, dependencies: Any) -> Check:
    return _when_present(tuple((name, _all_present(each)) for name, each in dependencies.items()))


def dependent_schemas(context: KeywordContext, dependencies: Any) -> Check:
    return _when_present(
        tuple((name, context.descend(each)) for name, each in dependencies.items())
    )


def dependencies(context: KeywordContext, dependencies: Any) -> Check:
    # drafts 4-7: a list names required properties, anything else is a schema
    return _when_present(
        tuple(
            (name, _all_present(each) if isinstance(each, list) else context.descend(each))
            for name, each in dependencies.items()
        )
    )


# --- arrays ---------------------------------------------------------------------


def _each_from(start: int, judge: Check) -> Check:
    def check(value: Any) -> bool:
        if type(value) is not list:
            return True
        for index in range(start, len(value)):  # noqa: SIM110 - as above
            if not judge(value[index]):
                return False
        return True

    return check


def _positional(judges: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        if type(value) is not list:
            return True
        return all(judge(item) for item, judge in zip(value, judges, strict=False))

    return check


def items(context: KeywordContext, schema: Any) -> Check:
    if context.draft >= 2020:
        prefix = len(context.schema.get("prefixItems", []))
        if schema is False:
            return lambda value: type(value) is not list or len(value) <= prefix
        return _each_from(prefix, context.descend(schema))
    if context.draft == 4:
        if isinstance(schema, dict):
            return _each_from(0, context.descend(schema))
        return _positional(tuple(context.descend(each) for each in schema))
    if isinstance(schema, list):
        return _positional(tuple(context.descend(each) for each in schema))
    return _each_from(0, context.descend(schema))


def prefix_items(context: KeywordContext, schemas: Any) -> Check:
    return _positional(tuple(context.descend(each) for each in schemas))


def additional_items(context: KeywordContext, additional: Any) -> Check:
    listed = context.schema.get("items", {})
    if isinstance(listed, dict):
        return always  # items is one schema for every item: nothing is additional
    if not isinstance(listed, list):
        raise Unsupported("additionalItems beside a boolean items")
    start = len(listed)
    if isinstance(additional, dict):
        return _each_from(start, context.descend(additional))
    if not additional:
        return lambda value: type(value) is not list or not len(value) > start
    return always


def contains(context: KeywordContext, schema: Any) -> Check:
    judge = context.evolve(schema)
    if context.draft < 2019:
        return lambda value: type(value) is not list or any(judge(item) for item in value)
    least = context.schema.get("minContains", 1)
    most = context.schema.get("maxContains")

    def check(value: Any) -> bool:
        if type(value) is not list:
            return True
        matched = sum(1 for item in value if judge(item))
        ceiling = len(value) if most is None else most
        return not matched > ceiling and not matched < least

    return check


def min_items(context: KeywordContext, least: Any) -> Check:
    return lambda value: type(value) is not list or not len(value) < least


def max_items(context: KeywordContext, most: Any) -> Check:
    return lambda value: type(value) is not list or not len(value) > most


def unique_items(context: KeywordContext, unique: Any) -> Check:
    if not unique:
        return always
    return lambda value: type(value) is not list or bool(uniq(value))
