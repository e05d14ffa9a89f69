"""A bound object's health follows its release's workloads on the real API server.

The release's pod runs on a simulated node (kwok); its failure annotation makes
it unready or crash-loop the way a kubelet would report it, and its removal
brings it back. The Deployment controller turns that into the Deployment's
status; the lostromos controller sees it through its shared, label-selected
watches and writes the `Healthy` condition (the HEALTH printer column), an
Event and a metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lostromos.dev.dataplane import FAIL_ANNOTATION
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


def health_column(cluster: Cluster, resource: str, name: str, namespace: str) -> str:
    table = cluster.kubectl("get", resource, name, "-n", namespace).stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    return row[header.index("HEALTH")] if "HEALTH" in header else ""


def ready_pod(cluster: Cluster, namespace: str, deployment: dict[str, Any]) -> str | None:
    """The Deployment's one live pod, once it is Ready."""
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    listing = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    live = [
        p for p in json.loads(listing.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
    ]
    ready = [
        p
        for p in live
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions") or ()
        )
    ]
    return ready[0]["metadata"]["name"] if len(live) == 1 and ready else None


def test_an_unready_pod_degrades_the_site_and_its_recovery_heals_it(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    follow_both_ways(cluster, namespace, tmp_path, controllers, "not-ready")


def test_a_crash_loop_degrades_the_site_and_its_recovery_heals_it(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    follow_both_ways(cluster, namespace, tmp_path, controllers, "crash-loop")


def follow_both_ways(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers: list, failure: str
) -> None:
    kind = GeneratedKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)
    eventually(lambda: kind.ready("shop", namespace), timeout=120, message="shop Ready")

    def health() -> str | None:
        return (kind.condition("shop", namespace, "Healthy") or {}).get("reason")

    # Its pod scheduled on a simulated node and Ready, its claim bound: Healthy.
    eventually(lambda: health() == "Healthy", timeout=120, message="Healthy")
    assert kind.condition("shop", namespace, "Healthy")["status"] == "True"
    assert health_column(cluster, kind.resource, "shop", namespace) == "Healthy"
    deployment = release_object(cluster, "deployment", namespace)
    name = deployment["metadata"]["name"]
    pod = eventually(lambda: ready_pod(cluster, namespace, deployment), timeout=60)

    # The pod stops being ready (or crash-loops): the site is Degraded, with an Event.
    cluster.kubectl("annotate", "pod", pod, "-n", namespace, f"{FAIL_ANNOTATION}={failure}")
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
    eventually(
        lambda: (
            controller.metric("lostromos_objects_by_health", binding=binding, health="Degraded")
            == 1
        ),
        timeout=30,
        message="the Degraded metric",
    )

    # The pod comes back: so does the site, by itself.
    cluster.kubectl("annotate", "pod", pod, "-n", namespace, f"{FAIL_ANNOTATION}-")
    eventually(lambda: health() == "Healthy", timeout=60, message="Healthy again")
    assert health_column(cluster, kind.resource, "shop", namespace) == "Healthy"
    assert kind.ready("shop", namespace)
