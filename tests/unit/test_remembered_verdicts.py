"""Verdicts are remembered by what decides them: the spec (as canonical JSON)
and the engine's digest; render verdicts by the raw spec, before defaulting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chartkit import make_chart

import lostromos.values.engine as engine_module
from lostromos.admission import AdmissionRequest, GroupVersionKind, SpecContext
from lostromos.charts import load_chart
from lostromos.config import Binding, ChartRef
from lostromos.helmengine import ChartSource
from lostromos.rendercheck import RenderCheck
from lostromos.values.engine import ValuesEngine
from lostromos.values.remembered import RememberedVerdicts, spec_digest

SCHEMA = {
    "type": "object",
    "properties": {
        "old": {"type": "integer", "deprecated": True},
        "n": {"type": "integer"},
        "size": {"type": "string", "default": "small"},
    },
}


def test_the_digest_is_the_specs_json_whatever_its_key_order() -> None:
    assert spec_digest({"a": 1, "b": {"c": [1, 2]}}) == spec_digest({"b": {"c": [1, 2]}, "a": 1})
    assert spec_digest({"a": 1}, "engine-1") != spec_digest({"a": 1}, "engine-2")
    spellings = [{"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}, {"a": None}, {"a": [1]}]
    assert len({spec_digest(spec) for spec in spellings}) == len(spellings)


@pytest.mark.parametrize(
    "spec",
    [{1: "x"}, {"a": {True: 1}}, {"a": [{None: 1}]}, {"a": {1, 2}}, {"a": object()}],
)
def test_a_spec_without_one_json_spelling_has_no_digest(spec: Any) -> None:
    assert spec_digest(spec) is None


def test_remembered_verdicts_are_bounded_least_recently_used_first() -> None:
    remembered: RememberedVerdicts[str] = RememberedVerdicts(2)
    remembered.put(b"a", "A")
    remembered.put(b"b", "B")
    assert remembered.get(b"a") == "A"  # now b is the oldest
    remembered.put(b"c", "C")
    assert (remembered.get(b"b"), remembered.get(b"a"), remembered.get(b"c")) == (None, "A", "C")
    assert (remembered.hits, remembered.misses, len(remembered)) == (3, 1, 2)


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(engine_module, name)

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(engine_module, name, counted)
    return calls


def test_a_spec_judged_before_is_not_judged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=SCHEMA)))
    judged = counting(monkeypatch, "process_dependencies")
    first = engine.verdict({"old": 1, "n": "x"})
    again = engine.verdict({"n": "x", "old": 1})
    assert again == first and len(judged) == 1
    assert again.deprecations == ("spec.old is deprecated",)
    assert [v.describe() for v in engine.validate({"old": 1, "n": "x"})] == [
        v.describe() for v in first.violations
    ]
    assert len(judged) == 1  # validate reads the remembered verdict too
    engine.verdict({"old": 1, "n": 2})
    assert len(judged) == 2


def test_an_engine_with_other_overrides_judges_for_itself(tmp_path: Path) -> None:
    chart = load_chart(make_chart(tmp_path, schema=SCHEMA))
    plain, overridden = ValuesEngine(chart), ValuesEngine(chart, {"n": "not a number"})
    assert plain.verdict({}).violations == ()
    assert [v.path for v in overridden.verdict({}).violations] == [("n",)]
    assert plain.verdict({}).violations == ()


def test_only_a_verdict_that_warns_scans_for_deprecations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=SCHEMA)))
    scans = counting(monkeypatch, "deprecated_paths")
    assert engine.validate({"old": 1}) == []
    assert scans == []
    assert engine.verdict({"old": 1}).deprecations == ("spec.old is deprecated",)
    assert len(scans) == 1


def test_a_spec_with_a_non_string_key_is_judged_not_remembered(tmp_path: Path) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=SCHEMA)))
    assert engine.verdict({"1": 2}).violations == ()
    assert [v.message for v in engine.verdict({1: 2}).violations] == [
        "property names must be strings"
    ]


class CountingHelm:
    def __init__(self) -> None:
        self.renders: list[Any] = []

    def verdict(self, chart: ChartSource, release: str, namespace: str, values: Any, **_: Any):
        self.renders.append(values)


def context(engine: ValuesEngine, spec: dict[str, Any], *, namespace: str = "team-a"):
    binding = Binding(
        name="demo",
        group="example.com",
        version="v1",
        kind="Demo",
        plural="demos",
        chart=ChartRef(path=engine.chart.path),
    )
    request = AdmissionRequest(
        uid="u",
        kind=GroupVersionKind("example.com", "v1", "Demo"),
        operation="CREATE",
        name="web",
        namespace=namespace,
        object={"metadata": {"name": "web"}, "spec": spec},
    )
    return SpecContext(request, binding, engine, "web", spec)


def test_a_render_verdict_is_found_by_the_raw_spec_before_defaulting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=SCHEMA)))
    helm = CountingHelm()
    check = RenderCheck(helm)  # type: ignore[arg-type]
    assert check(context(engine, {"n": 1})) == []
    assert helm.renders == [{"n": 1, "size": "small"}]  # rendered with the defaults filled

    assert (check.hits, check.misses) == (0, 2)  # by the raw spec, then by the values
    defaults = counting(monkeypatch, "process_dependencies")
    assert check(context(engine, {"n": 1})) == []
    # found by the raw spec: neither defaulted nor looked up by values nor rendered again
    assert (len(helm.renders), defaults, check.hits, check.misses) == (1, [], 1, 2)
    check(context(engine, {"n": 1}, namespace="team-b"))
    check(context(engine, {"n": 2}))
    assert len(helm.renders) == 3


def test_defaults_are_remembered_and_every_caller_gets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ValuesEngine(load_chart(make_chart(tmp_path, schema=SCHEMA)))
    first = engine.default({"n": 1})
    filled = counting(monkeypatch, "process_dependencies")
    again = engine.default({"n": 1})
    assert filled == []
    assert (
        (again.values, again.patch)
        == (first.values, first.patch)
        == (
            {"n": 1, "size": "small"},
            [{"op": "add", "path": "/size", "value": "small"}],
        )
    )
    again.values["size"] = "changed by a caller"
    again.patch.clear()
    third = engine.default({"n": 1})
    assert (third.values["size"], len(third.patch)) == ("small", 1)
