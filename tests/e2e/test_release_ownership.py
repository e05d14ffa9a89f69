"""A bound object touches only its own release: the tenancy attacks of rows 1-3
(a name taken from someone else's release, a status aimed at another release, a
flag as a release name), on the real API server with real helm."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controllerkit import ROOT, BoundKind, controller_for
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

CONFLICT = 'release "victim" in {namespace} exists and belongs to something else'


# Who else writes a release's objects on this cluster: the Deployment and volume
# controllers (status, binding) and kwok (pod and volume status), never their spec.
DATA_PLANE_MANAGERS = frozenset({"kube-controller-manager", "kube-scheduler", "kwok"})


def objects_of(cluster: Cluster, namespace: str, instance: str) -> dict[str, tuple[str, str]]:
    """kind/name -> (uid, every write but the data plane's): any Helm write shows."""
    listing = json.loads(
        cluster.kubectl(
            "get",
            "deployment,service,configmap,persistentvolumeclaim",
            "-n",
            namespace,
            "-l",
            f"app.kubernetes.io/instance={instance}",
            "-o",
            "json",
            "--show-managed-fields",
        ).stdout
    )
    return {
        f"{item['kind']}/{item['metadata']['name']}": (
            item["metadata"]["uid"],
            json.dumps(
                [
                    entry
                    for entry in item["metadata"].get("managedFields") or []
                    if entry.get("manager") not in DATA_PLANE_MANAGERS
                ],
                sort_keys=True,
            ),
        )
        for item in listing["items"]
    }


def warnings(cluster: Cluster, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    listing = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.name={name},reason={reason}",
            "-o",
            "json",
        ).stdout
    )
    return listing["items"]


def release_labels(cluster: Cluster, namespace: str, release: str) -> dict[str, str]:
    """The labels on the newest storage Secret of a release (helm's secrets driver)."""
    listing = json.loads(
        cluster.kubectl(
            "get", "secrets", "-n", namespace, "-l", f"owner=helm,name={release}", "-o", "json"
        ).stdout
    )
    newest = max(listing["items"], key=lambda s: int(s["metadata"]["labels"]["version"]))
    return newest["metadata"]["labels"]


def patch_status(
    cluster: Cluster, kind: BoundKind, name: str, namespace: str, release_name: str
) -> None:
    patch = json.dumps({"status": {"release": {"name": release_name}}})
    cluster.kubectl(
        "patch",
        kind.resource,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    )


def test_an_object_named_after_someone_elses_release_leaves_it_untouched(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    # Installed by hand, from the very chart the kind is bound to.
    cluster.helm(
        "install",
        "victim",
        str(ROOT / "charts/site"),
        "-n",
        namespace,
        "--set",
        "domain=victim.example.com",
        "--set",
        "adminEmail=ops@example.com",
    )
    before = objects_of(cluster, namespace, "victim")
    assert {"ConfigMap/victim", "PersistentVolumeClaim/victim"} <= set(before)
    time.sleep(1.1)  # the Site is created in a later second than the release
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("victim", namespace, replicas=5)

    def conflict() -> dict[str, Any] | None:
        ready = kind.condition("victim", namespace, "Ready") or {}
        return ready if ready.get("reason") == "ReleaseConflict" else None

    ready = eventually(conflict, timeout=60, message="ReleaseConflict")
    assert ready["status"] == "False"
    assert ready["message"] == CONFLICT.format(namespace=namespace)
    # kstatus: `kubectl wait` tells this stuck object from one still working.
    cluster.kubectl(
        "wait",
        f"{kind.resource}/victim",
        "-n",
        namespace,
        "--for=condition=Stalled",
        "--timeout=30s",
    )
    time.sleep(5)  # resyncs and status echoes come and go: still one event
    assert len(warnings(cluster, namespace, "victim", "ReleaseConflict")) == 1
    assert cluster.releases(namespace)["victim"]["revision"] == "1"
    assert objects_of(cluster, namespace, "victim") == before

    cluster.kubectl("delete", kind.resource, "victim", "-n", namespace, "--timeout=60s")
    assert kind.get("victim", namespace) is None
    assert cluster.releases(namespace)["victim"]["revision"] == "1"
    assert objects_of(cluster, namespace, "victim") == before


def test_a_status_release_name_cannot_aim_at_another_objects_release(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("victim", namespace)
    kind.create("attacker", namespace)
    eventually(
        lambda: kind.ready("victim", namespace) and kind.ready("attacker", namespace),
        timeout=90,
        message="both installed",
    )
    before = objects_of(cluster, namespace, "victim")

    patch_status(cluster, kind, "attacker", namespace, "victim")
    kind.create("attacker", namespace, replicas=4)  # the attacker's values, for "victim"

    def upgraded() -> bool:
        obj = kind.get("attacker", namespace) or {}
        return kind.ready("attacker", namespace) and (
            (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
        )

    eventually(upgraded, timeout=90, message="the attacker's own release upgraded")
    replicas = cluster.kubectl(
        "get", "deployment", "attacker", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "4"
    assert kind.get("attacker", namespace)["status"]["release"]["name"] == "attacker"
    assert cluster.releases(namespace)["victim"]["revision"] == "1"
    assert objects_of(cluster, namespace, "victim") == before

    patch_status(cluster, kind, "attacker", namespace, "victim")
    cluster.kubectl("delete", kind.resource, "attacker", "-n", namespace, "--timeout=60s")
    releases = cluster.releases(namespace)
    assert "attacker" not in releases and releases["victim"]["revision"] == "1"
    assert objects_of(cluster, namespace, "victim") == before
    assert kind.ready("victim", namespace)
    labels = release_labels(cluster, namespace, "victim")  # what told them apart
    assert labels["lostromos.dev/owner-uid"] == kind.get("victim", namespace)["metadata"]["uid"]
    assert labels["lostromos.dev/owner-name"] == "victim"


def test_a_flag_as_status_release_name_does_nothing_and_delete_completes(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("flagged", namespace)
    eventually(lambda: kind.ready("flagged", namespace), timeout=90)

    patch_status(cluster, kind, "flagged", namespace, "--kube-as-group=system:masters")
    time.sleep(2)  # the controller sees the patched status before the delete
    cluster.kubectl("delete", kind.resource, "flagged", "-n", namespace, "--timeout=60s")
    assert kind.get("flagged", namespace) is None
    assert "flagged" not in cluster.releases(namespace)  # its real release went with it
    assert "system:masters" not in controller.log()


def test_the_owner_label_decides_even_when_every_legacy_mark_fits(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """Two kinds bound to the same chart, one object name in one namespace: the
    second kind's object even carries lostromos's finalizer and was created
    before the release. Only the release's owner-uid label tells them apart."""
    first = BoundKind(cluster, tmp_path)
    second = BoundKind(cluster, tmp_path)
    claimant = second.manifest("shared", namespace)
    claimant["metadata"]["finalizers"] = ["lostromos.dev/helm-release"]
    cluster.apply(claimant)
    time.sleep(1.1)
    controller_for(cluster, first, tmp_path, controllers).start()
    first.create("shared", namespace)
    eventually(lambda: first.ready("shared", namespace), timeout=90)

    controller_for(cluster, second, tmp_path, controllers).start()
    eventually(
        lambda: (
            (second.condition("shared", namespace, "Ready") or {}).get("reason")
            == "ReleaseConflict"
        ),
        timeout=60,
        message="the second kind is refused",
    )
    assert cluster.releases(namespace)["shared"]["revision"] == "1"

    cluster.kubectl("delete", second.resource, "shared", "-n", namespace, "--timeout=60s")
    assert cluster.releases(namespace)["shared"]["revision"] == "1"
    assert first.ready("shared", namespace)


def strip_owner_labels(cluster: Cluster, namespace: str, release: str) -> None:
    """What a release made by an earlier lostromos looks like: no owner labels,
    and no record signature (records were not signed then)."""
    cluster.kubectl(
        "label",
        "secrets",
        "-n",
        namespace,
        "-l",
        f"owner=helm,name={release}",
        "lostromos.dev/binding-",
        "lostromos.dev/owner-namespace-",
        "lostromos.dev/owner-name-",
        "lostromos.dev/owner-uid-",
        "lostromos.dev/record-signature-",
    )
    assert "lostromos.dev/owner-uid" not in release_labels(cluster, namespace, release)


def test_a_release_made_by_an_earlier_lostromos_is_adopted_once(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    for name in ("upgraded", "deleted"):
        kind.create(name, namespace)
    eventually(
        lambda: kind.ready("upgraded", namespace) and kind.ready("deleted", namespace),
        timeout=90,
        message="both installed",
    )
    assert controller.terminate() == 0
    for name in ("upgraded", "deleted"):
        strip_owner_labels(cluster, namespace, name)
    controller_for(cluster, kind, tmp_path, controllers).start()

    kind.create("upgraded", namespace, replicas=2)
    eventually(
        lambda: kind.ready("upgraded", namespace, revision=2),
        timeout=90,
        message="the legacy release adopted and upgraded",
    )
    labels = release_labels(cluster, namespace, "upgraded")
    assert labels["lostromos.dev/owner-uid"] == kind.get("upgraded", namespace)["metadata"]["uid"]

    cluster.kubectl("delete", kind.resource, "deleted", "-n", namespace, "--timeout=60s")
    assert "deleted" not in cluster.releases(namespace)  # adopted for the uninstall too


def test_a_later_third_party_release_with_the_objects_name_is_not_uninstalled_with_it(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    """Every legacy mark fits (finalizer, name, chart, deployed after the object was
    created), but the release is not the one the object recorded and carries no
    signature: deleting the object leaves it alone."""
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("later", namespace)
    eventually(lambda: kind.ready("later", namespace), timeout=90, message="installed")
    assert controller.terminate() == 0
    cluster.helm("uninstall", "later", "-n", namespace)
    cluster.helm(
        "install",
        "later",
        str(ROOT / "charts/site"),
        "-n",
        namespace,
        "--set",
        "domain=third.example.com",
        "--set",
        "adminEmail=ops@example.com",
    )
    controller_for(cluster, kind, tmp_path, controllers).start()
    cluster.kubectl("delete", kind.resource, "later", "-n", namespace, "--timeout=90s")
    assert kind.get("later", namespace) is None
    assert cluster.releases(namespace)["later"]["status"] == "deployed"
    assert "ConfigMap/later" in objects_of(cluster, namespace, "later")
