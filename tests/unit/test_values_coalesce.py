"""Coalescing follows Helm: nulls, nesting, subcharts, aliases, globals, conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartkit import add_subchart, make_chart

from lostromos.charts import load_chart
from lostromos.values.engine import ValuesEngine


def engine_for(path: Path, overrides: dict | None = None) -> ValuesEngine:
    return ValuesEngine(load_chart(path), overrides)


def test_user_values_win_and_maps_merge(tmp_path: Path) -> None:
    engine = engine_for(
        make_chart(tmp_path, values={"php": {"version": "8.2", "workers": 2}, "list": [1, 2]})
    )
    assert engine.coalesce({"php": {"version": "8.3"}, "list": [3]}) == {
        "php": {"version": "8.3", "workers": 2},
        "list": [3],
    }


def test_null_deletes_a_default_at_any_depth(tmp_path: Path) -> None:
    engine = engine_for(make_chart(tmp_path, values={"a": {"b": {"c": 1, "d": 2}}, "e": 1}))
    assert engine.coalesce({"a": {"b": {"c": None}}, "e": None}) == {"a": {"b": {"d": 2}}}


def test_null_for_a_key_without_default_stays(tmp_path: Path) -> None:
    engine = engine_for(make_chart(tmp_path, values={"a": {"b": 1}}))
    assert engine.coalesce({"x": None, "a": {"y": None}}) == {"x": None, "a": {"b": 1, "y": None}}


def test_nulls_in_values_yaml_are_dropped(tmp_path: Path) -> None:
    engine = engine_for(make_chart(tmp_path, values={"a": None, "b": {"c": None, "d": 1}}))
    assert engine.coalesce({}) == {"b": {"d": 1}}


def test_scalar_does_not_replace_a_table_default(tmp_path: Path) -> None:
    engine = engine_for(make_chart(tmp_path, values={"a": {"b": 1}}))
    assert engine.coalesce({"a": 5}) == {"a": 5}
    assert engine.coalesce({"a": {"b": {"deep": 1}}}) == {"a": {"b": {"deep": 1}}}


def test_overrides_win_over_the_spec(tmp_path: Path) -> None:
    engine = engine_for(make_chart(tmp_path, values={"a": 1}), {"image": {"tag": "v1"}})
    assert engine.user_values({"image": {"tag": "v2", "pull": "Always"}}) == {
        "image": {"tag": "v1", "pull": "Always"},
    }
    assert engine.coalesce({}) == {"a": 1, "image": {"tag": "v1"}}


def _umbrella(tmp_path: Path) -> Path:
    parent = make_chart(
        tmp_path,
        "parent",
        values={"global": {"domain": "example.com"}, "db": {"port": 5432}},
        dependencies=[
            {"name": "database", "version": "1.x", "alias": "db", "condition": "db.enabled"},
            {"name": "cache", "version": "*", "tags": ["extras"]},
        ],
    )
    add_subchart(
        parent,
        "database",
        version="1.2.0",
        values={"port": 1, "user": "app", "global": {"region": "eu"}},
    )
    add_subchart(parent, "cache", values={"size": 64})
    return parent


def test_subchart_values_live_under_alias_with_globals(tmp_path: Path) -> None:
    engine = engine_for(_umbrella(tmp_path))
    values = engine.coalesce({"db": {"user": None}, "global": {"tier": "gold"}})
    assert values["db"] == {
        "port": 5432,
        "global": {"domain": "example.com", "tier": "gold", "region": "eu"},
    }
    assert values["cache"] == {"size": 64, "global": {"domain": "example.com", "tier": "gold"}}
    assert "database" not in values


def test_condition_false_disables_subchart(tmp_path: Path) -> None:
    engine = engine_for(_umbrella(tmp_path))
    values = engine.coalesce({"db": {"enabled": False}})
    # a disabled subchart's values are not coalesced with its values.yaml
    assert values["db"] == {"enabled": False, "port": 5432}


def test_tags_disable_subchart(tmp_path: Path) -> None:
    engine = engine_for(_umbrella(tmp_path))
    assert "cache" not in engine.coalesce({"tags": {"extras": False}})
    assert engine.coalesce({"tags": {"extras": True}})["cache"]["size"] == 64


def test_import_values_from_exports(tmp_path: Path) -> None:
    parent = make_chart(
        tmp_path,
        "parent",
        values={"own": 1},
        dependencies=[{"name": "child", "version": "*", "import-values": ["data"]}],
    )
    add_subchart(parent, "child", values={"exports": {"data": {"port": 5432, "own": 2}}})
    assert engine_for(parent).coalesce({})["port"] == 5432
    assert engine_for(parent).coalesce({})["own"] == 1


@pytest.mark.parametrize("given", ["off", 3, ["a"]])
def test_non_map_subchart_values_are_refused(tmp_path: Path, given) -> None:
    engine = engine_for(_umbrella(tmp_path))
    violations = engine.validate({"cache": given})
    assert violations and "subchart" in violations[0].message
    assert violations[0].path in ((), ("cache",))
