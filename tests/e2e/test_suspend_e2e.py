"""Suspend and resume a Site with an annotation, as Flux does for a HelmRelease: the
session's real controller leaves a suspended Site's release alone, kubectl get shows
it, and a resumed Site converges; deletion is never held up by a suspension."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.test_walking_skeleton import ready, site
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e
SUSPEND = "lostromos.dev/suspend"
# The session controller resyncs every 5 s: two resyncs and a watch event have passed.
QUIET_SECONDS = 12


def helm_revision(cluster: Cluster, namespace: str, name: str) -> int:
    return int(
        json.loads(cluster.helm("status", name, "-n", namespace, "-o", "json").stdout)["version"]
    )


def test_a_suspended_site_is_left_alone_until_resumed(cluster: Cluster) -> None:
    namespace = cluster.namespace("suspend-resume")
    cluster.apply(site(namespace, "blog"))
    eventually(lambda: ready(cluster, namespace, "blog"), timeout=90, message="blog Ready")
    cluster.kubectl("annotate", "site", "blog", "-n", namespace, f"{SUSPEND}=true")
    shown = cluster.kubectl("get", "site", "blog", "-n", namespace).stdout
    header, row = shown.splitlines()[:2]
    # kubectl aligns columns; an empty cell (HEALTH before it is known) shifts words
    assert row[header.index("SUSPENDED") :].split()[0] == "true", shown

    cluster.kubectl(
        "patch", "site", "blog", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}'
    )
    time.sleep(QUIET_SECONDS)
    assert helm_revision(cluster, namespace, "blog") == 1
    stored = cluster.get("site", "blog", namespace)
    assert stored is not None and stored["status"]["observedGeneration"] == 1

    cluster.kubectl("annotate", "site", "blog", "-n", namespace, f"{SUSPEND}-")
    eventually(
        lambda: helm_revision(cluster, namespace, "blog") == 2,
        timeout=90,
        message="the edit made while suspended is upgraded on resume",
    )


def test_a_suspended_site_that_is_deleted_is_uninstalled(cluster: Cluster) -> None:
    namespace = cluster.namespace("suspend-delete")
    cluster.apply(site(namespace, "shop"))
    eventually(lambda: ready(cluster, namespace, "shop"), timeout=90, message="shop Ready")
    cluster.kubectl("annotate", "site", "shop", "-n", namespace, f"{SUSPEND}=true")
    cluster.kubectl("delete", "site", "shop", "-n", namespace, "--timeout=90s")
    assert cluster.get("site", "shop", namespace) is None
    assert "shop" not in cluster.releases(namespace)
