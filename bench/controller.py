"""How fast the controller converges many objects, and what a resync costs.

    uv run python bench/controller.py [--counts 100,1000] [--concurrency 16] [--memory 6000]
    uv run python bench/controller.py --replicas 1,2,3 [--counts 300]
    uv run python bench/controller.py --deployers helm,applyset [--counts 1000] [--nodes 10]

On a control plane of its own (real etcd, kube-apiserver and helm, built by
`lostromos toolchain build`), with the example site chart:

1. for each count: create that many new objects at once, time until all are Ready;
   the floor the API server and etcd set in the same run ((their CPU-s) / cores),
   the client-side CPU per install (controller + its Helm engine), and the API
   requests per install by verb and resource; then change every object's spec
   once and time until every release is upgraded;
2. restart the controller: its first list is a full resync of every object,
   all unchanged; count helm calls (target: 0), CPU seconds and wall time until
   the queue is drained, and the controller's resident memory;
3. with --memory N: add objects until N exist (installed as fast as the
   controller goes) and report resident memory after the resync of all N.

With --replicas N,...: for each N, N sharded controllers (--shards) on a
fresh namespace: objects per second for the first count, and per replica its
share of installs, the watch events it received and its CPU seconds (on 2
cores throughput cannot scale with N; events and CPU per replica should fall
as 1/N); then kill -9 of one replica and the handoff time until the
survivors serve the whole hash space.

With --deployers helm,applyset: for each deployer, a controller of its own on
Sites of its own (a fresh namespace per deployer): the first count's burst as in 1.
(time to Ready, API requests per Site by verb and resource, CPU), then the bytes
stored per Site, by kind and as etcd counts them (bench/deployers.py).

Without --nodes the cluster runs no pods, so a Site is Ready once its objects
are written (the controller runs with --no-ready-wait); with --nodes N,
kube-controller-manager, kube-scheduler and N kwok nodes run too, and Ready
waits for the Site's workloads as in production (their CPU is in the floor).

Prints one table. Nothing here is asserted: numbers go in the notes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deployers import (  # noqa: E402
    DEPLOYER_LABEL,
    bindings_for,
    etcd_writes,
    storage_rows,
    stored_bytes,
)
from bench.procstat import process_cpu_seconds  # noqa: E402
from lostromos import toolchain  # noqa: E402
from lostromos.dev import dataplane, isolation  # noqa: E402
from lostromos.dev.cluster import DevCluster, DevOptions, free_port  # noqa: E402

GROUP, VERSION, KIND, PLURAL = "bench.lostromos.dev", "v1", "Site", "sites"


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": KIND, "plural": PLURAL, "singular": "site"},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


class Controller:
    def __init__(
        self,
        workdir: Path,
        dev: DevCluster,
        helm: Path,
        bindings: Path,
        *extra: str,
        name: str = "controller",
    ) -> None:
        self.workdir, self.kubeconfig, self.env = workdir, dev.kubeconfig, dev.client_env()
        self.helm, self.bindings, self.extra, self.name = helm, bindings, extra, name
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        # no nodes, no pods: Ready cannot wait for workloads that never run
        self.ready_wait = dev.options.nodes > 0

    def start(self) -> None:
        env = self.env
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lostromos",
                "controller",
                "--config",
                str(self.bindings),
                "--kubeconfig",
                str(self.kubeconfig),
                "--helm-engine",
                str(self.helm),
                "--health-bind",
                f"127.0.0.1:{self.port}",
                "--resync-seconds",
                "3600",
                "--log-format",
                "json",
                *([] if self.ready_wait else ["--no-ready-wait"]),
                *self.extra,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/readyz", timeout=1
                ) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the controller did not become ready")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def metric(self, name: str, label: str = "") -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        total = 0.0
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] == name and label in series:
                total += float(value)
        return total

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu_seconds(self.process.pid)

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def children_named(parent: int, word: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if ppid == parent and word.encode() in command:
            found.append(int(entry.name))
    return found


def server_cpu(dev: DevCluster) -> float:
    """CPU seconds of kube-apiserver and etcd so far."""
    return sum(
        process_cpu_seconds(child.pid)
        for child in dev.supervisor.running()
        if child.name in ("kube-apiserver", "etcd")
    )


def api_requests(dev: DevCluster) -> dict[str, float]:
    """apiserver_request_total by "VERB resource", from the API server's own metrics."""
    text = dev.kubectl("get", "--raw", "/metrics").stdout
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        series, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in series[24:-1].split(",") if "=" in part)
        label = labels.get("resource", "").strip('"') or "(non-resource)"
        sub = labels.get("subresource", "").strip('"')
        key = f"{labels.get('verb', '').strip(chr(34))} {label}{'/' + sub if sub else ''}"
        counts[key] = counts.get(key, 0.0) + float(value)
    return counts


def upgrade_objects(api: client.CustomObjectsApi, namespace: str, names: list[str]) -> None:
    def patch(name: str) -> None:
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"replicas": 2}}
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(patch, names))


def count_revision(api: client.CustomObjectsApi, namespace: str, revision: int) -> int:
    listing = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return sum(
        ((item.get("status") or {}).get("release") or {}).get("revision") == revision
        for item in listing["items"]
    )


def wait_revision(
    api: client.CustomObjectsApi, namespace: str, count: int, revision: int, timeout: float
) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if count_revision(api, namespace, revision) >= count:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def create_objects(
    api: client.CustomObjectsApi,
    namespace: str,
    names: list[str],
    labels: dict[str, str] | None = None,
) -> None:
    def create(name: str) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"domain": f"{name}.example.com", "adminEmail": "ops@example.com"},
        }
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))


def count_ready(api: client.CustomObjectsApi, namespace: str) -> int:
    listing = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    ready = 0
    for item in listing["items"]:
        for condition in (item.get("status") or {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                ready += 1
    return ready


def wait_ready(
    api: client.CustomObjectsApi, namespace: str, count: int, timeout: float
) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if count_ready(api, namespace) >= count:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def measure_resync(controller: Controller, total: int) -> dict[str, float]:
    """A restarted controller lists every object: the full resync, from process start."""
    controller.stop()
    started = time.monotonic()
    controller.start()
    while controller.metric("lostromos_reconciles_total") < total:
        time.sleep(0.2)
    while controller.metric("lostromos_queue_depth") > 0:
        time.sleep(0.2)
    return {
        "seconds": time.monotonic() - started,
        "cpu": controller.cpu_seconds(),
        "helm": controller.metric("lostromos_helm_calls_total"),
        "rss": controller.rss_mib(),
    }


def measure_memory(
    dev: DevCluster,
    api: client.CustomObjectsApi,
    controller: Controller,
    *,
    existing: int,
    wanted: int,
    timeout: float,
) -> list[tuple[str, str]]:
    """Add objects until `wanted` exist, then measure a full resync of all of them."""
    namespace = "memory"
    dev.kubectl("create", "namespace", namespace)
    extra = wanted - existing
    create_objects(api, namespace, [f"m{i:05d}" for i in range(extra)])
    elapsed = wait_ready(api, namespace, extra, timeout)
    resync = measure_resync(controller, wanted)
    return [
        (f"{extra} more objects Ready", f"{elapsed:.0f} s" if elapsed else "timed out"),
        (f"full resync of {wanted} unchanged objects: helm calls", f"{resync['helm']:.0f}"),
        (
            "  controller CPU / wall time, start to drained queue",
            f"{resync['cpu']:.1f} s / {resync['seconds']:.1f} s",
        ),
        (f"  controller resident memory with {wanted} objects", f"{resync['rss']:.0f} MiB"),
    ]


def measure_replicas(
    dev: DevCluster,
    api: client.CustomObjectsApi,
    workdir: Path,
    helm: Path,
    bindings: Path,
    *,
    replicas: int,
    count: int,
    timeout: float,
) -> list[tuple[str, str]]:
    """N sharded controllers: a burst of `count` objects, then kill -9 of one of them."""
    namespace = f"ring-{replicas}"
    dev.kubectl("create", "namespace", namespace)
    ring = [
        Controller(
            workdir,
            dev,
            helm,
            bindings,
            "--shards",
            "--lease-namespace",
            namespace,
            "--lease-name",
            namespace,
            "--lease-seconds",
            "15",
            "--identity",
            f"{namespace}-r{n}",
            name=f"{namespace}-r{n}",
        )
        for n in range(replicas)
    ]

    def serving(members: list[Controller]) -> float:
        return sum(member.metric("lostromos_shard_buckets") for member in members)

    try:
        for member in ring:
            member.start()
        # Settled: the whole space served, and by every replica (not one that started first).
        while serving(ring) < 256 or not all(serving([member]) for member in ring):
            time.sleep(0.2)
        cpu_before = [member.cpu_seconds() for member in ring]
        create_objects(api, namespace, [f"s{i:05d}" for i in range(count)])
        elapsed = wait_ready(api, namespace, count, timeout)
        shown = f"{elapsed:.1f} s ({count / elapsed:.1f}/s)" if elapsed else "timed out"
        rows = [(f"{replicas} replica(s), {count} new objects: all Ready", shown)]
        for n, member in enumerate(ring):
            installs = member.metric("lostromos_helm_calls_total", 'action="upgrade"')
            rows.append(
                (
                    f"  replica {n}: installs, watch events, CPU",
                    f"{installs:.0f} ({installs / count:.0%}), "
                    f"{member.metric('lostromos_shard_watch_events'):.0f}, "
                    f"{member.cpu_seconds() - cpu_before[n]:.1f} s",
                )
            )
        if replicas > 1:
            ring[0].kill()
            killed = time.monotonic()
            while serving(ring[1:]) < 256:
                time.sleep(0.2)
            rows.append(
                (
                    "  kill -9 of one replica: survivors serve every range",
                    f"after {time.monotonic() - killed:.1f} s (lease 15 s)",
                )
            )
        return rows
    finally:
        for member in ring:
            member.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,1000")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        help="also report memory with this many objects (e.g. 6000)",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--nodes",
        type=int,
        default=0,
        help="simulated nodes: Ready then waits for the Sites' pods (0: Ready once applied)",
    )
    parser.add_argument(
        "--replicas", default="", help="sharded runs instead: replica counts, e.g. 1,2,3"
    )
    parser.add_argument(
        "--deployers",
        default="",
        help="compare deployers instead, on the first count: e.g. helm,applyset",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    if args.nodes:
        _check_room(args, counts)

    tools = toolchain.ensure()
    # The cluster runs where only loopback exists (built binaries first: that needs the registries).
    isolation.ensure_isolated(lambda line: print(line, file=sys.stderr, flush=True))
    workdir = Path(tempfile.mkdtemp(prefix="lostromos-bench-"))
    bindings = workdir / "bindings.yaml"
    bindings.write_text(
        yaml.safe_dump(
            {
                "bindings": [
                    {
                        "name": "site",
                        "group": GROUP,
                        "version": VERSION,
                        "kind": KIND,
                        "plural": PLURAL,
                        "chart": {"path": str(ROOT / "charts" / "site")},
                        "concurrency": args.concurrency,
                        "driftCheckSeconds": 0,
                    }
                ]
            }
        )
    )
    dev = DevCluster(
        DevOptions(
            state_dir=workdir / "cluster",
            bindings_path=bindings,
            crds_dir=ROOT / "crds",
            examples_dir=None,
            tools=tools,
            nodes=args.nodes,
            start_timeout=300,
        ),
        say=lambda line: None,
    )
    dev.start_control_plane()
    if args.nodes:
        dev.start_data_plane()
    controller = Controller(workdir, dev, tools["helm-engine"], bindings)
    rows: list[tuple[str, str]] = []
    try:
        dev.kubectl("apply", "-f", "-", stdin=json.dumps(crd()))
        dev.kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}")
        api = client.CustomObjectsApi(config.new_client_from_config(str(dev.kubeconfig)))
        for replicas in [int(n) for n in args.replicas.split(",") if n]:
            rows += measure_replicas(
                dev,
                api,
                workdir,
                tools["helm-engine"],
                bindings,
                replicas=replicas,
                count=counts[0],
                timeout=args.timeout,
            )
        for deployer in [d for d in args.deployers.split(",") if d]:
            rows += measure_deployer(
                dev,
                api,
                workdir,
                tools["helm-engine"],
                deployer=deployer,
                count=counts[0],
                args=args,
            )
        if args.replicas or args.deployers:
            counts = []
        else:
            controller.start()
        total = 0
        for count in counts:
            rows += measure_burst(dev, api, controller, count, args.timeout)
            total += count
        if counts:
            rows += _resync_rows(controller, total)
        if args.memory > total and counts:
            rows += measure_memory(
                dev, api, controller, existing=total, wanted=args.memory, timeout=args.timeout
            )
    finally:
        controller.stop()
        dev.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    _print(rows, args.concurrency)
    return 0


def _check_room(args: argparse.Namespace, counts: list[int]) -> None:
    """Refuse a run whose pods cannot all be placed: a Site runs one pod, two after
    its upgrade, and every run's Sites stay, so a full cluster would read as slow."""
    runs = [d for d in args.deployers.split(",") if d] or [r for r in args.replicas.split(",") if r]
    pods = 2 * (len(runs) * counts[0] if runs else sum(counts)) + max(0, args.memory - sum(counts))
    per_node = int(dataplane.NODE_CAPACITY["pods"])
    if pods > args.nodes * per_node:
        raise SystemExit(
            f"{pods} pods need at least {-(-pods // per_node)} nodes of {per_node} pods; "
            f"--nodes {args.nodes} is too few"
        )


def measure_deployer(
    dev: DevCluster,
    api: client.CustomObjectsApi,
    workdir: Path,
    engine: Path,
    *,
    deployer: str,
    count: int,
    args: argparse.Namespace,
) -> list[tuple[str, str]]:
    """One deployer's controller on Sites of its own: the burst, then the bytes stored."""
    binding = {"name": "site", "group": GROUP, "version": VERSION, "kind": KIND}
    binding["plural"] = PLURAL
    chart = ROOT / "charts" / "site"
    bindings = bindings_for(workdir, binding, deployer, chart, args.concurrency)
    controller = Controller(workdir, dev, engine, bindings, name=f"controller-{deployer}")
    namespace = f"{deployer}-{count}"
    etcd_before = etcd_writes(dev)
    controller.start()
    try:
        rows = [(f"deployer: {deployer}", "")]
        rows += measure_burst(
            dev,
            api,
            controller,
            count,
            args.timeout,
            namespace=namespace,
            labels={DEPLOYER_LABEL: deployer},
        )
    finally:
        controller.stop()
    stored = stored_bytes(dev, namespace)
    etcd_after = etcd_writes(dev)
    written = {name: etcd_after[name] - etcd_before[name] for name in etcd_after}
    return rows + storage_rows(deployer, count, stored, written)


def measure_burst(
    dev: DevCluster,
    api: client.CustomObjectsApi,
    controller: Controller,
    count: int,
    timeout: float,
    *,
    namespace: str = "",
    labels: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """`count` new objects, then one spec change each: times, floors, CPU and requests."""
    namespace = namespace or f"burst-{count}"
    names = [f"s{i:05d}" for i in range(count)]
    dev.kubectl("create", "namespace", namespace)
    assert controller.process is not None
    engine = children_named(controller.process.pid, "helm-engine")
    cores = os.cpu_count() or 1
    rows: list[tuple[str, str]] = []
    for phase in ("install", "upgrade"):
        helm_before = controller.metric("lostromos_helm_calls_total")
        client_before = controller.cpu_seconds() + sum(process_cpu_seconds(pid) for pid in engine)
        server_before = server_cpu(dev)
        requests_before = api_requests(dev)
        if phase == "install":
            create_objects(api, namespace, names, labels)
            elapsed = wait_ready(api, namespace, count, timeout)
            label = f"{count} new objects: all Ready (from the create)"
        else:
            upgrade_objects(api, namespace, names)
            elapsed = wait_revision(api, namespace, count, 2, timeout)
            label = f"{count} upgrades (one spec change each): all converged"
        client_cpu = controller.cpu_seconds() + sum(process_cpu_seconds(pid) for pid in engine)
        server = server_cpu(dev) - server_before
        requests = api_requests(dev)
        delta = {key: requests[key] - requests_before.get(key, 0.0) for key in requests}
        shown = f"{elapsed:.1f} s ({count / elapsed:.1f}/s)" if elapsed else "timed out"
        floor = server / cores
        rows.append((label, shown))
        rows.append(
            (
                f"  floor: API server + etcd CPU / {cores} cores",
                f"{floor:.1f} s ({server:.1f} CPU-s); ratio {(elapsed or 0) / floor:.2f}x"
                if floor
                else "n/a",
            )
        )
        rows.append(
            (
                f"  client CPU per {phase} (controller + engine)",
                f"{(client_cpu - client_before) / count:.4f} CPU-s",
            )
        )
        rows.append((f"  API server + etcd CPU per {phase}", f"{server / count:.4f} CPU-s"))
        rows.append(
            (
                f"  Helm actions for those {count}",
                f"{controller.metric('lostromos_helm_calls_total') - helm_before:.0f}",
            )
        )
        per = sorted(((v / count, k) for k, v in delta.items() if v / count >= 0.05), reverse=True)
        rows.append(
            (
                f"  API requests per {phase}",
                f"{sum(delta.values()) / count:.1f}: "
                + ", ".join(f"{k} {v:.2f}" for v, k in per[:8]),
            )
        )
    return rows


def _resync_rows(controller: Controller, total: int) -> list[tuple[str, str]]:
    resync = measure_resync(controller, total)
    return [
        (f"full resync of {total} unchanged objects: helm calls", f"{resync['helm']:.0f}"),
        (
            "  controller CPU / wall time, start to drained queue",
            f"{resync['cpu']:.1f} s / {resync['seconds']:.1f} s",
        ),
        (f"  controller resident memory with {total} objects", f"{resync['rss']:.0f} MiB"),
    ]


def _print(rows: list[tuple[str, str]], concurrency: int) -> None:
    width = max(len(label) for label, _ in rows)
    print(
        f"\ncontroller benchmark: {os.cpu_count()} CPUs, concurrency {concurrency}, "
        f"chart charts/site, helm {toolchain.tool_versions()['helm']}"
    )
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
