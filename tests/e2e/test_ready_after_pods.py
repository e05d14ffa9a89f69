"""Ready waits for the release's workloads, on the real control plane with simulated
nodes: a bound object is Ready only once its Deployment's pod is Ready, a restarted
controller keeps waiting, and one whose pod never becomes Ready shows
ProgressDeadlineExceeded past the binding's release.readyTimeout, once, with no
Helm retry, and becomes Ready by itself when the pod does."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lostromos.dev.dataplane import FAIL_ANNOTATION
from tests.e2e.controllerkit import controller_for
from tests.e2e.test_kstatus import GeneratedKind
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

NAME = "held"


# The example chart's pod annotations: kwok's not-ready stage keeps the pod Running and
# never Ready, until the annotation is taken off the pod.
HELD = {"podAnnotations": {FAIL_ANNOTATION: "not-ready"}}


class ReadyWatch:
    """Every Ready status the API server sends for one object (`kubectl get -w`), with
    when it arrived: a Ready=True between two polls cannot be missed."""

    def __init__(self, cluster: Cluster, resource: str, name: str, namespace: str) -> None:
        self.seen: list[tuple[float, str]] = []
        self.process = subprocess.Popen(
            [
                str(cluster.tools["kubectl"]),
                f"--kubeconfig={cluster.kubeconfig}",
                "get",
                resource,
                name,
                "-n",
                namespace,
                "--watch",
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cluster.env,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append((time.monotonic(), line.strip()))

    def stop(self) -> list[tuple[float, str]]:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.thread.join(timeout=10)
        return list(self.seen)


def the_pod(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    listing = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={NAME}", "-o", "json"
    )
    live = [
        p for p in json.loads(listing.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
    ]
    return live[0] if len(live) == 1 else None


def pod_condition(pod: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(
        (c for c in pod.get("status", {}).get("conditions") or () if c["type"] == type_), {}
    )


def running_unready_pod(cluster: Cluster, namespace: str) -> str | None:
    pod = the_pod(cluster, namespace)
    if pod is None or pod["status"].get("phase") != "Running":
        return None
    assert pod_condition(pod, "Ready").get("status") != "True"
    return str(pod["metadata"]["name"])


def printed(cluster: Cluster, resource: str, namespace: str, column: str) -> str:
    table = cluster.kubectl("get", resource, NAME, "-n", namespace).stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    return row[header.index(column)]


def test_ready_only_once_the_pod_is_ready_and_a_restart_keeps_waiting(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path)  # the default release.readyTimeout: 300 s
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create(NAME, namespace, **HELD)
    watch = ReadyWatch(cluster, kind.resource, NAME, namespace)  # from its first state on
    try:

        def ready() -> dict[str, Any]:
            return kind.condition(NAME, namespace, "Ready") or {}

        # Helm has written the release and the pod runs, not Ready: the Site waits, and
        # says for what.
        pod = eventually(lambda: running_unready_pod(cluster, namespace), timeout=120)
        eventually(
            lambda: "0 of 1 pods available" in str(ready().get("message")),
            timeout=60,
            message="Ready waiting for the Deployment",
        )
        waiting = ready()
        assert (waiting["status"], waiting["reason"]) == ("Unknown", "Progressing")
        assert waiting["message"].startswith(f"Installed release {NAME} revision 1")
        assert f"Deployment {NAME}: Progressing (0 of 1 pods available)" in waiting["message"]
        assert kind.condition(NAME, namespace, "Reconciling")["status"] == "True"
        assert kind.condition(NAME, namespace, "Released")["status"] == "True"
        eventually(
            lambda: printed(cluster, kind.resource, namespace, "READY") == "Unknown",
            timeout=30,
            message="kubectl get showing READY Unknown",
        )

        # A controller restart while the Site waits: the new one waits on.
        controller.kill()
        restarted = controller_for(cluster, kind, tmp_path, controllers).start()
        eventually(
            lambda: (
                restarted.metric(
                    "lostromos_objects_by_health",
                    binding=kind.plural[:-1],
                    health="Progressing",
                )
                == 1
            ),
            timeout=60,
            message="the restarted controller following the release's health",
        )
        eventually(
            lambda: restarted.metric("lostromos_reconciles_total") >= 1,
            timeout=60,
            message="the restarted controller reconciling",
        )
        time.sleep(3)  # flushes of the health watches, and their requeues, have passed
        assert ready()["status"] == "Unknown"
        assert restarted.metric("lostromos_helm_calls_total", action="upgrade") == 0

        # The pod becomes Ready: so does the Site, by itself.
        released = time.monotonic()
        cluster.kubectl("annotate", "pod", pod, "-n", namespace, f"{FAIL_ANNOTATION}-")
        eventually(lambda: kind.ready(NAME, namespace), timeout=60, message="Ready")
    finally:
        seen = watch.stop()
    assert [status for _, status in seen if status], "the watch saw the Site"
    early = [(at, status) for at, status in seen if at < released and status == "True"]
    assert early == [], "Ready was True before the pod was"
    assert "Unknown" in [status for _, status in seen]
    final = kind.condition(NAME, namespace, "Ready")
    assert final["reason"] == "Deployed"
    assert final["message"] == f"Installed release {NAME} revision 1 (chart site-1.0.0)"
    pod_ready = pod_condition(the_pod(cluster, namespace) or {}, "Ready")
    assert pod_ready["status"] == "True"
    assert pod_ready["lastTransitionTime"] <= final["lastTransitionTime"]
    assert kind.condition(NAME, namespace, "Reconciling")["status"] == "False"
    history = json.loads(cluster.helm("history", NAME, "-n", namespace, "-o", "json").stdout)
    assert len(history) == 1  # waiting made no Helm action


def test_a_pod_that_never_becomes_ready_ends_the_wait_past_the_ready_timeout(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path, release={"readyTimeout": 15})
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    kind.create(NAME, namespace, **HELD)

    def reason() -> str | None:
        return (kind.condition(NAME, namespace, "Ready") or {}).get("reason")

    eventually(lambda: reason() == "Progressing", timeout=120, message="waiting")
    eventually(lambda: reason() == "ProgressDeadlineExceeded", timeout=120, message="timed out")
    ready = kind.condition(NAME, namespace, "Ready")
    assert ready["status"] == "False"
    assert "its workloads were not current within 15s (release.readyTimeout)" in ready["message"]
    assert f"Deployment {NAME}: Progressing (0 of 1 pods available)" in ready["message"]
    stalled = kind.condition(NAME, namespace, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert kind.condition(NAME, namespace, "Reconciling")["status"] == "False"
    columns = ("READY", "REASON", "HEALTH")
    eventually(
        lambda: (
            tuple(printed(cluster, kind.resource, namespace, c) for c in columns)
            == ("False", "ProgressDeadlineExceeded", "Progressing")
        ),
        timeout=60,
        message="kubectl get showing the deadline",
    )

    # No retry storm: Helm wrote what was asked, so nothing runs it again, and the
    # deadline is said once.
    time.sleep(10)  # several flushes and requeues of the health watches
    history = json.loads(cluster.helm("history", NAME, "-n", namespace, "-o", "json").stdout)
    assert [entry["revision"] for entry in history] == [1]
    assert controller.metric("lostromos_helm_calls_total", action="upgrade") == 1
    events = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={NAME},reason=ProgressDeadlineExceeded",
        "-o",
        "json",
    )
    (event,) = json.loads(events.stdout)["items"]
    assert event["type"] == "Warning"
    assert event.get("count") in (None, 1)
    assert f"Deployment {NAME}" in event["message"]

    # The pod becomes Ready after all: so does the Site.
    pod = eventually(lambda: running_unready_pod(cluster, namespace), timeout=60)
    cluster.kubectl("annotate", "pod", pod, "-n", namespace, f"{FAIL_ANNOTATION}-")
    eventually(lambda: kind.ready(NAME, namespace), timeout=60, message="Ready after all")
    assert kind.condition(NAME, namespace, "Stalled")["status"] == "False"
