"""`lostromos get` and `lostromos reconcile` against the real API server, reading what
the session's real controller wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_walking_skeleton import ready, site
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def lostromos(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lostromos", *args, "--kubeconfig", str(cluster.kubeconfig)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_get_summarises_bound_objects_and_reconcile_asks_for_a_pass(cluster: Cluster) -> None:
    namespace = cluster.namespace("object-commands")
    cluster.apply(site(namespace, "blog"))
    eventually(lambda: ready(cluster, namespace, "blog"), timeout=90, message="blog Ready")
    cluster.kubectl("annotate", "site", "blog", "-n", namespace, "lostromos.dev/suspend=true")

    listed = lostromos(cluster, "get", "sites", "-n", namespace, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["kind"], row["namespace"], row["name"]) == ("Site", namespace, "blog")
    assert (row["ready"], row["reason"], row["revision"]) == ("True", "Deployed", 1)
    assert row["chart"] == "site 1.0.0" and row["suspended"] is True

    text = lostromos(cluster, "get", "-n", namespace)
    assert text.returncode == 0, text.stderr
    header, line = text.stdout.splitlines()
    assert header.split() == [
        "KIND", "NAMESPACE", "NAME", "READY", "HEALTH", "SUSPENDED", "CHART", "REVISION"
    ]  # fmt: skip
    assert line.split()[:4] == ["Site", namespace, "blog", "True"]

    asked = lostromos(cluster, "reconcile", "site/blog", "-n", namespace)
    assert asked.returncode == 0, asked.stderr
    stored = cluster.get("site", "blog", namespace)
    assert stored is not None
    assert "lostromos.dev/retry" in stored["metadata"]["annotations"]

    unknown = lostromos(cluster, "get", "gadgets")
    assert unknown.returncode == 2
    assert "no binding serves 'gadgets' (bound: sites)" in unknown.stderr
    missing = lostromos(cluster, "reconcile", "site/nope", "-n", namespace)
    assert missing.returncode == 2
    assert missing.stderr == f"lostromos: error: Site {namespace}/nope not found\n"
