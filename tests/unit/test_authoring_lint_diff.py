"""`lostromos schema lint` and `lostromos schema diff` on real chart directories."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lostromos.authoring.diff import diff_charts
from lostromos.authoring.lint import has_errors, lint_chart
from lostromos.charts import load_chart
from lostromos.cli import main

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "charts" / "site"


def site_copy(
    tmp_path: Path,
    name: str = "site",
    change: Callable[[dict], None] | None = None,
    values_text: str | None = None,
) -> Path:
    chart = tmp_path / name
    shutil.copytree(SITE, chart)
    if change is not None:
        schema = json.loads((chart / "values.schema.json").read_text())
        change(schema)
        (chart / "values.schema.json").write_text(json.dumps(schema, indent=2))
    if values_text is not None:
        (chart / "values.yaml").write_text(values_text)
    return chart


def props(schema: dict, *path: str) -> dict:
    node = schema
    for name in path:
        node = node["properties"][name]
    return node


# --- lint ---


def test_the_site_chart_lints_clean_with_notes_for_the_full_crd() -> None:
    findings = lint_chart(load_chart(SITE))
    assert not has_errors(findings)
    assert [f.where for f in findings] == ["spec.adminEmail"] * 2 + ["spec.domain"] * 2
    assert all(f.severity == "info" for f in findings)
    assert sum("format" in f.message for f in findings) == 2


def test_lint_reports_every_difference_between_values_and_schema(tmp_path: Path) -> None:
    def change(schema: dict) -> None:
        props(schema, "php")["properties"]["opcache"] = {"type": "boolean"}
        del props(schema, "tls")["properties"]["secretName"]
        props(schema, "tls")["additionalProperties"] = False
        del props(schema, "image", "tag")["description"]

    values = (SITE / "values.yaml").read_text().replace("replicas: 1", "replicas: 0")
    chart = site_copy(tmp_path, change=change, values_text=values)
    findings = lint_chart(load_chart(chart))
    described = {(f.severity, f.where, f.message.split(":")[0]) for f in findings}
    assert ("warning", "spec.php.opcache", "in the schema but not in values.yaml") in described
    assert ("warning", "spec.php.opcache", "no description") in described
    assert ("warning", "spec.image.tag", "no description") in described
    assert (
        "warning",
        "spec.tls.secretName",
        "in values.yaml but not described by the schema",
    ) in described
    assert ("error", "values.yaml", "fails the schema") in described
    # required properties are rightly absent from values.yaml; commented-out ones are documented
    assert not any(
        where in ("spec.domain", "spec.storage.storageClassName") and severity == "warning"
        for severity, where, _ in described
    )


def test_lint_lists_what_a_full_crd_cannot_express() -> None:
    findings = lint_chart(load_chart(ROOT / "tests" / "charts" / "platform"))
    notes = {(f.where, f.message.split(":")[0]) for f in findings if f.severity == "info"}
    assert {
        ("spec.flags", "uniqueItems"),
        ("spec.flags", "contains"),
        ("spec.endpoints", "patternProperties"),
        ("spec.storage", "oneOf"),
        ("spec.ratio", "multipleOf 0.01"),
    } <= notes


def test_lint_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "lint", str(SITE)]) == 0
    assert "0 error(s), 0 warning(s), 4 note(s)" in capsys.readouterr().out
    # warnings pass, as in `helm lint`; --strict fails them
    assert main(["schema", "lint", str(ROOT / "tests" / "charts" / "platform")]) == 0
    assert main(["schema", "lint", "--strict", str(ROOT / "tests" / "charts" / "platform")]) == 1
    assert main(["schema", "lint", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "chart directory not found" in err and err.count("\n") == 1


def test_lint_names_the_line_and_column_of_broken_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = site_copy(tmp_path, values_text="replicas: 1\nphp:\n  version: [\n")
    assert main(["schema", "lint", str(chart)]) == 2
    err = capsys.readouterr().err
    assert "values.yaml: not valid YAML: line 4, column 1" in err and err.count("\n") == 1


def test_lint_names_the_json_pointer_of_a_broken_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = site_copy(tmp_path, change=lambda s: props(s, "php", "workers").update(minimum="1"))
    assert main(["schema", "lint", str(chart)]) == 2
    err = capsys.readouterr().err
    assert "values.schema.json#/properties/php/properties/workers/minimum" in err


# --- diff ---


def changes(
    tmp_path: Path, change: Callable[[dict], None], values_text: str | None = None
) -> dict[str, tuple[bool, str]]:
    new = site_copy(tmp_path, "new", change, values_text)
    found = diff_charts(load_chart(SITE), load_chart(new))
    return {f"{c.where} {c.message}": (c.breaking, c.message) for c in found}


def test_identical_charts_have_no_changes() -> None:
    assert diff_charts(load_chart(SITE), load_chart(SITE)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: props(s, "php", "version").update(enum=["8.3", "8.4"]),
            'spec.php.version no longer allows "8.1", "8.2"',
        ),
        (
            lambda s: props(s, "replicas").update(maximum=10),
            "spec.replicas maximum narrowed: 20 -> 10",
        ),
        (
            lambda s: props(s, "php", "workers").update(exclusiveMinimum=1),
            "spec.php.workers exclusiveMinimum narrowed: none -> 1",
        ),
        (
            lambda s: props(s, "replicas").update(type="string"),
            "spec.replicas type narrowed from integer to string",
        ),
        (
            lambda s: (
                s["required"].append("owner") or s["properties"].update(owner={"type": "string"})
            ),
            "spec.owner now required",
        ),
        (
            lambda s: props(s, "tls")["properties"].pop("secretName"),
            "spec.tls.secretName property removed",
        ),
        (
            lambda s: props(s, "image", "repository").update(pattern="^[a-z/]+$"),
            'spec.image.repository pattern added: "^[a-z/]+$" (values the old one allowed may fail it)',  # noqa: E501
        ),
        (
            lambda s: props(s, "plugins")["items"]["properties"]["name"].update(maxLength=50),
            "spec.plugins[].name maxLength narrowed: 100 -> 50",
        ),
        (
            lambda s: s["$defs"]["quantity"].update(pattern="^[0-9]+$"),
            'spec.resources.limits.cpu pattern changed to "^[0-9]+$" (values the old one allowed may '  # noqa: E501
            "fail it)",
        ),
    ],
)
def test_breaking_changes(tmp_path: Path, change: Callable[[dict], Any], expected: str) -> None:
    found = changes(tmp_path, change)
    assert expected in found, sorted(found)
    assert found[expected][0] is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: props(s, "php", "version")["enum"].append("8.5"),
            'spec.php.version now also allows "8.5"',
        ),
        (
            lambda s: props(s, "replicas").update(maximum=50),
            "spec.replicas maximum relaxed: 20 -> 50",
        ),
        (
            lambda s: props(s, "php")["properties"].update(opcache={"type": "boolean"}),
            "spec.php.opcache new optional property",
        ),
        (lambda s: s["required"].remove("adminEmail"), "spec.adminEmail no longer required"),
        (
            lambda s: props(s, "replicas").update(type=["integer", "string"]),
            "spec.replicas type widened to integer or string",
        ),
        (lambda s: props(s, "replicas").update(default=2), "spec.replicas default is now 2"),
    ],
)
def test_compatible_changes(tmp_path: Path, change: Callable[[dict], Any], expected: str) -> None:
    found = changes(tmp_path, change)
    assert expected in found, sorted(found)
    assert found[expected][0] is False
    assert not any(breaking for breaking, _ in found.values())


def test_a_new_required_property_values_yaml_supplies_is_compatible(tmp_path: Path) -> None:
    values = (SITE / "values.yaml").read_text() + "\nowner: platform-team\n"
    found = changes(
        tmp_path,
        lambda s: s["required"].append("owner") or s["properties"].update(owner={"type": "string"}),
        values,
    )
    key = "spec.owner now required (the new values.yaml supplies it)"
    assert found[key] == (False, "now required (the new values.yaml supplies it)")


def test_diff_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "diff", str(SITE), str(SITE)]) == 0
    assert "0 breaking, 0 compatible" in capsys.readouterr().out
    new = site_copy(tmp_path, "new", lambda s: props(s, "php", "version").update(enum=["8.4"]))
    assert main(["schema", "diff", str(SITE), str(new)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("BREAKING spec.php.version: no longer allows")
    assert main(["schema", "diff", str(SITE), str(tmp_path / "nope")]) == 2


def test_lint_finds_a_key_the_templates_read_that_the_schema_forbids(tmp_path: Path) -> None:
    chart = site_copy(tmp_path)
    (chart / "templates" / "extra.yaml").write_text(
        "{{- if .Values.php.opcache }}\n"
        "# {{ toYaml .Values.php.opcache | nindent 2 }}\n"
        "{{- end }}\n"
        '{{- if index .Values "tls" "enabled" }}# tls{{ end }}\n'
    )
    findings = lint_chart(load_chart(chart))
    errors = [f for f in findings if f.severity == "error"]
    assert [f.where for f in errors] == ["spec.php.opcache"]
    assert "templates/extra.yaml:1" in errors[0].message
    assert has_errors(findings)


def test_lint_reports_a_required_key_with_no_default(tmp_path: Path) -> None:
    findings = lint_chart(load_chart(site_copy(tmp_path)))
    required = [f for f in findings if "values.yaml gives no default" in f.message]
    assert [f.where for f in required] == ["spec.adminEmail", "spec.domain"]
