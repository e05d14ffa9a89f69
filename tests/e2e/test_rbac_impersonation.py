"""controller.tenancy.impersonation=required, on the real API server with real
tokens: the controller holds no right on what releases are made of, every Helm
action (and `lookup`, and the drift check) runs as the binding's ServiceAccount
of the object's namespace, and that namespace's RBAC is the only bound.

The chart is installed in that mode and the controller runs as a local process
holding only a real token of the chart's controller ServiceAccount, with the
arguments the chart's Deployment gives it. team-a gives its `deployer`
ServiceAccount a Role (Helm's release Secrets and the charts' kinds, as a
tenant would); team-b gives it none and holds a Secret nobody in team-a may
read. The chart's webhook configurations are removed: this module is about the
controller's identity (test_rbac.py runs the webhook on its own token).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.status import condition
from lostromos import toolchain
from tests.e2e.operatorkit import (
    CONTROLLER_SA,
    MUTATING,
    ROOT,
    VALIDATING,
    OperatorCluster,
)
from tests.e2e.webhookkit import preserving_crd
from tests.support import eventually, is_ready

pytestmark = pytest.mark.e2e
NAMESPACE = "lostromos-system"
TEAM, OTHER = "team-a", "team-b"
TENANT_SA = "deployer"
GROUP = "tenancy.e2e.lostromos.dev"
RENDER_CHART = ROOT / "tests" / "e2e" / "charts" / "render"
PROBES, BARE = "tenantprobes", "bareprobes"  # plurals of the two test kinds
# What a tenant grants the ServiceAccount its bindings name: Helm's release
# Secrets and what the bound charts create, in its own namespace only.
TENANT_ROLE = [
    {
        "apiGroups": [""],
        "resources": ["secrets", "configmaps", "services", "persistentvolumeclaims"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
]


@dataclass
class Deployed:
    cluster: OperatorCluster
    controller_kubeconfig: Path
    vault_token: str  # the plain text of team-b's Secret


def tenant_values() -> dict[str, Any]:
    site = yaml.safe_load((ROOT / "charts" / "lostromos" / "values.yaml").read_text())["bindings"][
        0
    ]
    render = {"version": "v1", "group": GROUP, "chart": {"path": str(RENDER_CHART)}}
    return {
        "controller": {"tenancy": {"impersonation": "required"}},
        "bindings": [
            {**site, "serviceAccountName": TENANT_SA},
            {
                **render,
                "name": "probe",
                "kind": "TenantProbe",
                "plural": PROBES,
                "serviceAccountName": TENANT_SA,
                # confinement lets a Namespace through: only RBAC can refuse it
                "clusterScopedKinds": ["Namespace"],
            },
            {**render, "name": "bare", "kind": "BareProbe", "plural": BARE},
        ],
    }


def tenant_objects(namespace: str, *, role: bool) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _named(TENANT_SA, namespace)}
    ]
    if role:
        objects += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _named(TENANT_SA, namespace),
                "rules": TENANT_ROLE,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _named(TENANT_SA, namespace),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": TENANT_SA,
                },
                "subjects": [{"kind": "ServiceAccount", "name": TENANT_SA, "namespace": namespace}],
            },
        ]
    return objects


def secret(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _named(name, namespace),
        "stringData": data,
    }


def _named(name: str, namespace: str) -> dict[str, str]:
    return {"name": name, "namespace": namespace}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tools = toolchain.ensure(toolchain.TOOL_NAMES)
    state_dir = tmp_path_factory.mktemp("impersonation")
    cluster = OperatorCluster(state_dir, tools)
    cluster.start()
    try:
        vault_token = f"team-b-only-{secrets.token_hex(8)}"
        for namespace in (TEAM, OTHER):
            cluster.kubectl("create", "namespace", namespace)
        documents = [
            *tenant_objects(TEAM, role=True),
            *tenant_objects(OTHER, role=False),
            secret(TEAM, "shared", motto="team-a-may-read-this"),
            secret(OTHER, "vault", token=vault_token),
            preserving_crd(GROUP, "TenantProbe", PROBES),
            preserving_crd(GROUP, "BareProbe", BARE),
        ]
        cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
        values = state_dir / "values.yaml"
        values.write_text(yaml.safe_dump(tenant_values()))
        rendered = cluster.install(NAMESPACE, values=values)
        for kind, name in (
            ("mutatingwebhookconfiguration", MUTATING),
            ("validatingwebhookconfiguration", VALIDATING),
        ):
            cluster.kubectl("delete", kind, name)
        controller_config = cluster.token_kubeconfig(
            CONTROLLER_SA, state_dir / "controller.kubeconfig"
        )
        bindings = cluster.bindings_file(state_dir / "lostromos.yaml")
        document = yaml.safe_load(bindings.read_text())
        for binding in document["bindings"]:
            binding["driftCheckSeconds"] = 2  # one drift check seen on these rules
        bindings.write_text(yaml.safe_dump(document))
        # The chart's own flags for tenancy, so a chart that forgot them fails here.
        flags = [a for a in controller_args(rendered) if a == "--require-service-account"]
        cluster.start_controller(bindings, controller_config, extra=flags)
        yield Deployed(cluster, controller_config, vault_token)
    finally:
        leftovers = cluster.stop()
        assert not leftovers, f"processes left behind: {leftovers}"


def controller_args(documents: list[dict[str, Any]]) -> list[str]:
    deployment = next(
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "lostromos-controller"
    )
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])


def site(namespace: str, name: str) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load((ROOT / "examples" / "site.yaml").read_text()))
    document["metadata"] = _named(name, namespace)
    return document


def probe(plural: str, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    kind = {PROBES: "TenantProbe", BARE: "BareProbe"}[plural]
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": _named(name, namespace),
        "spec": {"owner": "team-a", "image": {"tag": "1"}, **spec},
    }


def ready(cluster: OperatorCluster, resource: str, name: str, namespace: str) -> dict[str, Any]:
    obj = cluster.get(resource, name, namespace)
    return condition((obj or {}).get("status"), "Ready") or {}


def failed_with(
    cluster: OperatorCluster,
    resource: str,
    name: str,
    namespace: str,
    *needles: str,
    reason: str = "ReleaseFailed",
) -> bool:
    found = ready(cluster, resource, name, namespace)
    message = found.get("message", "")
    return found.get("reason") == reason and all(n in message for n in needles)


def stored(cluster: OperatorCluster, namespace: str) -> tuple[str, list[str]]:
    """Every Secret and ConfigMap of the namespace as text, and Helm's release
    records decoded (base64, then gzip), so a copied value shows wherever it landed."""
    items: list[str] = []
    records: list[str] = []
    for kind in ("secrets", "configmaps"):
        listing = json.loads(cluster.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)
        for item in listing["items"]:
            items.append(json.dumps(item))
            if item.get("type") == "helm.sh/release.v1":
                record = base64.b64decode(base64.b64decode(item["data"]["release"]))
                records.append(gzip.decompress(record).decode())
    return "\n".join(items), records


def test_a_site_is_released_by_its_namespaces_service_account(deployed: Deployed) -> None:
    cluster = deployed.cluster
    cluster.apply(site(TEAM, "blog"))
    eventually(
        lambda: is_ready(cluster.get("site", "blog", TEAM)),
        timeout=120,
        message="Site in team-a Ready",
    )
    assert cluster.releases(TEAM)["blog"]["status"] == "deployed"
    assert cluster.get("deployment", "blog", TEAM) is not None
    # The controller may create neither (test below): the tenant's identity did.

    # The drift check reads the release's objects as the tenant too: the
    # controller may not list Services anywhere, yet a deleted one comes back.
    cluster.kubectl("delete", "service", "blog", "-n", TEAM)
    eventually(
        lambda: cluster.get("service", "blog", TEAM) is not None,
        timeout=120,
        message="deleted Service restored by the drift check",
    )

    # team-b gives its ServiceAccount no Role: the same Site gets nowhere there, and
    # says so: even reading its release history is refused to team-b's account.
    cluster.apply(site(OTHER, "shop"))
    eventually(
        lambda: failed_with(
            cluster,
            "site",
            "shop",
            OTHER,
            f'User "system:serviceaccount:{OTHER}:{TENANT_SA}" cannot list resource "secrets"',
            reason="ReleaseUnreadable",
        ),
        timeout=120,
        message="Site in team-b refused to team-b's ServiceAccount",
    )
    assert "shop" not in cluster.releases(OTHER)
    assert cluster.get("deployment", "shop", OTHER) is None

    cluster.kubectl("delete", "site", "blog", "-n", TEAM, "--wait=false")
    eventually(
        lambda: cluster.get("site", "blog", TEAM) is None,
        timeout=120,
        message="Site deleted after the tenant uninstalled its release",
    )
    assert "blog" not in cluster.releases(TEAM)


def test_lookup_reads_only_what_the_tenant_may_read(deployed: Deployed) -> None:
    cluster = deployed.cluster
    resource = f"{PROBES}.{GROUP}"
    # lookup really runs against the cluster, as the tenant: its own Secret is copied.
    cluster.apply(probe(PROBES, TEAM, "reader", copySecret={"namespace": TEAM, "name": "shared"}))
    eventually(
        lambda: ready(cluster, resource, "reader", TEAM).get("status") == "True",
        timeout=120,
        message="lookup of a team-a Secret deployed",
    )
    copied = cluster.get("configmap", "reader", TEAM)
    assert copied is not None
    motto = base64.b64encode(b"team-a-may-read-this").decode()
    assert copied["data"]["copied-motto"] == motto

    # team-b's Secret: the engine's request scope refuses it before the API server
    # (which would refuse the tenant too), and Helm's lookup fails the render on the
    # Forbidden (it only swallows NotFound): no upgrade is applied.
    vault = {"namespace": OTHER, "name": "vault"}
    forbidden = (
        f"lostromos refused GET /api/v1/namespaces/{OTHER}/secrets/vault",
        f'a release may only read and write its own namespace "{TEAM}"',
    )
    cluster.apply(probe(PROBES, TEAM, "reader", copySecret=vault))
    eventually(
        lambda: failed_with(cluster, resource, "reader", TEAM, *forbidden),
        timeout=120,
        message="upgrade reading team-b's Secret refused",
    )
    cluster.apply(probe(PROBES, TEAM, "spy", copySecret=vault))
    eventually(
        lambda: failed_with(cluster, resource, "spy", TEAM, *forbidden),
        timeout=120,
        message="install reading team-b's Secret refused",
    )
    releases = cluster.releases(TEAM)
    assert str(releases["reader"]["revision"]) == "1" and "spy" not in releases
    assert cluster.get("configmap", "spy", TEAM) is None
    items, records = stored(cluster, TEAM)
    assert any(motto in record for record in records)  # what a release did copy shows
    token = deployed.vault_token
    for text in (items, *records):
        assert token not in text and base64.b64encode(token.encode()).decode() not in text


def test_a_cluster_scoped_kind_the_binding_allows_is_still_bounded_by_rbac(
    deployed: Deployed,
) -> None:
    cluster = deployed.cluster
    resource = f"{PROBES}.{GROUP}"
    cluster.apply(probe(PROBES, TEAM, "spacey", createNamespace=True))
    eventually(
        lambda: failed_with(
            cluster,
            resource,
            "spacey",
            TEAM,
            f'User "system:serviceaccount:{TEAM}:{TENANT_SA}" cannot',
            '"namespaces"',
        ),
        timeout=120,
        message="Namespace refused by the tenant's RBAC",
    )
    assert cluster.get("namespace", "spacey-space", "") is None
    assert "spacey" not in cluster.releases(TEAM)


def test_the_controllers_own_token_cannot_make_or_read_a_release(deployed: Deployed) -> None:
    cluster = deployed.cluster
    config = deployed.controller_kubeconfig

    def can_i(*check: str) -> bool:  # a SelfSubjectAccessReview, with the real token
        answer = cluster.as_identity(config, "auth", "can-i", *check)
        return answer.stdout.strip() == "yes"

    allowed = [
        ("list", "sites.hosting.example.com", "--all-namespaces"),
        ("patch", "sites.hosting.example.com/status", "-n", TEAM),
        ("create", "events", "-n", TEAM),
        ("impersonate", f"serviceaccounts/{TENANT_SA}", "-n", TEAM),
        ("update", f"leases.coordination.k8s.io/{CONTROLLER_SA}", "-n", NAMESPACE),
    ]
    for check in allowed:
        assert can_i(*check), check
    denied = [
        ("get", "secrets", "-n", TEAM),
        ("list", "secrets", "-n", TEAM),
        ("create", "secrets", "-n", TEAM),
        ("get", "secrets", "-n", OTHER),
        ("create", "deployments.apps", "-n", TEAM),
        ("list", "deployments.apps", "-n", TEAM),
        ("create", "configmaps", "-n", TEAM),
        ("list", "services", "--all-namespaces"),
        ("create", "namespaces"),
        ("impersonate", "serviceaccounts/default", "-n", TEAM),
        ("impersonate", "serviceaccounts", "--all-namespaces"),
        ("impersonate", "users"),
        ("impersonate", "groups"),
    ]
    for check in denied:
        assert not can_i(*check), check

    # Real calls with the controller's own token, refused by the API server.
    listing = cluster.as_identity(config, "get", "secrets", "-n", TEAM)
    assert listing.returncode != 0
    assert 'cannot list resource "secrets"' in listing.stderr
    assert f"system:serviceaccount:{NAMESPACE}:{CONTROLLER_SA}" in listing.stderr
    created = cluster.as_identity(
        config, "create", "deployment", "intruder", "--image=busybox", "-n", TEAM
    )
    assert created.returncode != 0 and 'cannot create resource "deployments"' in created.stderr
    assert cluster.get("deployment", "intruder", TEAM) is None
    # Impersonation buys no more than the tenant's Role, and no one else's.
    as_tenant = cluster.as_identity(
        config,
        f"--as=system:serviceaccount:{TEAM}:{TENANT_SA}",
        "get",
        "secret",
        "vault",
        "-n",
        OTHER,
    )
    assert as_tenant.returncode != 0 and "forbidden" in as_tenant.stderr.lower()
    as_default = cluster.as_identity(
        config, f"--as=system:serviceaccount:{TEAM}:default", "get", "configmaps", "-n", TEAM
    )
    assert as_default.returncode != 0
    assert 'cannot impersonate resource "serviceaccounts"' in as_default.stderr


def test_a_binding_naming_no_service_account_is_refused_before_any_helm_call(
    deployed: Deployed,
) -> None:
    cluster = deployed.cluster
    resource = f"{BARE}.{GROUP}"
    cluster.apply(probe(BARE, TEAM, "orphan"))
    eventually(
        lambda: ready(cluster, resource, "orphan", TEAM).get("reason") == "ServiceAccountRequired",
        timeout=120,
        message="ServiceAccountRequired",
    )
    obj = cluster.get(resource, "orphan", TEAM)
    assert obj is not None
    found = condition(obj["status"], "Ready") or {}
    assert found["status"] == "False"
    assert 'binding "bare" names no serviceAccountName' in found["message"]
    stalled = condition(obj["status"], "Stalled") or {}
    assert stalled["status"] == "True" and stalled["reason"] == "ServiceAccountRequired"
    assert not obj["metadata"].get("finalizers")
    assert "orphan" not in cluster.releases(TEAM)
    assert cluster.get("configmap", "orphan", TEAM) is None
    events = cluster.kubectl(
        "get", "events", "-n", TEAM, "--field-selector", "involvedObject.name=orphan"
    ).stdout
    assert "ServiceAccountRequired" in events
