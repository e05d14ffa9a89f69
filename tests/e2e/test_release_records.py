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
)
from tests.e2e.test_release_ownership import warnings
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def victim(cluster: Cluster, name: str) -> tuple[str, str]:
    """Another team's namespace with a ConfigMap the forged manifest names."""
    namespace = cluster.namespace(name)
    cluster.kubectl("create", "configmap", "db", "-n", namespace, "--from-literal=password=x")
    return namespace, cluster.kubectl(
        "get", "configmap", "db", "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}"
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

    ready = eventually(
        lambda: untrusted(kind, "blog", namespace), timeout=90, message="ReleaseUntrusted"
    )
    assert ready["status"] == "False"
    assert (
        "blog revision" in ready["message"] and "not written by this lostromos" in ready["message"]
    )
    time.sleep(5)
    assert len(warnings(cluster, namespace, "blog", "ReleaseUntrusted")) == 1
    assert not cluster_admin_granted(cluster)
    assert (
        cluster.kubectl(
            "get", "configmap", "db", "-n", other, "-o", "jsonpath={.metadata.resourceVersion}"
        ).stdout
        == version
    )
    rollback = cluster.kubectl(
        "get", "secret", "sh.helm.release.v1.blog.v3", "-n", namespace, check=False
    )
    assert rollback.returncode != 0  # no rollback ran: it would have written revision 3


def test_an_edited_manifest_is_refused_and_delete_touches_nothing_outside(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    other, version = victim(cluster, "rec-victim-edited")
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("shop", namespace)
    eventually(lambda: kind.ready("shop", namespace, revision=1), timeout=90, message="installed")

    edit_manifest(cluster, namespace, "shop", 1, foreign_manifest(other, "db"))
    cluster.kubectl("delete", kind.resource, "shop", "-n", namespace, "--wait=false")

    ready = eventually(
        lambda: untrusted(kind, "shop", namespace), timeout=90, message="ReleaseUntrusted"
    )
    assert "shop revision 1 is invalid" in ready["message"]
    assert warnings(cluster, namespace, "shop", "ReleaseUntrusted")
    # The uninstall never ran: the victim's ConfigMap and the release stay.
    assert (
        cluster.kubectl(
            "get", "configmap", "db", "-n", other, "-o", "jsonpath={.metadata.resourceVersion}"
        ).stdout
        == version
    )
    assert "shop" in cluster.releases(namespace)
    assert kind.get("shop", namespace) is not None  # held by its finalizer
