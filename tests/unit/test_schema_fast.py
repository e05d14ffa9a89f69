"""The compiled predicate on the keywords where Python, Go and jsonschema part ways,
what it leaves to jsonschema, and the values engine that trusts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chartkit import make_chart
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lostromos.charts import load_chart
from lostromos.values.engine import ValuesEngine
from lostromos.values.plain_json import scan
from lostromos.values.schema_compile import compile_schema
from lostromos.values.schema_fast import Check, compile_predicate
from tests.differential.schema_strategies import SchemaValues

D4 = "http://json-schema.org/draft-04/schema#"
D7 = "http://json-schema.org/draft-07/schema#"
D2020 = "https://json-schema.org/draft/2020-12/schema"
SITE_CHART = Path(__file__).resolve().parents[2] / "charts" / "site"


def predicate(schema: Any) -> Check:
    compiled = predicate_or_none(schema)
    assert compiled is not None
    return compiled


def predicate_or_none(schema: Any) -> Check | None:
    return compile_predicate(compile_schema(schema))


def jsonschema_valid(schema: Any, value: Any) -> bool:
    return next(iter(compile_schema(schema).iter_errors(value)), None) is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (1, True),
        (1.0, True),
        (-3.0, True),
        (1.5, False),
        (True, False),
        ("1", False),
        (2**60, True),
    ],
)
def test_integer_is_helms_integer(value: Any, valid: bool) -> None:
    schema = {"type": "integer"}
    assert predicate(schema)(value) is valid
    assert jsonschema_valid(schema, value) is valid


@pytest.mark.parametrize(
    ("value", "valid"), [(1, True), (0.5, True), (False, False), (None, False)]
)
def test_a_boolean_is_not_a_number(value: Any, valid: bool) -> None:
    assert predicate({"type": "number"})(value) is valid


def test_numbers_compare_as_exact_decimals() -> None:
    # Helm compares the shortest decimal forms: 0.3 is a multiple of 0.1, 0.1 + 0.2 is not 0.3
    step = predicate({"multipleOf": 0.1})
    assert step(0.3) and step(3) and not step(0.1 + 0.2)
    top = predicate({"maximum": 0.3})
    assert top(0.3) and not top(0.1 + 0.2)
    # an int against a float limit: 2**60 is not 1.152921504606847e+18 as decimals
    limit = float(2**60)
    below = predicate({"exclusiveMaximum": limit})
    assert below(2**60) is jsonschema_valid({"exclusiveMaximum": limit}, 2**60) is True


def test_draft4_exclusive_bounds_are_booleans() -> None:
    schema = {"$schema": D4, "minimum": 1, "exclusiveMinimum": True}
    assert not predicate(schema)(1) and predicate(schema)(1.5)
    assert predicate({"$schema": D4, "minimum": 1, "exclusiveMinimum": False})(1)


@pytest.mark.parametrize(
    ("pattern", "text", "valid"),
    [
        ("^abc$", "abc\n", False),  # Go's $ is the end of the text; Python's re would match
        ("^\\d$", "٣", False),  # Go's \d is ASCII
        ("^\\w+$", "café", False),
        ("^.$", "é", True),  # one character, two bytes
        ("(?i)^app", "APPLE", True),
    ],
)
def test_patterns_are_go_patterns(pattern: str, text: str, valid: bool) -> None:
    schema = {"pattern": pattern}
    assert predicate(schema)(text) is valid
    assert jsonschema_valid(schema, text) is valid


def test_format_is_asserted_in_draft7_only() -> None:
    assert not predicate({"$schema": D7, "format": "ipv4"})("256.1.1.1")
    assert predicate({"$schema": D2020, "format": "ipv4"})("256.1.1.1")
    assert predicate({"$schema": D7, "format": "no-such-format"})("anything")


def test_enum_and_const_keep_true_apart_from_one() -> None:
    assert predicate({"enum": [1]})(1.0)
    assert not predicate({"enum": [1]})(True)
    assert not predicate({"const": True})(1)
    assert not predicate({"enum": ["1"]})(1)


def test_draft7_ignores_the_siblings_of_ref_and_2020_does_not() -> None:
    defs = {"port": {"type": "integer"}}
    d7 = {"$schema": D7, "definitions": defs, "$ref": "#/definitions/port", "maximum": 10}
    d2020 = {"$schema": D2020, "$defs": defs, "$ref": "#/$defs/port", "maximum": 10}
    assert predicate(d7)(50)
    assert not predicate(d2020)(50)


def test_a_recursive_schema_compiles_once_and_judges_deep_values() -> None:
    tree = {
        "$defs": {
            "node": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/node"}}}}
        },
        "$ref": "#/$defs/node",
    }
    check = predicate(tree)
    assert check({"kids": [{"kids": [{"kids": []}]}]})
    assert not check({"kids": [{"kids": [{"kids": [1]}]}]})


@pytest.mark.parametrize(
    "schema",
    [
        {"$schema": D2020, "unevaluatedProperties": False, "properties": {"a": {}}},
        {"properties": {"a": {"$schema": D7, "type": "integer"}}},  # a dialect of its own
        {"properties": {"a": {"$id": "https://example.com/a", "type": "integer"}}},
        {"$defs": {"a": {"$dynamicAnchor": "a"}}, "properties": {"a": {"$dynamicRef": "#a"}}},
    ],
)
def test_what_it_cannot_judge_exactly_is_left_to_jsonschema(tmp_path: Path, schema: Any) -> None:
    assert predicate_or_none(schema) is None


def test_annotations_and_unknown_words_are_ignored() -> None:
    schema = {"description": "x", "deprecated": True, "x-kubernetes": 1, "phone": "no"}
    assert predicate(schema)("anything")


def test_an_unsupported_schema_still_reports_every_error(tmp_path: Path) -> None:
    schema = {"$schema": D2020, "properties": {"a": {"type": "integer"}}}
    schema["unevaluatedProperties"] = False
    chart = load_chart(make_chart(tmp_path, schema=schema))
    described = [v.describe() for v in ValuesEngine(chart).validate({"a": "x", "b": 1})]
    assert described == [
        'spec: {"a": "x", "b": 1} is not allowed: Unevaluated properties are not allowed '
        "('b' was unexpected)",
        'spec.a: "x" is not allowed: must be of type integer',
    ]
    assert ValuesEngine(chart).validate({"a": 1}) == []


def test_plain_json_scan_matches_what_the_engine_calls_hostile() -> None:
    assert scan({"a": [1, "x", 2.5, None, True, {"b": {}}]}, 100).plain
    assert not scan({"a": float("nan")}, 100).plain
    assert not scan({1: "a"}, 100).plain
    assert not scan({"a": "\ud800"}, 100).plain
    assert not scan({"a": (1, 2)}, 100).plain
    assert not scan({"a": 10**400}, 100).plain
    assert scan({"a": 2**60}, 100).inexact_integers
    nested: Any = "leaf"
    for _ in range(100):
        nested = [nested]
    assert scan(nested, 100).plain
    assert not scan([nested], 100).plain


SITE_SPECS = [
    {"domain": "blog.example.com", "adminEmail": "a@example.com"},
    {"domain": "blog.example.com", "adminEmail": "a@example.com", "replicas": 3.0},
    {"domain": "Blog", "adminEmail": "nope", "replicas": True, "extra": 1},
    {"domain": "blog.example.com", "adminEmail": "a@example.com", "plugins": [{"name": "x"}]},
    {"domain": "blog.example.com", "adminEmail": "a@example.com", "replicas": 2**60},
    {"domain": "blog.example.com", "adminEmail": "a@example.com", "php": None},
    {"domain": "b.example.com", "adminEmail": "a@b.co", "resources": {"limits": {"cpu": "1.5x"}}},
    {"domain": "b.example.com", "adminEmail": "a@b.co", "podAnnotations": {"a": 1}},
]


@pytest.mark.parametrize("spec", SITE_SPECS)
def test_the_site_chart_is_judged_as_by_jsonschema_alone(spec: dict[str, Any]) -> None:
    chart = load_chart(SITE_CHART)
    fast = ValuesEngine(chart, verdict_cache_size=0)
    slow = ValuesEngine(chart, verdict_cache_size=0, predicates=False)
    assert fast.verdict(spec) == slow.verdict(spec)
    assert fast.validate(spec) == slow.validate(spec)


UMBRELLA_CHART = Path(__file__).resolve().parents[1] / "charts" / "umbrella"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_umbrella_chart_is_judged_as_by_jsonschema_alone(data: st.DataObject) -> None:
    """Subcharts, globals, conditions: the engine's verdicts and messages with predicates
    equal those without, for specs shaped like the parent's schema."""
    fast, slow = _umbrella_engines()
    schema = fast.chart.schema
    spec = data.draw(
        st.one_of(SchemaValues(schema).values(schema), st.just({})).filter(
            lambda value: isinstance(value, dict)
        )
    )
    assert fast.verdict(spec) == slow.verdict(spec)


_ENGINES: list[ValuesEngine] = []


def _umbrella_engines() -> tuple[ValuesEngine, ValuesEngine]:
    if not _ENGINES:
        chart = load_chart(UMBRELLA_CHART)
        _ENGINES.append(ValuesEngine(chart, verdict_cache_size=0))
        _ENGINES.append(ValuesEngine(chart, verdict_cache_size=0, predicates=False))
    return _ENGINES[0], _ENGINES[1]
