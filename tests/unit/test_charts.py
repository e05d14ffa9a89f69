from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from chartkit import add_subchart, make_chart

from lostromos.charts import ChartError, chart_digest, load_chart

CHARTS = Path(__file__).resolve().parents[1] / "charts"


def test_loads_metadata_values_schema_and_subcharts() -> None:
    chart = load_chart(CHARTS / "umbrella")
    assert (chart.name, chart.version) == ("umbrella", "0.1.0")
    assert chart.values["global"]["domain"] == "example.com"
    assert chart.schema["$schema"].startswith("http://json-schema.org/draft-07")
    assert [sub.name for sub in chart.loaded_subcharts] == ["cache", "database", "metrics"]
    assert chart.requirements is not None
    listed = [(spec.name, spec.alias, spec.condition, spec.tags) for spec in chart.requirements]
    assert listed == [
        ("database", "db", "db.enabled", ()),
        ("database", "replica", "replica.enabled", ()),
        ("cache", "", "cache.enabled", ("extras",)),
    ]
    assert chart.compiled_schema is not None and chart.compiled_schema.draft == 7


def test_chart_without_values_or_schema(tmp_path: Path) -> None:
    path = make_chart(tmp_path)
    (path / "values.yaml").unlink()
    chart = load_chart(path)
    assert chart.values == {} and chart.schema is None and chart.loaded_subcharts == ()
    assert chart.compiled_schema is None


def test_values_yaml_keeps_timestamps_as_text_and_merges_documents(tmp_path: Path) -> None:
    path = make_chart(tmp_path)
    (path / "values.yaml").write_text("day: 2024-01-01\na: {b: 1}\n---\na: {c: 2}\n1: one\n")
    values = load_chart(path).values
    assert values == {"day": "2024-01-01", "a": {"b": 1, "c": 2}, "1": "one"}


def test_values_yaml_reads_binary_sets_and_ordered_maps_as_helm_does(tmp_path: Path) -> None:
    """As `helm template` renders them with toJson: `{"a":"hello","c":[{"x":1}]}`, the
    set's keys nulls (which Helm's coalescing then drops)."""
    path = make_chart(tmp_path)
    (path / "values.yaml").write_text("a: !!binary aGVsbG8=\nb: !!set {x}\nc: !!omap [x: 1]\n")
    values = load_chart(path).values
    assert values == {"a": "hello", "b": {"x": None}, "c": [{"x": 1}]}


def test_digest_changes_with_any_file(tmp_path: Path) -> None:
    path = make_chart(tmp_path, values={"a": 1})
    before = chart_digest(path)
    assert load_chart(path).digest == before
    (path / "templates" / "x.yaml").write_text("kind: ConfigMap\n")
    assert chart_digest(path) != before


def test_loads_tgz_subchart(tmp_path: Path) -> None:
    parent = make_chart(tmp_path, "parent", dependencies=[{"name": "child", "version": "1.0.0"}])
    child = make_chart(tmp_path / "src", "child", values={"x": 1})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(child, arcname="child")
    (parent / "charts").mkdir()
    (parent / "charts" / "child-1.0.0.tgz").write_bytes(buffer.getvalue())
    chart = load_chart(parent)
    assert [(s.name, s.values) for s in chart.loaded_subcharts] == [("child", {"x": 1})]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: p / "nope", "chart directory not found"),
        (lambda p: _without(make_chart(p), "Chart.yaml"), "Chart.yaml is missing"),
        (
            lambda p: _write(make_chart(p), "Chart.yaml", "name: [x\n"),
            "Chart.yaml: not valid YAML: line 2",
        ),
        (
            lambda p: _write(make_chart(p), "values.yaml", "a: 1\n b: 2\n"),
            "values.yaml: not valid YAML: line 2, column 3",
        ),
        (
            lambda p: _write(make_chart(p), "values.schema.json", '{"type": "object",\n "x": }'),
            "values.schema.json: not valid JSON: line 2, column 7",
        ),
        (
            lambda p: _write(make_chart(p), "Chart.yaml", "apiVersion: v2\nname: x\n"),
            "chart.metadata.version is required",
        ),
    ],
)
def test_broken_charts_give_one_clear_line(tmp_path: Path, setup, expected: str) -> None:
    with pytest.raises(ChartError) as caught:
        load_chart(setup(tmp_path))
    message = str(caught.value)
    assert expected in message and "\n" not in message


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        (
            {"properties": {"replicas": {"type": "integer", "minimum": "1"}}},
            "values.schema.json#/properties/replicas/minimum",
        ),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "type": "strung"},
            "values.schema.json#/type",
        ),
        ({"$schema": "http://json-schema.org/draft-03/schema#"}, "values.schema.json#/$schema"),
        ({"properties": {"a": {"pattern": "(?=x)y"}}}, "values.schema.json#/properties/a/pattern"),
        ({"properties": {"a": {"pattern": "a\\Z"}}}, "values.schema.json#/properties/a/pattern"),
        ({"patternProperties": {"(a": {}}}, "values.schema.json#/patternProperties"),
        (
            {"properties": {"a": {"$ref": "#/$defs/missing"}}},
            "values.schema.json#/properties/a/$ref",
        ),
    ],
)
def test_invalid_schema_names_file_and_pointer(tmp_path: Path, schema, pointer: str) -> None:
    with pytest.raises(ChartError, match=pointer.replace("$", r"\$").replace("(", r"\(")):
        load_chart(make_chart(tmp_path, schema=schema))


def test_dependency_missing_from_charts_dir(tmp_path: Path) -> None:
    path = make_chart(tmp_path, dependencies=[{"name": "db", "version": "1.0.0"}])
    with pytest.raises(ChartError, match="missing in charts/ directory: db"):
        load_chart(path)


def test_broken_subchart_names_parent(tmp_path: Path) -> None:
    parent = make_chart(tmp_path)
    child = add_subchart(parent, "child")
    (child / "values.schema.json").write_text("{")
    with pytest.raises(ChartError, match=r"charts/child/values.schema.json.*subchart of"):
        load_chart(parent)


def test_alias_must_be_a_plain_name(tmp_path: Path) -> None:
    parent = make_chart(tmp_path, dependencies=[{"name": "c", "version": "*", "alias": "a.b"}])
    add_subchart(parent, "c")
    with pytest.raises(ChartError, match="disallowed characters in the alias"):
        load_chart(parent)


def _without(path: Path, name: str) -> Path:
    (path / name).unlink()
    return path


def _write(path: Path, name: str, text: str) -> Path:
    (path / name).write_text(text)
    return path


def test_schema_json_is_parsed_not_evaluated(tmp_path: Path) -> None:
    chart = load_chart(make_chart(tmp_path, schema={"type": "object", "default": {"$ref": 1}}))
    assert json.dumps(chart.schema)
