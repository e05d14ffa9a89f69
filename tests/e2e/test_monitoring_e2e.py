"""Monitoring that tells the truth, on the real API server with real Helm: a
healthy object adds no Helm failure, and the controller's probes and metrics
answer scrapers and probes that add query strings or ask for gzip."""

from __future__ import annotations

import gzip
import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from lostromos.dev.cluster import free_port
from tests.e2e.controllerkit import BoundKind, controller_for
from tests.e2e.webhookkit import OwnWebhook
from tests.support import Cluster, eventually

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_a_healthy_object_counts_no_helm_failure_and_the_endpoints_take_queries(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("blog", namespace)
    eventually(lambda: kind.ready("blog", namespace), timeout=120, message="blog Ready")

    # The first status of a new object finds no release: an answer, not a failure.
    assert (
        controller.metric(
            "lostromos_helm_action_duration_seconds_count", action="status", outcome="not_found"
        )
        >= 1
    )
    assert controller.metric("lostromos_helm_action_duration_seconds_count", outcome="failure") == 0
    assert (
        controller.metric(
            "lostromos_helm_action_duration_seconds_count", action="upgrade", outcome="success"
        )
        == 1
    )

    base = f"http://127.0.0.1:{controller.port}"
    with urllib.request.urlopen(f"{base}/readyz?verbose", timeout=5) as answer:
        assert (answer.status, json.loads(answer.read())) == (200, {"ready": True})
    with urllib.request.urlopen(f"{base}/metrics?x=1", timeout=5) as answer:
        assert "lostromos_build_info{" in answer.read().decode()
    scrape = urllib.request.Request(f"{base}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(scrape, timeout=5) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert "lostromos_objects_not_ready{" in gzip.decompress(answer.read()).decode()


def test_a_stalled_object_is_counted(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create("fine", namespace)
    kind.create("bad", namespace, replicas="three")  # Invalid: Stalled until someone fixes it
    eventually(
        lambda: controller.metric("lostromos_objects_stalled") == 1,
        timeout=120,
        message="the invalid object counted as Stalled",
    )
    eventually(lambda: kind.ready("fine", namespace), timeout=120, message="fine Ready")
    assert controller.metric("lostromos_objects_not_ready") == 1
    kind.create("bad", namespace, replicas=2)
    eventually(
        lambda: controller.metric("lostromos_objects_stalled") == 0,
        timeout=120,
        message="the fixed object no longer Stalled",
    )


def test_the_webhook_serves_metrics_on_its_own_plain_port(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """A NetworkPolicy may keep the admission port to the API server alone: Prometheus
    scrapes --metrics-bind instead, which adds up every gunicorn worker."""
    port = free_port()
    webhook = OwnWebhook(
        cluster,
        ROOT / "lostromos.yaml",
        tmp_path / "webhook.log",
        "--workers",
        "2",
        "--metrics-bind",
        f"127.0.0.1:{port}",
    ).start()
    try:
        site = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
        site["metadata"]["namespace"] = namespace
        cluster.apply(site)

        def reviews() -> float:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?x=1", timeout=5) as a:
                text = a.read().decode()
            return sum(
                float(line.rpartition(" ")[2])
                for line in text.splitlines()
                if line.startswith("lostromos_webhook_requests_total{")
            )

        eventually(lambda: reviews() >= 2, timeout=60, message="mutate and validate counted")
        scrape = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(scrape, timeout=5) as answer:
            assert answer.headers["Content-Encoding"] == "gzip"
            assert "lostromos_build_info{" in gzip.decompress(answer.read()).decode()
    finally:
        webhook.stop()
