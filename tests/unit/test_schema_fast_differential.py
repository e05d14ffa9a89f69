"""The compiled predicate (lostromos.values.schema_fast) against jsonschema itself.

For every values schema in the repository (the charts under charts/, the test
charts, the e2e and differential charts, the bindings schema) and for a set of
schemas written here to reach every keyword in every draft, values are
generated near the schema's boundaries and the predicate's "valid" must be
jsonschema's "no errors", value for value. The engine trusts the predicate's
yes without asking jsonschema, so a disagreement here is a spec admitted that
Helm refuses, or the other way round.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lostromos.values.schema_compile import CompiledSchema, SchemaProblem, compile_schema
from lostromos.values.schema_fast import Check, compile_predicate
from tests.differential.schema_strategies import TRICKY_NUMBERS, TRICKY_STRINGS, SchemaValues

ROOT = Path(__file__).resolve().parents[2]
D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D7 = "http://json-schema.org/draft-07/schema#"
D2019 = "https://json-schema.org/draft/2019-09/schema"
D2020 = "https://json-schema.org/draft/2020-12/schema"


def repository_schemas() -> dict[str, Any]:
    found = {}
    for folder in ("charts", "tests", "examples", "lostromos"):
        for path in sorted((ROOT / folder).rglob("*.schema.json")):
            schema = json.loads(path.read_text())
            try:
                compile_schema(schema)
            except SchemaProblem:
                continue  # a remote $ref the test resolves itself: not a chart's schema as such
            found[str(path.relative_to(ROOT))] = schema
    return found


KEYWORD_SCHEMAS: dict[str, Any] = {
    "numbers 2020": {
        "$schema": D2020,
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 1, "maximum": 64},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
            "step": {"multipleOf": 0.1},
            "whole": {"multipleOf": 4},
            "big": {"maximum": 9007199254740993, "minimum": -1e21},
            "mixed": {"type": ["integer", "string", "null"]},
            "flag": {"type": "boolean"},
            "num": {"type": "number"},
        },
    },
    "numbers draft-04": {
        "$schema": D4,
        "type": "object",
        "properties": {
            "low": {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            "high": {"type": "number", "maximum": 0.5, "exclusiveMaximum": True},
            "plain": {"minimum": 0, "exclusiveMinimum": False},
        },
    },
    "strings draft-07": {
        "$schema": D7,
        "type": "object",
        "additionalProperties": {"type": "string", "minLength": 2, "maxLength": 5},
        "properties": {
            "host": {"type": "string", "format": "hostname"},
            "email": {"type": "string", "format": "email"},
            "when": {"format": "date-time"},
            "ip": {"format": "ipv4"},
            "word": {"pattern": "^\\w+$"},
            "digit": {"pattern": "^\\d$"},
            "line": {"pattern": "^abc$"},
        },
        "patternProperties": {"^x-": {"type": "integer"}, "(?i)^APP": {"type": "boolean"}},
    },
    "formats are annotations in 2020": {
        "$schema": D2020,
        "properties": {"host": {"format": "hostname"}, "email": {"format": "email"}},
    },
    "enum and const": {
        "$schema": D2020,
        "properties": {
            "e": {"enum": [1, "1", True, None, 1.5, [1, 2], {"a": 1}]},
            "s": {"enum": ["a", "b"]},
            "c": {"const": 1},
            "t": {"const": True},
            "o": {"const": {"a": [1, False]}},
        },
    },
    "combinators": {
        "$schema": D2020,
        "properties": {
            "any": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 5}]},
            "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]},
            "all": {"allOf": [{"minLength": 2}, {"maxLength": 3}]},
            "not": {"not": {"type": "string"}},
            "cond": {
                "if": {"type": "integer"},
                "then": {"minimum": 10},
                "else": {"type": "string"},
            },
            "onlyif": {"if": {"const": "a"}, "then": {"type": "boolean"}},
        },
    },
    "objects 2020": {
        "$schema": D2020,
        "type": "object",
        "required": ["a"],
        "minProperties": 1,
        "maxProperties": 4,
        "propertyNames": {"maxLength": 3},
        "dependentRequired": {"a": ["b"]},
        "dependentSchemas": {"b": {"properties": {"a": {"type": "integer"}}}},
        "properties": {"a": True, "b": {"type": ["integer", "string"]}, "c": False},
    },
    "objects draft-07": {
        "$schema": D7,
        "type": "object",
        "dependencies": {"a": ["b"], "b": {"required": ["enabled"]}},
        "properties": {"a": {}, "b": {}, "enabled": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "arrays 2020": {
        "$schema": D2020,
        "properties": {
            "tuple": {"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
            "rest": {"prefixItems": [{"type": "integer"}], "items": {"type": "boolean"}},
            "list": {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True},
            "has": {"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3},
            "some": {"contains": {"type": "string"}},
        },
    },
    "arrays draft-07": {
        "$schema": D7,
        "properties": {
            "tuple": {"items": [{"type": "integer"}], "additionalItems": False},
            "more": {"items": [{"type": "integer"}], "additionalItems": {"type": "string"}},
            "each": {"items": {"type": "integer"}, "additionalItems": False},
            "has": {"contains": {"const": 1}},
        },
    },
    "arrays draft-04": {
        "$schema": D4,
        "properties": {
            "tuple": {"items": [{"type": "integer"}], "additionalItems": False},
            "each": {"items": {"type": "string"}},
            "unique": {"uniqueItems": True},
        },
    },
    "references 2019": {
        "$schema": D2019,
        "$defs": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"items": {"$ref": "#/$defs/node"}},
                },
            },
        },
        "properties": {
            "port": {"$ref": "#/$defs/port", "maximum": 1024},
            "tree": {"$ref": "#/$defs/node"},
        },
    },
    "references draft-06 ignore siblings": {
        "$schema": D6,
        "definitions": {"port": {"type": "integer", "minimum": 1}},
        "properties": {"port": {"$ref": "#/definitions/port", "maximum": 1024}},
    },
}


class BoundaryValues(SchemaValues):
    """SchemaValues, plus each subschema's own edges: its bounds, one past them, lengths."""

    def _shaped(self, node: dict, depth: int) -> st.SearchStrategy[Any]:
        shaped = super()._shaped(node, depth)
        edges = boundary_values(node)
        return st.one_of(st.sampled_from(edges), shaped) if edges else shaped


def boundary_values(node: dict) -> list[Any]:
    edges: list[Any] = []
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        limit = node.get(key)
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            edges += [limit, limit - 1, limit + 1, float(limit), limit + 0.5, limit - 0.5]
            edges += [limit * 3, limit * 2.5, limit / 2]
    for key in ("minLength", "maxLength"):
        size = node.get(key)
        if isinstance(size, int) and not isinstance(size, bool):
            edges += ["a" * length for length in (size - 1, size, size + 1) if length >= 0]
    for key in ("minItems", "maxItems", "minProperties", "maxProperties"):
        size = node.get(key)
        if isinstance(size, int) and not isinstance(size, bool):
            for length in (size - 1, size, size + 1):
                if length >= 0 and key.endswith("Items"):
                    edges.append(list(range(length)))
                elif length >= 0:
                    edges.append({f"k{index}": index for index in range(length)})
    return edges


def compiled_pairs() -> list[tuple[str, Any]]:
    return list(repository_schemas().items()) + list(KEYWORD_SCHEMAS.items())


SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
SUBSCHEMA_ONES = ("additionalProperties", "items", "not", "if", "then", "else", "contains")


def standalone_parts(schema: Any) -> list[Any]:
    """The schema, and each of its subschemas as a schema of its own (with the root's
    dialect and definitions, so local references still resolve): a value rarely gets
    past every other keyword of a whole chart schema to reach the one under test."""
    parts = [schema]
    if not isinstance(schema, dict):
        return parts
    shared = {k: schema[k] for k in ("$schema", "$defs", "definitions") if k in schema}
    pending = [schema]
    while pending:
        node = pending.pop()
        children = [node.get(key) for key in SUBSCHEMA_ONES]
        for key in SUBSCHEMA_MAPS:
            children += (
                list((node.get(key) or {}).values()) if isinstance(node.get(key), dict) else []
            )
        for key in SUBSCHEMA_LISTS:
            children += node.get(key) if isinstance(node.get(key), list) else []
        for child in children:
            if not isinstance(child, dict):
                continue
            pending.append(child)
            if not {"$defs", "definitions", "$id", "id", "$schema"} & set(child):
                parts.append({**child, **shared})
    return parts


_COMPILED: dict[tuple[str, int], tuple[CompiledSchema, Check, st.SearchStrategy[Any]]] = {}


def compiled_once(
    name: str, index: int, schema: Any
) -> tuple[CompiledSchema, Check, st.SearchStrategy[Any]]:
    """Compiled once per schema, not per example: compiling is most of an example's time."""
    if (name, index) not in _COMPILED:
        compiled = compile_schema(schema)
        predicate = compile_predicate(compiled)
        assert predicate is not None
        _COMPILED[name, index] = (compiled, predicate, BoundaryValues(schema).values(schema))
    return _COMPILED[name, index]


def jsonschema_says_valid(compiled: CompiledSchema, value: Any) -> bool:
    return next(iter(compiled.iter_errors(value)), None) is None


def test_the_corpus_holds_the_repositorys_schemas() -> None:
    schemas = repository_schemas()
    assert "charts/site/values.schema.json" in schemas
    assert "tests/charts/umbrella/charts/cache/charts/inner/values.schema.json" in schemas
    assert len(schemas) >= 15


@pytest.mark.parametrize(("name", "schema"), compiled_pairs(), ids=[n for n, _ in compiled_pairs()])
def test_every_schema_gets_a_predicate(name: str, schema: Any) -> None:
    assert compile_predicate(compile_schema(schema)) is not None


@pytest.mark.parametrize(("name", "schema"), compiled_pairs(), ids=[n for n, _ in compiled_pairs()])
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_predicate_agrees_with_jsonschema(name: str, schema: Any, data: st.DataObject) -> None:
    parts = standalone_parts(schema)
    index = data.draw(st.integers(0, len(parts) - 1), label="subschema")
    compiled, predicate, values = compiled_once(name, index, parts[index])
    value = data.draw(values, label="values")
    assert predicate(value) == jsonschema_says_valid(compiled, value), (parts[index], value)


EVERYDAY_VALUES: list[Any] = [None, True, False, [], {}, "", *TRICKY_NUMBERS, *TRICKY_STRINGS]


@pytest.mark.parametrize(("name", "schema"), compiled_pairs(), ids=[n for n, _ in compiled_pairs()])
def test_predicate_agrees_on_every_edge(name: str, schema: Any) -> None:
    """Every subschema against its own bounds (one past them too) and everyday values."""
    for index, part in enumerate(standalone_parts(schema)):
        compiled, predicate, _ = compiled_once(name, index, part)
        for value in [*boundary_values(part), *EVERYDAY_VALUES]:
            assert predicate(value) == jsonschema_says_valid(compiled, value), (part, value)
