"""`deployer: applyset` on the real control plane: the chart rendered by the Helm
engine, applied with server-side apply, and tracked as a KEP-3659 ApplySet whose
parent is the bound object. Installed (members labelled, parent annotated, no Helm
release record), upgraded with an object fewer (pruned, kinds shrunk), repaired
(a field we own edited, a member deleted), deleted (the set goes with it); an
object someone else owns under a rendered name is never touched; an object outside
the object's namespace is refused; and kubectl reads the set as its own kind of
ApplySet, computing the same id."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.applyset import (
    GROUP_KINDS_ANNOTATION,
    ID_LABEL,
    PART_OF_LABEL,
    TOOLING_ANNOTATION,
    applyset_id,
)
from tests.e2e.controllerkit import GROUP, ROOT, BoundKind, controller_for
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

CHART = ROOT / "tests/e2e/charts/applyset"
MEMBER_KINDS = "deployment,service,configmap,serviceaccount"


def applyset_kind(cluster: Cluster, tmp_path: Path, **binding: Any) -> BoundKind:
    kind = BoundKind(cluster, tmp_path, source=CHART, deployer="applyset", **binding)
    # what `lostromos crd generate` writes for an applyset binding (tests/unit/test_applyset.py)
    cluster.kubectl(
        "label", "crd", kind.resource, "applyset.kubernetes.io/is-parent-type=true", "--overwrite"
    )
    return kind


def members(cluster: Cluster, namespace: str, set_id: str) -> dict[str, dict[str, Any]]:
    """kind/name -> object, for everything labelled part-of the set."""
    listing = json.loads(
        cluster.kubectl(
            "get",
            MEMBER_KINDS,
            "-n",
            namespace,
            "-l",
            f"{PART_OF_LABEL}={set_id}",
            "-o",
            "json",
            "--show-managed-fields",
        ).stdout
    )
    return {f"{item['kind']}/{item['metadata']['name']}": item for item in listing["items"]}


def helm_records(cluster: Cluster, namespace: str) -> list[str]:
    listing = json.loads(
        cluster.kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "json").stdout
    )
    return [item["metadata"]["name"] for item in listing["items"]]


def revision(kind: BoundKind, name: str, namespace: str) -> int | None:
    obj = kind.get(name, namespace) or {}
    if (obj.get("status") or {}).get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    return ((obj.get("status") or {}).get("release") or {}).get("revision")


def kubectl_applyset(
    cluster: Cluster, kind: BoundKind, name: str, namespace: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --prune --applyset=<the object>` as a server-side dry run: kubectl
    finds the parent, checks its kind may be one, and reads its labels and annotations."""
    manifest = tmp_path / "probe.yaml"
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubectl-probe"}}
    manifest.write_text(yaml.safe_dump(probe))
    return subprocess.run(
        [
            str(cluster.tools["kubectl"]),
            f"--kubeconfig={cluster.kubeconfig}",
            "apply",
            "-n",
            namespace,
            "--server-side",
            "--dry-run=server",
            "--prune",
            f"--applyset={kind.resource}/{name}",
            "-f",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**(cluster.env or os.environ), "KUBECTL_APPLYSET": "true"},
    )


def release_failed(kind: BoundKind, name: str, namespace: str, waited: str) -> dict[str, Any]:
    """The object's ReleaseFailed condition, once it is True."""

    def failed() -> dict[str, Any] | None:
        found = kind.condition(name, namespace, "ReleaseFailed") or {}
        return found if found.get("status") == "True" else None

    return eventually(failed, timeout=90, message=waited)


def test_install_upgrade_prune_repair_and_delete_an_applyset(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = applyset_kind(cluster, tmp_path, driftCheckSeconds=2)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace, greeting="hi")
    eventually(lambda: kind.ready("shop", namespace), timeout=180, message="shop Ready")

    set_id = applyset_id("shop", namespace, kind.kind, GROUP)
    parent = kind.get("shop", namespace)
    assert parent["metadata"]["labels"][ID_LABEL] == set_id
    annotations = parent["metadata"]["annotations"]
    assert re.fullmatch(r"lostromos/v\S+", annotations[TOOLING_ANNOTATION])
    assert annotations[GROUP_KINDS_ANNOTATION] == "ConfigMap,Deployment.apps,Service,ServiceAccount"
    found = members(cluster, namespace, set_id)
    assert set(found) == {
        "Deployment/shop",
        "Service/shop",
        "ConfigMap/shop-settings",
        "ServiceAccount/shop",
    }
    for item in found.values():
        managers = {entry["manager"] for entry in item["metadata"]["managedFields"]}
        assert "lostromos" in managers and "helm" not in managers
        assert item["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "lostromos"
    assert found["ConfigMap/shop-settings"]["data"] == {"greeting": "hi"}
    release = parent["status"]["release"]
    assert (release["deployer"], release["applySet"], release["revision"]) == (
        "applyset",
        set_id,
        1,
    )
    assert helm_records(cluster, namespace) == []  # no Helm release Secret, ever
    assert cluster.releases(namespace) == {}

    # kubectl accepts the object as an ApplySet parent and reads our tooling from it
    inspected = kubectl_applyset(cluster, kind, "shop", namespace, tmp_path)
    assert inspected.returncode != 0
    assert 'is managed by tooling "lostromos" instead of "kubectl"' in inspected.stderr

    # An upgrade without the ServiceAccount prunes it, and the set's kinds shrink.
    kind.create("shop", namespace, greeting="hello again", serviceAccount={"create": False})
    eventually(lambda: revision(kind, "shop", namespace) == 2, timeout=120, message="revision 2")
    eventually(lambda: kind.ready("shop", namespace), timeout=120, message="Ready again")
    found = members(cluster, namespace, set_id)
    assert set(found) == {"Deployment/shop", "Service/shop", "ConfigMap/shop-settings"}
    assert cluster.get("serviceaccount", "shop", namespace) is None
    assert found["ConfigMap/shop-settings"]["data"] == {"greeting": "hello again"}
    parent = kind.get("shop", namespace)
    assert parent["metadata"]["annotations"][GROUP_KINDS_ANNOTATION] == (
        "ConfigMap,Deployment.apps,Service"
    )

    # Drift: a field we own changed by hand, and a member deleted by hand, come back.
    cluster.kubectl("scale", "deployment", "shop", "-n", namespace, "--replicas=3")
    cluster.kubectl("delete", "configmap", "shop-settings", "-n", namespace)

    def repaired() -> bool:
        deployment = cluster.get("deployment", "shop", namespace) or {}
        settings = cluster.get("configmap", "shop-settings", namespace) or {}
        return (deployment.get("spec") or {}).get("replicas") == 1 and settings.get("data") == {
            "greeting": "hello again"
        }

    eventually(repaired, timeout=120, message="drift repaired by server-side apply")
    settings = cluster.get("configmap", "shop-settings", namespace)
    assert settings["metadata"]["labels"][PART_OF_LABEL] == set_id
    assert helm_records(cluster, namespace) == []

    # Deleting the object deletes its set, then lets the object go.
    cluster.kubectl("delete", kind.resource, "shop", "-n", namespace, "--timeout=120s")
    assert kind.get("shop", namespace) is None
    eventually(
        lambda: members(cluster, namespace, set_id) == {},
        timeout=60,
        message="every member deleted",
    )


def test_an_object_of_someone_elses_under_a_rendered_name_is_never_touched(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop-settings", "namespace": namespace},
            "data": {"owner": "someone else"},
        }
    )
    before = cluster.get("configmap", "shop-settings", namespace)
    kind = applyset_kind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)

    def conflict() -> dict[str, Any] | None:
        ready = kind.condition("shop", namespace, "Ready") or {}
        return ready if ready.get("reason") == "ObjectConflict" else None

    ready = eventually(conflict, timeout=90, message="ObjectConflict")
    assert ready["status"] == "False"
    assert f"ConfigMap {namespace}/shop-settings already exists" in ready["message"]
    cluster.kubectl(
        "wait", f"{kind.resource}/shop", "-n", namespace, "--for=condition=Stalled", "--timeout=30s"
    )
    set_id = applyset_id("shop", namespace, kind.kind, GROUP)
    assert members(cluster, namespace, set_id) == {}  # nothing of the set was applied
    assert cluster.get("configmap", "shop-settings", namespace) == before

    cluster.kubectl("delete", kind.resource, "shop", "-n", namespace, "--timeout=120s")
    assert kind.get("shop", namespace) is None
    assert cluster.get("configmap", "shop-settings", namespace) == before


def test_an_object_outside_the_objects_namespace_is_refused_before_anything_is_applied(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    elsewhere = cluster.namespace(f"{namespace}-elsewhere"[:60])
    kind = applyset_kind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace, strayNamespace=elsewhere)

    failed = release_failed(kind, "shop", namespace, "the confinement refusal")
    assert f'it is in namespace "{elsewhere}"' in failed["message"]
    assert cluster.get("configmap", "shop-stray", elsewhere) is None
    set_id = applyset_id("shop", namespace, kind.kind, GROUP)
    assert members(cluster, namespace, set_id) == {}


def test_kubectl_computes_the_same_applyset_id(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """kubectl names the id it expects when a parent's id label is wrong: ours is it."""
    kind = applyset_kind(cluster, tmp_path)  # no controller: the object is only a parent
    probe = kind.manifest("probe", namespace)
    probe["metadata"]["labels"] = {ID_LABEL: "applyset-wrong-v1"}
    probe["metadata"]["annotations"] = {
        TOOLING_ANNOTATION: "kubectl/v1.33.0",
        GROUP_KINDS_ANNOTATION: "",
    }
    cluster.apply(probe)
    answer = kubectl_applyset(cluster, kind, "probe", namespace, tmp_path)
    assert answer.returncode != 0
    wanted = re.search(r"got: applyset-wrong-v1, want: (applyset-[\w-]+-v1)\)", answer.stderr)
    assert wanted is not None, answer.stderr
    assert wanted.group(1) == applyset_id("probe", namespace, kind.kind, GROUP)


def test_every_member_request_is_made_as_the_bindings_service_account(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """The namespace's RBAC bounds an ApplySet as it bounds a Helm release: the
    ServiceAccount may write ConfigMaps, Services and Deployments there, but not
    ServiceAccounts, so the chart that renders one is refused by the API server
    and nothing is applied; without it, the set is applied."""
    rules = [
        {
            "apiGroups": ["", "apps"],
            "resources": ["configmaps", "services", "deployments"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        }
    ]
    user = f"system:serviceaccount:{namespace}:deployer"
    for manifest in (
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "deployer"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "deployer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        },
    ):
        cluster.apply({**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}})
    kind = applyset_kind(cluster, tmp_path, serviceAccountName="deployer")
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)

    failed = release_failed(kind, "shop", namespace, "the API server's refusal")
    assert f'User "{user}" cannot' in failed["message"]
    assert "serviceaccounts" in failed["message"]
    set_id = applyset_id("shop", namespace, kind.kind, GROUP)
    assert members(cluster, namespace, set_id) == {}

    kind.create("shop", namespace, serviceAccount={"create": False})
    eventually(lambda: kind.ready("shop", namespace), timeout=180, message="shop Ready")
    found = members(cluster, namespace, set_id)
    assert set(found) == {"Deployment/shop", "Service/shop", "ConfigMap/shop-settings"}
    for item in found.values():  # written by the ServiceAccount, as field manager lostromos
        managers = {entry["manager"] for entry in item["metadata"]["managedFields"]}
        assert "lostromos" in managers
