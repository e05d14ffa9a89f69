"""`lostromos get` and `lostromos reconcile` on a real API server with the real
controller: Flux's `get` summary and `reconcile` request for bound objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lostromos.cli import main
from tests.support import Cluster, eventually, is_ready

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_get_summarizes_and_reconcile_requests(
    cluster: Cluster, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
    site["metadata"] = {"name": "blog", "namespace": namespace}
    cluster.apply(site)
    eventually(lambda: is_ready(cluster.get("site", "blog", namespace)), timeout=120)
    common = ["--config", str(ROOT / "lostromos.yaml"), "--kubeconfig", str(cluster.kubeconfig)]

    capsys.readouterr()
    assert main(["get", "sites", "-n", namespace, "-o", "json", *common]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert [(i["kind"], i["namespace"], i["name"]) for i in items] == [("Site", namespace, "blog")]
    blog = items[0]
    assert (blog["ready"], blog["chart"], blog["revision"], blog["suspended"]) == (
        "True",
        "site-1.0.0",
        1,
        False,
    )
    assert main(["get", "-A", *common]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:8] == [
        "KIND",
        "NAMESPACE",
        "NAME",
        "READY",
        "HEALTH",
        "CHART",
        "REVISION",
        "SUSPENDED",
    ]
    assert any(line.split()[:3] == ["Site", namespace, "blog"] for line in table[1:])

    assert main(["reconcile", "st/blog", "-n", namespace, *common]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"reconcile requested for Site {namespace}/blog (lostromos.dev/retry=")
    stamped = cluster.get("site", "blog", namespace)
    assert stamped is not None
    requested = stamped["metadata"]["annotations"]["lostromos.dev/retry"]
    assert requested in said

    assert main(["reconcile", "site/nope", "-n", namespace, *common]) == 2
    assert capsys.readouterr().err == (f"lostromos: error: Site {namespace}/nope not found\n")
    assert main(["get", "widgets", *common]) == 2
    assert "'widgets' is not a bound kind (bound: sites)" in capsys.readouterr().err
