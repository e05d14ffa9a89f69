"""A binding to a namespaced built-in kind, end to end on the real API server: every
Service labelled monitoring.example.com/probe=<tier> gets a probe release in its own
namespace (examples/probes/lostromos.yaml, charts/service-probe), its values mapped
from the Service's label, annotation and first port, through a real `lostromos
webhook` and `lostromos controller`."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controllerkit import BindingsFile, ControllerProcess, Ring, example_bindings
from tests.e2e.webhookkit import OwnWebhook
from tests.support import Cluster, eventually, is_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "probes"
PROBE = "monitoring.example.com/probe"
PATH = "monitoring.example.com/path"
RESOURCE = "serviceprobes.monitoring.example.com"
NAMESPACE = "probes-e2e"


@pytest.fixture
def probe_bindings(cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """The example's bindings file, its CRD and a webhook serving it."""
    bindings = example_bindings(
        cluster,
        EXAMPLE,
        chart="service-probe",
        crd="monitoring.example.com_serviceprobes.yaml",
        resource=RESOURCE,
        bindings=tmp_path / "probes.yaml",
    )
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        cluster.namespace(NAMESPACE)
    webhook = OwnWebhook(cluster, bindings, tmp_path / "webhook.log").start()
    yield bindings
    webhook.stop()


@pytest.fixture
def probes(
    cluster: Cluster, tmp_path: Path, probe_bindings: Path, controllers: list[ControllerProcess]
) -> Path:
    controller = ControllerProcess(
        cluster,
        BindingsFile(probe_bindings),
        tmp_path / "controller.log",
    )
    controllers.append(controller)
    controller.start()
    return probe_bindings


def service(name: str, port: int, labels: dict[str, str], path: str | None = None) -> dict:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": labels}
    if path is not None:
        metadata["annotations"] = {PATH: path}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port}]},
    }


def probe_config(cluster: Cluster, name: str) -> dict[str, str] | None:
    config = cluster.get("configmap", f"{name}-probe", NAMESPACE)
    return None if config is None else config["data"]


def check_against_cluster(cluster: Cluster, bindings: Path, chart: Path) -> Any:
    return cluster.lostromos(
        "check",
        "--against-cluster",
        "--config",
        str(bindings),
        "--binding",
        "service-probe",
        "--chart",
        str(chart),
    )


def test_a_labelled_service_gets_its_probe_and_bad_values_are_refused(
    cluster: Cluster, probes: Path, tmp_path: Path
) -> None:
    name = "shop"
    # A path the chart refuses: denied at apply, with the path in the Service.
    bad = cluster.apply(service(name, 8080, {PROBE: "critical"}, path="ready"), check=False)
    assert bad.returncode != 0
    assert (
        f'metadata.annotations["{PATH}"]: "ready" is not allowed: must match the pattern'
        in bad.stderr
    ), bad.stderr
    assert cluster.get("service", name, NAMESPACE) is None

    cluster.apply(service(name, 8080, {PROBE: "critical"}, path="/ready"))
    eventually(
        lambda: is_ready(cluster.get(RESOURCE, name, NAMESPACE)), timeout=180, message="Ready"
    )
    generated = cluster.get(RESOURCE, name, NAMESPACE)
    assert generated is not None
    assert generated["spec"] == {"tier": "critical", "port": 8080, "path": "/ready"}
    owner = cluster.get("service", name, NAMESPACE)
    assert owner is not None
    assert generated["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert not owner["metadata"].get("finalizers")  # nothing of ours on the Service
    assert cluster.releases(NAMESPACE)[name]["status"] == "deployed"
    assert probe_config(cluster, name) == {
        "target": f"http://{name}.{NAMESPACE}.svc:8080/ready",
        "interval": "15s",
        "failuresBeforeAlert": "2",
    }

    # A chart without the critical tier would refuse this Service: check names it.
    stricter = tmp_path / "stricter"
    shutil.copytree(ROOT / "charts" / "service-probe", stricter)
    schema = json.loads((stricter / "values.schema.json").read_text())
    schema["properties"]["tier"]["enum"] = ["standard"]
    (stricter / "values.schema.json").write_text(json.dumps(schema))
    checked = check_against_cluster(cluster, probes, stricter)
    assert checked.returncode == 1, checked.stderr
    assert f"Service {NAMESPACE}/{name} would become invalid:" in checked.stdout
    assert f'metadata.labels["{PROBE}"]: "critical" is not allowed' in checked.stdout

    refused = cluster.kubectl(
        "label", "service", name, "-n", NAMESPACE, f"{PROBE}=sometimes", "--overwrite", check=False
    )
    assert refused.returncode != 0
    assert (
        f'metadata.labels["{PROBE}"]: "sometimes" is not allowed: '
        'must be one of "critical", "standard"'
    ) in refused.stderr
    stored = cluster.get("service", name, NAMESPACE)
    assert stored is not None and stored["metadata"]["labels"][PROBE] == "critical"

    # The Service's port changes: the release follows it.
    cluster.apply(service(name, 9090, {PROBE: "critical"}, path="/ready"))
    eventually(
        lambda: (
            (probe_config(cluster, name) or {}).get("target")
            == f"http://{name}.{NAMESPACE}.svc:9090/ready"
        ),
        timeout=180,
        message="probe follows the port",
    )
    assert int(cluster.releases(NAMESPACE)[name]["revision"]) >= 2

    # Leaving the selector uninstalls.
    cluster.kubectl("label", "service", name, "-n", NAMESPACE, f"{PROBE}-")
    eventually(
        lambda: cluster.get(RESOURCE, name, NAMESPACE) is None, timeout=180, message="deleted"
    )
    eventually(lambda: probe_config(cluster, name) is None, timeout=60, message="probe gone")
    assert name not in cluster.releases(NAMESPACE)

    # Labelled again, then deleted: the deletion waits on nothing, and the release goes.
    cluster.kubectl("label", "service", name, "-n", NAMESPACE, f"{PROBE}=standard")
    eventually(
        lambda: is_ready(cluster.get(RESOURCE, name, NAMESPACE)), timeout=180, message="again"
    )
    assert (probe_config(cluster, name) or {}).get("interval") == "60s"
    cluster.kubectl("delete", "service", name, "-n", NAMESPACE, "--timeout=60s")
    assert cluster.get("service", name, NAMESPACE) is None
    eventually(
        lambda: cluster.get(RESOURCE, name, NAMESPACE) is None, timeout=180, message="collected"
    )
    eventually(lambda: name not in cluster.releases(NAMESPACE), timeout=180, message="uninstalled")
    assert probe_config(cluster, name) is None


def generated_by(replica: Any) -> list[str]:
    return re.findall(rf"generated ServiceProbe {NAMESPACE}/(svc-\d+)\b", replica.log())


def deleted_by(replica: Any) -> list[str]:
    return re.findall(rf"deleted ServiceProbe {NAMESPACE}/(svc-\d+)\b", replica.log())


def probe_uids(cluster: Cluster) -> dict[str, str]:
    listing = json.loads(cluster.kubectl("get", RESOURCE, "-n", NAMESPACE, "-o", "json").stdout)
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in listing["items"]}


def test_sharded_replicas_split_the_services_and_a_handoff_deletes_nothing(
    cluster: Cluster, probe_bindings: Path, tmp_path: Path
) -> None:
    ring = Ring(cluster, BindingsFile(probe_bindings, "serviceprobes"), tmp_path, NAMESPACE)
    try:
        ring.add(2)

        def covered() -> bool:
            held = ring.held()
            return len(held) == 2 and all(held.values()) and sum(map(len, held.values())) == 256

        eventually(covered, timeout=120, message="two replicas share the hash space")
        names = [f"svc-{i:02d}" for i in range(30)]
        for name in names:
            cluster.apply(service(name, 8080, {PROBE: "standard"}))
        eventually(
            lambda: sum(is_ready(cluster.get(RESOURCE, n, NAMESPACE)) for n in names) == 30,
            timeout=300,
            interval=3,
            message="every Service's probe Ready",
        )
        held = [
            replica.metric("lostromos_source_objects", binding="service-probe")
            for replica in ring.running()
        ]
        assert sum(held) == 30 and all(held), held  # each Service in one replica's store
        shares = [generated_by(replica) for replica in ring.running()]
        assert sorted(name for share in shares for name in share) == names  # each exactly once
        assert all(shares), shares  # and both replicas took a share
        before = probe_uids(cluster)

        # A third replica takes buckets from both: the Services it gains vanish from
        # their former replica's store, which must not read that as a deletion.
        ring.add(1)

        def three_way() -> bool:
            held = ring.held()
            return len(held) == 3 and all(held.values()) and sum(map(len, held.values())) == 256

        eventually(three_way, timeout=120, message="three replicas share the hash space")
        cluster.apply(service("svc-30", 8080, {PROBE: "standard"}))  # a marker after the handoff
        eventually(
            lambda: is_ready(cluster.get(RESOURCE, "svc-30", NAMESPACE)),
            timeout=180,
            message="a Service after the handoff is projected",
        )
        assert {n: u for n, u in probe_uids(cluster).items() if n != "svc-30"} == before
        assert [deleted_by(replica) for replica in ring.running()] == [[], [], []]
        handled = [name for replica in ring.running() for name in generated_by(replica)]
        assert sorted(handled) == [*names, "svc-30"]
    finally:
        ring.stop_all()
        for name in (f"svc-{i:02d}" for i in range(31)):
            cluster.kubectl("delete", "service", name, "-n", NAMESPACE, "--wait=false", check=False)
