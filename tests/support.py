"""Helpers for end-to-end tests: the running system as real kubectl and helm see it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from controller.status import READY, condition
from lostromos.dev.cluster import DevCluster


@dataclass
class Cluster:
    """The running local system, with real kubectl and helm bound to it."""

    state_dir: Path
    kubeconfig: Path
    tools: dict[str, Path]
    env: dict[str, str]

    @classmethod
    def of(cls, dev: DevCluster, tools: dict[str, Path]) -> Cluster:
        return cls(
            state_dir=dev.state_dir, kubeconfig=dev.kubeconfig, tools=tools, env=dev.client_env()
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.tools["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def apply(
        self, manifest: dict[str, Any] | str, *, check: bool = True, extra: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
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
        result = subprocess.run(
            [str(self.tools["helm"]), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def lostromos(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The lostromos CLI against this cluster; the caller judges the exit code."""
        return subprocess.run(
            [sys.executable, "-m", "lostromos", *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )

    def releases(self, namespace: str) -> dict[str, dict[str, Any]]:
        listing = json.loads(self.helm("list", "-n", namespace, "-o", "json").stdout)
        return {release["name"]: release for release in listing}

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        return name


def is_ready(obj: dict[str, Any] | None) -> bool:
    """The object's Ready condition is True (read as kubectl wait would)."""
    ready = condition((obj or {}).get("status"), READY) or {}
    return ready.get("status") == "True"


def eventually(
    probe: Callable[[], Any],
    *,
    timeout: float = 60,
    interval: float = 0.25,
    message: str = "condition",
) -> Any:
    """Poll until `probe` returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_repository(directory: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
