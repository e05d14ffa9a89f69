"""Converting chart schemas into structural CRD schemas, and the CRD files themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.authoring.convert import PRESERVE, SchemaConverter
from lostromos.authoring.crdgen import CrdTarget, generate_crd
from lostromos.charts import load_chart
from lostromos.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHARTS = sorted(
    [
        ROOT / "charts" / "site",
        *(p for p in (ROOT / "tests" / "charts").iterdir() if (p / "Chart.yaml").is_file()),
    ]
)
# JSONSchemaProps fields kube-apiserver accepts in a v1 structural schema
ALLOWED = {
    "type",
    "description",
    "title",
    "properties",
    "items",
    "required",
    "enum",
    "default",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "nullable",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}
JUNCTOR_FORBIDDEN = {
    "type",
    "description",
    "default",
    "additionalProperties",
    "nullable",
    "properties",
    "items",
}


def structural_problems(node: Any, where: str = "spec") -> list[str]:
    """What kube-apiserver would refuse about a spec schema (the rules we rely on)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return [f"{where}: not an object"]
    unknown = set(node) - ALLOWED
    if unknown:
        problems.append(f"{where}: unsupported {sorted(unknown)}")
    open_node = node.get(PRESERVE) or node.get("x-kubernetes-int-or-string")
    if "type" not in node and not open_node:
        problems.append(f"{where}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{where}: properties and additionalProperties")
    if node.get("type") == "array" and "items" not in node:
        problems.append(f"{where}: array without items")
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(keyword, []):
            if JUNCTOR_FORBIDDEN & set(branch):
                problems.append(f"{where}.{keyword}: structure inside a junctor")
    if "not" in node and JUNCTOR_FORBIDDEN & set(node["not"]):
        problems.append(f"{where}.not: structure inside a junctor")
    for name, child in node.get("properties", {}).items():
        problems += structural_problems(child, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        problems += structural_problems(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_problems(node["additionalProperties"], f"{where}.*")
    return problems


def convert(schema: Any, values: dict | None = None, mode: str = "full") -> tuple[dict, list]:
    spec, notes = SchemaConverter(schema, values or {}, mode).convert("the spec")  # type: ignore[arg-type]
    return spec, [note.describe() for note in notes]


def prop(schema: dict, values: dict | None = None, **kw: Any) -> tuple[dict, list]:
    spec, notes = convert({"type": "object", "properties": {"x": schema}, **kw}, values)
    assert structural_problems(spec) == []
    return spec["properties"]["x"], notes


# --- shapes ---


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^a"},
            {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^a", "nullable": True},
        ),
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        ({"type": ["integer", "number"]}, {"type": "number", "nullable": True}),
        # kube-openapi refuses a null under any enum, but runs no junctor on a null; an
        # anyOf (not allOf, which kubectl explain shows as <Object>)
        ({"const": "on"}, {"type": "string", "anyOf": [{"enum": ["on"]}], "nullable": True}),
        (
            {"enum": [1, 2.0, None]},
            {"type": "integer", "anyOf": [{"enum": [1, 2]}], "nullable": True},
        ),
        # the schema's own anyOf keeps its place: the enum goes into allOf
        (
            {"enum": ["a", "b"], "anyOf": [{"enum": ["a"]}, {"enum": ["b"]}]},
            {
                "type": "string",
                "allOf": [{"enum": ["a", "b"]}],
                "anyOf": [{"enum": ["a"]}, {"enum": ["b"]}],
                "nullable": True,
            },
        ),
        (
            {"type": "integer", "exclusiveMinimum": 0, "maximum": 9},
            {
                "type": "integer",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 9,
                "nullable": True,
            },
        ),
        (
            {"type": "integer", "minimum": 5, "exclusiveMinimum": 0},
            {"type": "integer", "minimum": 5, "nullable": True},
        ),
        (
            {"type": "integer", "multipleOf": 5},
            {"type": "integer", "multipleOf": 5, "nullable": True},
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            {
                "type": "array",
                "items": {"type": "string", "nullable": True},
                "minItems": 1,
                "nullable": True,
            },
        ),
        ({"type": "array"}, {"type": "array", "items": {PRESERVE: True}, "nullable": True}),
        ({"type": "object"}, {"type": "object", PRESERVE: True, "nullable": True}),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            {
                "type": "object",
                "additionalProperties": {"type": "integer", "nullable": True},
                "nullable": True,
            },
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
            },
            {
                "type": "object",
                "properties": {"a": {"type": "string", "nullable": True}},
                "required": ["a"],
                "nullable": True,
            },
        ),
        # no type: `properties` constrains objects only, every other value passes
        (
            {"properties": {"a": {"type": "boolean"}}},
            {
                "properties": {"a": {"type": "boolean", "nullable": True}},
                PRESERVE: True,
                "nullable": True,
            },
        ),
        ({"minLength": 2}, {PRESERVE: True, "nullable": True}),
        ({"type": ["integer", "string"]}, {"x-kubernetes-int-or-string": True, "nullable": True}),
        ({}, {PRESERVE: True, "nullable": True}),
        ({"type": ["boolean", "object"]}, {PRESERVE: True, "nullable": True}),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            {"x-kubernetes-int-or-string": True, "nullable": True},
        ),
        (
            {"type": "string", "anyOf": [{"pattern": "^a"}, {"enum": ["b"]}]},
            {"type": "string", "anyOf": [{"pattern": "^a"}, {"enum": ["b"]}], "nullable": True},
        ),
        (
            {"type": "string", "not": {"enum": ["root"]}},
            {"type": "string", "not": {"enum": ["root"]}, "nullable": True},
        ),
    ],
)
def test_shapes_convert_to_structural_nodes(schema: dict, expected: dict) -> None:
    assert prop(schema)[0] == expected


def test_refs_are_inlined_and_the_referring_description_wins() -> None:
    schema = {
        "type": "object",
        "$defs": {"q": {"description": "A quantity.", "type": "string", "pattern": "^[0-9]+$"}},
        "properties": {
            "cpu": {"$ref": "#/$defs/q", "description": "CPU."},
            "mem": {"$ref": "#/$defs/q"},
        },
    }
    spec, _ = convert(schema)
    assert spec["properties"]["cpu"] == {
        "description": "CPU.",
        "type": "string",
        "pattern": "^[0-9]+$",
        "nullable": True,
    }
    assert spec["properties"]["mem"]["description"] == "A quantity."
    assert "$ref" not in json.dumps(spec) and "$defs" not in json.dumps(spec)


def test_all_of_branches_merge() -> None:
    node, _ = prop(
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}},
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
            ],
            "additionalProperties": False,
        }
    )
    assert set(node["properties"]) == {"a", "b"}
    assert node["required"] == ["b"]
    assert PRESERVE not in node


def test_a_recursive_ref_is_cut_and_reported() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "tree": {
                "type": "object",
                "description": "A tree.",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
                },
            }
        },
        "properties": {"root": {"$ref": "#/$defs/tree"}},
    }
    spec, notes = convert(schema)
    assert structural_problems(spec) == []
    items = spec["properties"]["root"]["properties"]["children"]["items"]
    assert items == {"description": "A tree.", PRESERVE: True, "nullable": True}
    assert notes == [
        "spec.root.children[]: recursive $ref: kept as given below this point; "
        "the webhook checks it"
    ]


@pytest.mark.parametrize(
    ("draft", "kept"),
    [
        ("http://json-schema.org/draft-07/schema#", True),
        ("http://json-schema.org/draft-04/schema#", True),
        ("https://json-schema.org/draft/2020-12/schema", False),
        ("https://json-schema.org/draft/2019-09/schema", False),
    ],
)
def test_formats_are_left_to_the_webhook(draft: str, kept: bool) -> None:
    # Helm asserts formats only for drafts 4-7 (kept: True), but even there the API
    # server's checks disagree with Helm's at the edges (a leap second, "+1.2.3.4")
    spec, notes = convert(
        {
            "$schema": draft,
            "type": "object",
            "properties": {"at": {"type": "string", "format": "date-time"}},
        }
    )
    assert "format" not in spec["properties"]["at"]
    assert len(notes) == 1
    assert ("checks it differently from Helm" in notes[0]) is kept


def test_a_format_the_api_server_does_not_know_is_left_to_the_webhook() -> None:
    spec, notes = convert(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"p": {"type": "string", "format": "json-pointer"}},
        }
    )
    assert "format" not in spec["properties"]["p"]
    assert notes == [
        "spec.p: format 'json-pointer': the API server does not know it; the webhook checks it"
    ]


@pytest.mark.parametrize(
    ("schema", "construct"),
    [
        ({"type": "array", "uniqueItems": True, "items": {"type": "string"}}, "uniqueItems"),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "tuple items"),
        ({"type": "number", "multipleOf": 0.01}, "multipleOf 0.01"),
        ({"type": "object", "patternProperties": {"^a": {"type": "string"}}}, "patternProperties"),
        (
            {"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "string"}},
            "additionalProperties next to properties",
        ),
        ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({"type": "string", "if": {"minLength": 3}, "then": {"pattern": "^a"}}, "if/then/else"),
        ({"oneOf": [{"type": "object", "properties": {"a": {}}}, {"type": "object"}]}, "oneOf"),
    ],
)
def test_what_a_crd_cannot_express_is_reported(schema: dict, construct: str) -> None:
    node, notes = prop(schema)
    assert len(notes) == 1 and notes[0].startswith(f"spec.x: {construct}")
    assert not {
        "uniqueItems",
        "prefixItems",
        "patternProperties",
        "if",
        "then",
        "dependentRequired",
    } & set(node)


def test_defaults_are_carried_over_only_where_values_yaml_has_nothing() -> None:
    schema = {
        "type": "object",
        "properties": {
            "size": {"type": "string", "default": "10Gi"},
            "replicas": {"type": "integer", "default": 1},
            "plugins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"enabled": {"type": "boolean", "default": True}},
                },
            },
            "tls": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"enabled": {"type": "boolean"}},
                "default": {"enabled": False, "extra": 1},
            },
        },
    }
    spec, notes = convert(schema, values={"replicas": 3})
    properties = spec["properties"]
    assert properties["size"]["default"] == "10Gi"
    assert "default" not in properties["replicas"]  # values.yaml wins when Helm renders
    assert properties["plugins"]["items"]["properties"]["enabled"]["default"] is True
    assert "default" not in properties["tls"]  # it names a field the CRD would prune
    assert notes == ["spec.tls: default: names fields the CRD would prune; left out"]


def test_a_closed_top_level_prunes_unknown_fields_and_an_open_one_keeps_them() -> None:
    closed, _ = convert(
        {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}}
    )
    opened, _ = convert({"type": "object", "properties": {"a": {"type": "string"}}})
    assert PRESERVE not in closed and opened[PRESERVE] is True
    assert closed["type"] == "object" and "nullable" not in closed


def test_webhook_mode_documents_every_property_and_judges_nothing() -> None:
    chart = load_chart(ROOT / "charts" / "site")
    spec, notes = SchemaConverter(chart.schema, chart.values, "webhook").convert("d")
    assert notes == []
    assert structural_problems(spec) == []

    def judged(node: dict) -> set[str]:
        found = set(node) - {
            "description",
            "properties",
            "items",
            PRESERVE,
            "type",
            "nullable",
            "x-kubernetes-int-or-string",
        }
        items = [node["items"]] if "items" in node else []
        for child in [*node.get("properties", {}).values(), *items]:
            found |= judged(child)
        return found

    assert judged(spec) == set()
    assert spec["properties"]["php"]["description"] == "PHP runtime settings."
    # What the webhook judges is said in words, for kubectl explain.
    assert spec["properties"]["plugins"]["items"]["properties"]["name"]["description"] == (
        "Required. Plugin slug as in the plugin directory, e.g. akismet."
    )
    assert spec["properties"]["adminEmail"]["description"].startswith("Required. ")
    assert spec["properties"]["php"]["properties"]["version"]["description"].endswith(
        '\n\nOne of: "8.1", "8.2", "8.3", "8.4". Default: "8.3" (the chart\'s values.yaml).'
    )
    assert spec["properties"]["replicas"]["description"].endswith(
        "Default: 1 (the chart's values.yaml)."
    )
    assert spec["properties"]["resources"]["properties"]["limits"]["properties"]["cpu"][
        "description"
    ].startswith("CPU, in cores")


@pytest.mark.parametrize("mode", ["webhook", "full"])
@pytest.mark.parametrize("chart_dir", CHARTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_chart_converts_to_a_structural_schema(chart_dir: Path, mode: str) -> None:
    chart = load_chart(chart_dir)
    target = CrdTarget("example.com", "v1", "Thing", "things", "thing", (), (), chart)
    crd = generate_crd(target, mode)  # type: ignore[arg-type]
    schema = crd.manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema["properties"]["spec"]) == []
    assert crd.render() == generate_crd(target, mode).render()  # type: ignore[arg-type]
    assert yaml.safe_load(crd.render()) == crd.manifest


# --- the CRD files ---


def test_site_crd_names_status_and_columns() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "hosting.example.com_sites.yaml").read_text())
    version = crd["spec"]["versions"][0]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert PRESERVE not in status  # the controller's status, exactly
    release = status["properties"]["release"]["properties"]
    assert set(release) == {
        "name",
        "namespace",
        "revision",
        "status",
        "chart",
        "chartVersion",
        "digest",
        "chartDigest",
        "lastDeployed",
        "deployer",
        "applySet",
        "resources",
    }
    assert release["revision"]["type"] == "integer"
    assert set(status["properties"]["failures"]["properties"]) == {
        "count",
        "generation",
        "digest",
        "retry",
    }
    # kstatus reads an object with no status as Current: a new one must read InProgress
    assert status["default"] == {"observedGeneration": 0}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["php"]["properties"]["version"]["description"].startswith(
        "PHP minor version"
    )


def test_regenerating_crds_from_the_bindings_gives_the_committed_files(tmp_path: Path) -> None:
    assert (
        main(
            [
                "crd",
                "generate",
                "--config",
                str(ROOT / "lostromos.yaml"),
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    generated = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert generated == committed
    for name in generated:
        assert (tmp_path / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name
    assert (
        main(
            [
                "crd",
                "generate",
                "--config",
                str(ROOT / "lostromos.yaml"),
                "--output-dir",
                str(ROOT / "crds"),
                "--check",
            ]
        )
        == 0
    )


def test_check_reports_a_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hosting.example.com_sites.yaml").write_text("# edited by hand\n")
    assert (
        main(
            [
                "crd",
                "generate",
                "--config",
                str(ROOT / "lostromos.yaml"),
                "--output-dir",
                str(tmp_path),
                "--check",
            ]
        )
        == 1
    )
    assert "hosting.example.com_sites.yaml differs" in capsys.readouterr().err
    assert (tmp_path / "hosting.example.com_sites.yaml").read_text() == "# edited by hand\n"


def test_generate_from_a_chart_prints_one_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "crd",
                "generate",
                "--chart",
                str(ROOT / "tests" / "charts" / "platform"),
                "--group",
                "platform.example.com",
                "--kind",
                "Platform",
                "--validation",
                "full",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    crd = yaml.safe_load(out)
    assert crd["metadata"]["name"] == "platforms.platform.example.com"
    assert crd["spec"]["names"]["listKind"] == "PlatformList"
    assert "note: Platform: spec.flags: uniqueItems" in err


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--binding", "nope"], "no binding named 'nope'"),
        (
            ["--chart", "/nonexistent/chart", "--group", "a.example.com", "--kind", "A"],
            "chart directory not found",
        ),
        (["--chart", str(ROOT / "charts" / "site")], "--chart needs --group and --kind"),
        (["--config", "/nonexistent/lostromos.yaml"], "bindings file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crd", "generate", *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err and err.count("\n") == 1


def test_an_invalid_schema_is_reported_with_its_json_pointer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "bad"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bad\nversion: 0.1.0\n")
    (chart / "values.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"a": {"type": "strin"}}})
    )
    assert (
        main(
            ["crd", "generate", "--chart", str(chart), "--group", "b.example.com", "--kind", "Bad"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "values.schema.json#/properties/a/type" in err and err.count("\n") == 1
