"""kstatus on the real API server: `kubectl wait` and helm's kstatus watcher
(`helm install --wait=watcher`, the pinned Helm v4) read a bound object as the
controller means it. A new object is InProgress until the controller has
looked (the CRD's default status), Current once Ready, and Failed, fast, once
Stalled: here because its retries ran out, which survives a controller
restart and ends with a spec fix."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.status import condition
from lostromos.authoring.crdgen import CrdTarget, generate_crd
from lostromos.charts import load_chart
from tests.e2e.controllerkit import GROUP, BoundKind, controller_for
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

# Valid for the chart's schema, refused by its templates: the controller can only retry.
REFUSING_TEMPLATE = (
    '{{ if hasPrefix "refused." .Values.domain }}'
    '{{ fail (printf "domain %s is refused" .Values.domain) }}{{ end }}\n'
)


class GeneratedKind(BoundKind):
    """A bound kind whose CRD is the one `lostromos crd generate` makes for its chart
    (printer columns, the controller's status schema and its default)."""

    def _crd(self) -> dict[str, Any]:
        chart = load_chart(self.chart)
        target = CrdTarget(GROUP, "v1", self.kind, self.plural, self.plural[:-1], (), (), chart)
        return generate_crd(target).manifest


def wrapping_chart(tmp_path: Path, name: str, manifest: dict[str, Any]) -> Path:
    """A chart of someone else's whose one template is an object of the bound kind."""
    chart = tmp_path / f"wrap-{name}"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: wrap-{name}\nversion: 0.1.0\n")
    (chart / "templates" / "object.yaml").write_text(yaml.safe_dump(manifest))
    return chart


def helm_watch_install(
    cluster: Cluster, tmp_path: Path, kind: BoundKind, name: str, namespace: str, **spec: Any
) -> tuple[int, str, float]:
    chart = wrapping_chart(tmp_path, name, kind.manifest(name, namespace, **spec))
    started = time.monotonic()
    result = cluster.helm(
        "install",
        f"wrap-{name}",
        str(chart),
        "-n",
        namespace,
        "--wait=watcher",
        "--timeout",
        "60s",
        check=False,
    )
    return result.returncode, result.stderr, time.monotonic() - started


def kubectl_wait(
    cluster: Cluster, kind: BoundKind, name: str, namespace: str, condition_type: str
) -> None:
    cluster.kubectl(
        "wait",
        f"--for=condition={condition_type}",
        f"{kind.resource}/{name}",
        "-n",
        namespace,
        "--timeout=90s",
        timeout=120,
    )


def test_an_object_no_controller_has_seen_is_in_progress_for_helm(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    # kstatus calls an object with no status Current: without the CRD's default
    # status, helm would report success before any controller looked at it.
    kind = GeneratedKind(cluster, tmp_path)
    chart = wrapping_chart(tmp_path, "unseen", kind.manifest("unseen", namespace))
    result = cluster.helm(
        "install",
        "wrap-unseen",
        str(chart),
        "-n",
        namespace,
        "--wait=watcher",
        "--timeout",
        "3s",
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert "status: InProgress" in result.stderr, result.stderr
    assert "generation is 1, but latest observed generation is 0" in result.stderr
    assert kind.get("unseen", namespace)["status"] == {"observedGeneration": 0}


def test_helm_and_kubectl_wait_until_a_new_object_is_ready(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path)
    chart = wrapping_chart(tmp_path, "good", kind.manifest("good", namespace))
    # helm creates the object and starts watching before any controller runs: what it
    # waits for is the controller's Ready, not the first write of status.
    install = ["install", "wrap-good", str(chart), "-n", namespace, "--wait=watcher"]
    helm = subprocess.Popen(
        [str(cluster.tools["helm"]), *install, "--timeout", "90s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        eventually(lambda: kind.get("good", namespace), timeout=30, message="object created")
        time.sleep(1)
        assert helm.poll() is None, f"helm did not wait: {helm.communicate()}"
        controller_for(cluster, kind, tmp_path, controllers).start()
        _, stderr = helm.communicate(timeout=90)
    finally:
        if helm.poll() is None:
            helm.kill()
            helm.wait()
    assert helm.returncode == 0, stderr
    obj = kind.get("good", namespace)  # helm returned: the object is Ready
    assert (condition(obj["status"], "Ready") or {}).get("status") == "True", obj["status"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    kubectl_wait(cluster, kind, "good", namespace, "Ready")


def test_used_up_retries_are_stalled_for_kubectl_wait_and_fail_helm_fast(
    cluster: Cluster, namespace: str, tmp_path: Path, controllers
) -> None:
    kind = GeneratedKind(cluster, tmp_path, release={"retries": 2})
    (kind.chart / "templates" / "refuse.yaml").write_text(REFUSING_TEMPLATE)
    controller = controller_for(cluster, kind, tmp_path, controllers).start()

    code, stderr, took = helm_watch_install(
        cluster, tmp_path, kind, "bad", namespace, domain="refused.example.com"
    )
    # kstatus reads Stalled=True as Failed, and helm stops waiting for a Failed object.
    assert code != 0
    assert took < 45, f"helm waited {took:.0f}s of its 60s for a Stalled object"
    assert "Blog" in stderr and "/bad not ready. status: Failed" in stderr, stderr
    assert "after 3 failed attempts" in stderr and "refused.example.com is refused" in stderr
    kubectl_wait(cluster, kind, "bad", namespace, "Stalled")

    obj = kind.get("bad", namespace)
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"] == 1
    assert (condition(status, "Stalled") or {}).get("reason") == "RetriesExhausted"
    assert (condition(status, "Ready") or {}).get("status") == "False"
    assert (condition(status, "Reconciling") or {}).get("status") == "False"
    assert status["failures"]["count"] == 3
    assert status["chart"]["version"] == "1.0.0"  # the desired chart, with no release at all
    assert controller.metric("lostromos_helm_calls_total", action="upgrade") == 3
    columns = cluster.kubectl("get", kind.resource, "bad", "-n", namespace).stdout
    assert "RetriesExhausted" in columns and "1.0.0" in columns, columns

    # The count is in status: a new controller looks, and tries nothing.
    assert controller.terminate() == 0
    restarted = controller_for(cluster, kind, tmp_path, controllers).start()
    eventually(
        lambda: restarted.metric("lostromos_reconciles_total") >= 1,
        timeout=30,
        message="the new controller looked at the object",
    )
    time.sleep(2)
    assert restarted.metric("lostromos_helm_calls_total") == 0
    assert kind.get("bad", namespace)["status"]["failures"]["count"] == 3

    # A spec fix is a new generation: the retries start again, and it becomes Ready.
    cluster.kubectl(
        "patch",
        kind.resource,
        "bad",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"domain": "fixed.example.com"}}),
    )
    kubectl_wait(cluster, kind, "bad", namespace, "Ready")
    status = kind.get("bad", namespace)["status"]
    assert "failures" not in status
    assert (condition(status, "Stalled") or {}).get("status") == "False"
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=bad"
    ).stdout
    assert "RetriesExhausted" in events
