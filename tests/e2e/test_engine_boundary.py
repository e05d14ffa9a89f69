"""The engine boundary with the real engine and API server: failures arrive as
typed codes and violations, and a missing engine binary stops the controller
with a message that says how to build one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lostromos.helmengine import (
    Confinement,
    ErrorCode,
    HelmError,
    Release,
    RunningEngine,
    Violation,
)
from tests.e2e.controllerkit import BoundKind, ControllerProcess
from tests.support import Cluster
from tests.unit.chartkit import make_chart

pytestmark = pytest.mark.e2e


def chart_with(root: Path, name: str, template: str) -> Path:
    chart = make_chart(root, name)
    (chart / "templates" / "object.yaml").write_text(template)
    return chart


def test_the_engines_answers_arrive_typed(
    cluster: Cluster, helm_engine_binary: Path, tmp_path: Path
) -> None:
    namespace = cluster.namespace("engine-boundary")
    elsewhere = cluster.namespace("engine-boundary-other")
    inside = chart_with(
        tmp_path, "inside", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
    )
    outside = chart_with(
        tmp_path,
        "outside",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: {elsewhere}\n",
    )
    failing = chart_with(tmp_path, "failing", '{{ fail "replicas must be odd" }}\n')
    confine = Confinement(namespace)
    with RunningEngine(helm_engine_binary, kubeconfig=cluster.kubeconfig) as helm:
        assert helm.status("web", namespace) is None  # not-found is an answer, not a failure

        with pytest.raises(HelmError) as refused:
            helm.upgrade_install(
                "planted", namespace, outside, {}, timeout_seconds=60, confine=confine
            )
        assert refused.value.code is ErrorCode.CONFINEMENT
        assert refused.value.violations == (
            Violation(
                kind="ConfigMap",
                namespace=elsewhere,
                name="planted",
                rule=f'it is in namespace "{elsewhere}"; a release may only write to its '
                f'own namespace "{namespace}"',
                api_version="v1",
            ),
        )
        assert cluster.get("configmap", "planted", elsewhere) is None  # nothing was written

        with pytest.raises(HelmError) as failed:
            helm.upgrade_install("failing", namespace, failing, {}, timeout_seconds=60)
        assert failed.value.code is ErrorCode.RENDER
        assert "replicas must be odd" in failed.value.message

        installed = helm.upgrade_install(
            "web", namespace, inside, {}, timeout_seconds=60, confine=confine
        )
        assert isinstance(installed, Release)
        assert (installed.name, installed.revision, installed.status) == ("web", 1, "deployed")
        assert installed.resources == (
            {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "web"},
        )
        status = helm.status("web", namespace)
        assert status is not None and status.chart_name == "inside"
        helm.uninstall("web", namespace, timeout_seconds=60, confine=confine)


@pytest.mark.parametrize("problem", ["does not exist", "is not an executable file"])
def test_a_controller_without_an_engine_binary_says_how_to_build_one(
    cluster: Cluster, tmp_path: Path, problem: str
) -> None:
    binary = tmp_path / "helm-engine"
    if problem == "is not an executable file":
        binary.write_text("#!/bin/sh\nexit 0\n")
    kind = BoundKind(cluster, tmp_path)
    controller = ControllerProcess(
        cluster, kind, tmp_path / "controller.log", "--helm-engine", str(binary)
    ).start(wait_ready=False)
    assert controller.process is not None
    try:
        code = controller.process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        controller.stop_quietly()
        raise AssertionError(f"the controller kept running:\n{controller.log()}") from None
    log = controller.log()
    assert code == 2, log
    assert f"the Helm engine {binary} {problem}" in log
    assert "lostromos toolchain build" in log
    assert "helm start" not in log  # not a Helm action's failure: no action ran
