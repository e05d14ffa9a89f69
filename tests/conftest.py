"""Shared fixtures: the pinned binaries and, for e2e tests, the real control plane.

The control plane (etcd, kube-apiserver, the webhook under gunicorn over TLS,
the controller) comes up once per test session in a temporary state folder and
is torn down at the end, leaving no process behind. Nothing here is faked: a
binary that cannot be found or built fails the run instead of skipping tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos import toolchain

ROOT = Path(__file__).resolve().parent.parent


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


@dataclass
class Cluster:
    """The running local system, with real kubectl and helm bound to it."""

    state_dir: Path
    kubeconfig: Path
    tools: dict[str, Path]
    helm_env: dict[str, str]

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.tools["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def apply(self, manifest: dict[str, Any] | str, *, check: bool = True,
              extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl("apply", *extra, "-f", "-", stdin=text, check=check)

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.tools["helm"]), *args], capture_output=True,
                                text=True, env=self.helm_env, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def releases(self, namespace: str) -> dict[str, dict[str, Any]]:
        listing = json.loads(self.helm("list", "-n", namespace, "-a", "-o", "json").stdout)
        return {release["name"]: release for release in listing}

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        return name


def eventually(probe: Callable[[], Any], *, timeout: float = 60, interval: float = 0.25,
               message: str = "condition") -> Any:
    """Poll until `probe` returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from lostromos.dev.cluster import DevCluster, DevError, DevOptions

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
    )
    dev = DevCluster(options, say=lambda line: print(f"[cluster] {line}", flush=True))
    try:
        dev.up()
    except DevError as error:
        pytest.fail(f"the local control plane did not come up: {error}")
    helm_home = state_dir / "helm-client"
    helm_env = {
        **os.environ,
        "KUBECONFIG": str(dev.kubeconfig),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }
    try:
        yield Cluster(state_dir=state_dir, kubeconfig=dev.kubeconfig, tools=tools,
                      helm_env=helm_env)
    finally:
        children = list(dev.supervisor.children)
        dev.stop()
        leftovers = [c for c in children if c.alive()]
        assert not leftovers, f"processes left behind: {leftovers}"
        shutil.rmtree(state_dir / "etcd", ignore_errors=True)
