"""Where a Site's workloads run in the local cluster: the rest of a control plane
(kube-controller-manager, kube-scheduler) and simulated nodes (kwok).

kwok is the Kubernetes project's simulator of nodes and pods, made for scale
tests of controllers: it keeps Node objects Ready and moves each pod scheduled
onto one of them through the phases a kubelet would report, driven by Stage
configurations (``lostromos/dev/kwok/stage-*.yaml``), with no container runtime.
Every address involved is on loopback: the nodes report 127.0.0.1, pods get
addresses from 127.1.0.0/16, and nothing dials either (no kubelet, no
kube-proxy); the API server refuses loopback endpoint addresses, so no Service
ever has an endpoint, and Service addresses (10.96.0.0/12) are allocated and
never dialed.
Every client here reaches the API server through the admin kubeconfig, whose
server is https://127.0.0.1:<port>.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lostromos.dev.cluster import DevCluster

STAGES_DIR = Path(__file__).resolve().parent / "kwok"
# kwok manages only the nodes carrying this annotation: a real node is left alone
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# pod addresses kwok hands out: inside 127.0.0.0/8, so even a stray dial stays on loopback
POD_CIDR = "127.1.0.0/16"
NODE_IP = "127.0.0.1"
# The pod annotation that switches a pod's failure stage on (stage-pod-*.yaml).
FAIL_ANNOTATION = "sim.lostromos.dev/fail"
FAILURE_MODES = ("not-ready", "crash-loop")
# The seed's density is 100 pods a node; the kubelet's default limit is 110.
NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "110"}
DEFAULT_NODES = 3


def node_name(index: int) -> str:
    return f"kwok-node-{index}"


def node_manifest(index: int) -> dict:
    """A Node kwok manages. Status is accepted on create, so capacity is set here
    and kwok's node-initialize stage keeps it."""
    name = node_name(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": dict(NODE_CAPACITY), "capacity": dict(NODE_CAPACITY)},
    }


def stage_files() -> list[Path]:
    return sorted(STAGES_DIR.glob("stage-*.yaml"))


def write_kwok_config(target: Path) -> Path:
    """kwok reads its Stages from one multi-document --config file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n---\n".join(path.read_text() for path in stage_files()))
    return target


def _control_plane_argv(binary: Path, cluster: DevCluster, port: int) -> list[str]:
    """What kube-controller-manager and kube-scheduler share: the admin kubeconfig for
    everything, and a health port on loopback, one replica each."""
    kubeconfig = str(cluster.kubeconfig)
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(binary: Path, cluster: DevCluster, port: int) -> list[str]:
    pki = cluster.pki
    return [
        *_control_plane_argv(binary, cluster, port),
        # the token controller signs ServiceAccount tokens; pods get the CA as kube-root-ca.crt
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
        "--use-service-account-credentials=false",
        # The API server refuses loopback addresses in Endpoints and EndpointSlices ("may
        # not be in the loopback range"), and every simulated pod's address is loopback:
        # these controllers could only fail and retry. So Services have no endpoints, and
        # the API server (aggregator routing) has no pod address it could ever dial.
        "--controllers=*,-endpoints-controller,-endpointslice-controller,"
        "-endpointslice-mirroring-controller",
        # no cloud, no node CIDRs to allocate, no routes: nothing outside loopback to reach
        "--allocate-node-cidrs=false",
        # Kubernetes's own provisioner for development (class `standard`): volumes are made
        # by this process's volume controller, many at once. kwok's volume stages handle one
        # object at a time with five API writes each, and left thousands of claims Pending.
        "--enable-hostpath-provisioner=true",
        "--configure-cloud-routes=false",
        # thousands of Sites: the default 20 requests/s would make pods trail the releases
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=10",
        "--concurrent-replicaset-syncs=10",
    ]


def scheduler_argv(binary: Path, cluster: DevCluster, port: int) -> list[str]:
    return _control_plane_argv(binary, cluster, port)


def kwok_argv(binary: Path, cluster: DevCluster, config: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION[0]}={NODE_ANNOTATION[1]}",
        f"--node-ip={NODE_IP}",
        f"--cidr={POD_CIDR}",
        # kwok serves no kubelet API (no --server-address): `kubectl logs` has nothing to reach
        "--node-lease-duration-seconds=40",
        "-v=WARN",
    ]


def healthz(port: int) -> Callable[[], bool]:
    """The component's own /healthz on loopback; its certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def ready() -> bool:
        url = f"https://127.0.0.1:{port}/healthz"
        with urllib.request.urlopen(url, context=context, timeout=2) as answer:
            return answer.status == 200

    return ready


def ready_nodes(cluster: DevCluster) -> set[str]:
    listing = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)
    ready: set[str] = set()
    for node in listing.get("items", []):
        for condition in node.get("status", {}).get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                ready.add(node["metadata"]["name"])
    return ready


def wait_for(what: str, probe: Callable[[], bool], timeout: float) -> None:
    from lostromos.dev.cluster import DevError

    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise DevError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.5)


def default_service_account_exists(cluster: DevCluster) -> bool:
    result = cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
    return result.returncode == 0


def node_names(count: int) -> Sequence[str]:
    return [node_name(index) for index in range(count)]
