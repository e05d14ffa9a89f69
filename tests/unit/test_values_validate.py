"""Validation: all violations, clear messages, Helm's dialect rules, hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartkit import add_subchart, make_chart

from lostromos.charts import load_chart
from lostromos.values.engine import MAX_NESTING, ValuesEngine, Violation

D7 = "http://json-schema.org/draft-07/schema#"


def engine(tmp_path: Path, schema, values: dict | None = None) -> ValuesEngine:
    return ValuesEngine(load_chart(make_chart(tmp_path, schema=schema, values=values)))


def messages(engine_: ValuesEngine, spec) -> list[str]:
    return [v.describe() for v in engine_.validate(spec)]


SITE = {
    "type": "object",
    "required": ["domain"],
    "additionalProperties": False,
    "properties": {
        "domain": {"type": "string"},
        "php": {"type": "object", "properties": {"version": {"enum": ["8.1", "8.2", "8.3"]}}},
        "plugins": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
        },
        "replicas": {"type": "integer", "minimum": 1},
    },
}


def test_reports_every_violation_sorted_with_paths(tmp_path: Path) -> None:
    result = messages(
        engine(tmp_path, SITE),
        {
            "php": {"version": "7.4"},
            "plugins": [{"name": 1}, {}],
            "replicas": 0,
            "extra": True,
        },
    )
    assert result == [
        "spec.domain: required property is missing",
        "spec.extra: unknown field (known: domain, php, plugins, replicas)",
        'spec.php.version: "7.4" is not allowed: must be one of "8.1", "8.2", "8.3"',
        "spec.plugins[0].name: 1 is not allowed: must be of type string",
        "spec.plugins[1].name: required property is missing",
        "spec.replicas: 0 is not allowed: must be >= 1",
    ]


def test_valid_spec_has_no_violations(tmp_path: Path) -> None:
    assert engine(tmp_path, SITE).validate({"domain": "a.example", "replicas": 2}) == []


def test_values_yaml_defaults_are_validated_too(tmp_path: Path) -> None:
    bad_default = engine(tmp_path, SITE, values={"replicas": 0, "domain": "x"})
    assert [v.path for v in bad_default.validate({})] == [("replicas",)]
    assert bad_default.validate({"replicas": 3}) == []


def test_null_deleting_a_required_default_is_refused(tmp_path: Path) -> None:
    engine_ = engine(tmp_path, SITE, values={"domain": "x"})
    assert messages(engine_, {"domain": None}) == ["spec.domain: required property is missing"]


def test_one_of_names_the_closest_alternative(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "storage": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"size": {"type": "integer"}},
                        "required": ["size"],
                    },
                    {"type": "string"},
                ]
            }
        }
    }
    (violation,) = engine(tmp_path, schema).validate({"storage": {"size": "big"}})
    assert violation.path == ("storage",)
    assert violation.message == (
        "must match one of the 2 allowed alternatives (closest: at size: must be of type integer)"
    )


def test_long_values_are_shortened(tmp_path: Path) -> None:
    (violation,) = engine(tmp_path, SITE).validate({"domain": "x", "php": {"version": "v" * 300}})
    assert violation.given.startswith('a string of 300 characters "vvv')
    assert len(violation.given) < 80


def test_format_is_asserted_in_draft_7_only(tmp_path: Path) -> None:
    at = {"at": {"format": "date-time"}}
    asserted = engine(tmp_path / "a", {"$schema": D7, "properties": at})
    annotated = engine(tmp_path / "b", {"properties": {"at": {"format": "date-time"}}})
    assert messages(asserted, {"at": "yesterday"}) == [
        'spec.at: "yesterday" is not allowed: must be a valid date-time'
    ]
    assert annotated.validate({"at": "yesterday"}) == []
    assert asserted.validate({"at": "2024-02-29T10:00:00+02:00"}) == []


def test_patterns_use_go_semantics(tmp_path: Path) -> None:
    properties = {"n": {"pattern": "^[a-z]+$"}, "d": {"pattern": "^\\d$"}}
    engine_ = engine(tmp_path, {"properties": properties})
    assert [v.path for v in engine_.validate({"n": "abc\n", "d": "٣"})] == [("d",), ("n",)]
    assert engine_.validate({"n": "abc", "d": "3"}) == []


def test_numbers_compare_like_helm(tmp_path: Path) -> None:
    engine_ = engine(
        tmp_path,
        {
            "properties": {
                "cpu": {"multipleOf": 0.1},
                "count": {"type": "integer", "maximum": 9007199254740992},
            }
        },
    )
    assert engine_.validate({"cpu": 0.3, "count": 2.0}) == []
    # helm reads 2**53 + 1 as the float64 2**53
    assert engine_.validate({"count": 2**53 + 1}) == []
    assert [v.path for v in engine_.validate({"cpu": 0.35, "count": 1.5})] == [("count",), ("cpu",)]


def test_draft4_boolean_exclusive_maximum(tmp_path: Path) -> None:
    engine_ = engine(
        tmp_path,
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "properties": {"p": {"maximum": 10, "exclusiveMaximum": True}},
        },
    )
    assert messages(engine_, {"p": 10}) == ["spec.p: 10 is not allowed: must be < 10"]


def test_subchart_violations_get_the_scope_prefix(tmp_path: Path) -> None:
    parent = make_chart(
        tmp_path, "parent", dependencies=[{"name": "mysql", "version": "*", "alias": "db"}]
    )
    add_subchart(
        parent,
        "mysql",
        values={"auth": {"password": "long-enough"}},
        schema={"properties": {"auth": {"properties": {"password": {"minLength": 8}}}}},
    )
    engine_ = ValuesEngine(load_chart(parent))
    assert messages(engine_, {"db": {"auth": {"password": "short"}}}) == [
        'spec.db.auth.password: "short" is not allowed: must be at least 8 characters long'
    ]


def test_non_object_spec(tmp_path: Path) -> None:
    assert engine(tmp_path, SITE).validate(["a"]) == [Violation((), "must be an object", '["a"]')]


def test_deep_nesting_becomes_a_violation(tmp_path: Path) -> None:
    deep: dict = {}
    cursor = deep
    for _ in range(MAX_NESTING * 20):
        cursor["a"] = {}
        cursor = cursor["a"]
    (violation,) = engine(
        tmp_path,
        {
            "$ref": "#/$defs/t",
            "$defs": {"t": {"type": "object", "additionalProperties": {"$ref": "#/$defs/t"}}},
        },
    ).validate(deep)
    assert "nested more than" in violation.message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"a": float("nan")}, "must be a finite number"),
        ({"a": [float("inf")]}, "must be a finite number"),
        ({1: "x"}, "property names must be strings"),
        ({"a": 10**400}, "number is too large"),
        ({"a": "\ud800"}, "lone surrogate"),
    ],
)
def test_hostile_values_become_violations(tmp_path: Path, spec, message: str) -> None:
    (violation,) = engine(tmp_path, {"type": "object"}).validate(spec)
    assert message in violation.message


def test_huge_string_is_fine(tmp_path: Path) -> None:
    assert engine(tmp_path, {"type": "object"}).validate({"a": "x" * 5_000_000}) == []


def test_describe_formats_paths() -> None:
    violation = Violation(("plugins", 0, "odd.key"), "must be of type string", "1")
    assert violation.describe() == (
        'spec.plugins[0]["odd.key"]: 1 is not allowed: must be of type string'
    )
    assert Violation((), 'missing required property "a"').describe("Site/x spec") == (
        'Site/x spec: missing required property "a"'
    )


def test_verdict_processes_dependencies_once_for_violations_and_deprecations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lostromos.values.engine as engine_module

    schema = {
        "type": "object",
        "properties": {"old": {"type": "integer", "deprecated": True}, "n": {"type": "integer"}},
    }
    subject = engine(tmp_path, schema)
    calls: list[object] = []
    real = engine_module.process_dependencies

    def counting(chart: object, values: dict) -> object:
        calls.append(chart)
        return real(chart, values)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "process_dependencies", counting)
    verdict = subject.verdict({"old": 1, "n": "x"})
    assert len(calls) == 1
    assert [v.describe() for v in verdict.violations] == messages(subject, {"old": 1, "n": "x"})
    assert verdict.deprecations == ("spec.old is deprecated",)
