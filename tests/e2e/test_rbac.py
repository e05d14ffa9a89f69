"""The chart's RBAC is enough and no more: the whole Site workflow runs with the
webhook, its certs sidecar and the controller holding nothing but real tokens of
the chart's ServiceAccounts, and what lies outside their rules is refused."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos import toolchain
from tests.e2e.forgerykit import edit_manifest, foreign_manifest, forge_pending_revision
from tests.e2e.operatorkit import (
    CERT_SECRET,
    CONTROLLER_SA,
    MUTATING,
    ROOT,
    VALIDATING,
    WEBHOOK_SA,
    OperatorCluster,
    health,
)
from tests.support import eventually, is_ready

pytestmark = pytest.mark.e2e
NAMESPACE = "lostromos-system"
APPS = ("team-a", "team-b")


@dataclass
class Deployed:
    cluster: OperatorCluster
    webhook_kubeconfig: Path
    controller_kubeconfig: Path
    keeper_port: int


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tools = toolchain.ensure(toolchain.TOOL_NAMES)
    state_dir = tmp_path_factory.mktemp("rbac")
    cluster = OperatorCluster(state_dir, tools)
    cluster.start()
    try:
        for namespace in APPS:
            cluster.kubectl("create", "namespace", namespace)
        cluster.install(NAMESPACE, "controller.rbac.releaseNamespaces={team-a,team-b}")
        webhook_config = cluster.token_kubeconfig(WEBHOOK_SA, state_dir / "webhook.kubeconfig")
        controller_config = cluster.token_kubeconfig(
            CONTROLLER_SA, state_dir / "controller.kubeconfig"
        )
        cert_dir = state_dir / "tls"
        _, keeper_port = cluster.start_keeper("certs", webhook_config, cert_dir)
        eventually(lambda: health(keeper_port)[0] == 200, timeout=60, message="certs ready")
        bindings = cluster.bindings_file(state_dir / "lostromos.yaml")
        # Drift checks every 2 s instead of 5 min, so the test sees one run on this RBAC.
        document = yaml.safe_load(bindings.read_text())
        for binding in document["bindings"]:
            binding["driftCheckSeconds"] = 2
        bindings.write_text(yaml.safe_dump(document))
        _, url = cluster.start_webhook(bindings, cert_dir)
        cluster.point_webhooks_at(url)
        cluster.start_controller(bindings, controller_config)
        yield Deployed(cluster, webhook_config, controller_config, keeper_port)
    finally:
        leftovers = cluster.stop()
        assert not leftovers, f"processes left behind: {leftovers}"


def site(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load((ROOT / "examples" / "site.yaml").read_text()))
    document["metadata"] = {"name": name, "namespace": namespace}
    document["spec"].update(spec)
    return document


def ready_revision(cluster: OperatorCluster, namespace: str, name: str) -> int | None:
    obj = cluster.get("site", name, namespace)
    return int(obj["status"]["release"]["revision"]) if is_ready(obj) else None


def test_the_certs_sidecar_filled_its_secret_and_both_ca_bundles(deployed: Deployed) -> None:
    cluster = deployed.cluster
    secret = cluster.get("secret", CERT_SECRET, NAMESPACE)
    assert secret is not None
    assert set(secret["data"]) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    for kind, name in (
        ("mutatingwebhookconfiguration", MUTATING),
        ("validatingwebhookconfiguration", VALIDATING),
    ):
        configuration = cluster.get(kind, name, "")
        assert configuration is not None
        assert configuration["webhooks"][0]["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    assert health(deployed.keeper_port) == (200, {"ready": True})


def test_site_workflow_runs_on_the_charts_rbac_alone(deployed: Deployed) -> None:
    cluster = deployed.cluster
    namespace = APPS[0]

    refused = cluster.apply(site(namespace, "broken", replicas=0), check=False)
    assert refused.returncode != 0
    assert 'admission webhook "validation.lostromos.dev" denied the request' in refused.stderr
    assert "spec.replicas" in refused.stderr

    cluster.apply(site(namespace, "blog"))
    stored = cluster.get("site", "blog", namespace)
    assert stored is not None and stored["spec"]["php"]["version"] == "8.3"  # defaulted
    eventually(
        lambda: ready_revision(cluster, namespace, "blog") == 1,
        timeout=120,
        message="release installed (revision 1)",
    )
    assert cluster.releases(namespace)["blog"]["status"] == "deployed"

    cluster.apply(site(namespace, "blog", replicas=2))
    eventually(
        lambda: ready_revision(cluster, namespace, "blog") == 2,
        timeout=120,
        message="release upgraded (revision 2)",
    )
    deployment = cluster.get("deployment", "blog", namespace)
    assert deployment is not None and deployment["spec"]["replicas"] == 2

    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=blog"
    ).stdout
    assert "Upgraded" in events

    # Drift repair works with namespace-scoped rights only (releaseNamespaces).
    cluster.kubectl("delete", "service", "blog", "-n", namespace)
    eventually(
        lambda: cluster.get("service", "blog", namespace) is not None,
        timeout=120,
        message="deleted Service restored by the drift check",
    )

    cluster.kubectl("delete", "site", "blog", "-n", namespace, "--wait=false")
    eventually(
        lambda: cluster.get("site", "blog", namespace) is None,
        timeout=120,
        message="Site deleted after its release was uninstalled",
    )
    assert "blog" not in cluster.releases(namespace)
    assert cluster.get("deployment", "blog", namespace) is None

    lease = cluster.get("lease", CONTROLLER_SA, NAMESPACE)
    assert lease is not None and lease["spec"]["holderIdentity"]


def test_controller_cannot_step_outside_its_rules(deployed: Deployed) -> None:
    cluster = deployed.cluster
    allowed = [
        ("list", "sites.hosting.example.com", "--all-namespaces"),
        ("patch", "sites.hosting.example.com/status", "-n", "kube-system"),
        ("create", "secrets", "-n", APPS[0]),
        ("delete", "deployments.apps", "-n", APPS[1]),
        ("create", "events", "-n", APPS[0]),
        ("update", f"leases.coordination.k8s.io/{CONTROLLER_SA}", "-n", NAMESPACE),
    ]
    for check in allowed:
        assert cluster.can_i(CONTROLLER_SA, *check), check
    denied = [
        ("get", "secrets", "-n", "kube-system"),
        ("list", "secrets", "-n", NAMESPACE),  # its own namespace holds the webhook's CA key
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("delete", "sites.hosting.example.com", "-n", APPS[0]),
        ("create", "deployments.apps", "-n", "default"),
        ("create", "pods", "-n", APPS[0]),
        ("patch", f"mutatingwebhookconfigurations/{MUTATING}"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        # Sharded replicas (the chart's default) each hold a Lease named after the
        # replica, so Leases are theirs to write in their own namespace only.
        ("update", "leases.coordination.k8s.io/someone-else", "-n", "kube-system"),
        ("create", "leases.coordination.k8s.io", "-n", APPS[0]),
    ]
    for check in denied:
        assert not cluster.can_i(CONTROLLER_SA, *check), check

    # Real calls with the controller's own token, refused by the API server.
    config = deployed.controller_kubeconfig
    secrets = cluster.as_identity(config, "get", "secrets", "-n", "kube-system")
    assert secrets.returncode != 0
    assert 'cannot list resource "secrets"' in secrets.stderr
    assert f"system:serviceaccount:{NAMESPACE}:{CONTROLLER_SA}" in secrets.stderr
    crd = cluster.as_identity(config, "delete", "crd", "sites.hosting.example.com")
    assert crd.returncode != 0 and "forbidden" in crd.stderr.lower()
    assert cluster.get("crd", "sites.hosting.example.com", "") is not None


def test_webhook_identity_touches_only_its_secret_and_configurations(deployed: Deployed) -> None:
    cluster = deployed.cluster
    assert cluster.can_i(WEBHOOK_SA, "get", f"secrets/{CERT_SECRET}", "-n", NAMESPACE)
    assert cluster.can_i(WEBHOOK_SA, "patch", f"validatingwebhookconfigurations/{VALIDATING}")
    denied = [
        ("get", "secrets/other", "-n", NAMESPACE),
        ("list", "secrets", "-n", NAMESPACE),
        ("create", "secrets", "-n", NAMESPACE),
        ("delete", f"secrets/{CERT_SECRET}", "-n", NAMESPACE),
        ("patch", "mutatingwebhookconfigurations/someone-elses"),
        ("delete", f"validatingwebhookconfigurations/{VALIDATING}"),
        ("list", "sites.hosting.example.com", "--all-namespaces"),
    ]
    for check in denied:
        assert not cluster.can_i(WEBHOOK_SA, *check), check

    config = deployed.webhook_kubeconfig
    listing = cluster.as_identity(config, "get", "secrets", "-n", NAMESPACE)
    assert listing.returncode != 0 and "forbidden" in listing.stderr.lower()
    other = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "intruder"},
        "webhooks": [],
    }
    created = cluster.as_identity(config, "create", "-f", "-", stdin=yaml.safe_dump(other))
    assert created.returncode != 0 and "forbidden" in created.stderr.lower()


def test_a_forged_release_record_gets_nothing_from_the_controllers_token(
    deployed: Deployed,
) -> None:
    """Issue 19, row 1, on the chart's own ServiceAccount token: a tenant of team-a
    rewrites its release's records so a recovery would overwrite a ConfigMap of
    team-b, where the controller's token may write. The records do not verify, so
    the controller refuses them and team-b's ConfigMap is untouched."""
    cluster = deployed.cluster
    tenant, other = APPS
    cluster.kubectl("create", "configmap", "db", "-n", other, "--from-literal=password=x")
    cluster.apply(site(tenant, "forged"))
    eventually(
        lambda: ready_revision(cluster, tenant, "forged") == 1, timeout=120, message="installed"
    )
    edit_manifest(cluster, tenant, "forged", 1, foreign_manifest(other, "db", escalate=False))
    forge_pending_revision(cluster, tenant, "forged")
    cluster.apply(site(tenant, "forged", replicas=2))

    def refused() -> dict[str, Any] | None:
        obj = cluster.get("site", "forged", tenant) or {}
        for entry in (obj.get("status") or {}).get("conditions") or []:
            if entry["type"] == "Ready" and entry.get("reason") == "ReleaseUntrusted":
                return entry
        return None

    def victim_data() -> dict[str, str] | None:
        return (cluster.get("configmap", "db", other) or {}).get("data")

    eventually(
        lambda: refused() or victim_data() != {"password": "x"},
        timeout=120,
        message="the controller acted on the forged records, or refused them",
    )
    assert victim_data() == {"password": "x"}
    ready = refused()
    assert ready is not None and "not written by this lostromos" in ready["message"]
    events = cluster.kubectl(
        "get", "events", "-n", tenant, "--field-selector", "involvedObject.name=forged"
    ).stdout
    assert "ReleaseUntrusted" in events
