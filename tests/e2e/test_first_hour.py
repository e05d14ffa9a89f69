"""Events on the real API server: a release failing on every retry is one Event
with a growing count, not one Event per retry (as client-go's recorder does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.controllerkit import BoundKind, ControllerProcess
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def test_repeated_release_failures_are_one_counted_event(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    namespace = cluster.namespace("ev-aggregated")
    kind = BoundKind(cluster, tmp_path)
    (kind.chart / "templates" / "broken.yaml").write_text('{{ fail "this chart is broken" }}\n')
    kind.create("broken", namespace)
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    controller.start()
    try:
        def failures() -> list[dict] | None:
            listing = json.loads(cluster.kubectl(
                "get", "events", "-n", namespace, "-o", "json",
                "--field-selector", "reason=ReleaseFailed,involvedObject.name=broken").stdout)
            items = listing["items"]
            return items if sum(item.get("count", 1) for item in items) >= 5 else None

        events = eventually(failures, timeout=150, message="ReleaseFailed counted 5 times")
        # One Event per distinct message (a first install and the retries after it may
        # word helm's error differently), each counting its repeats.
        messages = [event["message"] for event in events]
        assert len(set(messages)) == len(messages) <= 2, messages
        assert max(event["count"] for event in events) >= 3
        assert all("this chart is broken" in message for message in messages)
        # and the controller's log says it once, as a warning naming object and release
        log = controller.log()
        assert "Traceback" not in log
        warned = [line for line in log.splitlines()
                  if "WARNING" in line and "reconcile failed" in line]
        assert 1 <= len(warned) <= len(events), log
        assert f"object={namespace}/broken" in warned[0] and "release=broken" in warned[0]
    finally:
        controller.stop_quietly()
