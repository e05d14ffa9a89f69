"""Shared fixtures: the pinned binaries and, for e2e tests, the real control plane.

The control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok's simulated nodes, the webhook under gunicorn over TLS,
the controller) comes up once per test session in a temporary state folder and
is torn down at the end, leaving no process behind. Nothing here is faked: a
binary that cannot be found or built fails the run instead of skipping tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from lostromos import toolchain
from lostromos.helmengine import HelmEngine, RunningEngine
from tests.support import Cluster

ROOT = Path(__file__).resolve().parent.parent
# What needs the pinned helm, kubectl, Go or an API server: these fixtures, tests
# marked `go`, and every test in these folders. Such tests carry the `cluster` marker, so that
# `pytest -m "not cluster"` is the fast loop with none of them.
CLUSTER_FIXTURES = frozenset(
    {"helm_binary", "kubectl_binary", "cluster", "helm_engine", "helm_engine_binary"}
)
CLUSTER_FOLDERS = (ROOT / "tests" / "e2e", ROOT / "tests" / "differential")


def needs_cluster(path: Path, fixture_names: Iterable[str]) -> bool:
    return any(
        path.is_relative_to(folder) for folder in CLUSTER_FOLDERS
    ) or not CLUSTER_FIXTURES.isdisjoint(fixture_names)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("go") or needs_cluster(
            item.path, getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.cluster)


def _tool(name: str) -> Path:
    try:
        return toolchain.ensure([name])[name]
    except toolchain.ToolchainError as error:
        pytest.fail(f"cannot provide {name}: {error}")


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return _tool("helm")


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    return _tool("kubectl")


@pytest.fixture
def helm_engine_binary(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pinned Helm engine, for commands that render as the webhook does (check)."""
    path = _tool("helm-engine")
    monkeypatch.setenv("LOSTROMOS_HELM_ENGINE", str(path))
    return path


@pytest.fixture(scope="session")
def helm_engine() -> Iterator[HelmEngine]:
    """The Helm engine with no cluster: renders as `helm template` does."""
    with RunningEngine(_tool("helm-engine"), cluster=False) as engine:
        yield engine


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from lostromos.dev.cluster import DevCluster, DevError, DevOptions
    from lostromos.dev.dataplane import DEFAULT_NODES

    tools = {name: _tool(name) for name in toolchain.TOOL_NAMES}
    state_dir = tmp_path_factory.mktemp("cluster")
    options = DevOptions(
        state_dir=state_dir,
        bindings_path=ROOT / "lostromos.yaml",
        crds_dir=ROOT / "crds",
        examples_dir=None,
        tools=tools,
        # Short resyncs make drift and recovery tests fast; production uses minutes.
        controller_args=("--resync-seconds", "5"),
        # Simulated nodes: Sites' Deployments get pods that become Ready (or fail on purpose).
        nodes=DEFAULT_NODES,
    )
    dev = DevCluster(options, say=lambda line: print(f"[cluster] {line}", flush=True))
    try:
        dev.up()
    except DevError as error:
        pytest.fail(f"the local control plane did not come up: {error}")
    try:
        yield Cluster.of(dev, tools)
    finally:
        children = list(dev.supervisor.children)
        dev.stop()
        leftovers = [c for c in children if c.alive()]
        assert not leftovers, f"processes left behind: {leftovers}"
        shutil.rmtree(state_dir / "etcd", ignore_errors=True)
