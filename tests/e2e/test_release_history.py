"""Bounded release history: every upgrade prunes the release's revisions to the
binding's release.maxHistory (default 10, as `helm upgrade`), on the real API
server with real helm reading what is left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.controllerkit import BoundKind, controller_for
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

UPGRADES = 25


def release_secrets(cluster: Cluster, release: str, namespace: str) -> list[str]:
    listing = cluster.kubectl(
        "get", "secrets", "-n", namespace, "-l", f"owner=helm,name={release}", "-o", "json"
    )
    return sorted(item["metadata"]["name"] for item in json.loads(listing.stdout)["items"])


def test_twenty_five_upgrades_leave_the_last_ten_revisions(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)  # no release.maxHistory: the default
    kind.create("busy", namespace, php={"workers": 1})
    controller_for(cluster, kind, tmp_path, controllers).start()
    eventually(lambda: kind.ready("busy", namespace, revision=1), timeout=120)
    for revision in range(2, UPGRADES + 2):
        kind.create("busy", namespace, php={"workers": revision})
        eventually(
            lambda revision=revision: kind.ready("busy", namespace, revision=revision),
            timeout=120,
            message=f"revision {revision} deployed",
        )
    last = UPGRADES + 1
    kept = list(range(last - 9, last + 1))
    assert release_secrets(cluster, "busy", namespace) == sorted(
        f"sh.helm.release.v1.busy.v{revision}" for revision in kept
    )
    history = json.loads(cluster.helm("history", "busy", "-n", namespace, "-o", "json").stdout)
    assert [entry["revision"] for entry in history] == kept
    assert history[-1]["status"] == "deployed"


def test_a_binding_sets_its_own_bound(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path, release={"maxHistory": 2})
    kind.create("small", namespace, php={"workers": 1})
    controller_for(cluster, kind, tmp_path, controllers).start()
    eventually(lambda: kind.ready("small", namespace, revision=1), timeout=120)
    for revision in (2, 3, 4):
        kind.create("small", namespace, php={"workers": revision})
        eventually(lambda revision=revision: kind.ready("small", namespace, revision=revision))
    assert release_secrets(cluster, "small", namespace) == [
        "sh.helm.release.v1.small.v3",
        "sh.helm.release.v1.small.v4",
    ]
