"""Our admit/deny verdict must equal `helm template`'s on the same values.

For every test chart, hypothesis generates values near the chart's schema
(plus hand-picked edge cases); each set is written to a file, rendered with
`helm template -f`, and compared with ValuesEngine.validate(). When helm
accepts, the coalesced values it renders (the charts dump .Values) must equal
ValuesEngine.coalesce(). Default run: about 60 generated cases per chart;
set LOSTROMOS_DIFF_EXAMPLES=500 for a bigger run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from diff_harness import DiffStats, run_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_strategies import SchemaValues, junk

from lostromos.charts import load_chart
from lostromos.helmengine import HelmEngine
from lostromos.values.engine import ValuesEngine

CHARTS = Path(__file__).resolve().parents[1] / "charts"
EXAMPLES = int(os.environ.get("LOSTROMOS_DIFF_EXAMPLES", "60"))


def _schema(chart: str) -> Any:
    return json.loads((CHARTS / chart / "values.schema.json").read_text())


def _near(chart: str) -> st.SearchStrategy[Any]:
    schema = _schema(chart)
    return SchemaValues(schema).values(schema)


def _umbrella() -> st.SearchStrategy[Any]:
    sub = CHARTS / "umbrella" / "charts"
    database = json.loads((sub / "database" / "values.schema.json").read_text())
    cache = json.loads((sub / "cache" / "values.schema.json").read_text())
    inner = json.loads((sub / "cache" / "charts" / "inner" / "values.schema.json").read_text())
    parent = _schema("umbrella")
    toggles = st.one_of(st.booleans(), st.none(), st.just("yes"))
    scoped_db = st.builds(
        lambda values, enabled: (
            {**values, "enabled": enabled} if isinstance(values, dict) else values
        ),
        SchemaValues(database).values(database),
        toggles,
    )
    cache_values = st.builds(
        lambda values, inner_values: (
            {**values, "inner": inner_values} if isinstance(values, dict) else values
        ),
        SchemaValues(cache).values(cache),
        st.one_of(SchemaValues(inner).values(inner), st.fixed_dictionaries({"enabled": toggles})),
    )
    globals_ = st.fixed_dictionaries(
        {},
        optional={
            "domain": st.sampled_from(["example.com", "a.org", "bad_host", "", None]),
            "region": st.sampled_from(["eu", "us", "x", None, 3]),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "team": st.sampled_from(["web", "data", "nope", None]),
            "db": scoped_db,
            "replica": scoped_db,
            "cache": cache_values,
            "metrics": st.one_of(
                st.fixed_dictionaries({"interval": st.sampled_from([1, 5, 30, None])}), junk(1)
            ),
            "global": st.one_of(globals_, junk(1)),
            "tags": st.one_of(st.fixed_dictionaries({"extras": toggles}), junk(1)),
            "dbPort": st.sampled_from([1, "1", None, 1.5]),
            **{
                k: SchemaValues(parent).values(v)
                for k, v in parent["properties"].items()
                if k in ("team",)
            },
        },
    )


STRATEGIES = {
    "site": lambda: _near("site"),
    "platform": lambda: _near("platform"),
    "plain": lambda: _near("plain"),
    "legacy": lambda: _near("legacy"),
    "umbrella": _umbrella,
}

EDGE_CASES: dict[str, list[dict]] = {
    "site": [
        {},
        {"domain": None},
        {"php": None},
        {"php": {"version": None}},
        {"php": {"memoryLimit": None}},
        {"domain": "exa mple.com"},
        {"tls": {"enabled": True}},
        {"tls": {"enabled": True, "secretName": "s"}},
        {"tls": {"secretName": "s"}},
        {"tls": {"enabled": None, "secretName": "s"}},
        {"resources": {"cpu": 0.3}},
        {"resources": {"cpu": 0.7}},
        {"resources": {"cpu": 0}},
        {"resources": {"cpu": 1e21}},
        {"resources": {"cpu": 0.30000000000000004}},
        {"replicas": 1.0},
        {"replicas": 10.5},
        {"replicas": "1"},
        {"replicas": None},
        {"admin": {"since": "2024-02-29T23:59:60Z"}},
        {"admin": {"since": "2024-01-01T00:00:00+01:00"}},
        {"admin": {"email": "a@b"}},
        {"admin": {"ip": "01.2.3.4"}},
        {"admin": {"ip": "+1.2.3.4"}},
        {"plugins": [{"name": "seo"}, {"name": "seo"}]},
        {"plugins": [{"name": "Bad"}]},
        {"plugins": [{}]},
        {"labels": {"a": "x" * 64}},
        {"labels": None},
        {"cron": None},
        {"cron": "*/5 * * * *\n"},
        {"unknown": 1},
        {"labels": {"k": 1}},
        {"php": {"legacyMode": True, "workers": 65}},
    ],
    "platform": [
        {},
        {"storage": None},
        {"storage": {"kind": "bucket"}},
        {"storage": {"kind": "bucket", "url": "https://x.example/b"}},
        {"storage": {"kind": "bucket", "url": "not a url"}},
        {"storage": {"kind": "disk", "size": 0}},
        {"endpoints": {"HTTP": {"port": 1}}},
        {"endpoints": {"grpc": {"port": 70000}}},
        {"endpoints": {"http": None}},
        {"endpoints": {"a": {"port": 1}, "b": {"port": 1}, "c": {"port": 1}}},
        {"mode": "custom-7"},
        {"mode": "custom-7\n"},
        {"mode": "turbo"},
        {"limits": []},
        {"limits": [1.5]},
        {"limits": [1, 0]},
        {"limits": [1, 2, "x", 3]},
        {"owner": "nobody"},
        {"owner": 5},
        {"ratio": 0.07},
        {"ratio": 0.3},
        {"ratio": 1.01},
        {"ratio": 0.57},
        {"contact": {"phone": "1"}},
        {"flags": ["a"]},
        {"flags": ["base", "base"]},
        {"flags": ["base"]},
        {"limits": None},
    ],
    "plain": [
        {},
        {"name": None},
        {"size": None},
        {"size": 2.0},
        {"size": 2**53 + 1},
        {"schedule": {"zone": None}},
        {"schedule": {"start": "not a date"}},
        {"schedule": None},
        {"nested": {"a": {"b": {"c": None}}}},
        {"nested": {"a": {"b": None}}},
        {"nested": {"a": None}},
        {"optional": None},
        {"optional": 3},
        {"name": "٣ab"},
        {"tags": ["a", ""]},
        {"extra": {"x-a": 1, "y": 2}},
        {"answer": 42.0},
        {"answer": 42.5},
        {"name": "a" * 21},
        {"name": "Ab"},
    ],
    "legacy": [
        {},
        {"port": 65536},
        {"port": 65535},
        {"port": 1024},
        {"port": 1023.0},
        {"host": "1.2.3"},
        {"host": "::1"},
        {"id": "123E4567-E89B-12D3-A456-426614174000"},
        {"weight": 0},
        {"weight": 0.0001},
        {"weight": 1},
        {"day": "2024-02-30"},
        {"day": "2024-2-3"},
        {"names": ["a", 1]},
        {"names": ["a", 1, 2]},
        {"names": [1]},
        {"other": 1.5},
        {"other": None},
        {"port": None},
    ],
    "umbrella": [
        {},
        {"team": None},
        {"db": None},
        {"db": {"enabled": False, "port": "x"}},
        {"db": {"auth": {"password": None}}},
        {"db": {"auth": {"legacyAuth": True}}},
        {"db": "off"},
        {"replica": {"enabled": True}},
        {"replica": {"enabled": True, "port": 0}},
        {"cache": {"enabled": False, "size": 1}},
        {"tags": {"extras": False}, "cache": {"size": 1}},
        {"tags": {"extras": False}, "cache": {"enabled": True, "size": 1}},
        {"cache": {"inner": {"enabled": False, "level": 9}}},
        {"cache": {"inner": {"level": 9}}},
        {"global": {"domain": "a.org"}},
        {"global": {"domain": "bad_host"}},
        {"global": None},
        {"global": {"region": "x"}},
        {"global": 5},
        {"metrics": {"interval": 1}},
        {"metrics": None},
        {"metrics": 3},
        {"dbPort": "1"},
        {"db": {"exports": {"data": None}}},
        {"db": {"exports": {"data": {"dbPort": "x"}}}},
        {"cache": None},
        {"cache": 1},
        {
            "global": {"deep": {"a": {"b": 1}}},
            "db": {"global": {"deep": {"a": {"c": 2}}}},
            "cache": {"global": {"deep": {"a": {"d": 3}}}},
        },
        {"global": {"deep": {"a": 1}}, "db": {"global": {"deep": {"a": {"c": 2}}}}},
        {"db": {"global": 5}},
        {"global": {"region": None}},
        {"db": {"global": {"region": "us"}}},
        {"cache": {"global": {"region": "u"}}},
        {"metrics": {"global": None}},
        {"replica": {"enabled": True, "global": {"domain": None}}},
        {"tags": {"extras": "no"}, "cache": {"size": 1}},
        {"tags": None, "cache": {"size": 1}},
        {"cache": {"enabled": "false", "size": 1}},
        {"db": {"enabled": None, "port": "x"}},
    ],
}


@pytest.mark.parametrize("chart_name", sorted(STRATEGIES))
def test_verdict_matches_helm(
    chart_name: str,
    helm_binary: Path,
    diff_stats: DiffStats,
    tmp_path: Path,
    helm_engine: HelmEngine,
) -> None:
    """...and the Helm engine renders every case byte for byte as `helm template` does."""
    chart_path = CHARTS / chart_name
    engine = ValuesEngine(load_chart(chart_path))
    generated: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(STRATEGIES[chart_name]())
    def collect(values: Any) -> None:
        generated.append(values)

    collect()
    seen: set[str] = set()
    cases = []
    for values in EDGE_CASES[chart_name] + [v for v in generated if isinstance(v, dict)]:
        key = json.dumps(values, sort_keys=True)
        if key not in seen:
            seen.add(key)
            cases.append(values)
    disagreements = run_cases(
        engine, helm_binary, chart_path, cases, tmp_path, diff_stats, helm_engine=helm_engine
    )
    accepted = sum(1 for c in cases if not engine.validate(c))
    # the generated cases must exercise both verdicts, or the comparison proves little
    assert 0 < accepted < len(cases), f"{chart_name}: {accepted}/{len(cases)} accepted"
    assert not disagreements, "\n".join(str(d) for d in disagreements[:10])


def _leaves(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    if isinstance(value, dict) and value:
        found: dict[tuple, Any] = {}
        for key, child in value.items():
            found.update(_leaves(child, (*path, key)))
        return found
    return {path: value}


@pytest.mark.parametrize("chart_name", ["site", "plain", "umbrella"])
def test_defaulting_only_adds_to_what_helm_renders(
    chart_name: str, helm_binary: Path, tmp_path: Path
) -> None:
    """Helm's rendered values for the defaulted spec keep every value of the plain spec."""
    from diff_harness import helm_template, write_values

    chart_path = CHARTS / chart_name
    engine = ValuesEngine(load_chart(chart_path))
    added = 0
    for index, spec in enumerate(c for c in EDGE_CASES[chart_name] if not engine.validate(c)):
        defaulted = engine.default(spec)
        write_values(engine.user_values(spec), tmp_path / f"plain-{index}.json")
        write_values(engine.user_values(defaulted.values), tmp_path / f"defaulted-{index}.json")
        plain = helm_template(helm_binary, chart_path, tmp_path / f"plain-{index}.json")
        filled = helm_template(helm_binary, chart_path, tmp_path / f"defaulted-{index}.json")
        assert plain.accepted and filled.accepted, filled.error
        before, after = _leaves(plain.values), _leaves(filled.values)
        assert {k: v for k, v in after.items() if k in before} == before
        added += len(defaulted.patch)
    # every one of these charts has schema defaults for properties the edge cases omit
    assert added > 0
