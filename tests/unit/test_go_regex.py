"""Schema patterns run on RE2: Go's semantics, in time linear in the value.

The CPU-time bounds are generous (a second for what takes RE2 milliseconds);
Python's backtracking re took minutes on the same inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chartkit import make_chart

from lostromos.charts import load_chart
from lostromos.values import go_regex
from lostromos.values.engine import ValuesEngine

ROOT = Path(__file__).resolve().parents[2]
CPU_BOUND_SECONDS = 1.0
LONG = 100_000


def cpu_seconds(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def test_the_site_charts_email_pattern_judges_the_redos_input_in_milliseconds() -> None:
    engine = ValuesEngine(load_chart(ROOT / "charts" / "site"))
    spec = {"domain": "a.example.com", "adminEmail": "a@" + "." * LONG + "@"}
    spent, violations = cpu_seconds(lambda: engine.validate(spec))
    assert {v.path for v in violations} == {("adminEmail",)}
    assert spent < CPU_BOUND_SECONDS


NESTED = "^(a|a)+$"  # exponential for a backtracking engine
HOSTILE = "a" * 40 + "!"


@pytest.mark.parametrize(
    ("schema", "spec"),
    [
        ({"properties": {"x": {"type": "string", "pattern": NESTED}}}, {"x": HOSTILE}),
        ({"patternProperties": {NESTED: {"type": "integer"}}}, {"a" * 40: "text"}),
        ({"patternProperties": {NESTED: {}}, "additionalProperties": False}, {HOSTILE: 1}),
        ({"patternProperties": {NESTED: {}}, "unevaluatedProperties": False}, {HOSTILE: 1}),
        (
            {
                "$schema": "https://json-schema.org/draft/2019-09/schema",
                "patternProperties": {NESTED: {}},
                "unevaluatedProperties": False,
            },
            {HOSTILE: 1},
        ),
        ({"propertyNames": {"pattern": NESTED}}, {HOSTILE: 1}),
    ],
    ids=[
        "pattern",
        "patternProperties",
        "additionalProperties",
        "unevaluated",
        "unevaluated-2019",
        "propertyNames",
    ],
)
def test_every_keyword_that_matches_runs_in_linear_time(
    tmp_path: Path, schema: dict[str, Any], spec: dict[str, Any]
) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema={"type": "object", **schema})))
    spent, violations = cpu_seconds(lambda: engine.validate(spec))
    assert violations  # the hostile name or value is refused, or the named value is
    assert spent < CPU_BOUND_SECONDS


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a\n", False),  # $ is the end of the text only
        (r"\d", "\u0663", False),  # ASCII digits only
        (r"\pL", "\u00e9", True),  # Unicode classes, as in Go
        (r"[[:alpha:]]+", "abc", True),
        ("(?i)k", "\u212a", True),  # Unicode case folding (Kelvin sign)
        ("^.$", "\ud800", True),  # a lone surrogate is U+FFFD, one character
    ],
)
def test_go_semantics(pattern: str, text: str, matches: bool) -> None:
    assert go_regex.search(pattern, text) is matches


@pytest.mark.parametrize("pattern", [r"(?=a)", r"(a)\1", r"\C", r"\Z", "a{1001}", "x**"])
def test_what_go_refuses_is_refused(pattern: str) -> None:
    assert not go_regex.is_valid(pattern)
    with pytest.raises(go_regex.RegexError):
        go_regex.check(pattern)


def test_pattern_properties_keep_their_flags_to_themselves(tmp_path: Path) -> None:
    # jsonschema joins patternProperties' keys with "|"; (?i) must not spill over
    schema = {
        "type": "object",
        "patternProperties": {"(?i)^x$": {}, "^y$": {}},
        "additionalProperties": False,
    }
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=schema)))
    assert engine.validate({"X": 1, "y": 2}) == []
    assert [v.path for v in engine.validate({"Y": 1})] == [("Y",)]
