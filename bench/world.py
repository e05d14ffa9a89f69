"""The seed's scale: thousands of Sites whose pods run on simulated nodes.

    uv run python bench/world.py                          # 6,000 Sites on 60 nodes
    uv run python bench/world.py --sites 50 --nodes 2     # a quick proof

On a cluster of its own (`lostromos dev up`'s: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok's simulated nodes, the webhook
and the controller, with the real lostromos.yaml and a copy of charts/site):

1. `kubectl apply` of every Site (100 per namespace, `--appliers` kubectl processes
   at once) until every pod is Ready,
   split into admission (kubectl returns: every Site admitted and stored),
   release (every Site's release deployed), pods Ready (every Deployment
   available) and Sites Ready (every Site's Ready condition True, which waits
   for its workloads), with the floor the API server and etcd set in the same
   run (their CPU-s / cores);
2. CPU-s and peak memory (VmHWM) of the controller, its Helm engine, the
   webhook, the API server, etcd and the simulated data plane, and etcd's
   database size before and after;
3. `--failing` Sites' pods made unready (kwok's failure stage, switched on by
   pod annotation): the time until each Site's health condition says so, p50
   and p99, then the same for recovery;
4. a new chart version rolled across every Site under the rollout gate: the
   time until every Site runs it, and the most Sites unhealthy at once against
   the gate's budget (rollout.maxInFlight).

Rows 3 and 4 read the Site's health condition (`--health-condition`, default
Healthy): a cluster whose Sites carry no such condition prints n/a there.
Nothing is asserted: the numbers go in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config, watch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.controller import api_requests  # noqa: E402
from bench.procstat import process_cpu_seconds  # noqa: E402
from lostromos import toolchain  # noqa: E402
from lostromos.config import load_bindings  # noqa: E402
from lostromos.dev import isolation  # noqa: E402
from lostromos.dev.cluster import DevCluster, DevOptions  # noqa: E402
from lostromos.dev.dataplane import FAIL_ANNOTATION  # noqa: E402

GROUP, VERSION, PLURAL = "hosting.example.com", "v1", "sites"
SITES_PER_NAMESPACE = 100
PROGRESS_SECONDS = 60
REQUEST_ROWS = 15  # the busiest kinds of API request, per Site
STOPPING = threading.Event()  # the cluster is going away: the watches end quietly


# -- what the cluster says, followed by watches ------------------------------------


@dataclass
class SiteState:
    revision: int = 0
    chart_version: str = ""
    health: str | None = None  # the health condition's status; None: no such condition
    ready: bool = False  # the Ready condition is True


@dataclass
class World:
    """Sites and Deployments as the watches last saw them, with the moment of each change."""

    health_condition: str
    sites: dict[str, SiteState] = field(default_factory=dict)
    available: set[str] = field(default_factory=set)
    lock: threading.Condition = field(default_factory=threading.Condition)
    health_changes: dict[str, list[tuple[float, str | None]]] = field(default_factory=dict)
    most_unhealthy: int = 0
    # Kept as each event arrives: a wait or the progress line reads them without a
    # walk over every Site (6,000 of them, on every event).
    deployed: int = 0  # Sites whose status records a deployed revision
    ready: int = 0  # Sites whose Ready condition is True
    unhealthy: int = 0  # Sites whose health condition is False
    target_version: str = ""  # the chart version a rollout brings
    on_target: int = 0  # Sites whose release runs it

    def site_event(self, obj: dict[str, Any], deleted: bool) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        status = obj.get("status") or {}
        release = status.get("release") or {}
        health = next(
            (
                c.get("status")
                for c in status.get("conditions") or []
                if c.get("type") == self.health_condition
            ),
            None,
        )
        with self.lock:
            before = self.sites.pop(key, None)
            if before is not None:
                self._count(before, -1)
            if not deleted:
                now = SiteState(
                    int(release.get("revision") or 0),
                    str(release.get("chartVersion") or ""),
                    health,
                    any(
                        c.get("type") == "Ready" and c.get("status") == "True"
                        for c in status.get("conditions") or []
                    ),
                )
                self.sites[key] = now
                self._count(now, +1)
                if before is None or before.health != health:
                    self.health_changes.setdefault(key, []).append((time.monotonic(), health))
                self.most_unhealthy = max(self.most_unhealthy, self.unhealthy)
            self.lock.notify_all()

    def _count(self, site: SiteState, sign: int) -> None:
        self.deployed += sign * (site.revision >= 1)
        self.ready += sign * site.ready
        self.unhealthy += sign * (site.health == "False")
        self.on_target += sign * (site.chart_version == self.target_version)

    def deployment_event(self, obj: dict[str, Any], deleted: bool) -> None:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        wanted = spec.get("replicas", 1)
        current = (
            status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
            and status.get("updatedReplicas", 0) == wanted
            and status.get("availableReplicas", 0) == wanted
            and status.get("replicas", 0) == wanted
        )
        with self.lock:
            if current and not deleted:
                self.available.add(key)
            else:
                self.available.discard(key)
            self.lock.notify_all()

    def wait(self, what: str, done: Callable[[], bool], timeout: float) -> float:
        """Block until done() (checked under the lock); return the moment it held."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"bench: {what} did not happen within {timeout:.0f}s")
                self.lock.wait(min(left, 1.0))
        return time.monotonic()

    def progress(self) -> str:
        with self.lock:
            return (
                f"{len(self.sites)} admitted, {self.deployed} releases deployed, "
                f"{len(self.available)} Sites' pods Ready, {self.ready} Sites Ready, "
                f"{self.unhealthy} unhealthy"
            )

    def has_health(self) -> bool:
        with self.lock:
            return any(s.health is not None for s in self.sites.values())


def follow(
    api: client.CustomObjectsApi, group: str, version: str, plural: str, handle: Callable
) -> None:
    """List, then watch, forever (a daemon thread): every object goes to handle()."""

    def run() -> None:
        while not STOPPING.is_set():
            try:
                listing = api.list_cluster_custom_object(group, version, plural)
                for item in listing["items"]:
                    handle(item, False)
                stream = watch.Watch().stream(
                    api.list_cluster_custom_object,
                    group,
                    version,
                    plural,
                    resource_version=listing["metadata"]["resourceVersion"],
                    timeout_seconds=240,
                )
                for event in stream:
                    handle(event["object"], event["type"] == "DELETED")
            except (client.ApiException, urllib3.exceptions.HTTPError) as error:
                if not STOPPING.is_set():  # a busy API server: list and watch again
                    print(f"  [watch {plural}] {type(error).__name__}; again", flush=True)
                    time.sleep(1)

    threading.Thread(target=run, daemon=True, name=f"watch-{plural}").start()


# -- what the processes cost -------------------------------------------------------


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def peak_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def components(cluster: DevCluster) -> dict[str, list[int]]:
    """Component -> its processes. The controller's Helm engine is its own row."""
    groups: dict[str, list[int]] = {}
    for child in cluster.supervisor.children:
        pids = descendants(child.pid)
        if child.name.startswith("controller"):
            engine = [p for p in pids if p != child.pid]
            groups.setdefault("helm engine", []).extend(engine)
            groups.setdefault("controller", []).append(child.pid)
        else:
            groups.setdefault(child.name, []).extend(pids)
    return groups


def usage(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(process_cpu_seconds(p) for p in pids) for name, pids in groups.items()}


def etcd_db_mib(cluster: DevCluster) -> float:
    url = f"http://127.0.0.1:{cluster.ports.etcd_client}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("etcd_mvcc_db_total_size_in_bytes "):
                return float(line.split()[1]) / 2**20
    return float("nan")


# -- the run -------------------------------------------------------------------------


def site_names(count: int) -> list[tuple[str, str]]:
    return [(f"world-{i // SITES_PER_NAMESPACE:03d}", f"site-{i:05d}") for i in range(count)]


def write_sites(folder: Path, names: list[tuple[str, str]]) -> None:
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for namespace, name in names:
        by_namespace.setdefault(namespace, []).append(
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Site",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"domain": f"{name}.example.com", "adminEmail": "ops@example.com"},
            }
        )
    folder.mkdir(parents=True)
    for namespace, sites in by_namespace.items():
        (folder / f"{namespace}.yaml").write_text(yaml.safe_dump_all(sites))


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} s, p99 {p99:.1f} s (n={len(ordered)})"


def health_latencies(world: World, marked: dict[str, float], wanted: str) -> list[float]:
    """Per Site: from the moment its pods were marked to the first health change to `wanted`."""
    latencies = []
    with world.lock:
        for key, since in marked.items():
            after = [
                t
                for t, value in world.health_changes.get(key, [])
                if value == wanted and t >= since
            ]
            if after:
                latencies.append(after[0] - since)
    return latencies


def mark_pods(cluster: DevCluster, keys: list[str], value: str | None) -> dict[str, float]:
    """Annotate (or clear) the failure stage on the given Sites' pods, a namespace at a time."""
    by_namespace: dict[str, list[str]] = {}
    for key in keys:
        namespace, name = key.split("/")
        by_namespace.setdefault(namespace, []).append(name)
    marked: dict[str, float] = {}
    setting = f"{FAIL_ANNOTATION}={value}" if value else f"{FAIL_ANNOTATION}-"
    for namespace, names in by_namespace.items():
        started = time.monotonic()
        selector = f"app.kubernetes.io/instance in ({','.join(names)})"
        cluster.kubectl("annotate", "pods", "-n", namespace, "-l", selector, "--overwrite", setting)
        marked.update({f"{namespace}/{name}": started for name in names})
    return marked


@dataclass
class Bench:
    """One run: the cluster, its watches, the Sites, the chart copy they are bound to."""

    cluster: DevCluster
    args: argparse.Namespace
    workdir: Path
    chart: Path
    budget: int  # the rollout gate's budget: rollout.maxInFlight
    world: World
    keys: list[str]


def run(args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 1
    tools = toolchain.ensure(toolchain.TOOL_NAMES)
    # The cluster runs where only loopback exists (built binaries first: that needs the registries).
    isolation.ensure_isolated(lambda line: print(line, file=sys.stderr, flush=True))
    print(
        f"world: {args.sites} Sites on {args.nodes} simulated nodes, {cores} CPUs, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="lostromos-world-"))
    chart = workdir / "site"
    shutil.copytree(ROOT / "charts" / "site", chart)
    document = yaml.safe_load((ROOT / "lostromos.yaml").read_text())
    document["bindings"] = [b for b in document["bindings"] if b["kind"] == "Site"]
    document["bindings"][0]["chart"] = {"path": str(chart)}
    document["bindings"][0]["concurrency"] = args.concurrency
    rollout = document["bindings"][0].setdefault("rollout", {})
    rollout["maxInFlight"] = args.max_in_flight
    bindings = workdir / "lostromos.yaml"
    bindings.write_text(yaml.safe_dump(document))
    cluster = DevCluster(
        DevOptions(
            state_dir=workdir / "state",
            bindings_path=bindings,
            crds_dir=ROOT / "crds",
            examples_dir=None,
            tools=tools,
            start_timeout=300,
            controller_args=("--resync-seconds", "3600"),
            nodes=args.nodes,
        ),
        say=lambda line: print(f"  [dev] {line}", flush=True),
    )
    cluster.up()
    try:
        api = client.CustomObjectsApi(config.new_client_from_config(str(cluster.kubeconfig)))
        world = World(args.health_condition)
        follow(api, GROUP, VERSION, PLURAL, world.site_event)
        follow(api, "apps", "v1", "deployments", world.deployment_event)
        names = site_names(args.sites)
        bench = Bench(
            cluster,
            args,
            workdir,
            chart,
            load_bindings(bindings).bindings[0].rollout.max_in_flight,
            world,
            [f"{namespace}/{name}" for namespace, name in names],
        )
        for namespace in sorted({namespace for namespace, _ in names}):
            cluster.kubectl("create", "namespace", namespace)
        write_sites(workdir / "sites", names)
        db_before = etcd_db_mib(cluster)
        apply_all(bench, cores)
        fail_some(bench)
        roll_out(bench)
        print(
            f"\n{'etcd database':<34}{db_before:.1f} MiB before, "
            f"{etcd_db_mib(cluster):.1f} MiB after"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        STOPPING.set()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def apply_in_parallel(cluster: DevCluster, files: list[Path], bench: Bench, timeout: float) -> None:
    """`--appliers` kubectl processes at once, each applying its share of the namespaces'
    files, as a GitOps tool syncing several folders would; one kubectl applies one
    object at a time."""
    appliers = max(1, bench.args.appliers)
    shares = [files[index::appliers] for index in range(appliers)]
    with ThreadPoolExecutor(appliers) as pool:
        runs = [
            pool.submit(
                cluster.kubectl, "apply", *(f"--filename={file}" for file in share), timeout=timeout
            )
            for share in shares
            if share
        ]
        for run in runs:
            run.result()


def report_progress(world: World, started: float, done: threading.Event) -> None:
    """A line a minute while the Sites come up, so a run stopped early still says how far
    it got (a daemon thread; `done` ends it)."""

    def run() -> None:
        while not done.wait(PROGRESS_SECONDS):
            print(f"  [{time.monotonic() - started:6.0f} s] {world.progress()}", flush=True)

    threading.Thread(target=run, daemon=True, name="progress").start()


def apply_all(bench: Bench, cores: int) -> None:
    """`kubectl apply` of every Site until every pod is Ready; what each component spent."""
    world, keys = bench.world, bench.keys
    groups = components(bench.cluster)
    cpu_before = usage(groups)
    requests_before = api_requests(bench.cluster)
    started = time.monotonic()
    done = threading.Event()
    report_progress(world, started, done)
    try:
        _apply_and_wait(bench, started)
    finally:
        done.set()
    groups = components(bench.cluster)  # the Helm engine may have restarted meanwhile
    after = usage(groups)
    requests = api_requests(bench.cluster)
    spent = {name: after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in groups}
    floor = (spent.get("kube-apiserver", 0.0) + spent.get("etcd", 0.0)) / cores
    print(f"{'  API server + etcd floor':<34}{floor:>10.1f}")
    print(f"\n{'component':<26}{'CPU-s':>10}{'peak MiB':>10}")
    for name, pids in sorted(groups.items()):
        print(f"{name:<26}{spent.get(name, 0.0):>10.1f}{sum(peak_mib(p) for p in pids):>10.0f}")
    per_site = {
        key: (value - requests_before.get(key, 0.0)) / len(keys) for key, value in requests.items()
    }
    busiest = sorted(((v, k) for k, v in per_site.items() if v >= 0.05), reverse=True)
    print(f"\nAPI requests per Site: {sum(per_site.values()):.1f}")
    for value, key in busiest[:REQUEST_ROWS]:
        print(f"  {key:<38}{value:>8.2f}")


def _apply_and_wait(bench: Bench, started: float) -> None:
    world, keys, timeout = bench.world, bench.keys, bench.args.timeout
    apply_in_parallel(bench.cluster, sorted((bench.workdir / "sites").iterdir()), bench, timeout)
    admitted = time.monotonic()
    released = world.wait("every release deployed", lambda: world.deployed >= len(keys), timeout)
    ready = world.wait(
        "every Site's pods Ready", lambda: len(world.available) >= len(keys), timeout
    )
    sites_ready = world.wait("every Site Ready", lambda: world.ready >= len(keys), timeout)
    print(f"\n{'apply -> all pods Ready':<34}{'seconds':>10}")
    print(f"{'  admission (kubectl apply)':<34}{admitted - started:>10.1f}")
    print(f"{'  releases deployed':<34}{released - started:>10.1f}")
    print(f"{'  pods Ready':<34}{ready - started:>10.1f}")
    print(f"{'  Sites Ready':<34}{sites_ready - started:>10.1f}")


def fail_some(bench: Bench) -> None:
    """Some Sites' pods made unready and then well again: how soon each Site says so."""
    world, timeout = bench.world, bench.args.timeout
    print(f"\n{'failing Sites':<34}", end="")
    if not world.has_health():
        print(f"n/a (no {bench.args.health_condition} condition on the Sites)")
        return
    failing = bench.keys[: min(bench.args.failing, len(bench.keys))]
    marked = mark_pods(bench.cluster, failing, "not-ready")
    world.wait(
        "the failing Sites shown unhealthy",
        lambda: all(world.sites[k].health == "False" for k in failing),
        timeout,
    )
    print(f"{len(failing)} shown: {percentiles(health_latencies(world, marked, 'False'))}")
    marked = mark_pods(bench.cluster, failing, None)
    world.wait(
        "the failing Sites recovered",
        lambda: all(world.sites[k].health == "True" for k in failing),
        timeout,
    )
    print(f"{'  recovered':<34}{percentiles(health_latencies(world, marked, 'True'))}")


def roll_out(bench: Bench) -> None:
    """A new chart version across every Site under the rollout gate (a controller restart
    loads it): the time, and the most Sites unhealthy at once against the gate's budget."""
    world, keys = bench.world, bench.keys
    manifest = yaml.safe_load((bench.chart / "Chart.yaml").read_text())
    manifest["version"] = f"{manifest['version']}-next"
    (bench.chart / "Chart.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    with world.lock:
        world.most_unhealthy = 0
        world.target_version = manifest["version"]
        world.on_target = sum(
            1 for site in world.sites.values() if site.chart_version == world.target_version
        )
    started = time.monotonic()
    bench.cluster.restart_controllers()
    world.wait(
        "the new chart version on every Site",
        lambda: world.on_target >= len(keys) and len(world.available) >= len(keys),
        bench.args.timeout,
    )
    rolled = time.monotonic() - started
    most = str(world.most_unhealthy) if world.has_health() else "n/a"
    print(
        f"{'rollout of a chart version':<34}{rolled:.1f} s, most unhealthy at once: "
        f"{most} (budget {bench.budget})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=6000, help="Sites to apply (default 6000)")
    parser.add_argument("--nodes", type=int, default=60, help="simulated nodes (default 60)")
    parser.add_argument(
        "--failing", type=int, default=100, help="Sites whose pods are made to fail (default 100)"
    )
    parser.add_argument(
        "--health-condition",
        default="Healthy",
        help="the Site condition that says whether its workloads work (default Healthy)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds each phase may take (default 3600)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="the binding's concurrency: Sites reconciled at once (default 16)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=100,
        help="the rollout gate's budget, rollout.maxInFlight: Sites rolling out at once "
        "(default 100)",
    )
    parser.add_argument(
        "--appliers", type=int, default=4, help="kubectl apply processes at once (default 4)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the state folder and logs")
    args = parser.parse_args()
    if args.sites < 1 or args.nodes < 1:
        parser.error("--sites and --nodes must be at least 1")
    run(args)


if __name__ == "__main__":
    main()
