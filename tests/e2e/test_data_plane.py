"""Where Sites run: kube-controller-manager, kube-scheduler and kwok's simulated
nodes on the test cluster. A Site's pod is scheduled and becomes Running and
Ready, its volume binds, failure stages switch on and off per pod by
annotation, and the controllers that were missing (namespace, garbage
collector, ServiceAccount and token) now do their work. Every address handed
out stays inside 127.0.0.0/8, where the API server publishes no endpoint."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest

from lostromos.dev.dataplane import FAIL_ANNOTATION, POD_CIDR
from tests.e2e.controllerkit import BoundKind, controller_for
from tests.support import Cluster, eventually, is_ready

pytestmark = pytest.mark.e2e
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def site(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"domain": f"{name}.example.com", "adminEmail": "ops@example.com"},
    }


def pods(cluster: Cluster, namespace: str, instance: str) -> list[dict[str, Any]]:
    listing = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={instance}", "-o", "json"
    )
    return json.loads(listing.stdout)["items"]


def pod_condition(pod: dict[str, Any], kind: str) -> str | None:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition["type"] == kind:
            return condition["status"]
    return None


def running_and_ready(cluster: Cluster, namespace: str, instance: str) -> dict[str, Any] | None:
    found = pods(cluster, namespace, instance)
    live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
    if (
        len(live) == 1
        and live[0]["status"].get("phase") == "Running"
        and pod_condition(live[0], "Ready") == "True"
    ):
        return live[0]
    return None


@pytest.fixture
def running_site(cluster: Cluster, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    words = request.node.name.removeprefix("test_").replace("_", "-")[:30].rstrip("-")
    namespace = cluster.namespace(f"world-{words}")
    cluster.apply(site(namespace, "blog"))
    eventually(lambda: is_ready(cluster.get("site", "blog", namespace)), timeout=120)
    pod = eventually(
        lambda: running_and_ready(cluster, namespace, "blog"),
        timeout=120,
        message="the Site's pod Running and Ready",
    )
    return namespace, pod


def test_a_sites_pod_is_scheduled_runs_and_its_volume_binds(
    cluster: Cluster, running_site: tuple[str, dict[str, Any]]
) -> None:
    namespace, pod = running_site
    assert pod["spec"]["nodeName"].startswith("kwok-node-")
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
    assert ipaddress.ip_address(pod["status"]["hostIP"]) in LOOPBACK
    # the ServiceAccount admission plugin runs again: the pod got the token volume
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    assert any(name.startswith("kube-api-access-") for name in volumes)
    claim = eventually(
        lambda: (
            (cluster.get("pvc", "blog", namespace) or {}).get("status", {}).get("phase") == "Bound"
            and cluster.get("pvc", "blog", namespace)
        ),
        timeout=60,
        message="PVC blog Bound",
    )
    volume = cluster.get("pv", claim["spec"]["volumeName"])
    assert volume is not None
    assert volume["spec"]["claimRef"]["name"] == "blog"
    # the default class: kube-controller-manager's own provisioner, many claims at once
    provisioned_by = volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"]
    assert provisioned_by == "kubernetes.io/host-path"
    deployment = cluster.get("deployment", "blog", namespace)
    assert deployment is not None
    assert deployment["status"].get("availableReplicas") == 1


def test_a_read_write_many_claim_binds_through_kwoks_volume_stages(cluster: Cluster) -> None:
    namespace = cluster.namespace("world-rwx")
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "shared", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "shared-nfs",
                "resources": {"requests": {"storage": "50Gi"}},
            },
        }
    )
    claim = eventually(
        lambda: (
            (cluster.get("pvc", "shared", namespace) or {}).get("status", {}).get("phase")
            == "Bound"
            and cluster.get("pvc", "shared", namespace)
        ),
        timeout=60,
        message="PVC shared Bound",
    )
    volume = cluster.get("pv", claim["spec"]["volumeName"])
    assert volume is not None
    assert volume["spec"]["accessModes"] == ["ReadWriteMany"]
    provisioned_by = volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"]
    assert provisioned_by == "kwok.x-k8s.io/volume"


def test_every_node_and_pod_address_is_loopback_and_no_service_can_route_to_one(
    cluster: Cluster, running_site: tuple[str, dict[str, Any]]
) -> None:
    namespace, _ = running_site
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) >= 1
    for node in nodes:
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                assert ipaddress.ip_address(address["address"]) in LOOPBACK
    for pod in json.loads(cluster.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]:
        for address in pod["status"].get("podIPs") or []:
            assert ipaddress.ip_address(address["ip"]) in LOOPBACK, pod["metadata"]["name"]
    # The API server refuses a loopback endpoint address: no Service can route to a
    # simulated pod, so nothing (aggregator routing included) can dial one.
    refused = cluster.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "blog-by-hand",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": "blog"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.1.0.9"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        check=False,
    )
    assert refused.returncode != 0
    assert "may not be in the loopback range" in refused.stderr
    slices = json.loads(
        cluster.kubectl("get", "endpointslices", "-n", namespace, "-o", "json").stdout
    )["items"]
    assert not [s for s in slices if s.get("endpoints")]


def test_a_failure_annotation_makes_a_pod_unready_and_its_removal_recovers_it(
    cluster: Cluster, running_site: tuple[str, dict[str, Any]]
) -> None:
    namespace, pod = running_site
    name = pod["metadata"]["name"]

    def annotate(value: str | None) -> None:
        setting = f"{FAIL_ANNOTATION}={value}" if value else f"{FAIL_ANNOTATION}-"
        cluster.kubectl("annotate", "pod", name, "-n", namespace, "--overwrite", setting)

    def current() -> dict[str, Any]:
        found = cluster.get("pod", name, namespace)
        assert found is not None
        return found

    annotate("not-ready")
    eventually(lambda: pod_condition(current(), "Ready") == "False", timeout=60)
    unready = current()
    assert unready["status"]["phase"] == "Running"
    assert unready["status"]["containerStatuses"][0]["state"].get("running") is not None

    annotate(None)
    eventually(lambda: pod_condition(current(), "Ready") == "True", timeout=60)

    annotate("crash-loop")
    eventually(
        lambda: (
            (current()["status"]["containerStatuses"][0]["state"].get("waiting") or {}).get(
                "reason"
            )
            == "CrashLoopBackOff"
        ),
        timeout=60,
        message="the container in CrashLoopBackOff",
    )
    crashing = current()
    assert pod_condition(crashing, "Ready") == "False"
    assert crashing["status"]["containerStatuses"][0]["restartCount"] >= 1
    assert crashing["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1

    annotate(None)
    eventually(lambda: pod_condition(current(), "Ready") == "True", timeout=60)


def test_deleted_namespaces_go_and_owned_objects_are_collected(cluster: Cluster) -> None:
    namespace = cluster.namespace("world-collected")
    # the ServiceAccount and token controllers: every namespace gets its default ServiceAccount
    eventually(lambda: cluster.get("serviceaccount", "default", namespace), timeout=60)
    cluster.kubectl(
        "create", "deployment", "plain", "-n", namespace, "--image=registry.example/plain:1"
    )
    replica_set = eventually(
        lambda: json.loads(
            cluster.kubectl("get", "replicasets", "-n", namespace, "-o", "json").stdout
        )["items"],
        timeout=60,
        message="the Deployment's ReplicaSet",
    )[0]
    # the garbage collector removes what the deleted Deployment owned
    cluster.kubectl("delete", "deployment", "plain", "-n", namespace, "--cascade=background")
    eventually(
        lambda: cluster.get("replicaset", replica_set["metadata"]["name"], namespace) is None,
        timeout=60,
        message="the ReplicaSet collected",
    )
    # the namespace controller empties and removes a deleted namespace
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0,
        timeout=120,
        message=f"namespace {namespace} gone",
    )


def test_what_the_simulated_nodes_write_is_not_drift(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    # kwok binds the claim as a provisioner does (the claim's spec.volumeName and its
    # annotations, after helm wrote it) and reports pods as a kubelet does: the
    # drift check must not take that for someone changing the release.
    kind = BoundKind(cluster, tmp_path, driftCheckSeconds=2)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("quiet", namespace)
    eventually(lambda: kind.ready("quiet", namespace, revision=1), timeout=120)
    eventually(
        lambda: (
            (cluster.get("pvc", "quiet", namespace) or {}).get("status", {}).get("phase") == "Bound"
        ),
        timeout=60,
        message="PVC quiet Bound",
    )
    eventually(lambda: running_and_ready(cluster, namespace, "quiet"), timeout=120)
    time.sleep(10)  # five drift checks
    assert cluster.releases(namespace)["quiet"]["revision"] == "1"
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=quiet"
    ).stdout
    assert "Repaired" not in events
