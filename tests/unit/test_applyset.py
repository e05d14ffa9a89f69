"""The ApplySet conventions (lostromos/applyset.py) and the applyset deployer's pure
parts: kubectl's id formula against kubectl's own test data, the group-kinds
annotation, the prune set, what counts as someone else's object, which rendered
documents are applied, and the CRD label that lets kubectl take the kind as a parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.applyset.deployer import documents
from controller.health import release_key, release_of
from lostromos.applyset import (
    PARENT_TYPE_LABEL,
    PART_OF_LABEL,
    GroupKind,
    Member,
    applyset_id,
    foreign,
    format_group_kinds,
    group_kinds_after_apply,
    parse_group_kinds,
    prune_targets,
    tooling,
)
from lostromos.authoring.crdgen import CrdTarget, generate_crd
from lostromos.charts import load_chart
from tests.unit.reconcilekit import binding, site

ROOT = Path(__file__).resolve().parents[2]

# k8s.io/kubectl v0.37.2, pkg/cmd/apply/apply_test.go: the Secret parent "my-set" in
# namespace "test" that `kubectl apply --applyset=secret/my-set -n test` creates.
KUBECTL_SECRET_PARENT = "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
# k8s.io/kubectl v0.37.2, testdata/apply/applyset-cr.yaml: a cluster-scoped
# company.com ApplySet named "my-set".
KUBECTL_CUSTOM_PARENT = "applyset-rhp1a-HVAVT_dFgyEygyA1BEB82HPp2o10UiFTpqtAs-v1"


def test_the_id_is_kubectls_for_a_core_parent() -> None:
    assert applyset_id("my-set", "test", "Secret", "") == KUBECTL_SECRET_PARENT


def test_the_id_is_kubectls_for_a_custom_resource_parent() -> None:
    assert applyset_id("my-set", "", "ApplySet", "company.com") == KUBECTL_CUSTOM_PARENT


def test_the_id_is_a_valid_label_value_for_every_part() -> None:
    for name in ("a", "blog-1", "x" * 253):
        value = applyset_id(name, "team-a", "Site", "hosting.example.com")
        assert len(value) <= 63
        assert value[0].isalnum() and value[-1].isalnum()
        assert "=" not in value and "+" not in value and "/" not in value


def test_each_part_of_the_parent_changes_the_id() -> None:
    ids = {
        applyset_id("blog", "team-a", "Site", "hosting.example.com"),
        applyset_id("blog", "team-b", "Site", "hosting.example.com"),
        applyset_id("blog", "team-a", "Blog", "hosting.example.com"),
        applyset_id("blog", "team-a", "Site", "other.example.com"),
        applyset_id("blog2", "team-a", "Site", "hosting.example.com"),
    }
    assert len(ids) == 5


def test_tooling_is_name_slash_semver() -> None:
    assert tooling("0.4.0") == "lostromos/v0.4.0"
    assert tooling("v1.2.3") == "lostromos/v1.2.3"


def test_group_kinds_are_written_as_kubectl_writes_them() -> None:
    kinds = [GroupKind("apps", "Deployment"), GroupKind("", "Service"), GroupKind("", "ConfigMap")]
    assert format_group_kinds(kinds) == "ConfigMap,Deployment.apps,Service"
    assert GroupKind.of("networking.k8s.io/v1", "Ingress") == GroupKind(
        "networking.k8s.io", "Ingress"
    )
    assert GroupKind.of("v1", "Service") == GroupKind("", "Service")


def test_group_kinds_read_back_including_dotted_groups_and_the_empty_set() -> None:
    text = "ConfigMap,Deployment.apps,Ingress.networking.k8s.io"
    assert parse_group_kinds(text) == {
        GroupKind("", "ConfigMap"),
        GroupKind("apps", "Deployment"),
        GroupKind("networking.k8s.io", "Ingress"),
    }
    assert parse_group_kinds(format_group_kinds(parse_group_kinds(text))) == parse_group_kinds(text)
    assert parse_group_kinds("") == frozenset()
    assert parse_group_kinds(None) == frozenset()


def test_while_applying_the_annotation_holds_old_and_new_kinds() -> None:
    before = {GroupKind("", "PersistentVolumeClaim"), GroupKind("apps", "Deployment")}
    after = {GroupKind("apps", "Deployment"), GroupKind("", "Service")}
    assert group_kinds_after_apply(before, after) == (
        "Deployment.apps,PersistentVolumeClaim,Service"
    )


def member(kind: str, name: str, group: str = "", uid: str = "") -> Member:
    return Member(group, kind, "team-a", name, uid)


def test_prune_deletes_the_members_no_longer_rendered() -> None:
    listed = [
        member("Deployment", "blog", "apps", uid="u1"),
        member("PersistentVolumeClaim", "blog-data", uid="u2"),
        member("Service", "blog", uid="u3"),
    ]
    rendered = [member("Deployment", "blog", "apps"), member("Service", "blog")]
    assert prune_targets(listed, rendered) == [listed[1]]


def test_prune_matches_by_group_kind_namespace_and_name_only() -> None:
    # a same-named object of another kind, group or namespace is another object
    listed = [
        member("ConfigMap", "blog"),
        member("Deployment", "blog", "extensions"),
        Member("", "Service", "team-b", "blog"),
    ]
    rendered = [member("Secret", "blog"), member("Deployment", "blog", "apps")]
    rendered.append(member("Service", "blog"))
    assert prune_targets(listed, rendered) == sorted(listed, key=lambda m: m.identity)


def test_prune_of_an_unchanged_set_is_empty() -> None:
    listed = [member("Service", "blog", uid="u3")]
    assert prune_targets(listed, [member("Service", "blog")]) == []
    assert prune_targets([], [member("Service", "blog")]) == []


def test_an_existing_object_without_this_sets_label_is_foreign() -> None:
    ours = applyset_id("blog", "team-a", "Site", "hosting.example.com")
    other = applyset_id("shop", "team-a", "Site", "hosting.example.com")
    assert not foreign(None, ours)  # absent: nobody's, created
    assert not foreign({"metadata": {"labels": {PART_OF_LABEL: ours}}}, ours)
    assert foreign({"metadata": {"labels": {PART_OF_LABEL: other}}}, ours)
    assert foreign({"metadata": {"labels": {"app": "blog"}}}, ours)
    assert foreign({"metadata": {}}, ours)


MANIFEST = """---
# Source: site/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: blog
  annotations:
    since: 2024-01-01
---
# Source: site/templates/empty.yaml
---
# Source: site/templates/tests/check.yaml
apiVersion: v1
kind: Pod
metadata:
  name: blog-test
  annotations:
    helm.sh/hook: test
"""


def test_documents_are_the_objects_hooks_excepted_dates_kept_as_written() -> None:
    found = documents(MANIFEST)
    assert [d["metadata"]["name"] for d in found] == ["blog"]
    assert found[0]["metadata"]["annotations"]["since"] == "2024-01-01"


@pytest.mark.parametrize("deployer", ["helm", "applyset"])
def test_workloads_are_grouped_under_the_key_their_object_is_found_by(deployer: str) -> None:
    bound = binding(deployer=deployer)
    obj = site()
    key = release_key(bound, obj)
    namespace = obj["metadata"]["namespace"]
    if deployer == "helm":
        workload = {
            "metadata": {
                "namespace": namespace,
                "annotations": {"meta.helm.sh/release-name": key[1]},
            }
        }
    else:
        assert key[1] == applyset_id(obj["metadata"]["name"], namespace, bound.kind, bound.group)
        workload = {"metadata": {"namespace": namespace, "labels": {PART_OF_LABEL: key[1]}}}
    assert release_of(workload) == key


@pytest.mark.parametrize(("deployer", "parent"), [("helm", False), ("applyset", True)])
def test_crd_generate_marks_an_applyset_bindings_kind_as_a_parent_type(
    deployer: str, parent: bool
) -> None:
    target = CrdTarget.for_binding(binding(deployer=deployer), load_chart(ROOT / "charts/site"))
    labels = generate_crd(target).manifest["metadata"]["labels"]
    assert (labels.get(PARENT_TYPE_LABEL) == "true") is parent
    assert labels["app.kubernetes.io/managed-by"] == "lostromos"
