"""Values are private: writeOnly and sensitivePaths values never reach a person's eyes,
no value reaches a log."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartkit import add_subchart, make_chart

from lostromos.charts import load_chart
from lostromos.redact import (
    REDACTED,
    Redactor,
    log_text,
    parse_sensitive_path,
    redactor_for,
    write_only_paths,
)
from lostromos.values.engine import ValuesEngine
from lostromos.values.violations import Violation

SCHEMA = {
    "type": "object",
    "$defs": {"secret": {"type": "string", "minLength": 12, "writeOnly": True}},
    "properties": {
        "db": {
            "type": "object",
            "properties": {
                "password": {"$ref": "#/$defs/secret"},
                "host": {"type": "string"},
            },
        },
        "tokens": {"type": "object", "additionalProperties": {"type": "string", "writeOnly": True}},
        "users": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "apiKey": {"type": "integer"}},
            },
        },
        "replicas": {"type": "integer"},
    },
}


@pytest.fixture
def chart_dir(tmp_path: Path) -> Path:
    root = make_chart(
        tmp_path, "web", schema=SCHEMA, dependencies=[{"name": "cache", "version": "1.0.0"}]
    )
    add_subchart(
        root,
        "cache",
        schema={
            "type": "object",
            "properties": {"auth": {"type": "string", "pattern": "^[a-z]+$", "writeOnly": True}},
        },
    )
    return root


def test_write_only_paths_follow_refs_maps_and_subcharts(chart_dir: Path) -> None:
    assert write_only_paths(load_chart(chart_dir)) == {
        ("db", "password"),
        ("tokens", "*"),
        ("cache", "auth"),
    }


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("db.password", ("db", "password")),
        ("users[*].apiKey", ("users", "*", "apiKey")),
        ("users[3]", ("users", "3")),
    ],
)
def test_sensitive_path_syntax(text: str, pattern: tuple[str, ...]) -> None:
    assert parse_sensitive_path(text) == pattern


@pytest.mark.parametrize("text", ["", "db..x", ".db", "db."])
def test_bad_sensitive_paths(text: str) -> None:
    with pytest.raises(ValueError, match="is not a values path"):
        parse_sensitive_path(text)


def test_denials_redact_secrets_and_keep_everything_else(chart_dir: Path) -> None:
    chart = load_chart(chart_dir)
    engine = ValuesEngine(chart)
    redactor = redactor_for(chart, ("users[*].apiKey",))
    spec = {
        "db": {"password": "hunter2", "host": 5},
        "tokens": {"ci": 42},
        "users": [{"name": "ann", "apiKey": "sk-live-1234"}],
        "cache": {"auth": "S3CR3T!"},
        "replicas": "three",
    }
    lines = redactor.describe_all(engine.validate(spec))
    text = "\n".join(lines)
    for secret in ("hunter2", "42", "sk-live-1234", "S3CR3T!"):
        assert secret not in text
    assert f"spec.db.password: {REDACTED} is not allowed: must be at least 12 characters long" in (
        lines
    )
    assert f"spec.users[0].apiKey: {REDACTED} is not allowed: must be of type integer" in lines
    assert 'spec.replicas: "three" is not allowed: must be of type integer' in lines
    assert "spec.db.host: 5 is not allowed: must be of type string" in lines


def test_a_violation_above_a_secret_is_redacted_too() -> None:
    redactor = Redactor(frozenset({("db", "password")}))
    above = Violation(("db",), "must be of type string", '{"password": "hunter2"}')
    assert redactor.describe(above) == f"spec.db: {REDACTED} is not allowed: must be of type string"
    beside = Violation(("dbx",), "must be of type string", "1")
    assert redactor.describe(beside) == "spec.dbx: 1 is not allowed: must be of type string"


def test_log_text_never_carries_the_value() -> None:
    violation = Violation(("replicas",), "must be of type integer", '"three"')
    assert log_text(violation) == "spec.replicas: must be of type integer"


def test_scrub_removes_sensitive_values_from_free_text() -> None:
    redactor = Redactor(frozenset({("db", "password"), ("tokens", "*")}))
    spec = {
        "db": {"password": "hunter2", "host": "db.local"},
        "tokens": {"a": "tok-123"},
        "port": 5432,
    }
    helm_error = (
        "execution error at (web/templates/db.yaml:3:4): password hunter2 is weak; "
        "host db.local; token tok-123; port 5432"
    )
    assert redactor.scrub(helm_error, spec) == (
        "execution error at (web/templates/db.yaml:3:4): password <redacted> is weak; "
        "host db.local; token <redacted>; port 5432"
    )
    assert sorted(redactor.sensitive_values(spec)) == ["hunter2", "tok-123"]


def every_scalar_under(redactor: Redactor, spec: object) -> list[str]:
    """The sensitive values as a walk over the whole spec finds them: each scalar
    whose path lies at or under a pattern (how sensitive_values was first written)."""
    found: set[str] = set()
    stack: list[tuple[tuple[object, ...], object]] = [((), spec)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, str(key)), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
        elif value is not None and not isinstance(value, bool) and len(str(value)) >= 4:
            under = (
                len(path) >= len(pattern)
                and all(want in ("*", str(part)) for want, part in zip(pattern, path, strict=False))
                for pattern in redactor.patterns
            )
            if any(under):
                found.add(str(value))
    return sorted(found)


@pytest.mark.parametrize(
    "patterns",
    [
        set(),
        {("db", "password")},
        {("db",)},  # a whole object is secret: everything inside it
        {("users", "*", "token"), ("tokens", "*")},
        {("users", "1", "token")},  # one list index
        {("*", "password")},
        {()},  # the chart's whole values (a writeOnly root)
        {("port", "deeper")},  # a scalar above the pattern's end is not under it
    ],
)
def test_sensitive_values_are_every_scalar_at_or_under_a_pattern(
    patterns: set[tuple[str, ...]],
) -> None:
    spec = {
        "db": {"password": "hunter2-db", "host": "db.local", "pool": [12345, {"key": "k-in-list"}]},
        "users": [{"name": "anne", "token": "tok-anne"}, {"name": "bert", "token": 99999}],
        "tokens": {"a": "tok-123", "b": None, "c": True, "d": "abc", "e": 1.25e10},
        "cache": {"password": "cache-pass"},
        "port": 5432,
        1: {"password": "int-keyed"},
    }
    redactor = Redactor(frozenset(patterns))
    assert sorted(redactor.sensitive_values(spec)) == every_scalar_under(redactor, spec)
    values = redactor.sensitive_values(spec)
    assert values == sorted(values, key=len, reverse=True)  # longest first, for scrub
