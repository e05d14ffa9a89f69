"""Nothing the project runs sends a packet off loopback, even for a webhook whose
configuration names a Service (as the operator chart's do).

The API server resolves such a webhook's Service and dials the result. With
`--enable-aggregator-routing` it resolves to the Service's endpoints, and a
Service with none fails at once. Without it, it dials the ClusterIP: an address
that belongs to nobody here, so on a developer's machine the packet leaves for
whatever owns that address on their network.

The proof runs in the suite's own network namespace (only `lo`), where the
whole service range is put on `lo` for the duration of the call and a trap
listens on the Service's port: any attempt to dial a ClusterIP then lands in the
trap and in the namespace's socket table instead of failing unseen. The same
call against an API server with aggregator routing off must be caught, which
shows the detector can fail.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lostromos import toolchain
from lostromos.dev import isolation
from lostromos.dev.cluster import DevCluster, DevOptions, free_port
from tests.support import Cluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVICE_RANGE = "10.96.0.0/12"  # lostromos/dev/cluster.py's --service-cluster-ip-range
NAMESPACE = "loopback-guard"


def _remote_addresses(table: Path) -> set[str]:
    """Remote addresses of the connections in one /proc/net/tcp* table, decoded."""
    remotes: set[str] = set()
    for line in table.read_text().splitlines()[1:]:
        remote_hex = line.split()[2].split(":")[0]
        raw = bytes.fromhex(remote_hex)
        # The kernel prints each 32-bit word in host (little-endian) order.
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        address = ipaddress.ip_address(words)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_unspecified:
            remotes.add(str(address))
    return remotes


def off_loopback_connections() -> set[str]:
    """Every remote address, not on loopback, that a socket here is connected to."""
    remotes = _remote_addresses(Path("/proc/net/tcp")) | _remote_addresses(Path("/proc/net/tcp6"))
    return {remote for remote in remotes if not ipaddress.ip_address(remote).is_loopback}


@dataclass
class Trap:
    """Listens on every address of this namespace; counts who reached it and where."""

    port: int
    reached: list[str] = field(default_factory=list)
    seen_in_socket_table: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("0.0.0.0", self.port))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.seen_in_socket_table |= off_loopback_connections()
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                self.reached.append(connection.getsockname()[0])
                self.seen_in_socket_table |= off_loopback_connections()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


@pytest.fixture
def service_range_on_loopback() -> Iterator[None]:
    if not isolation.only_loopback():
        pytest.skip(
            "needs the suite's network namespace (./dev test makes one where it can): "
            "outside it, putting the service range on lo would change the host's network"
        )
    ip = shutil.which("ip")
    assert ip is not None, "iproute2's `ip` is needed to put the service range on lo"
    subprocess.run([ip, "addr", "add", SERVICE_RANGE, "dev", "lo"], check=True)
    try:
        yield
    finally:
        subprocess.run([ip, "addr", "del", SERVICE_RANGE, "dev", "lo"], check=True)


def control_plane(state_dir: Path, *, aggregator_routing: bool) -> DevCluster:
    options = DevOptions(
        state_dir=state_dir,
        bindings_path=ROOT / "lostromos.yaml",
        crds_dir=ROOT / "crds",
        examples_dir=None,
        tools=toolchain.ensure(toolchain.TOOL_NAMES),
        aggregator_routing=aggregator_routing,
    )
    return DevCluster(options, say=lambda line: print(f"[loopback] {line}", flush=True))


def service_webhook(port: int) -> str:
    """A Service with no endpoints, and a fail-closed webhook that names it."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "webhook", "namespace": NAMESPACE},
                    "spec": {"ports": [{"port": port, "targetPort": port}]},
                },
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingWebhookConfiguration",
                    "metadata": {"name": "loopback-guard"},
                    "webhooks": [
                        {
                            "name": "guard.lostromos.dev",
                            "clientConfig": {
                                "service": {
                                    "namespace": NAMESPACE,
                                    "name": "webhook",
                                    "port": port,
                                }
                            },
                            "rules": [
                                {
                                    "apiGroups": [""],
                                    "apiVersions": ["v1"],
                                    "operations": ["CREATE"],
                                    "resources": ["configmaps"],
                                }
                            ],
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
                            },
                            "failurePolicy": "Fail",
                            "sideEffects": "None",
                            "admissionReviewVersions": ["v1"],
                            "timeoutSeconds": 5,
                        }
                    ],
                },
            ],
        }
    )


@dataclass(frozen=True)
class Call:
    refusal: str
    reached: list[str]
    seen_in_socket_table: set[str]


def call_webhook(state_dir: Path, *, aggregator_routing: bool) -> Call:
    """Create an object the Service-referenced webhook must see, with a trap listening."""
    dev = control_plane(state_dir, aggregator_routing=aggregator_routing)
    dev.start_control_plane()
    try:
        cluster = Cluster.of(dev, dev.options.tools)
        port = free_port()
        cluster.kubectl("apply", "-f", "-", stdin=service_webhook(port))
        cluster_ip = cluster.kubectl(
            "get", "service", "webhook", "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}"
        ).stdout
        assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_RANGE)
        trap = Trap(port)
        try:
            refused = cluster.kubectl(
                "create", "configmap", "probe", "-n", NAMESPACE, "--dry-run=server", check=False
            )
        finally:
            trap.close()
        assert refused.returncode != 0, "a fail-closed webhook with no endpoints admitted"
        return Call(refused.stderr, trap.reached, trap.seen_in_socket_table)
    finally:
        dev.stop()


@pytest.mark.usefixtures("service_range_on_loopback")
def test_a_service_webhook_with_no_endpoints_fails_closed_without_a_dial(
    tmp_path: Path,
) -> None:
    call = call_webhook(tmp_path, aggregator_routing=True)
    assert call.reached == [], f"the API server dialed a ClusterIP: {call.reached}"
    assert call.seen_in_socket_table == set()
    # The API server's own words for a Service with nothing behind it.
    assert 'failed calling webhook "guard.lostromos.dev"' in call.refusal
    assert "no endpoints available" in call.refusal, call.refusal


@pytest.mark.usefixtures("service_range_on_loopback")
def test_the_guard_catches_a_clusterip_dial_when_routing_is_off(tmp_path: Path) -> None:
    call = call_webhook(tmp_path, aggregator_routing=False)
    assert call.reached, f"no dial was seen; the API server said: {call.refusal}"
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(SERVICE_RANGE) for a in call.reached)
    assert call.seen_in_socket_table, "the socket table showed no off-loopback connection"
