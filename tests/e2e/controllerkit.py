"""Test-owned controllers on the session's real API server.

Each test binds a chart to a kind of its own (a fresh CRD in the
e2e.lostromos.dev group) and runs its own `lostromos controller` process for
it, so it can stop, SIGKILL, restart or duplicate that controller without
touching the session's webhook and Site controller. No webhook serves these
kinds, which is exactly the situation the controller's last-line-of-defence
validation exists for.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.status import condition
from lostromos.dev.cluster import free_port
from tests.e2e.webhookkit import preserving_crd
from tests.support import Cluster, eventually, is_ready

ROOT = Path(__file__).resolve().parents[2]
GROUP = "e2e.lostromos.dev"
_counter = itertools.count(1)


@dataclass
class BindingsFile:
    """A bound kind as ControllerProcess and Ring read it when its CRD and bindings
    come from an example (example_bindings): the bindings file, and the plural that
    names a Ring's Lease."""

    bindings_path: Path
    plural: str = ""


def example_bindings(
    cluster: Cluster, example: Path, *, chart: str, crd: str, resource: str, bindings: Path
) -> Path:
    """An example's bindings file with its chart at the repository's charts/<chart>,
    written to `bindings`, and the example's CRD applied and Established."""
    document = yaml.safe_load((example / "lostromos.yaml").read_text())
    document["bindings"][0]["chart"] = {"path": str(ROOT / "charts" / chart)}
    bindings.write_text(yaml.safe_dump(document))
    cluster.kubectl("apply", "-f", str(example / "crds" / crd))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{resource}", "--timeout=60s")
    return bindings


class BoundKind:
    """A CRD of its own, a chart of its own (a copy, so a test may change it), a bindings file."""

    def __init__(
        self,
        cluster: Cluster,
        tmp_path: Path,
        *,
        source: Path = ROOT / "charts/site",
        **binding: Any,
    ) -> None:
        number = next(_counter)
        self.cluster = cluster
        self.kind = f"Blog{number}"
        self.plural = f"blog{number}s"
        self.resource = f"{self.plural}.{GROUP}"
        self.chart = tmp_path / f"chart-{number}"
        shutil.copytree(source, self.chart)
        self.bindings_path = tmp_path / f"bindings-{number}.yaml"
        entry = {
            "name": f"blog{number}",
            "group": GROUP,
            "version": "v1",
            "kind": self.kind,
            "plural": self.plural,
            "chart": {"path": str(self.chart)},
            **binding,
        }
        self.bindings_path.write_text(yaml.safe_dump({"bindings": [entry]}))
        cluster.apply(self._crd())
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{self.resource}", "--timeout=60s"
        )

    def _crd(self) -> dict[str, Any]:
        return preserving_crd(GROUP, self.kind, self.plural)

    def manifest(self, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
        body = {"domain": f"{name}.example.com", "adminEmail": "ops@example.com", **spec}
        return {
            "apiVersion": f"{GROUP}/v1",
            "kind": self.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": body,
        }

    def create(self, name: str, namespace: str, **spec: Any) -> None:
        self.cluster.apply(self.manifest(name, namespace, **spec))

    def get(self, name: str, namespace: str) -> dict[str, Any] | None:
        return self.cluster.get(self.resource, name, namespace)

    def condition(self, name: str, namespace: str, kind: str) -> dict[str, Any] | None:
        return condition((self.get(name, namespace) or {}).get("status"), kind)

    def ready(self, name: str, namespace: str, revision: int | None = None) -> bool:
        obj = self.get(name, namespace)
        if not is_ready(obj):
            return False
        return revision is None or obj["status"].get("release", {}).get("revision") == revision


class ControllerProcess:
    """`lostromos controller` for one BoundKind, as a real child process."""

    def __init__(
        self, cluster: Cluster, kind: BoundKind | BindingsFile, log_path: Path, *extra: str
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.log_path = log_path
        self.extra = extra
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.identity = ""

    def start(self, *, wait_ready: bool = True) -> ControllerProcess:
        env = self.cluster.env
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lostromos",
                    "controller",
                    "--config",
                    str(self.kind.bindings_path),
                    "--kubeconfig",
                    str(self.cluster.kubeconfig),
                    "--helm-engine",
                    str(self.cluster.tools["helm-engine"]),
                    "--health-bind",
                    f"127.0.0.1:{self.port}",
                    "--resync-seconds",
                    "30",
                    "--chart-cache",
                    str(self.log_path.parent / "chart-cache"),
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        if wait_ready:
            eventually(self.is_ready, timeout=60, message=f"controller ready ({self.log_path})")
        return self

    def is_ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"controller exited {self.process.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/readyz", timeout=2
            ) as answer:
                return answer.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as answer:
            return answer.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] != name:
                continue
            present = series.partition("{")[2].rstrip("}")
            if all(part in present.split(",") for part in wanted.split(",") if part):
                total += float(value)
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 90) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the controller and everything it started (helm included)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def controller_for(
    cluster: Cluster,
    kind: BoundKind,
    tmp_path: Path,
    controllers: list[ControllerProcess],
    *extra: str,
) -> ControllerProcess:
    """A controller for `kind`, registered with the test's `controllers` fixture."""
    process = ControllerProcess(
        cluster, kind, tmp_path / f"controller-{len(controllers)}.log", *extra
    )
    controllers.append(process)
    return process


def wait_all(predicate, names: list[str], *, timeout: float = 180, message: str = "") -> None:
    eventually(
        lambda: all(predicate(name) for name in names),
        timeout=timeout,
        interval=0.5,
        message=message or "all objects",
    )


def lease_holder(cluster: Cluster, namespace: str, name: str) -> str | None:
    result = cluster.kubectl("get", "lease", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)["spec"].get("holderIdentity")


# -- many objects, several replicas ------------------------------------------------


def create_many(kind: BoundKind, names: list[str], namespace: str, **spec: Any) -> None:
    """One kubectl process for all of them: a burst, as a deploy tool would make it."""
    items = [kind.manifest(name, namespace, **spec) for name in names]
    for start in range(0, len(items), 200):
        kind.cluster.apply(
            {"apiVersion": "v1", "kind": "List", "items": items[start : start + 200]}
        )


def list_objects(kind: BoundKind, namespace: str) -> list[dict[str, Any]]:
    result = kind.cluster.kubectl("get", kind.resource, "-n", namespace, "-o", "json")
    return json.loads(result.stdout)["items"]


def count_ready(kind: BoundKind, namespace: str, chart_version: str | None = None) -> int:
    def done(obj: dict[str, Any]) -> bool:
        release = (obj.get("status") or {}).get("release") or {}
        return is_ready(obj) and chart_version in (None, release.get("chartVersion"))

    return sum(1 for obj in list_objects(kind, namespace) if done(obj))


def all_releases(cluster: Cluster, namespace: str, *extra: str) -> dict[str, dict[str, Any]]:
    listing = json.loads(
        cluster.helm("list", "-n", namespace, "-o", "json", "--max", "100000", *extra).stdout
    )
    return {release["name"]: release for release in listing}


class Ring:
    """Sharded `lostromos controller` replicas of one BoundKind, with their own ring."""

    def __init__(
        self,
        cluster: Cluster,
        kind: BoundKind | BindingsFile,
        tmp_path: Path,
        namespace: str,
        *extra: str,
        lease_seconds: float = 6,
    ) -> None:
        self.cluster, self.kind, self.tmp_path = cluster, kind, tmp_path
        self.args = (
            "--shards",
            "--lease-namespace",
            namespace,
            "--lease-name",
            f"ring-{kind.plural}",
            "--lease-seconds",
            str(lease_seconds),
            *extra,
        )
        self.namespace = namespace
        self.replicas: list[ControllerProcess] = []
        self._names = itertools.count(1)

    def add(self, count: int = 1, *extra: str, wait_ready: bool = True) -> list[ControllerProcess]:
        """`count` more replicas, each with the ring's arguments and `extra`."""
        started = []
        for _ in range(count):
            name = f"replica-{next(self._names)}"
            process = ControllerProcess(
                self.cluster,
                self.kind,
                self.tmp_path / f"{self.kind.plural}-{name}.log",
                *self.args,
                "--identity",
                name,
                *extra,
            )
            process.identity = name
            self.replicas.append(process)
            started.append(process.start(wait_ready=False))
        if wait_ready:
            for process in started:
                eventually(process.is_ready, timeout=90, message=f"{process.log_path} ready")
        return started

    def running(self) -> list[ControllerProcess]:
        return [r for r in self.replicas if r.process and r.process.poll() is None]

    def buckets(self) -> dict[str, int]:
        binding = self.kind.plural[:-1]
        return {
            r.identity: int(r.metric("lostromos_shard_buckets", binding=binding))
            for r in self.running()
        }

    def settled(self) -> bool:
        """Every running replica serves its share and the shares cover the whole space."""
        counts = self.buckets()
        return sum(counts.values()) == 256 and all(counts.values())

    def held(self) -> dict[str, frozenset[int]]:
        from controller.sharding import hashring

        result = self.cluster.kubectl(
            "get",
            "lease",
            "-n",
            self.namespace,
            "-l",
            f"lostromos.dev/ring=ring-{self.kind.plural}",
            "-o",
            "json",
        )
        return {
            lease["spec"]["holderIdentity"]: hashring.decode(
                lease["metadata"].get("annotations", {}).get("lostromos.dev/held-buckets")
            )
            for lease in json.loads(result.stdout)["items"]
        }

    def stop_all(self) -> None:
        for replica in self.replicas:
            replica.stop_quietly()
