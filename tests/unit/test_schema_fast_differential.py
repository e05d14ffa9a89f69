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
from lostromos.values.schema_fast import compile_predicate
from tests.differential.schema_strategies import SchemaValues

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


def compiled_pairs() -> list[tuple[str, Any]]:
    return list(repository_schemas().items()) + list(KEYWORD_SCHEMAS.items())


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
    compiled = compile_schema(schema)
    predicate = compile_predicate(compiled)
    assert predicate is not None
    value = data.draw(SchemaValues(schema).values(schema), label="values")
    assert predicate(value) == jsonschema_says_valid(compiled, value), value
