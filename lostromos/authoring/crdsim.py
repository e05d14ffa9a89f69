"""What kube-apiserver does to an object of a CRD-defined kind around the admission webhooks.

`lostromos check` runs an object through this before and after the webhook's
review, so it answers what `kubectl apply` answers. The steps and their order
follow apiextensions-apiserver (pinned v0.37.2):

1. decoding: unknown fields are an error under kubectl's default strict field
   validation (`pruning.PruneWithOptions` reports them), then pruned;
   non-nullable `null`s without a default are dropped
   (`defaulting.PruneNonNullableNullsWithoutDefaults`); defaults are applied
   where a key is missing or holds a non-nullable `null` (`defaulting.Default`);
2. the mutating webhook's patch is applied, and steps 1's pruning and
   defaulting run again on the result;
3. the schema is checked as kube-openapi's validator checks it: for `null`
   only the type (`nullable`) and `enum`; for everything else type, enum,
   bounds, lengths, patterns (Go RE2), `required` (a key holding `null` is
   present), items, properties and value-only `anyOf`/`oneOf`/`not`;
4. then the validating webhook.

Formats are not checked here: the generator emits them only where the chart's
draft makes Helm assert them too, so the webhook refuses the same values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lostromos.values import go_regex
from lostromos.values.jsontype import json_type

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


def _path(parent: str, key: str | int) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}" if parent else key


# --- decoding: pruning, nulls, defaults ------------------------------------------------


def prune(
    value: Any, schema: dict | None, unknown: list[str] | None = None, where: str = ""
) -> Any:
    """`value` as the API server stores it under `schema`; unknown field paths go to `unknown`."""
    found = unknown if unknown is not None else []
    if schema is not None and schema.get(PRESERVE):
        return _keep_unknown(value, schema, found, where)
    if isinstance(value, dict):
        if schema is None:
            found += [_path(where, key) for key in value]
            return {}
        kept = {}
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            if key in properties:
                kept[key] = prune(child, properties[key], found, _path(where, key))
            elif isinstance(extra, dict):
                kept[key] = prune(child, extra, found, _path(where, key))
            else:
                found.append(_path(where, key))
        return kept
    if isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        return [prune(item, items, found, _path(where, index)) for index, item in enumerate(value)]
    return value


def _keep_unknown(value: Any, schema: dict, found: list[str], where: str) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        kept = {}
        for key, child in value.items():
            if key in properties:
                kept[key] = prune(child, properties[key], found, _path(where, key))
            elif isinstance(extra, dict):
                kept[key] = prune(child, extra, found, _path(where, key))
            else:
                kept[key] = child
        return kept
    if isinstance(value, list):
        items = schema.get("items")
        return [
            _keep_unknown(item, items, found, _path(where, index)) if items is not None else item
            for index, item in enumerate(value)
        ]
    return value


def _child_schema(schema: dict | None, key: str) -> dict | None:
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    if key in properties:
        return properties[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def prune_nulls(value: Any, schema: dict | None) -> Any:
    """Drop map keys holding `null` under a node that is neither nullable nor defaulted."""
    if isinstance(value, dict):
        kept = {}
        for key, child in value.items():
            sub = _child_schema(schema, key)
            if (
                child is None
                and sub is not None
                and not sub.get("nullable")
                and ("default" not in sub)
            ):
                continue
            kept[key] = prune_nulls(child, sub)
        return kept
    if isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        return [prune_nulls(item, items) for item in value]
    return value


def apply_defaults(value: Any, schema: dict | None) -> Any:
    """Fill `default`s where a key is missing or holds a non-nullable `null`."""
    if schema is None:
        return value
    if isinstance(value, dict):
        result = dict(value)
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if "default" in sub and (
                key not in result or (result[key] is None and not sub.get("nullable"))
            ):
                result[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, child in result.items():
            if key in properties:
                result[key] = apply_defaults(child, properties[key])
            elif isinstance(extra, dict):
                filled = (
                    copy.deepcopy(extra["default"])
                    if child is None and "default" in extra and not extra.get("nullable")
                    else child
                )
                result[key] = apply_defaults(filled, extra)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        return [
            apply_defaults(
                copy.deepcopy(items["default"])
                if item is None and not (items.get("nullable")) and "default" in items
                else item,
                items,
            )
            for item in value
        ]
    return value


# --- validation ------------------------------------------------------------------------


def _type_fits(value: Any, declared: str) -> bool:
    found = json_type(value)
    if declared == "integer":
        return found == "integer" or (found == "number" and float(value).is_integer())
    if declared == "number":
        return found in ("integer", "number")
    return found == declared


def _in_enum(value: Any, allowed: Any) -> bool:
    """kube-openapi's enum check: the value is converted to each member's Go type first, so a
    float matches an integer member when it truncates to it (42.5 is "42")."""
    if isinstance(allowed, int) and not isinstance(allowed, bool) and isinstance(value, float):
        return int(value) == allowed
    return _same(value, allowed)


def _same(first: Any, second: Any) -> bool:
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(_same(first[k], second[k]) for k in first)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(map(_same, first, second))
    return first == second


def validate(value: Any, schema: dict, where: str = "spec") -> list[str]:  # noqa: PLR0912
    """Every problem kube-openapi's validator reports for `value`, one line each."""
    problems: list[str] = []
    declared = schema.get("type")
    enum = schema.get("enum")
    if value is None:
        if declared and not schema.get("nullable"):
            problems.append(
                f'{where}: Invalid value: "null": {where} in body must be of '
                f'type {declared}: "null"'
            )
        if isinstance(enum, list) and enum:
            # kube-openapi converts the value to each member's type: a null never matches,
            # not even a null member; junctors (allOf, anyOf, ...) are not run on a null.
            problems.append(f"{where}: Unsupported value: null")
        return problems
    # kube-openapi checks int-or-string as the types integer and string, and its integer
    # check admits a whole float: 1.0 is stored as 1, as Helm accepts it (checked e2e).
    if schema.get(INT_OR_STRING) and not (
        json_type(value) == "string" or _type_fits(value, "integer")
    ):
        return [
            f"{where}: Invalid value: {json_type(value)!r}: {where} in body must be of "
            f"type integer,string: {json_type(value)!r}"
        ]
    if declared and not _type_fits(value, declared):
        return [
            f"{where}: Invalid value: {json_type(value)}: {where} in body must be of "
            f"type {declared}"
        ]
    if isinstance(enum, list) and not any(_in_enum(value, e) for e in enum):
        problems.append(f"{where}: Unsupported value: {value!r}")
    problems += _bounds(value, schema, where)
    for branch in schema.get("allOf") or ():
        problems += validate(value, branch, where)
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if isinstance(branches, list) and branches:
            passing = sum(not validate(value, branch, where) for branch in branches)
            if passing == 0 or (keyword == "oneOf" and passing > 1):
                how = "one and only one" if keyword == "oneOf" else "at least one"
                problems.append(f"{where}: must validate {how} schema ({keyword})")
    if isinstance(schema.get("not"), dict) and not validate(value, schema["not"], where):
        problems.append(f"{where}: must not validate the schema (not)")
    if isinstance(value, dict):
        for name in schema.get("required") or ():
            if name not in value:
                problems.append(f"{_path(where, name)}: Required value")
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            if key in properties:
                problems += validate(child, properties[key], _path(where, key))
            elif isinstance(extra, dict):
                problems += validate(child, extra, _path(where, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += validate(item, schema["items"], _path(where, index))
    return problems


def _bounds(value: Any, schema: dict, where: str) -> list[str]:  # noqa: PLR0912
    problems: list[str] = []
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{where}: should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: may not be more than {schema['maxLength']} bytes")
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not go_regex.search(pattern, value):
            problems.append(f"{where}: should match '{pattern}'")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        strict_low, strict_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if low is not None and (value <= low if strict_low else value < low):
            problems.append(
                f"{where}: should be greater than {'' if strict_low else 'or equal to '}{low}"
            )
        if high is not None and (value >= high if strict_high else value > high):
            problems.append(
                f"{where}: should be less than {'' if strict_high else 'or equal to '}{high}"
            )
        step = schema.get("multipleOf")
        if step and (value / step) != int(value / step):
            problems.append(f"{where}: should be a multiple of {step}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{where}: should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where}: may not have more than {schema['maxItems']} items")
    elif isinstance(value, dict):
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            problems.append(f"{where}: should have at least {schema['minProperties']} properties")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            problems.append(f"{where}: may not have more than {schema['maxProperties']} properties")
    return problems


# --- one CRD -----------------------------------------------------------------------------


@dataclass
class Decoded:
    """An object after the API server decoded it, or the errors that refused it."""

    obj: dict
    errors: list[str] = field(default_factory=list)


class CrdSimulation:
    """The API server's handling of one CRD version's objects (see the module docstring)."""

    def __init__(self, crd: dict, version: str) -> None:
        served = [v for v in crd["spec"]["versions"] if v["name"] == version]
        if not served:
            raise ValueError(f"{crd['metadata']['name']} does not serve version {version}")
        self.root: dict = served[0]["schema"]["openAPIV3Schema"]
        self.has_status = "status" in (served[0].get("subresources") or {})

    def _body_schema(self) -> dict:
        # apiVersion, kind and metadata are the API machinery's, not the schema's.
        properties = {
            k: v for k, v in (self.root.get("properties") or {}).items() if k not in _META_FIELDS
        }
        return {**self.root, "properties": properties}

    def _split(self, obj: dict) -> tuple[dict, dict]:
        meta = {k: v for k, v in obj.items() if k in _META_FIELDS}
        body = {k: v for k, v in obj.items() if k not in _META_FIELDS}
        if self.has_status:
            body.pop("status", None)  # a create through the main resource resets status
        return meta, body

    def decode(self, obj: dict) -> Decoded:
        """What a create request's body becomes before the webhooks see it."""
        meta, body = self._split(obj)
        unknown: list[str] = []
        schema = self._body_schema()
        body = prune(body, schema, unknown)
        errors = [f'unknown field "{path}"' for path in sorted(unknown)]
        body = apply_defaults(prune_nulls(body, schema), schema)
        return Decoded({**meta, **body}, errors)

    def after_mutation(self, obj: dict) -> Decoded:
        """The mutated object pruned, defaulted and checked against the schema."""
        meta, body = self._split(obj)
        schema = self._body_schema()
        body = apply_defaults(prune_nulls(prune(body, schema), schema), schema)
        errors = []
        for key, sub in (schema.get("properties") or {}).items():
            if key in body:
                errors += validate(body[key], sub, key)
            elif key in (schema.get("required") or ()):
                errors.append(f"{key}: Required value")
        return Decoded({**meta, **body}, errors)


def invalid_message(kind: str, group: str, name: str, errors: list[str]) -> str:
    """How the API server words a schema refusal, so `check` reads like `kubectl apply`."""
    return f'{kind}.{group} "{name}" is invalid: [{", ".join(errors)}]'
