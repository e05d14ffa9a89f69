"""`lostromos dev up/down` as a user runs them: detached and in the foreground,
a second start on a used state folder, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lostromos import toolchain
from lostromos.dev.cluster import DevCluster, DevOptions
from lostromos.dev.processes import Child
from tests.support import Cluster, eventually, is_ready

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def lostromos(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lostromos", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def children(state_dir: Path) -> list[Child]:
    records = json.loads((state_dir / "processes.json").read_text())
    return [Child(**record) for record in records]


def as_cluster(state_dir: Path) -> Cluster:
    tools = toolchain.ensure()
    options = DevOptions(
        state_dir=state_dir,
        bindings_path=ROOT / "lostromos.yaml",
        crds_dir=ROOT / "crds",
        examples_dir=None,
        tools=tools,
    )
    return Cluster.of(DevCluster(options, say=lambda line: None), tools)


def site_ready(cluster: Cluster, name: str) -> bool:
    return is_ready(cluster.get("site", name))


def running_pods(cluster: Cluster) -> dict[str, int]:
    """Site name -> its pods that are Running and Ready."""
    listing = json.loads(cluster.kubectl("get", "pods", "-o", "json").stdout)["items"]
    counts: dict[str, int] = {}
    for pod in listing:
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions") or []
        )
        if pod["status"].get("phase") == "Running" and ready:
            instance = pod["metadata"]["labels"]["app.kubernetes.io/instance"]
            counts[instance] = counts.get(instance, 0) + 1
    return counts


def test_detached_up_reuse_refusal_down_and_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "dev"
    up = lostromos("dev", "up", "--detach", "--state-dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={state_dir.resolve() / 'kubeconfig'}" in up.stdout
    running = children(state_dir)
    assert {c.name for c in running} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "webhook",
        "controller",
    }
    try:
        cluster = as_cluster(state_dir)
        # The examples were applied and the controller installs them.
        eventually(
            lambda: site_ready(cluster, "blog") and site_ready(cluster, "shop"),
            timeout=120,
            message="example Sites Ready",
        )
        # ... and their pods run on the simulated nodes: blog's one, shop's three.
        eventually(
            lambda: running_pods(cluster) == {"blog": 1, "shop": 3},
            timeout=120,
            message="the example Sites' pods Running and Ready",
        )

        again = lostromos("dev", "up", "--detach", "--state-dir", str(state_dir))
        assert again.returncode == 2
        assert "is in use by a running dev cluster" in again.stderr
        assert "Traceback" not in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
    finally:
        down = lostromos("dev", "down", "--state-dir", str(state_dir))
    assert down.returncode == 0
    assert not any(child.alive() for child in running)

    # A stopped state folder is reused: the Sites stored in etcd are still there.
    # This time with two sharded controllers: each joins the ring with a Lease;
    # and without nodes: the lighter cluster, no scheduler, controller manager or kwok.
    restarted = lostromos(
        "dev",
        "up",
        "--detach",
        "--no-examples",
        "--no-nodes",
        "--controllers",
        "2",
        "--state-dir",
        str(state_dir),
    )
    assert restarted.returncode == 0, restarted.stderr
    assert "reusing state folder" in restarted.stderr
    try:
        assert {c.name for c in children(state_dir)} == {
            "etcd",
            "kube-apiserver",
            "webhook",
            "controller",
            "controller-2",
        }
        cluster = as_cluster(state_dir)
        names = cluster.kubectl("get", "sites", "-o", "name").stdout.split()
        assert sorted(names) == ["site.hosting.example.com/blog", "site.hosting.example.com/shop"]
        members = cluster.kubectl(
            "get",
            "lease",
            "-n",
            "default",
            "-l",
            "lostromos.dev/ring=lostromos-controller",
            "-o",
            "name",
        )
        assert len(members.stdout.split()) == 2

        # No nodes, no pods: a Site is Ready once Helm has written it (--no-ready-wait),
        # since no workload could ever make it more.
        cluster.kubectl("patch", "site", "blog", "--type", "merge", "-p", '{"spec":{"replicas":2}}')

        def upgraded_and_ready() -> bool:
            site = cluster.get("site", "blog")
            revision = ((site or {}).get("status") or {}).get("release", {}).get("revision")
            return revision == 2 and is_ready(site)

        eventually(upgraded_and_ready, timeout=120, message="blog Ready at revision 2")
    finally:
        lostromos("dev", "down", "--state-dir", str(state_dir))


def test_foreground_up_stops_every_child_on_sigterm(tmp_path: Path) -> None:
    state_dir = tmp_path / "fg"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lostromos",
            "dev",
            "up",
            "--no-examples",
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if "lostromos is up" in line:
                break
        running = children(state_dir)
        assert all(child.alive() for child in running)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not any(child.alive() for child in running)
    assert not (state_dir / "processes.json").exists()


def test_missing_go_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LOSTROMOS_CACHE_DIR": str(tmp_path / "empty-cache"),
    }
    build = lostromos("toolchain", "build", env=env)
    assert build.returncode == 2
    assert "the Go toolchain is not on PATH" in build.stderr
    assert len(build.stderr.strip().splitlines()) == 1

    missing = lostromos(
        "dev", "up", "--config", str(tmp_path / "nope.yaml"), "--state-dir", str(tmp_path / "x")
    )
    assert missing.returncode == 2
    assert "bindings file" in missing.stderr and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
