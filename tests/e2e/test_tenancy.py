"""The controller keeps a release in its object's namespace, and acts as the
binding's ServiceAccount there, on the real API server.

No webhook serves these kinds: this is the controller's own guard, which holds
even for objects stored while admission was off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.controllerkit import GROUP, BoundKind, ControllerProcess
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RENDER_CHART = ROOT / "tests" / "e2e" / "charts" / "render"


def probe(kind: BoundKind, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"owner": "team-a", "image": {"tag": "1"}, **spec},
    }


def ready_message(kind: BoundKind, name: str, namespace: str) -> str:
    return (kind.condition(name, namespace, "Ready") or {}).get("message", "")


@pytest.fixture
def started(tmp_path: Path):
    processes: list[ControllerProcess] = []
    yield processes
    for process in processes:
        process.stop_quietly()


def test_a_release_that_would_write_elsewhere_applies_nothing(
    cluster: Cluster, tmp_path: Path, started: list[ControllerProcess]
) -> None:
    team = cluster.namespace("tenancy-team-a")
    victim = cluster.namespace("tenancy-team-b")
    kind = BoundKind(cluster, tmp_path, source=RENDER_CHART)
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    started.append(controller.start())
    cluster.apply(probe(kind, "cross", team, targetNamespace=victim))
    cluster.apply(probe(kind, "spacey", team, createNamespace=True))
    cluster.apply(probe(kind, "fine", team))

    eventually(lambda: kind.ready("fine", team), timeout=120, message="the confined one deploys")
    eventually(
        lambda: (
            "a release may only write to its own namespace" in ready_message(kind, "cross", team)
        ),
        timeout=120,
        message="cross-namespace refused",
    )
    eventually(
        lambda: "allows no cluster-scoped Namespace" in ready_message(kind, "spacey", team),
        timeout=120,
        message="cluster-scoped refused",
    )
    assert cluster.get("configmap", "cross", victim) is None
    assert cluster.get("namespace", "spacey-space") is None
    releases = cluster.releases(team)
    assert set(releases) == {"fine"}  # a refused render leaves no release behind


def test_helm_acts_as_the_bindings_service_account_in_the_objects_namespace(
    cluster: Cluster, tmp_path: Path, started: list[ControllerProcess]
) -> None:
    team = cluster.namespace("tenancy-impersonated")
    cluster.kubectl("create", "serviceaccount", "deployer", "-n", team)
    kind = BoundKind(cluster, tmp_path, source=RENDER_CHART, serviceAccountName="deployer")
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    started.append(controller.start())
    cluster.apply(probe(kind, "bounded", team))

    # The controller itself may do anything; the ServiceAccount may do nothing yet:
    # even reading the release's history is refused to it.
    user = f'User "system:serviceaccount:{team}:deployer" cannot list resource "secrets"'
    eventually(lambda: user in controller.log(), timeout=120, message="Forbidden for the account")
    assert cluster.get("configmap", "bounded", team) is None

    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "deployer", "namespace": team},
        "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["*"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "deployer", "namespace": team},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": team}],
    }
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([role, binding]))
    eventually(lambda: kind.ready("bounded", team), timeout=180, message="deployed once allowed")
    assert cluster.get("configmap", "bounded", team) is not None
