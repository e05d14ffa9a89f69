"""`helm template charts/lostromos`, applied to a real API server, is accepted as it
is, in both certificate modes, and its webhook configurations leave out kube-system
and the release namespace while refusing everything else they cannot check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lostromos import toolchain
from tests.e2e.operatorkit import MUTATING, VALIDATING, OperatorCluster

pytestmark = pytest.mark.e2e
NAMESPACE = "lostromos-system"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorCluster]:
    tools = toolchain.ensure(toolchain.TOOL_NAMES)
    operator = OperatorCluster(tmp_path_factory.mktemp("chart"), tools)
    operator.start()
    try:
        yield operator
    finally:
        leftovers = operator.stop()
        assert not leftovers, f"processes left behind: {leftovers}"


def stored(cluster: OperatorCluster, document: dict[str, Any]) -> dict[str, Any] | None:
    metadata = document["metadata"]
    group = document["apiVersion"].split("/")[0] if "/" in document["apiVersion"] else ""
    resource = document["kind"].lower() + (f".{group}" if group else "")
    return cluster.get(resource, metadata["name"], metadata.get("namespace", ""))


def probe_site(namespace: str) -> str:
    # Invalid on purpose: only the webhook would refuse it.
    return json.dumps(
        {
            "apiVersion": "hosting.example.com/v1",
            "kind": "Site",
            "metadata": {"name": "probe", "namespace": namespace},
            "spec": {"replicas": 0},
        }
    )


def test_default_chart_is_applied_as_it_is(cluster: OperatorCluster) -> None:
    documents = cluster.install(NAMESPACE)
    kinds = sorted({document["kind"] for document in documents})
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "Deployment",
            "MutatingWebhookConfiguration",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration",
        ]
    )
    for document in documents:
        assert stored(cluster, document) is not None, document["metadata"]["name"]

    webhook = cluster.get("deployment", "lostromos-webhook", NAMESPACE)
    controller = cluster.get("deployment", "lostromos-controller", NAMESPACE)
    assert webhook is not None and controller is not None
    assert webhook["spec"]["replicas"] == 2
    assert controller["spec"]["replicas"] == 3  # sharded: every replica works
    sidecar = webhook["spec"]["template"]["spec"]["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar, kept by the API server
    crd = cluster.get("crd", "sites.hosting.example.com", "")
    assert crd is not None
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    # Applying the same render again changes nothing that is refused.
    again = cluster.kubectl("apply", "-f", "-", stdin=cluster.render(NAMESPACE))
    assert "unchanged" in again.stdout


def test_webhooks_skip_kube_system_and_their_own_namespace_and_fail_closed(
    cluster: OperatorCluster,
) -> None:
    if cluster.get("mutatingwebhookconfiguration", MUTATING, "") is None:
        cluster.install(NAMESPACE)
    cluster.kubectl("create", "namespace", "apps")
    # No webhook pod can answer here: objects the webhooks must see are refused, by
    # the API server's own "no endpoints" (its Service is never dialed: no packet to
    # a ClusterIP, docs/design.md "Addresses nothing dials")...
    refused = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=probe_site("apps"), check=False
    )
    assert refused.returncode != 0
    assert 'failed calling webhook "defaulting.lostromos.dev"' in refused.stderr
    assert "no endpoints available for service" in refused.stderr, refused.stderr
    # ...while the excluded namespaces never wait on the webhook.
    for namespace in ("kube-system", NAMESPACE):
        admitted = cluster.kubectl(
            "create", "--dry-run=server", "-f", "-", stdin=probe_site(namespace), check=False
        )
        assert admitted.returncode == 0, admitted.stderr
    for kind, name in (
        ("mutatingwebhookconfiguration", MUTATING),
        ("validatingwebhookconfiguration", VALIDATING),
    ):
        configuration = cluster.get(kind, name, "")
        assert configuration is not None
        assert configuration["webhooks"][0]["failurePolicy"] == "Fail"


CERT_MANAGER_CRDS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: issuers.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Issuer, listKind: IssuerList, plural: issuers, singular: issuer}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates,
          singular: certificate}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_cert_manager_mode_is_applied_as_it_is(cluster: OperatorCluster) -> None:
    # cert-manager itself does not run here: its two kinds are stand-ins that store anything.
    cluster.kubectl("apply", "-f", "-", stdin=CERT_MANAGER_CRDS)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/issuers.cert-manager.io",
        "crd/certificates.cert-manager.io",
    )
    # The namespaces of releases exist before the chart gives the controller Roles there.
    for namespace in ("apps-a", "apps-b"):
        cluster.kubectl("create", "namespace", namespace)
    documents = cluster.install(
        "lostromos-cm",
        "certs.mode=cert-manager",
        "controller.rbac.releaseNamespaces={apps-a,apps-b}",
        release="lostromos-cm",
    )
    kinds = {document["kind"] for document in documents}
    assert {"Issuer", "Certificate"} <= kinds
    assert "Secret" not in kinds  # cert-manager writes it
    for document in documents:
        assert stored(cluster, document) is not None, document["metadata"]["name"]
    configuration = cluster.get("validatingwebhookconfiguration", "lostromos-cm-validation", "")
    assert configuration is not None
    assert (
        configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        == "lostromos-cm/lostromos-cm-webhook"
    )
    assert cluster.get("role", "lostromos-cm-controller", "apps-b") is not None
