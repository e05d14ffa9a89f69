"""A bound object's health follows its release's workloads on the real API server.

The workloads' status is written here the way their controllers write it (the
Deployment controller's replica counts and conditions, the volume binder's PVC
phase), so the test decides when a site degrades and when it recovers. The
controller sees it through its shared, label-selected watches and writes the
`Healthy` condition (the HEALTH printer column), an Event and a metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controllerkit import controller_for
from tests.e2e.test_kstatus import GeneratedKind
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def release_object(cluster: Cluster, kind: str, namespace: str) -> dict[str, Any]:
    result = cluster.kubectl(
        "get", kind, "-n", namespace, "-l", "app.kubernetes.io/managed-by=Helm", "-o", "json"
    )
    (item,) = json.loads(result.stdout)["items"]
    return item


def write_status(cluster: Cluster, kind: str, name: str, namespace: str, status: dict) -> None:
    patch = json.dumps({"status": status})
    cluster.kubectl(
        "patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def deployment_status(deployment: dict[str, Any], available: int) -> dict[str, Any]:
    """What the Deployment controller writes once its rollout finished, `available` pods up."""
    wanted = deployment["spec"].get("replicas", 1)
    lost = available < wanted
    return {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": wanted,
        "updatedReplicas": wanted,
        "readyReplicas": available,
        "availableReplicas": available,
        "unavailableReplicas": wanted - available,
        "conditions": [
            {
                "type": "Available",
                "status": "False" if lost else "True",
                "reason": "MinimumReplicasUnavailable" if lost else "MinimumReplicasAvailable",
                "message": "Deployment does not have minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
            },
        ],
    }


def health_column(cluster: Cluster, resource: str, name: str, namespace: str) -> str:
    table = cluster.kubectl("get", resource, name, "-n", namespace).stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    return row[header.index("HEALTH")] if "HEALTH" in header else ""


def test_health_follows_the_workloads_both_ways(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)
    eventually(lambda: kind.ready("shop", namespace), timeout=120, message="shop Ready")

    def health() -> str | None:
        return (kind.condition("shop", namespace, "Healthy") or {}).get("reason")

    # Nobody has run the pods yet: the workloads are on their way, not broken.
    eventually(lambda: health() == "Progressing", timeout=60, message="Progressing")
    deployment = release_object(cluster, "deployment", namespace)
    claim = release_object(cluster, "pvc", namespace)
    name = deployment["metadata"]["name"]
    write_status(cluster, "pvc", claim["metadata"]["name"], namespace, {"phase": "Bound"})
    write_status(cluster, "deployment", name, namespace, deployment_status(deployment, 1))
    eventually(lambda: health() == "Healthy", timeout=60, message="Healthy")
    assert kind.condition("shop", namespace, "Healthy")["status"] == "True"
    assert health_column(cluster, kind.resource, "shop", namespace) == "Healthy"

    # The pod stops being ready (a crash loop looks the same to the Deployment).
    write_status(cluster, "deployment", name, namespace, deployment_status(deployment, 0))
    eventually(lambda: health() == "Degraded", timeout=60, message="Degraded")
    degraded = kind.condition("shop", namespace, "Healthy")
    assert degraded["status"] == "False"
    assert degraded["message"] == f"Deployment {name}: Degraded (0 of 1 pods available)"
    assert health_column(cluster, kind.resource, "shop", namespace) == "Degraded"
    events = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=shop,reason=Degraded",
        "-o",
        "json",
    )
    (event,) = json.loads(events.stdout)["items"]
    assert event["type"] == "Warning"
    assert name in event["message"]
    binding = kind.plural[:-1]
    assert controller.metric("lostromos_health_changes_total", health="Degraded") >= 1
    assert controller.metric("lostromos_objects_by_health", binding=binding, health="Degraded") == 1

    # The pod comes back: so does the site, by itself.
    write_status(cluster, "deployment", name, namespace, deployment_status(deployment, 1))
    eventually(lambda: health() == "Healthy", timeout=60, message="Healthy again")
    assert health_column(cluster, kind.resource, "shop", namespace) == "Healthy"
    assert kind.ready("shop", namespace)


def test_a_lost_volume_degrades_the_site(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("blog", namespace)
    eventually(lambda: kind.ready("blog", namespace), timeout=120, message="blog Ready")
    deployment = release_object(cluster, "deployment", namespace)
    claim = release_object(cluster, "pvc", namespace)["metadata"]["name"]
    write_status(
        cluster,
        "deployment",
        deployment["metadata"]["name"],
        namespace,
        deployment_status(deployment, 1),
    )
    write_status(cluster, "pvc", claim, namespace, {"phase": "Bound"})

    def healthy() -> dict[str, Any]:
        return kind.condition("blog", namespace, "Healthy") or {}

    eventually(lambda: healthy().get("reason") == "Healthy", timeout=60, message="Healthy")
    write_status(cluster, "pvc", claim, namespace, {"phase": "Lost"})
    eventually(lambda: healthy().get("reason") == "Degraded", timeout=60, message="Degraded")
    assert healthy()["message"] == f"PersistentVolumeClaim {claim}: Degraded (its volume is lost)"
