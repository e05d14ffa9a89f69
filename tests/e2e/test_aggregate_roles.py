"""Namespace users with Kubernetes' built-in roles can use the bound kinds: the
operator chart's aggregate-to-view/edit/admin ClusterRoles are picked by the
real API server's own `view`, `edit` and `admin` aggregation selectors, and the
API server's RBAC authorizer lets `edit` create a Site and `view` only read it.

The test cluster runs kube-controller-manager, whose clusterrole-aggregation
controller copies the selected roles' rules into `edit` (and the others), so the
users are bound to the built-in `edit` and `view` roles themselves, as a
namespace admin would bind them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
OURS = ("lostromos-view", "lostromos-edit")


def chart_roles(cluster: Cluster) -> list[dict]:
    rendered = subprocess.run(
        [
            str(cluster.tools["helm"]),
            "template",
            "lostromos",
            str(ROOT / "charts" / "lostromos"),
            "--show-only",
            "templates/aggregate-clusterroles.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def selected_by(cluster: Cluster, builtin: str) -> set[str]:
    """The ClusterRoles the built-in role's aggregationRule selects, as the
    clusterrole-aggregation controller reads them."""
    role = json.loads(cluster.kubectl("get", "clusterrole", builtin, "-o", "json").stdout)
    names: set[str] = set()
    for selector in role["aggregationRule"]["clusterRoleSelectors"]:
        labels = ",".join(f"{k}={v}" for k, v in selector["matchLabels"].items())
        found = cluster.kubectl("get", "clusterroles", "-l", labels, "-o", "name").stdout
        names |= {
            line.removeprefix("clusterrole.rbac.authorization.k8s.io/") for line in found.split()
        }
    return names


def bind(cluster: Cluster, namespace: str, user: str, roles: set[str]) -> None:
    for role in sorted(roles):
        cluster.kubectl(
            "create",
            "rolebinding",
            f"{user}-{role}".replace(":", "-"),
            "-n",
            namespace,
            f"--clusterrole={role}",
            f"--user={user}",
        )


def can(cluster: Cluster, user: str, verb: str, namespace: str) -> bool:
    answer = cluster.kubectl(
        "auth",
        "can-i",
        verb,
        "sites.hosting.example.com",
        "-n",
        namespace,
        "--as",
        user,
        check=False,
    )
    return answer.stdout.strip() == "yes"


def test_edit_creates_sites_and_view_reads_them(cluster: Cluster, namespace: str) -> None:
    roles = chart_roles(cluster)
    assert sorted(r["metadata"]["name"] for r in roles) == sorted(OURS)
    cluster.apply("\n---\n".join(yaml.safe_dump(r) for r in roles))

    view, edit, admin = (selected_by(cluster, b) for b in ("view", "edit", "admin"))
    assert "lostromos-view" in view and "lostromos-edit" not in view
    assert set(OURS) <= edit and set(OURS) <= admin

    bind(cluster, namespace, "alice", {"edit"})
    bind(cluster, namespace, "bob", {"view"})
    eventually(
        lambda: (
            can(cluster, "alice", "create", namespace) and can(cluster, "bob", "get", namespace)
        ),
        timeout=60,
        message="the aggregation controller copied the chart's rules into edit and view",
    )

    site = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
    site["metadata"] = {"name": "blog", "namespace": namespace}
    created = cluster.kubectl(
        "create", "-f", "-", "--as", "alice", stdin=yaml.safe_dump(site), check=False
    )
    assert created.returncode == 0, created.stderr
    assert (
        cluster.kubectl(
            "delete", "site", "blog", "-n", namespace, "--as", "alice", "--wait=false", check=False
        ).returncode
        == 0
    )

    site["metadata"]["name"] = "shop"
    cluster.apply(site)
    read = cluster.kubectl("get", "site", "shop", "-n", namespace, "--as", "bob", check=False)
    assert read.returncode == 0, read.stderr
    site["metadata"]["name"] = "news"
    refused = cluster.kubectl(
        "create", "-f", "-", "--as", "bob", stdin=yaml.safe_dump(site), check=False
    )
    assert refused.returncode != 0
    assert 'User "bob" cannot create resource "sites"' in refused.stderr
    assert not can(cluster, "bob", "delete", namespace)
