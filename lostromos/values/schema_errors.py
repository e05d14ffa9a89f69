"""Turning jsonschema errors into Violations a person can act on.

Each violation names the path inside the values as the user wrote it, the
offending value (shortened) and what the schema allows. For ``anyOf`` and
``oneOf`` failures the closest alternative (jsonschema's best_match over the
branch errors) is named, because "matches none of 3 schemas" alone does not
tell anyone what to change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from lostromos.values import go_regex
from lostromos.values.schema_compile import CompiledSchema
from lostromos.values.violations import MISSING, Violation, format_path, short_repr

Path = tuple[str | int, ...]


def violations_from(
    errors: Iterable[ValidationError], prefix: Path, compiled: CompiledSchema
) -> Iterator[Violation]:
    for error in errors:
        yield from _convert(error, prefix, compiled)


def _convert(error: ValidationError, prefix: Path, compiled: CompiledSchema) -> Iterator[Violation]:
    path = prefix + tuple(error.absolute_path)
    keyword = error.validator
    instance = error.instance
    if keyword == "required":
        for name in _listed(error.validator_value):
            if isinstance(instance, dict) and name not in instance:
                yield Violation((*path, name), MISSING, "")
        return
    if keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted((schema.get("properties") or {}).keys())
        for name in _additional(instance, error.schema):
            hint = f" (known: {', '.join(allowed)})" if allowed else ""
            # The value is beside the point: the name itself is what is wrong.
            yield Violation((*path, name), f"unknown field{hint}", "")
        return
    yield Violation(path, _message(error, compiled), short_repr(instance))


def _listed(value: object) -> list[Any]:
    """A keyword's value that should be a list (`required`); anything else lists nothing."""
    return value if isinstance(value, list) else []


def _additional(instance: dict[str, Any], schema: object) -> list[str]:
    if not isinstance(schema, dict):
        return list(instance)
    properties = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    return [
        name
        for name in instance
        if name not in properties and not any(go_regex.search(p, name) for p in patterns)
    ]


def _message(error: ValidationError, compiled: CompiledSchema) -> str:  # noqa: PLR0911, PLR0912
    keyword = error.validator
    expected: Any = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"must be of type {' or '.join(str(t) for t in types)}"
    if keyword == "enum":
        return f"must be one of {', '.join(short_repr(v) for v in expected)}"
    if keyword == "const":
        return f"must be {short_repr(expected)}"
    if keyword in ("minimum", "maximum"):
        exclusive_key = "exclusiveMinimum" if keyword == "minimum" else "exclusiveMaximum"
        strict = schema.get(exclusive_key) is True
        sign = (">" if strict else ">=") if keyword == "minimum" else ("<" if strict else "<=")
        return f"must be {sign} {short_repr(expected)}"
    if keyword == "exclusiveMinimum":
        return f"must be > {short_repr(expected)}"
    if keyword == "exclusiveMaximum":
        return f"must be < {short_repr(expected)}"
    if keyword == "multipleOf":
        return f"must be a multiple of {short_repr(expected)}"
    if keyword == "minLength":
        return f"must be at least {expected} characters long"
    if keyword == "maxLength":
        return f"must be at most {expected} characters long"
    if keyword == "pattern":
        original = compiled.original_patterns.get(expected, expected)
        return f"must match the pattern {json.dumps(original)}"
    if keyword == "format":
        return f"must be a valid {expected}"
    if keyword == "minItems":
        return f"must have at least {expected} items"
    if keyword == "maxItems":
        return f"must have at most {expected} items"
    if keyword == "uniqueItems":
        return "items must be unique"
    if keyword == "minProperties":
        return f"must have at least {expected} properties"
    if keyword == "maxProperties":
        return f"must have at most {expected} properties"
    if keyword in ("anyOf", "oneOf"):
        return _alternatives(error, compiled)
    if keyword == "not":
        return f"must not match {short_repr(expected)}"
    if keyword is None or keyword == "False schema":
        return "no value is allowed here"
    return error.message


def _closest(error: ValidationError) -> ValidationError | None:
    """The most useful branch error: branches whose type fits the value first, fewest errors."""
    by_branch: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branch = sub.schema_path[0] if sub.schema_path else None
        by_branch.setdefault(branch, []).append(sub)
    depth = len(error.absolute_path)

    def wrong_type(errors: list[ValidationError]) -> bool:
        return any(e.validator == "type" and len(e.absolute_path) == depth for e in errors)

    candidates = [errs for errs in by_branch.values() if not wrong_type(errs)]
    candidates = candidates or list(by_branch.values())
    if not candidates:
        return None
    fewest = min(candidates, key=len)
    best: ValidationError | None = best_match(fewest)
    return best


def _alternatives(error: ValidationError, compiled: CompiledSchema) -> str:
    count = len(error.validator_value) if isinstance(error.validator_value, list) else 0
    if error.validator == "oneOf" and not error.context:
        return f"matches more than one of the {count} alternatives; it must match exactly one"
    best = _closest(error)
    if best is None:
        return f"must match one of the {count} allowed alternatives"
    relative = tuple(best.absolute_path)[len(error.absolute_path) :]
    detail = _message(best, compiled)
    if best.validator == "required":
        missing = [
            n
            for n in _listed(best.validator_value)
            if isinstance(best.instance, dict) and n not in best.instance
        ]
        detail = f"missing required property {json.dumps(missing[0])}" if missing else detail
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        extra = _additional(best.instance, best.schema)
        detail = f"property {json.dumps(extra[0])} is not allowed" if extra else detail
    where = f"at {format_path(relative, '')}: " if relative else ""
    return f"must match one of the {count} allowed alternatives (closest: {where}{detail})"
