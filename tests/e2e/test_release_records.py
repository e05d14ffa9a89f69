"""Helm's release records are Secrets in the tenant's namespace: a tenant who can
write Secrets there forged them to make the controller act with its own rights
(issue 19, row 1). Records are now signed with a key only the controller holds;
a record that does not verify, or that names objects outside the object's
namespace, is refused with a condition and an Event, and nothing is touched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.controllerkit import BoundKind, controller_for
from tests.e2e.forgerykit import (
    cluster_admin_granted,
    edit_manifest,
    foreign_manifest,
    forge_pending_revision,
    mark_pending,
)
from tests.e2e.test_release_ownership import warnings
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def victim(cluster: Cluster, name: str) -> tuple[str, str]:
    """Another team's namespace with a ConfigMap the forged manifest names."""
    namespace = cluster.namespace(name)
    cluster.kubectl("create", "configmap", "db", "-n", namespace, "--from-literal=password=x")
    return namespace, configmap_version(cluster, namespace)


def configmap_version(cluster: Cluster, namespace: str) -> str:
    """The victim ConfigMap's resourceVersion; "" once it is deleted."""
    return cluster.kubectl(
        "get",
        "configmap",
        "db",
        "-n",
        namespace,
        "-o",
        "jsonpath={.metadata.resourceVersion}",
        check=False,
    ).stdout


def untrusted(kind: BoundKind, name: str, namespace: str) -> dict | None:
    ready = kind.condition(name, namespace, "Ready") or {}
    return ready if ready.get("reason") == "ReleaseUntrusted" else None


def test_a_forged_pending_revision_is_refused_not_recovered(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    other, version = victim(cluster, "rec-victim-pending")
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("blog", namespace)
    eventually(lambda: kind.ready("blog", namespace, revision=1), timeout=90, message="installed")

    edit_manifest(cluster, namespace, "blog", 1, foreign_manifest(other, "db"))
    forge_pending_revision(cluster, namespace, "blog")
    kind.create("blog", namespace, replicas=3)  # a spec edit wakes the controller

    eventually(
        lambda: (
            untrusted(kind, "blog", namespace)
            or cluster_admin_granted(cluster)
            or configmap_version(cluster, other) != version
        ),
        timeout=90,
        message="the controller acted on the forged records, or refused them",
    )
    assert not cluster_admin_granted(cluster)
    assert configmap_version(cluster, other) == version
    ready = untrusted(kind, "blog", namespace)
    assert ready is not None and ready["status"] == "False"
    assert (
        "blog revision" in ready["message"] and "not written by this lostromos" in ready["message"]
    )
    time.sleep(5)
    assert len(warnings(cluster, namespace, "blog", "ReleaseUntrusted")) == 1
    assert not cluster_admin_granted(cluster)
    assert configmap_version(cluster, other) == version
    rollback = cluster.kubectl(
        "get", "secret", "sh.helm.release.v1.blog.v3", "-n", namespace, check=False
    )
    assert rollback.returncode != 0  # no rollback ran: it would have written revision 3


def test_edited_existing_revisions_are_refused_and_delete_touches_nothing_outside(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """No record added: revision 1's manifest edited to name objects outside, and
    revision 2 (the newest) edited to say pending-upgrade, so a recovery would roll
    back to revision 1 and a later delete would uninstall what it applied."""
    other, version = victim(cluster, "rec-victim-edited")
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)
    eventually(lambda: kind.ready("shop", namespace, revision=1), timeout=90, message="installed")
    kind.create("shop", namespace, replicas=2)
    eventually(lambda: kind.ready("shop", namespace, revision=2), timeout=90, message="upgraded")

    edit_manifest(cluster, namespace, "shop", 1, foreign_manifest(other, "db"))
    mark_pending(cluster, namespace, "shop", 2)
    kind.create("shop", namespace, replicas=3)
    eventually(
        lambda: (
            untrusted(kind, "shop", namespace)
            or cluster_admin_granted(cluster)
            or configmap_version(cluster, other) != version
        ),
        timeout=90,
        message="the controller acted on the edited records, or refused them",
    )
    cluster.kubectl("delete", kind.resource, "shop", "-n", namespace, "--wait=false")
    time.sleep(10)  # long enough for an uninstall to have run
    assert not cluster_admin_granted(cluster)
    assert configmap_version(cluster, other) == version  # another team's ConfigMap
    ready = untrusted(kind, "shop", namespace)
    assert ready is not None and "shop revision" in ready["message"]
    assert warnings(cluster, namespace, "shop", "ReleaseUntrusted")
    # No uninstall ran: the release stays, and the object with it (its finalizer).
    assert kind.get("shop", namespace) is not None
    records = cluster.kubectl(
        "get", "secrets", "-n", namespace, "-l", "owner=helm,name=shop", "-o", "name"
    ).stdout.split()
    assert len(records) == 2
