"""A binding to a built-in kind, end to end on the real API server: every Namespace
labelled hosting.example.com/tenant=<team> gets a tenant baseline release
(examples/tenants/lostromos.yaml, charts/tenant-baseline), through a real
`lostromos webhook` and `lostromos controller`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controllerkit import BindingsFile, ControllerProcess, example_bindings
from tests.e2e.webhookkit import OwnWebhook
from tests.support import Cluster, eventually, is_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tenants"
TENANT = "hosting.example.com/tenant"
TIER = "hosting.example.com/tier"
RESOURCE = "tenantbaselines.hosting.example.com"


@pytest.fixture
def tenants(cluster: Cluster, tmp_path: Path, controllers: list[ControllerProcess]) -> Any:
    bindings = example_bindings(
        cluster,
        EXAMPLE,
        chart="tenant-baseline",
        crd="hosting.example.com_tenantbaselines.yaml",
        resource=RESOURCE,
        bindings=tmp_path / "tenants.yaml",
    )
    webhook = OwnWebhook(cluster, bindings, tmp_path / "webhook.log").start()
    controller = ControllerProcess(cluster, BindingsFile(bindings), tmp_path / "controller.log")
    controllers.append(controller)
    controller.start()
    yield webhook, controller, bindings
    webhook.stop()


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def baseline(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return cluster.get(RESOURCE, name, name)


def quota_pods(cluster: Cluster, name: str) -> str | None:
    quota = cluster.get("resourcequota", "tenant-baseline", name)
    return None if quota is None else quota["spec"]["hard"]["pods"]


def source_events(cluster: Cluster, name: str) -> list[str]:
    listing = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-A",
            "--field-selector",
            f"involvedObject.kind=Namespace,involvedObject.name={name}",
            "-o",
            "json",
        ).stdout
    )
    return [item["reason"] for item in listing["items"]]


def test_a_labelled_namespace_gets_its_baseline_and_a_bad_label_is_refused(
    cluster: Cluster, tenants: Any, tmp_path: Path
) -> None:
    name = "tenant-e2e-a"
    cluster.apply(namespace(name, **{TENANT: "team-a", TIER: "silver"}))
    eventually(lambda: is_ready(baseline(cluster, name)), timeout=180, message="baseline Ready")
    assert quota_pods(cluster, name) == "60"
    generated = baseline(cluster, name)
    assert generated is not None and generated["spec"] == {"team": "team-a", "tier": "silver"}
    owner = json.loads(cluster.kubectl("get", "ns", name, "-o", "json").stdout)
    assert generated["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert not owner["metadata"].get("finalizers")  # nothing of ours on the Namespace
    assert cluster.releases(name)[name]["status"] == "deployed"
    eventually(lambda: "Generated" in source_events(cluster, name), message="event on the ns")

    # A chart that drops "silver" would refuse this Namespace: check lists it by its label.
    stricter = tmp_path / "stricter"
    shutil.copytree(ROOT / "charts" / "tenant-baseline", stricter)
    schema = json.loads((stricter / "values.schema.json").read_text())
    schema["properties"]["tier"]["enum"] = ["bronze", "gold"]
    (stricter / "values.schema.json").write_text(json.dumps(schema))
    _, _, bindings = tenants
    checked = cluster.lostromos(
        "check",
        "--against-cluster",
        "--config",
        str(bindings),
        "--binding",
        "tenant-baseline",
        "--chart",
        str(stricter),
    )
    assert checked.returncode == 1, checked.stderr
    assert f"Namespace {name} would become invalid:" in checked.stdout
    assert f'metadata.labels["{TIER}"]: "silver" is not allowed' in checked.stdout

    refused = cluster.kubectl("label", "ns", name, f"{TIER}=platinum", "--overwrite", check=False)
    assert refused.returncode != 0
    assert (
        f'metadata.labels["{TIER}"]: "platinum" is not allowed: '
        'must be one of "bronze", "silver", "gold"'
    ) in refused.stderr
    labels = json.loads(cluster.kubectl("get", "ns", name, "-o", "json").stdout)["metadata"]
    assert labels["labels"][TIER] == "silver"  # nothing was stored

    cluster.kubectl("label", "ns", name, f"{TIER}=gold", "--overwrite")
    eventually(lambda: quota_pods(cluster, name) == "200", timeout=180, message="upgraded")

    # Leaving the selector uninstalls: the generated object goes, its finalizer uninstalls.
    cluster.kubectl("label", "ns", name, f"{TENANT}-")
    eventually(lambda: baseline(cluster, name) is None, timeout=180, message="baseline deleted")
    eventually(lambda: quota_pods(cluster, name) is None, timeout=60, message="quota gone")
    assert name not in cluster.releases(name)

    # Labelled again, then deleted: the Namespace goes, and nothing is left of ours.
    cluster.kubectl("label", "ns", name, f"{TENANT}=team-a")
    eventually(lambda: is_ready(baseline(cluster, name)), timeout=180, message="Ready again")
    cluster.kubectl("delete", "ns", name, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "ns", name, check=False).returncode != 0,
        timeout=180,
        message="namespace deleted",
    )
    leftovers = json.loads(cluster.kubectl("get", RESOURCE, "-A", "-o", "json").stdout)
    assert [i for i in leftovers["items"] if i["metadata"]["namespace"] == name] == []


def test_only_selected_namespaces_ever_call_the_webhook(cluster: Cluster, tenants: Any) -> None:
    webhook, _, _ = tenants
    assert webhook.process is not None
    webhook.process.terminate()  # the rule stays registered, failing closed
    webhook.process.wait(timeout=60)
    plain = cluster.apply(namespace("tenant-e2e-plain", purpose="not-a-tenant"), check=False)
    assert plain.returncode == 0, plain.stderr
    selected = cluster.apply(namespace("tenant-e2e-b", **{TENANT: "team-b"}), check=False)
    assert selected.returncode != 0
    assert "failed calling webhook" in selected.stderr
    cluster.kubectl("delete", "ns", "tenant-e2e-plain", "--wait=false")
