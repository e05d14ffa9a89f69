"""The walking skeleton, end to end through real kubectl and helm on the real API server:
admit and default, refuse with every bad field named, install, upgrade, uninstall."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import Cluster, eventually, is_ready

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def site(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(example("site.yaml"))
    document["metadata"] = {"name": name, "namespace": namespace}
    document["spec"].update(spec)
    return document


def ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = cluster.get("site", name, namespace)
    return obj if is_ready(obj) else None


def test_valid_site_is_defaulted_and_installed(cluster: Cluster) -> None:
    namespace = cluster.namespace("skeleton-install")
    cluster.apply(site(namespace, "blog"))

    stored = cluster.get("site", "blog", namespace)
    assert stored is not None
    spec = stored["spec"]
    # Given by the user, kept as given:
    assert spec["domain"] == "blog.example.com"
    assert spec["plugins"][1]["enabled"] is False
    # Left out by the user, filled from the schema's defaults by the webhook:
    assert spec["replicas"] == 1
    assert spec["php"]["version"] == "8.3"
    assert spec["php"]["workers"] == 8
    assert spec["storage"]["size"] == "10Gi"
    assert spec["plugins"][0]["enabled"] is True

    installed = eventually(
        lambda: ready(cluster, namespace, "blog"), timeout=90, message="Site blog Ready"
    )
    release = installed["status"]["release"]
    assert release["name"] == "blog"
    assert release["revision"] == 1
    assert release["chart"] == "site"
    # What rollouts and drift checks read back survives the CRD's status schema.
    assert release["chartDigest"].startswith("sha256:") or len(release["chartDigest"]) >= 16
    kinds = {resource["kind"] for resource in release["resources"]}
    assert {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} <= kinds
    assert installed["status"]["observedGeneration"] == installed["metadata"]["generation"]
    assert "lostromos.dev/helm-release" in installed["metadata"]["finalizers"]

    releases = cluster.releases(namespace)
    assert releases["blog"]["status"] == "deployed"
    for kind in ("deployment", "service", "configmap", "persistentvolumeclaim"):
        listing = cluster.kubectl(
            "get", kind, "-n", namespace, "-l", "app.kubernetes.io/instance=blog", "-o", "name"
        ).stdout
        assert listing.strip(), f"no {kind} rendered for the release"

    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=blog"
    ).stdout
    assert "Installed" in events


def test_invalid_site_is_refused_naming_every_field(cluster: Cluster) -> None:
    namespace = cluster.namespace("skeleton-invalid")
    bad = example("invalid/site-bad.yaml")
    bad["metadata"]["namespace"] = namespace

    result = cluster.apply(bad, check=False)

    assert result.returncode != 0
    message = result.stderr
    assert 'admission webhook "validation.lostromos.dev" denied the request' in message
    for field in ("spec.replicas", "spec.php.version", "spec.theme", "spec.adminEmail"):
        assert field in message, f"{field} missing from:\n{message}"
    assert '"7.4"' in message
    assert cluster.get("site", "broken", namespace) is None


def test_spec_change_upgrades_and_delete_uninstalls(cluster: Cluster) -> None:
    namespace = cluster.namespace("skeleton-lifecycle")
    cluster.apply(site(namespace, "shop"))
    eventually(lambda: ready(cluster, namespace, "shop"), timeout=90, message="installed")

    cluster.apply(site(namespace, "shop", replicas=3))

    def upgraded() -> dict[str, Any] | None:
        obj = ready(cluster, namespace, "shop")
        return obj if obj and obj["status"]["release"]["revision"] == 2 else None

    eventually(upgraded, timeout=90, message="revision 2")
    assert cluster.releases(namespace)["shop"]["revision"] == "2"
    deployment = cluster.kubectl(
        "get", "deployment", "-n", namespace, "-o", "json", "-l", "app.kubernetes.io/instance=shop"
    ).stdout
    assert '"replicas": 3' in deployment

    cluster.kubectl("delete", "site", "shop", "-n", namespace, "--wait=false")
    eventually(
        lambda: cluster.get("site", "shop", namespace) is None, timeout=90, message="Site deleted"
    )
    # The finalizer is removed only after helm uninstall returned, so by the time
    # the Site is gone its release must be gone too.
    assert "shop" not in cluster.releases(namespace)
    leftover = cluster.kubectl(
        "get",
        "deployment,service,configmap",
        "-n",
        namespace,
        "-l",
        "app.kubernetes.io/instance=shop",
        "-o",
        "name",
    ).stdout
    assert leftover.strip() == ""
