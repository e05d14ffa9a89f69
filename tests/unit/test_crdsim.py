"""The API server's handling of CRD objects, as `check` simulates it (apiextensions v0.37.2:
pruning.PruneWithOptions, defaulting.PruneNonNullableNullsWithoutDefaults,
defaulting.Default, kube-openapi validate); the differential e2e test compares it with
the real API server."""

from __future__ import annotations

from pathlib import Path

import yaml

from lostromos.authoring.crdgen import PRINTER_COLUMNS, STATUS_SCHEMA
from lostromos.authoring.crdsim import (
    PRESERVE,
    CrdSimulation,
    apply_defaults,
    prune,
    prune_nulls,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
CLOSED = {
    "type": "object",
    "properties": {
        "a": {"type": "string"},
        "open": {
            "type": "object",
            PRESERVE: True,
            "properties": {"b": {"type": "object", "properties": {}}},
        },
        "list": {
            "type": "array",
            "items": {"type": "object", "properties": {"c": {"type": "string"}}},
        },
    },
}


def test_pruning_drops_and_reports_unknown_fields_and_keeps_preserved_ones() -> None:
    unknown: list[str] = []
    kept = prune(
        {"a": "x", "z": 1, "open": {"any": 1, "b": {"gone": 2}}, "list": [{"c": "y", "d": 3}]},
        CLOSED,
        unknown,
    )
    assert kept == {"a": "x", "open": {"any": 1, "b": {}}, "list": [{"c": "y"}]}
    assert sorted(unknown) == ["list[0].d", "open.b.gone", "z"]


def test_nulls_survive_only_where_nullable_or_defaulted() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kept": {"type": "string", "nullable": True},
            "dropped": {"type": "string"},
            "defaulted": {"type": "string", "default": "d"},
        },
    }
    pruned = prune_nulls(
        {"kept": None, "dropped": None, "defaulted": None, "unknown": None}, schema
    )
    assert pruned == {"kept": None, "defaulted": None, "unknown": None}
    assert apply_defaults(pruned, schema) == {"kept": None, "defaulted": "d", "unknown": None}
    # a nullable default is not applied over a null the user wrote
    nullable = {
        "type": "object",
        "properties": {"x": {"type": "string", "nullable": True, "default": "d"}},
    }
    assert apply_defaults({"x": None}, nullable) == {"x": None}
    assert apply_defaults({}, nullable) == {"x": "d"}


def test_validation_reads_nulls_like_kube_openapi() -> None:
    assert validate(None, {"type": "string"}) == [
        'spec: Invalid value: "null": spec in body must be of type string: "null"'
    ]
    assert validate(None, {"type": "string", "nullable": True}) == []
    assert validate(None, {"type": "string", "nullable": True, "enum": ["a"]}) == [
        "spec: Unsupported value: null"
    ]
    # a null never matches an enum member, not even null; allOf is not run on a null
    assert validate(None, {"type": "string", "nullable": True, "enum": ["a", None]}) == [
        "spec: Unsupported value: null"
    ]
    assert validate(None, {"type": "string", "nullable": True, "allOf": [{"enum": ["a"]}]}) == []
    assert validate("b", {"type": "string", "nullable": True, "allOf": [{"enum": ["a"]}]}) == [
        "spec: Unsupported value: 'b'"
    ]
    # a key holding null is present for `required`
    assert (
        validate(
            {"a": None},
            {
                "type": "object",
                "required": ["a"],
                "properties": {"a": {"type": "string", "nullable": True}},
            },
        )
        == []
    )
    assert validate({}, {"type": "object", "required": ["a"]}) == ["spec.a: Required value"]


def test_numbers_compare_as_kube_openapi_compares_them() -> None:
    assert validate(3.0, {"type": "integer"}) == []
    assert validate(3.5, {"type": "integer"})
    assert validate(True, {"type": "integer"})
    # an enum member's Go type wins: 42.5 is converted to int64 42 first
    assert validate(42.5, {"type": "number", "enum": [42]}) == []
    assert validate(42.5, {"type": "number", "not": {"enum": [42]}}) == [
        "spec: must not validate the schema (not)"
    ]


def test_the_site_crd_simulation_keeps_nulls_and_checks_types() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "hosting.example.com_sites.yaml").read_text())
    simulation = CrdSimulation(crd, "v1")
    site = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": "a"},
        "status": {"x": 1},
        "spec": {"domain": None, "replicas": "three", "extra": {"k": None}},
    }
    decoded = simulation.decode(site)
    assert decoded.errors == []  # webhook mode prunes nothing
    assert decoded.obj["spec"] == {"domain": None, "replicas": "three", "extra": {"k": None}}
    # The status subresource owns status: the request's goes, the schema's default stays.
    assert decoded.obj["status"] == {"observedGeneration": 0}
    assert simulation.after_mutation(decoded.obj).errors == [
        "spec.replicas: Invalid value: string: spec.replicas in body must be of type integer"
    ]


def test_printer_columns_show_readys_reason_and_the_desired_chart_version() -> None:
    columns = {column["name"]: column for column in PRINTER_COLUMNS}
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Message"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].message'
    assert columns["Chart"]["jsonPath"] == ".status.chart.version"
    assert set(STATUS_SCHEMA["properties"]["chart"]["properties"]) == {"name", "version"}


def test_status_helpers_for_the_controller() -> None:
    from controller.reconcile.outcomes import binding_unloadable
    from lostromos.engines import BindingLoadError

    error = BindingLoadError("site", "charts/site: chart directory not found")
    (ready,) = binding_unloadable(error)
    assert (ready.type, ready.status, ready.reason) == ("Ready", False, "BindingUnloadable")
    assert "binding 'site': charts/site: chart directory not found" in ready.message


def test_int_or_string_admits_a_whole_float_as_the_api_server_does() -> None:
    """kube-apiserver admits 1.0 for x-kubernetes-int-or-string (and stores 1), as Helm
    accepts 1.0 for type [integer, string]; 1.5 and true are refused by both
    (tests/e2e/test_authoring_crds.py sends these to the real API server)."""
    node = {"x-kubernetes-int-or-string": True, "nullable": True}
    assert validate(1.0, node) == []
    assert validate(1, node) == []
    assert validate("25%", node) == []
    assert validate(1.5, node) != []
    assert validate(True, node) != []
