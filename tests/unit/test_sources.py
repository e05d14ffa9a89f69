"""Bindings to built-in kinds (lostromos.sources): the mapping, the generated object,
the source webhook rule and the admission decision, on the tenant-baseline example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lostromos.admission import AdmissionRequest, GroupVersionKind
from lostromos.config import ConfigError, load_bindings, parse_bindings
from lostromos.dev.webhookconfig import client_config, webhook_configurations
from lostromos.engines import EngineRegistry
from lostromos.sources.admission import admit
from lostromos.sources.generated import generated_object, location_for_key
from lostromos.sources.mapping import map_values
from lostromos.sources.paths import parse_source_path, source_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tenants" / "lostromos.yaml"
TENANT = "hosting.example.com/tenant"
TIER = "hosting.example.com/tier"


def namespace(name: str = "team-a", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "uid": "uid-1", "labels": labels},
        "spec": {"finalizers": ["kubernetes"]},
    }


def review(obj: dict[str, Any], old: dict[str, Any] | None = None) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u-1",
        kind=GroupVersionKind("", "v1", "Namespace"),
        operation="UPDATE" if old else "CREATE",
        name=obj["metadata"]["name"],
        object=obj,
        old_object=old,
    )


@pytest.fixture(scope="module")
def engines() -> EngineRegistry:
    return EngineRegistry(load_bindings(EXAMPLE))


def binding_with(**source: Any) -> Any:
    entry = {
        "name": "tb",
        "group": "hosting.example.com",
        "version": "v1",
        "kind": "TenantBaseline",
        "plural": "tenantbaselines",
        "chart": "charts/tenant-baseline",
        "source": {"apiVersion": "v1", "kind": "Namespace", **source},
    }
    return parse_bindings({"bindings": [entry]}, ROOT / "lostromos.yaml").bindings[0]


def test_source_paths_read_labels_annotations_and_spec_only() -> None:
    assert parse_source_path(f'metadata.labels["{TIER}"]') == ("metadata", "labels", TIER)
    assert parse_source_path("spec.ports[0].port") == ("spec", "ports", 0, "port")
    assert parse_source_path('spec["odd.key"]') == ("spec", "odd.key")
    assert source_text(("metadata", "labels", TIER)) == f'metadata.labels["{TIER}"]'
    for bad in ("metadata.name", "status.phase", "metadata.labels", 'spec["x"', "spec..x"):
        with pytest.raises(ValueError, match="is not a source path"):
            parse_source_path(bad)


def test_mapping_defaults_converts_and_reports_at_the_source_path() -> None:
    binding = binding_with(
        selector={"matchLabels": {TENANT: "x"}},
        values={
            "tier": {"from": f'metadata.labels["{TIER}"]', "default": "bronze"},
            "quota.pods": {"from": 'metadata.annotations["pods"]', "as": "integer"},
            "absent": {"from": "spec.nothing"},
        },
    )
    mapped = map_values(binding.source, namespace(**{TENANT: "x"}))
    assert mapped.values == {"tier": "bronze"} and not mapped.problems
    obj = namespace(**{TENANT: "x", TIER: "gold"})
    obj["metadata"]["annotations"] = {"pods": "12"}
    assert map_values(binding.source, obj).values == {"tier": "gold", "quota": {"pods": 12}}
    obj["metadata"]["annotations"] = {"pods": "many"}
    assert map_values(binding.source, obj).problems == (
        'metadata.annotations["pods"]: "many" is not allowed: must be an integer',
    )


def test_config_problems_name_the_field() -> None:
    with pytest.raises(ConfigError) as raised:
        binding_with(
            selector={"matchExpressions": [{"key": TENANT, "operator": "In"}]},
            values={"a": {"from": "status.x"}, "b": {"from": "spec.b"}, "b.c": {"from": "spec.c"}},
        )
    text = str(raised.value)
    assert "source.selector.matchExpressions[0]: operator In needs values" in text
    assert "source.values['a']: from: 'status.x' is not a source path" in text
    assert "'b' and 'b.c' overlap" in text
    with pytest.raises(ConfigError, match="must select by at least one label"):
        binding_with(selector={})


def test_a_namespace_source_cannot_impersonate() -> None:
    entry = {
        "group": "hosting.example.com",
        "version": "v1",
        "kind": "TenantBaseline",
        "plural": "tenantbaselines",
        "chart": "charts/tenant-baseline",
        "serviceAccountName": "helm",
        "source": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "selector": {"matchLabels": {"a": "b"}},
        },
    }
    with pytest.raises(ConfigError, match="serviceAccountName cannot be used with a Namespace"):
        parse_bindings({"bindings": [entry]}, ROOT / "lostromos.yaml")


def test_generated_object_lives_in_the_namespace_it_serves_and_is_owned_by_it() -> None:
    binding = load_bindings(EXAMPLE).bindings[0]
    generated = generated_object(binding, namespace(**{TENANT: "team-a", TIER: "gold"}))
    metadata = generated.body["metadata"]
    assert (metadata["namespace"], metadata["name"]) == ("team-a", "team-a")
    assert generated.body["spec"] == {"team": "team-a", "tier": "gold"}
    (owner,) = metadata["ownerReferences"]
    assert owner["uid"] == "uid-1" and owner["kind"] == "Namespace"
    assert owner["blockOwnerDeletion"] is False  # a Namespace deletion waits on nothing
    assert location_for_key(binding.source, "/team-a") == ("team-a", "team-a")


def test_the_source_webhook_rule_is_scoped_by_the_selector() -> None:
    bindings = load_bindings(EXAMPLE).bindings
    config = client_config(ca_pem=b"PEM", url="https://127.0.0.1:9443")
    _, validating = webhook_configurations(
        bindings, config, namespace_selector={"matchLabels": {"x": "y"}}
    )
    own, source = validating["webhooks"]
    assert own["rules"][0]["resources"] == ["tenantbaselines"]
    assert source["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["namespaces"],
            "scope": "*",
        }
    ]
    assert source["objectSelector"] == {"matchExpressions": [{"key": TENANT, "operator": "Exists"}]}
    assert source["failurePolicy"] == "Fail"
    assert source["clientConfig"]["url"] == "https://127.0.0.1:9443/validate"
    assert "namespaceSelector" not in source  # a Namespace is selected by its own labels


def test_a_bad_label_is_denied_at_the_label(engines: EngineRegistry) -> None:
    response = admit(review(namespace(**{TENANT: "team-a", TIER: "platinum"})), engines)
    assert not response.allowed and response.denial is not None
    assert response.denial.code == 422
    lines = response.denial.message.splitlines()
    assert lines[0] == 'Namespace "team-a" (its TenantBaseline values) is invalid:'
    assert lines[1] == (
        f'metadata.labels["{TIER}"]: "platinum" is not allowed: '
        'must be one of "bronze", "silver", "gold"'
    )
    assert "platinum" not in response.denial.log_message  # logs carry no values


def test_good_labels_unselected_objects_and_unchanged_values_are_allowed(
    engines: EngineRegistry,
) -> None:
    assert admit(review(namespace(**{TENANT: "team-a", TIER: "gold"})), engines).allowed
    assert admit(review(namespace(**{TENANT: "team-a"})), engines).allowed  # default bronze
    assert admit(review(namespace(**{TIER: "platinum"})), engines).allowed  # not selected
    bad = namespace(**{TENANT: "team-a", TIER: "platinum"})
    # Leaving the selector is allowed whatever the labels were.
    assert admit(review(namespace(**{TIER: "platinum"}), old=bad), engines).allowed
    # An edit that leaves the mapped values alone is not judged again.
    edited = namespace(**{TENANT: "team-a", TIER: "platinum", "other": "x"})
    assert admit(review(edited, old=bad), engines).allowed
    deleting = namespace(**{TENANT: "team-a", TIER: "platinum"})
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert admit(review(deleting), engines).allowed


def test_check_against_cluster_names_the_source_object_and_its_label() -> None:
    from lostromos.charts import load_chart
    from lostromos.sources.stored import invalid_sources

    binding = load_bindings(EXAMPLE).bindings[0]
    chart = load_chart(ROOT / "charts" / "tenant-baseline")
    selected = [
        namespace("team-a", **{TENANT: "team-a", TIER: "gold"}),
        namespace("team-b", **{TENANT: "team-b", TIER: "platinum"}),
    ]
    (problem,) = invalid_sources(chart, binding, selected)
    assert problem.description == "Namespace team-b"
    assert problem.reasons == [
        f'metadata.labels["{TIER}"]: "platinum" is not allowed: '
        'must be one of "bronze", "silver", "gold"'
    ]


def test_the_selector_is_one_query_for_the_watch_and_one_test_for_an_object() -> None:
    binding = binding_with(
        selector={
            "matchLabels": {"team": "a"},
            "matchExpressions": [
                {"key": TIER, "operator": "In", "values": ["gold", "silver"]},
                {"key": "frozen", "operator": "DoesNotExist"},
            ],
        },
        annotation="hosting.example.com/managed=yes",
    )
    source = binding.source
    assert source.selector.as_query() == f"team=a,{TIER} in (gold,silver),!frozen"
    chosen = namespace(team="a", **{TIER: "gold"})
    assert not source.selects(chosen)  # the annotation is missing
    chosen["metadata"]["annotations"] = {"hosting.example.com/managed": "yes"}
    assert source.selects(chosen)
    chosen["metadata"]["labels"]["frozen"] = "1"
    assert not source.selects(chosen)
    assert source.resource == "namespaces"
