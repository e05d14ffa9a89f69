"""Defaulting: fill what nobody supplies, never overwrite, minimal idempotent patch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from chartkit import add_subchart, apply_patch, make_chart

from lostromos.charts import load_chart
from lostromos.values.defaults import _MAX_STEPS, SchemaView
from lostromos.values.engine import ValuesEngine


def engine(tmp_path: Path, schema, values: dict | None = None) -> ValuesEngine:
    return ValuesEngine(load_chart(make_chart(tmp_path, schema=schema, values=values)))


PHP = {
    "type": "object",
    "properties": {
        "php": {
            "type": "object",
            "default": {},
            "properties": {
                "version": {"type": "string", "default": "8.3"},
                "workers": {"type": "integer", "default": 4},
                "opcache": {
                    "type": "object",
                    "default": {"enabled": True},
                    "properties": {"size": {"type": "integer", "default": 128}},
                },
            },
        },
        "replicas": {"type": "integer", "default": 1},
        "plugins": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"active": {"type": "boolean", "default": True}},
            },
        },
        "a/b~c": {"type": "string", "default": "escaped"},
    },
}


def test_fills_recursively_with_a_minimal_patch(tmp_path: Path) -> None:
    result = engine(tmp_path, PHP).default({"plugins": [{"name": "x"}, {"active": False}]})
    assert result.values == {
        "php": {"version": "8.3", "workers": 4, "opcache": {"enabled": True, "size": 128}},
        "replicas": 1,
        "plugins": [{"name": "x", "active": True}, {"active": False}],
        "a/b~c": "escaped",
    }
    assert result.patch == [
        {"op": "add", "path": "/php", "value": result.values["php"]},
        {"op": "add", "path": "/replicas", "value": 1},
        {"op": "add", "path": "/plugins/0/active", "value": True},
        {"op": "add", "path": "/a~1b~0c", "value": "escaped"},
    ]


def test_patch_applied_to_the_spec_gives_the_values_and_is_idempotent(tmp_path: Path) -> None:
    engine_ = engine(tmp_path, PHP)
    spec = {"php": {"workers": 8}, "plugins": [{}]}
    result = engine_.default(spec)
    assert apply_patch(copy.deepcopy(spec), result.patch) == result.values
    assert engine_.default(result.values).patch == []
    assert spec == {"php": {"workers": 8}, "plugins": [{}]}  # input untouched


def test_never_overwrites_what_the_user_gave_null_included(tmp_path: Path) -> None:
    result = engine(tmp_path, PHP).default(
        {"php": {"version": "8.1", "workers": None}, "replicas": 0}
    )
    assert result.values["php"]["version"] == "8.1"
    assert result.values["php"]["workers"] is None
    assert result.values["replicas"] == 0
    assert [op["path"] for op in result.patch] == ["/php/opcache", "/a~1b~0c"]


def test_values_yaml_wins_over_schema_default(tmp_path: Path) -> None:
    # values.yaml says 8.2, the schema default says 8.3: helm renders 8.2, so the spec shows 8.2
    engine_ = engine(tmp_path, PHP, values={"php": {"version": "8.2"}, "replicas": 3})
    result = engine_.default({})
    assert result.values["php"]["version"] == "8.2"
    assert result.values["replicas"] == 3
    rendered = engine_.coalesce(result.values)
    assert (rendered["php"]["version"], rendered["replicas"]) == ("8.2", 3)
    # what values.yaml does not supply inside php comes from the schema
    assert result.values["php"]["workers"] == 4
    assert result.values["php"]["opcache"] == {"enabled": True, "size": 128}


def test_values_yaml_without_a_schema_default_is_not_copied(tmp_path: Path) -> None:
    engine_ = engine(tmp_path, PHP, values={"plugins": [{"name": "akismet"}], "image": "wp"})
    result = engine_.default({})
    assert "image" not in result.values
    assert "plugins" not in result.values


def test_rendered_values_never_change_where_values_yaml_supplies(tmp_path: Path) -> None:
    engine_ = engine(
        tmp_path,
        PHP,
        values={
            "php": {"version": "8.2", "workers": 2, "opcache": {"enabled": False, "size": 1}},
            "replicas": 3,
            "a/b~c": "x",
        },
    )
    spec = {"plugins": []}
    assert engine_.coalesce(engine_.default(spec).values) == engine_.coalesce(spec)


def test_defaults_through_ref_and_all_of_but_not_one_of(tmp_path: Path) -> None:
    schema = {
        "$defs": {"port": {"type": "integer", "default": 80}},
        "properties": {
            "port": {"$ref": "#/$defs/port"},
            "merged": {"allOf": [{"properties": {"x": {"default": "from-allOf"}}}]},
            "either": {"oneOf": [{"properties": {"y": {"default": 1}}}]},
        },
    }
    result = engine(tmp_path, schema).default({"merged": {}, "either": {}})
    assert result.values == {"port": 80, "merged": {"x": "from-allOf"}, "either": {}}


def test_subchart_defaults_under_scope(tmp_path: Path) -> None:
    parent = make_chart(
        tmp_path, "parent", dependencies=[{"name": "mysql", "version": "*", "alias": "db"}]
    )
    add_subchart(
        parent,
        "mysql",
        values={"port": 3306},
        schema={"properties": {"port": {"default": 1}, "storage": {"default": "10Gi"}}},
    )
    result = ValuesEngine(load_chart(parent)).default({})
    assert result.patch == [
        {"op": "add", "path": "/db", "value": {"port": 3306, "storage": "10Gi"}}
    ]


def test_recursive_schema_defaults_terminate(tmp_path: Path) -> None:
    schema = {
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/node"}, "name": {"default": "n"}},
            }
        },
    }
    deep = {"child": {"child": {"child": {}}}}
    result = engine(tmp_path, schema).default(deep)
    assert result.values["child"]["child"]["child"] == {"name": "n"}
    assert len(result.patch) == 4


def test_deprecations_name_the_path_and_reason(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "php": {
                "properties": {"legacyMode": {"deprecated": True, "description": "use php.mode"}}
            },
            "old": {"$ref": "#/$defs/old"},
            "items": {"items": {"properties": {"flag": {"deprecated": True}}}},
        },
        "$defs": {"old": {"deprecated": True}},
    }
    engine_ = engine(tmp_path, schema, values={"old": 1})
    spec = {"php": {"legacyMode": True}, "old": 2, "items": [{}, {"flag": 1}]}
    assert engine_.deprecations(spec) == [
        "spec.items[1].flag is deprecated",
        "spec.old is deprecated",
        "spec.php.legacyMode is deprecated: use php.mode",
    ]
    # only what the user set, not what values.yaml sets
    assert engine_.deprecations({}) == []


def test_a_deprecated_flag_turned_off_or_at_its_default_is_not_reported(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "php": {
                "properties": {
                    "legacyMode": {
                        "deprecated": True,
                        "type": "boolean",
                        "description": "Deprecated: turned on the PHP 7 shim.",
                    },
                    "shim": {"deprecated": True, "default": "none"},
                }
            }
        }
    }
    engine_ = engine(tmp_path, schema)
    assert engine_.deprecations({"php": {"legacyMode": False, "shim": "none"}}) == []
    assert engine_.deprecations({"php": {"legacyMode": None}}) == []
    # said once, without repeating the word the description starts with
    assert engine_.deprecations({"php": {"legacyMode": True, "shim": "php7"}}) == [
        "spec.php.legacyMode is deprecated: turned on the PHP 7 shim.",
        "spec.php.shim is deprecated",
    ]


def test_schema_steps_are_followed_once_and_answer_as_the_first_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {
        "$defs": {"port": {"type": "integer", "default": 80}},
        "properties": {
            "port": {"$ref": "#/$defs/port"},
            "web": {"properties": {"port": {"$ref": "#/$defs/port"}}},
            "ports": {"items": {"$ref": "#/$defs/port"}},
            "labels": {"patternProperties": {"^x-": {"default": "pattern"}}},
        },
    }
    values = engine(tmp_path, schema)
    view = next(iter(values._views.values()))
    expansions = 0
    expand = SchemaView.expand

    def counting(self: SchemaView, *args: Any, **kwargs: Any) -> list[Any]:
        nonlocal expansions
        expansions += 1
        return expand(self, *args, **kwargs)

    monkeypatch.setattr(SchemaView, "expand", counting)
    spec = {"web": {}, "ports": [1, 2], "labels": {"x-a": "given"}}
    first = values.default(copy.deepcopy(spec))
    followed = expansions
    again = values._fill_defaults(copy.deepcopy(spec))  # not the remembered answer
    assert (again.values, again.patch) == (first.values, first.patch)
    assert first.values == {
        "web": {"port": 80},
        "ports": [1, 2],
        "labels": {"x-a": "given"},
        "port": 80,
    }
    assert followed > 0
    assert expansions == followed  # the second pass followed no $ref and no allOf again
    ports = view.property(view.root, "ports")
    assert view.property(view.root, "web") == view._property(view.root, "web", False)
    assert view.item(ports, 0) == view._item(ports, 0)
    assert view.item(ports, 0) is view.item(ports, 0)  # remembered, not followed again


def test_remembered_schema_steps_are_bounded(tmp_path: Path) -> None:
    schema = {"additionalProperties": {"default": "any"}, "properties": {"a": {"default": 1}}}
    view = next(iter(engine(tmp_path, schema)._views.values()))
    for number in range(2 * _MAX_STEPS):
        assert view.property(view.root, f"key-{number}", loose=True) == view._property(
            view.root, f"key-{number}", True
        )
        assert len(view._steps) <= _MAX_STEPS
