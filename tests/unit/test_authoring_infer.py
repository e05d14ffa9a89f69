"""`lostromos schema init`: a schema inferred from values.yaml and its comments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from lostromos.authoring import AuthoringError
from lostromos.authoring.infer import infer_schema, read_values
from lostromos.cli import main

ROOT = Path(__file__).resolve().parents[2]

VALUES = """\
# Top-of-file notes are not about any one key.

# How many pods run.
replicas: 2
# Ratio of traffic to send to the canary,
# between 0 and 1.
canary: 0.25
enabled: true
# Image settings.
image:
  # Repository, no tag.
  repository: nginx
  # Optional pinned tag.
  # tag: "1.27"
# Extra pod annotations.
podAnnotations: {}
ports: [80, 443]
weights: [1, 2.5]
# Sidecars. Each entry:
#   - name: proxy
#     port: 15001
sidecars:
  - name: proxy
    port: 15001
  - name: logger
    image: busybox
mixed: [1, "a"]
nothing:
"""


def write_chart(root: Path, values: str = VALUES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 0.1.0\ndescription: A demo chart.\n"
    )
    (root / "values.yaml").write_text(values)
    return root


def inferred(tmp_path: Path, values: str = VALUES) -> dict:
    chart = write_chart(tmp_path / "demo", values)
    return infer_schema("demo", "A demo chart.", read_values(chart / "values.yaml"))


def test_types_and_defaults_come_from_the_values(tmp_path: Path) -> None:
    schema = inferred(tmp_path)
    properties = schema["properties"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["type"], schema["additionalProperties"]) == ("object", False)
    assert properties["replicas"] == {
        "description": "How many pods run.",
        "type": "integer",
        "default": 2,
    }
    assert properties["canary"]["type"] == "number"
    assert properties["enabled"] == {"type": "boolean", "default": True}
    assert properties["ports"] == {
        "type": "array",
        "items": {"type": "integer"},
        "default": [80, 443],
    }
    assert properties["weights"]["items"] == {"type": "number"}
    assert properties["mixed"] == {"type": "array", "default": [1, "a"]}
    assert properties["nothing"] == {}


def test_descriptions_join_the_comment_block_above_each_key(tmp_path: Path) -> None:
    properties = inferred(tmp_path)["properties"]
    assert properties["canary"]["description"] == (
        "Ratio of traffic to send to the canary, between 0 and 1."
    )
    assert properties["image"]["properties"]["repository"]["description"] == "Repository, no tag."
    # an example under the prose stays in values.yaml
    assert properties["sidecars"]["description"] == "Sidecars. Each entry:"
    assert "description" not in properties["enabled"]
    assert "Top-of-file" not in json.dumps(properties)


def test_objects_with_keys_are_closed_and_empty_maps_stay_open(tmp_path: Path) -> None:
    properties = inferred(tmp_path)["properties"]
    assert properties["image"]["additionalProperties"] is False
    # a key shown commented out is an optional property typed from its example
    assert set(properties["image"]["properties"]) == {"repository", "tag"}
    assert properties["image"]["properties"]["tag"]["type"] == "string"
    # annotations are a map of strings by nature
    assert properties["podAnnotations"] == {
        "description": "Extra pod annotations.",
        "type": "object",
        "default": {},
        "additionalProperties": {"type": "string"},
    }


def test_lists_of_objects_merge_the_keys_of_every_item(tmp_path: Path) -> None:
    items = inferred(tmp_path)["properties"]["sidecars"]["items"]
    # items stay open: the examples in a list rarely show every key an item may have
    assert "additionalProperties" not in items
    assert items["properties"] == {
        "name": {"type": "string"},
        "port": {"type": "integer"},
        "image": {"type": "string"},
    }


def test_commented_out_keys_are_recorded_as_optional(tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "demo")
    assert read_values(chart / "values.yaml").commented_keys == {("image", "tag")}


def test_the_inferred_schema_accepts_its_own_values(tmp_path: Path) -> None:
    schema = inferred(tmp_path)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(VALUES), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"replicas": "two"}, schema)


def test_the_site_chart_values_infer_a_schema_the_site_values_pass() -> None:
    values = read_values(ROOT / "charts" / "site" / "values.yaml")
    schema = infer_schema("site", None, values)
    jsonschema.validate(values.values, schema)
    php = schema["properties"]["php"]["properties"]
    assert set(php) == {"version", "workers", "memoryLimit", "legacyMode"}
    assert php["legacyMode"]["type"] == "boolean"  # from the commented-out example
    assert php["workers"]["description"].startswith("Maximum concurrent PHP request workers")


def test_dates_and_binary_are_text_as_helm_reads_them(tmp_path: Path) -> None:
    """loki's `schemaConfig: {configs: [{from: 2024-04-01, ...}]}`: Helm's YAML reader
    keeps timestamps as strings and decodes `!!binary` to one, so does the schema (and
    inference does not fail)."""
    values = "schemaConfig:\n  from: 2024-04-01\n  # until: 2030-01-01\nkey: !!binary aGVsbG8=\n"
    schema = inferred(tmp_path, values)
    config = schema["properties"]["schemaConfig"]["properties"]
    assert config["from"] == {"type": "string", "default": "2024-04-01"}
    assert schema["properties"]["key"] == {"type": "string", "default": "hello"}
    assert config["until"] == {"type": "string"}
    jsonschema.validate({"schemaConfig": {"from": "2025-01-01"}}, schema)


def test_a_values_file_of_several_documents_is_merged_as_helm_merges_it(
    tmp_path: Path,
) -> None:
    """The chart loader (and Helm) merge a values.yaml's documents; init read only one and
    refused the file. Keys are text, as Helm makes them (`true:` is the key "true")."""
    values = "a: {b: 1}\n---\n# A second document.\na: {c: 2}\ntrue: on\n# d: 4\n"
    schema = inferred(tmp_path, values)
    assert set(schema["properties"]["a"]["properties"]) == {"b", "c"}
    assert schema["properties"]["true"]["type"] == "boolean"
    assert schema["properties"]["d"] == {"type": "integer"}
    jsonschema.validate({"a": {"b": 1, "c": 2}, "true": True, "d": 4}, schema)


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "demo", "a: 1\nb: [2\n")
    with pytest.raises(AuthoringError, match=r"values.yaml: not valid YAML: line 3, column 1"):
        read_values(chart / "values.yaml")


# --- the command ---


def test_init_writes_the_schema_and_refuses_to_overwrite_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = write_chart(tmp_path / "demo")
    assert main(["schema", "init", str(chart)]) == 0
    written = json.loads((chart / "values.schema.json").read_text())
    assert written["title"] == "demo"
    assert written["description"] == "A demo chart."

    (chart / "values.schema.json").write_text("{}")
    assert main(["schema", "init", str(chart)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already exists; pass --force" in err
    assert (chart / "values.schema.json").read_text() == "{}"

    assert main(["schema", "init", str(chart), "--force"]) == 0
    assert json.loads((chart / "values.schema.json").read_text()) == written


def test_init_of_a_missing_chart_or_broken_values_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "init", str(tmp_path / "absent")]) == 2
    assert "not a chart directory" in capsys.readouterr().err
    chart = write_chart(tmp_path / "demo", "image:\n  tag: [\n")
    assert main(["schema", "init", str(chart)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3, column 1" in err
    assert not (chart / "values.schema.json").exists()


def test_init_writes_no_schema_an_annotation_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt type in an author's annotation would make a schema Helm cannot load:
    the command names the key and writes nothing."""
    chart = write_chart(tmp_path / "demo", "replicas: 1 # @schema type: intger\n")
    assert main(["schema", "init", str(chart)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "#/properties/replicas/type" in err and "'intger'" in err
    assert not (chart / "values.schema.json").exists()


def test_init_stdout_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "charts" / "site", site)
    before = (site / "values.schema.json").read_text()
    assert main(["schema", "init", str(site), "--stdout"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "site"
    assert (site / "values.schema.json").read_text() == before
