"""docs/operators.md's install commands, run as a reader would type them, with the
pinned helm 4 and kubectl, on a control plane of their own.

The `docker` lines need an engine and a registry and are the one part not run
here (tests/unit/test_dockerfile.py holds the Dockerfile to the pinned helm and
the lock file); every helm and kubectl line runs literally.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lostromos import toolchain
from tests.e2e.operatorkit import OperatorCluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = ROOT / "docs" / "operators.md"
NAMESPACE = "lostromos-system"
CRD = "sites.hosting.example.com"


def section(heading: str) -> str:
    text = OPERATORS.read_text()
    start = text.index(f"\n{heading}\n")
    following = re.search(r"\n#{2,3} ", text[start + len(heading) + 2 :])
    assert following is not None
    return text[start : start + len(heading) + 2 + following.start()]


def shell_blocks(heading: str) -> list[list[list[str]]]:
    """Each ```sh block of a section: its commands, continuations joined, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", section(heading), flags=re.DOTALL)
    return [
        [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()]
        for block in blocks
    ]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[OperatorCluster]:
    # One control plane per scenario: without a namespace controller a deleted
    # lostromos-system would never go away, and every scenario starts from nothing.
    operator = OperatorCluster(tmp_path, toolchain.ensure(toolchain.TOOL_NAMES))
    operator.start()
    try:
        yield operator
    finally:
        leftovers = operator.stop()
        assert not leftovers, f"processes left behind: {leftovers}"


def run(cluster: OperatorCluster, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """One documented command, with the pinned binary for its first word."""
    binary = {"helm": cluster.tools["helm"], "kubectl": cluster.tools["kubectl"]}[argv[0]]
    return subprocess.run(
        [str(binary), *argv[1:]],
        cwd=ROOT,
        env={**os.environ, **cluster.env, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_all(cluster: OperatorCluster, commands: list[list[str]]) -> None:
    for argv in commands:
        if not argv:
            continue
        done = run(cluster, argv)
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stderr}"


def crds_applied_by_hand(cluster: OperatorCluster, *how: str) -> None:
    cluster.kubectl("apply", *how, "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def adopted(cluster: OperatorCluster) -> dict[str, str]:
    crd = cluster.get("crd", CRD, "")
    assert crd is not None
    status = cluster.helm("status", "lostromos", "-n", NAMESPACE, "-o", "json")
    assert '"status":"deployed"' in status.stdout.replace(" ", "")
    return crd["metadata"]["labels"] | crd["metadata"].get("annotations", {})


def test_install_builds_pushes_and_installs_with_the_image(cluster: OperatorCluster) -> None:
    [commands] = shell_blocks("## Install")
    engine_steps = [argv for argv in commands if argv and argv[0] == "docker"]
    assert [argv[1] for argv in engine_steps] == ["build", "push"]
    run_all(cluster, [argv for argv in commands if argv and argv[0] != "docker"])
    deployment = cluster.get("deployment", "lostromos-controller", NAMESPACE)
    assert deployment is not None
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    pushed = engine_steps[1][2]
    assert images == {pushed}


@pytest.mark.parametrize("applied", [(), ("--server-side",)], ids=["client-side", "server-side"])
def test_take_ownership_adopts_crds_applied_by_hand(
    cluster: OperatorCluster, applied: tuple[str, ...]
) -> None:
    crds_applied_by_hand(cluster, *applied)
    [take_ownership], _ = shell_blocks("### Over CRDs applied by hand")
    assert "--take-ownership" in take_ownership
    if applied:
        # What the page warns of: Helm 4's server-side apply meets kubectl's labels.
        without = run(cluster, [a for a in take_ownership if a != "--force-conflicts"])
        assert 'conflict with "kubectl"' in without.stderr, without.stderr
        run(cluster, ["helm", "uninstall", "lostromos", "-n", NAMESPACE])
    run_all(cluster, [take_ownership])
    facts = adopted(cluster)
    assert facts["app.kubernetes.io/managed-by"] == "Helm"
    assert facts["meta.helm.sh/release-name"] == "lostromos"


def test_marking_crds_first_then_installing(cluster: OperatorCluster) -> None:
    crds_applied_by_hand(cluster, "--server-side")
    _, marking = shell_blocks("### Over CRDs applied by hand")
    run_all(cluster, marking)
    facts = adopted(cluster)
    assert facts["meta.helm.sh/release-namespace"] == NAMESPACE
