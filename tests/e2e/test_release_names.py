"""One release-name rule, end to end: a name Helm takes (dots included) is admitted
by the webhook and deployed by the controller."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.controllerkit import ROOT, BoundKind, ControllerProcess, controller_for
from tests.e2e.webhookkit import OwnWebhook
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def test_a_dotted_name_is_admitted_and_deployed(
    cluster: Cluster, tmp_path: Path, namespace: str, controllers: list[ControllerProcess]
) -> None:
    kind = BoundKind(cluster, tmp_path, source=ROOT / "tests" / "e2e" / "charts" / "render")
    webhook = OwnWebhook(cluster, kind.bindings_path, tmp_path / "webhook.log").start()
    try:
        controller_for(cluster, kind, tmp_path, controllers).start()
        document = {
            "apiVersion": f"{kind.resource.split('.', 1)[1]}/v1",
            "kind": kind.kind,
            "metadata": {"name": "blog.v2", "namespace": namespace},
            "spec": {"owner": "team-a", "image": {"tag": "1.0"}},
        }
        admitted = cluster.apply(document, check=False)
        assert admitted.returncode == 0, admitted.stderr
        eventually(lambda: kind.ready("blog.v2", namespace), timeout=120, message="blog.v2 Ready")
    finally:
        webhook.stop()
    release = cluster.releases(namespace)["blog.v2"]
    assert release["status"] == "deployed"
    configmap = cluster.get("configmap", "blog.v2", namespace)
    assert configmap is not None and configmap["data"]["owner"] == "team-a"
