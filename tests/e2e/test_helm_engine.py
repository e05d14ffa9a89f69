"""The controller's Helm engine: killed mid-burst it is restarted and nothing
stays pending; it never outlives the controller."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.controllerkit import BoundKind, ControllerProcess, wait_all
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e


def engine_pids(parent: int) -> list[int]:
    """Helm engine processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and any(b"helm-engine" in part for part in command[:1]):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[ControllerProcess]]:
    processes: list[ControllerProcess] = []
    yield processes
    for process in processes:
        process.stop_quietly()


def test_the_engine_killed_mid_burst_is_restarted_and_nothing_stays_pending(
    cluster: Cluster, tmp_path: Path, started: list[ControllerProcess]
) -> None:
    namespace = cluster.namespace("engine-kill9")
    kind = BoundKind(cluster, tmp_path, concurrency=4)
    names = [f"site-{i:02d}" for i in range(24)]
    for name in names:
        kind.create(name, namespace)
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    started.append(controller.start())
    assert controller.process is not None
    engine = eventually(lambda: engine_pids(controller.process.pid), timeout=30)[0]
    eventually(
        lambda: len(cluster.releases(namespace)) >= 4,
        timeout=120,
        message="a few releases installed",
    )
    os.kill(engine, signal.SIGKILL)  # in the middle of the burst: actions in flight fail
    assert len(cluster.releases(namespace)) < len(names), "burst finished before the kill"

    wait_all(lambda n: kind.ready(n, namespace), names, message="all Ready after the kill")
    releases = cluster.releases(namespace)
    assert sorted(releases) == names
    assert {r["status"] for r in releases.values()} == {"deployed"}
    assert cluster.helm("list", "-n", namespace, "--pending", "-q").stdout.strip() == ""
    assert controller.metric("lostromos_helm_engine_restarts_total") >= 1
    replacement = engine_pids(controller.process.pid)
    assert replacement and replacement != [engine]


def test_the_engine_dies_with_its_controller(
    cluster: Cluster, tmp_path: Path, started: list[ControllerProcess]
) -> None:
    kind = BoundKind(cluster, tmp_path)
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    started.append(controller.start())
    assert controller.process is not None
    engine = eventually(lambda: engine_pids(controller.process.pid), timeout=30)[0]
    os.kill(controller.process.pid, signal.SIGKILL)  # the controller alone, not its group
    controller.process.wait(timeout=30)
    eventually(lambda: not alive(engine), timeout=15, message="engine gone with its parent")
