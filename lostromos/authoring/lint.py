"""`lostromos schema lint`: is a chart's schema ready to drive admission and a CRD?

Checks, in order: the schema is valid for its declared draft (loading the
chart already refuses one that is not); values.yaml passes the schema through
the values engine, as an object with an empty spec would; every values.yaml
key is described by the schema and every schema property either has a value
in values.yaml, is required (each object must set it) or is shown commented
out in values.yaml; every property has a description for `kubectl explain`;
what the templates read from `.Values` is allowed by the schema (a key they
read that the schema forbids can never be set: an error); required keys
values.yaml gives no default for (each object must set them); and what
`crd generate --validation full` cannot express, with what it does instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lostromos.authoring import value_at
from lostromos.authoring.convert import SchemaConverter, path_text
from lostromos.authoring.infer import CommentedValues, read_values
from lostromos.authoring.refs import CYCLE, REFS, SchemaDocument
from lostromos.authoring.templatereads import forbidden_prefix, template_reads
from lostromos.charts import Chart
from lostromos.values.engine import ValuesEngine

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, order=True)
class Finding:
    severity: Severity
    where: str
    message: str

    def describe(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def lint_chart(chart: Chart) -> list[Finding]:
    findings: list[Finding] = []
    if chart.schema is None:
        return [
            Finding(
                "error",
                str(chart.path / "values.schema.json"),
                "the chart has no schema: run `lostromos schema init` first",
            )
        ]
    values = (
        read_values(chart.path / "values.yaml")
        if (chart.path / "values.yaml").is_file()
        else CommentedValues({}, {}, frozenset())
    )
    findings += _values_pass(chart)
    document = SchemaDocument(chart.schema)
    findings += _coverage(document, chart.schema, values, (), frozenset())
    findings += _template_reads(chart, document)
    converter = SchemaConverter(chart.schema, chart.values, "full")
    _, notes = converter.convert("")
    findings += [
        Finding(
            "info", note.where, f"{note.construct}: crd generate --validation full: {note.action}"
        )
        for note in notes
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(set(findings), key=lambda f: (order[f.severity], f.where, f.message))


def _values_pass(chart: Chart) -> list[Finding]:
    findings = []
    for violation in ValuesEngine(chart).validate({}):
        if violation.missing:
            continue  # values the user must supply are rightly absent from values.yaml
        findings.append(
            Finding("error", "values.yaml", f"fails the schema: {violation.describe('values')}")
        )
    return findings


def _coverage(
    document: SchemaDocument,
    node: Any,
    values: CommentedValues,
    path: tuple,
    active: frozenset[str],
) -> list[Finding]:
    flat = document.flatten(node, active)
    if CYCLE in flat:
        return []
    active = active | set(flat.get(REFS, ()))
    here = value_at(values.values, path)
    listed = flat.get("properties")
    properties: dict[str, Any] = listed if isinstance(listed, dict) else {}
    required = set(flat.get("required") or ())
    findings: list[Finding] = []
    for name, child in properties.items():
        child_path = (*path, name)
        child_flat = document.flatten(child, active)
        if not child_flat.get("description") and not child_flat.get("title"):
            findings.append(
                Finding(
                    "warning",
                    path_text(child_path),
                    "no description: `kubectl explain` will show nothing",
                )
            )
        has_value = isinstance(here, dict) and name in here
        if name in required and isinstance(here, dict) and not has_value:
            findings.append(
                Finding(
                    "info",
                    path_text(child_path),
                    "required, and values.yaml gives no default: every object must set it",
                )
            )
        documented = name in required or child_path in values.commented_keys
        if isinstance(here, dict) and not has_value and not documented:
            findings.append(
                Finding(
                    "warning",
                    path_text(child_path),
                    "in the schema but not in values.yaml: give it a value there, make it "
                    "required, or show it commented out (# " + name + ": ...)",
                )
            )
        if has_value or not isinstance(here, dict):
            findings += _coverage(document, child, values, child_path, active)
    if isinstance(here, dict):
        extra = flat.get("additionalProperties", True)
        described_by_extra = isinstance(extra, dict) and extra != {}
        if not described_by_extra and not flat.get("patternProperties"):
            for key in here:
                if key not in properties and (properties or extra is False):
                    findings.append(
                        Finding(
                            "warning",
                            path_text((*path, key)),
                            "in values.yaml but not described by the schema",
                        )
                    )
    return findings


def _template_reads(chart: Chart, document: SchemaDocument) -> list[Finding]:
    findings = []
    reported: set[tuple] = set()
    for read in template_reads(chart.path):
        forbidden = forbidden_prefix(document, read.path)
        if forbidden is None or forbidden in reported:
            continue
        reported.add(forbidden)
        findings.append(
            Finding(
                "error",
                path_text(forbidden),
                f"the templates read .Values.{'.'.join(read.path)} ({read.where}) but the "
                "schema forbids this key: no object can set it",
            )
        )
    return findings


def has_errors(findings: list[Finding], *, strict: bool = False) -> bool:
    """Should lint fail? On errors; on warnings too when strict (as `helm lint --strict`)."""
    failing = {"error", "warning"} if strict else {"error"}
    return any(finding.severity in failing for finding in findings)
