"""The controller process: one informer per binding feeding one work queue per
binding, a bounded pool of workers per binding that only ever see keys, and a
small HTTP server for /healthz, /readyz and /metrics. SIGTERM stops the
watches, lets the workers finish the keys they hold, and exits 0."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.applyset import deployer_for
from controller.drift import DriftChecker
from controller.events import EventRecorder
from controller.healthwatch import FollowedBinding, HealthFollower
from controller.informer import Informer
from controller.leader import LeaderElector, LeaseConfig
from controller.metrics import BindingSnapshot, ControllerMetrics
from controller.ownership import release_name
from controller.queue import WorkQueue
from controller.reconcile import ReconcileError, Reconciler
from controller.recordkey import RECORD_KEY_SECRET, ensure_record_key, write_key_file
from controller.retrylog import RetryLog
from controller.rollout import Rollout
from controller.sharding.membership import MemberConfig
from controller.sharding.ring import BindingShare, Ring
from controller.sharding.ringrollout import RingRollout
from controller.sources.projector import projectors
from controller.status import READY, STALLED, condition
from lostromos import kube
from lostromos.chartrepo import engine_puller
from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings, ConfigError, load_bindings
from lostromos.engines import EngineRegistry
from lostromos.helmengine import EngineMissing, HelmEngine, HelmError, RunningEngine, find_engine
from lostromos.kube import KubeConfigError
from lostromos.logs import LogFormat, configure_logging
from lostromos.probes import MetricsEndpoint, ProbeServer, Readiness
from lostromos.renderpool import BudgetedRenderer, RenderProcesses

log = logging.getLogger("lostromos.controller")
DRAIN_SECONDS = 60.0


@dataclass(frozen=True)
class ControllerOptions:
    bindings_path: Path
    kubeconfig: Path | None = None
    helm_engine: Path | None = None
    health_bind: str = "0.0.0.0:8080"
    log_format: LogFormat = "text"
    log_level: str = "info"
    resync_seconds: float = 600.0
    leader_elect: bool = False
    lease_namespace: str = "default"
    lease_name: str = "lostromos-controller"
    identity: str = ""
    dry_run: bool = False
    chart_cache: Path | None = None
    # Sharding: every replica works on its own hash buckets of metadata.uid.
    shards: bool = False
    server_side_shards: bool = True
    lease_seconds: float = 15.0
    # Every Helm action runs as a binding's ServiceAccount; a binding naming none is refused.
    require_service_account: bool = False
    # Ready waits for the releases' workloads (bindings' release.readyTimeout); off for a
    # cluster that runs no pods.
    ready_waits: bool = True


class BindingController:
    """Informer + queue + workers for one binding."""

    def __init__(
        self,
        binding: Binding,
        api_client: client.ApiClient,
        *,
        engines: EngineRegistry,
        helm: HelmEngine,
        metrics: ControllerMetrics,
        resync_seconds: float,
        dry_run: bool,
        share: BindingShare | None = None,
        require_service_account: bool = False,
        renderer: BudgetedRenderer | None = None,
    ) -> None:
        self.binding = binding
        self.queue = WorkQueue()
        self.metrics = metrics
        self.engines = engines
        self.share = share
        custom = client.CustomObjectsApi(api_client)
        self.informer = Informer(
            custom,
            binding,
            self.queue.add,
            resync_seconds=resync_seconds,
            label_selector=binding.selector.labels,
            shard=share.watch if share else None,
        )
        self.rollout: Rollout | RingRollout = (
            share.rollout if share else Rollout(binding.name, binding.rollout)
        )
        refused = require_service_account and binding.service_account_name is None
        if refused:
            log.warning(
                "binding names no serviceAccountName and --require-service-account is set: "
                "its objects are not reconciled",
                extra={"binding": binding.name},
            )
        self.drift = DriftChecker(
            api_client,
            self.informer,
            self.queue.add,
            0 if refused else binding.drift_check_seconds,
            user_for=binding.helm_user,
        )
        self.reconciler = Reconciler(
            binding,
            self.informer,
            deployer=deployer_for(binding, api_client, custom, self.informer, helm),
            api=custom,
            engines=engines,
            helm=helm,
            events=EventRecorder(client.CoreV1Api(api_client), dry_run=dry_run),
            rollout=self.rollout,
            drift=self.drift.observations,
            dry_run=dry_run,
            require_service_account=require_service_account,
            renderer=renderer,
        )
        self.threads: list[threading.Thread] = []
        self.failures = RetryLog(log, binding.kind)

    def snapshot(self) -> BindingSnapshot:
        target = self.engines.engine_for(self.binding).digest
        states: dict[str, int] = {}
        behind = not_ready = stalled = 0
        for obj in self.informer.objects():
            status = obj.get("status") or {}
            ready = condition(status, READY) or {}
            state = ready.get("reason") or "Pending"
            states[state] = states.get(state, 0) + 1
            not_ready += ready.get("status") != "True"
            stalled += (condition(status, STALLED) or {}).get("status") == "True"
            recorded = (status.get("release") or {}).get("chartDigest")
            behind += recorded is not None and recorded != target
        return BindingSnapshot(
            self.binding.name,
            len(self.queue),
            len(self.informer),
            states,
            self.rollout.progress(),
            behind,
            not_ready,
            self.share.snapshot() if self.share else None,
            stalled,
        )

    def start(self, stop: threading.Event) -> None:
        name = self.binding.name
        for target, label in ((self.informer.run, "informer"), (self.drift.run, "drift")):
            threading.Thread(
                target=target, args=(stop,), name=f"{label}-{name}", daemon=True
            ).start()
        for index in range(self.binding.concurrency):
            worker = threading.Thread(target=self._work, name=f"worker-{name}-{index}", daemon=True)
            worker.start()
            self.threads.append(worker)

    def _work(self) -> None:
        for key in self.queue.taken():
            self._process(key)

    def _process(self, key: str) -> None:
        if self.share is None:
            self._reconcile(key)
            return
        obj = self.informer.get(key)
        bucket = None if obj is None else self.share.coordinator.begin(obj)
        if obj is not None and bucket is None:
            self.queue.forget(key)  # another replica's bucket, or one being handed over
            self.queue.done(key)
            return
        try:
            self._reconcile(key)
        finally:
            if bucket is not None:
                self.share.coordinator.end(bucket)

    def _reconcile(self, key: str) -> None:
        started = time.monotonic()
        outcome = "success"
        try:
            result = self.reconciler.reconcile(key)
        except Exception as error:
            outcome = "error"
            delay = self.queue.add_rate_limited(key)
            self.failures.failed(
                key, error, delay, self._release(key), expected=isinstance(error, ReconcileError)
            )
        else:
            if result.stalled:
                self.failures.forget(key)  # not a recovery: it waits for a change, and said why
            else:
                self.failures.succeeded(key, self._release(key))
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)
        finally:
            self.queue.done(key)
            self.metrics.observe_reconcile(self.binding.name, outcome, time.monotonic() - started)

    def _release(self, key: str) -> str | None:
        obj = self.informer.get(key)
        return release_name(self.binding, obj["metadata"]) if obj is not None else None

    def drain(self, timeout: float) -> bool:
        self.informer.stop()
        self.queue.shutdown()
        finished = self.queue.wait_idle(timeout)
        for thread in self.threads:
            thread.join(timeout=1)
        return finished


def run(options: ControllerOptions) -> int:
    configure_logging(options.log_format, options.log_level)
    try:
        bindings = load_bindings(options.bindings_path)
        engine_binary = find_engine(options.helm_engine)
        engines = EngineRegistry(
            bindings, chart_cache=options.chart_cache, puller=engine_puller(engine_binary)
        )
        engines.check_all()
        api_client = kube.api_client(options.kubeconfig)
    except (ConfigError, ChartError, EngineMissing, HelmError, KubeConfigError, OSError) as error:
        print(f"lostromos controller: {error}", file=sys.stderr)
        return 2

    if options.shards and options.leader_elect:
        print(
            "lostromos controller: --shards and --leader-elect exclude each other "
            "(sharded replicas all work; leader election is for one active replica)",
            file=sys.stderr,
        )
        return 2
    metrics = ControllerMetrics()
    key_dir = Path(tempfile.mkdtemp(prefix="lostromos-record-key-"))
    try:
        # Release records are signed with a key only the controller holds (recordkey.py).
        key = ensure_record_key(api_client, options.lease_namespace, RECORD_KEY_SECRET)
        key_file = write_key_file(key, key_dir)
    except (ApiException, RuntimeError, KeyError, OSError) as error:
        shutil.rmtree(key_dir, ignore_errors=True)
        print(f"lostromos controller: release record key: {error}", file=sys.stderr)
        return 2
    engine = RunningEngine(
        engine_binary,
        kubeconfig=options.kubeconfig,
        on_call=metrics.count_helm_call,
        observe=metrics.observe_helm_action,
        on_restart=metrics.count_engine_restart,
        record_key_file=key_file,
    )
    # Renders within each binding's budget, in processes that are killed when it is
    # spent: a template bomb stops there, before any Helm action.
    renders = RenderProcesses(engine_binary)
    try:
        with engine as helm:
            renders.start()
            return _run(
                options,
                bindings,
                engines=engines,
                helm=helm,
                api_client=api_client,
                metrics=metrics,
                renderer=BudgetedRenderer(renders.socket_paths),
            )
    except HelmError as error:  # the engine did not start
        print(f"lostromos controller: {error}", file=sys.stderr)
        return 2
    finally:
        renders.stop()
        shutil.rmtree(key_dir, ignore_errors=True)


def _run(
    options: ControllerOptions,
    bindings: Bindings,
    *,
    engines: EngineRegistry,
    helm: HelmEngine,
    api_client: client.ApiClient,
    metrics: ControllerMetrics,
    renderer: BudgetedRenderer,
) -> int:
    ring = _ring(options, api_client)
    controllers = [
        BindingController(
            binding,
            api_client,
            engines=engines,
            helm=helm,
            metrics=metrics,
            resync_seconds=options.resync_seconds,
            dry_run=options.dry_run,
            share=ring.share(binding) if ring else None,
            require_service_account=options.require_service_account,
            renderer=renderer,
        )
        for binding in bindings.bindings
    ]
    follower = _follower(options, api_client, controllers, metrics)
    if follower is not None and options.ready_waits:
        for controller in controllers:
            controller.reconciler.follow_workloads(follower)
    sources = projectors(
        bindings.bindings,
        api_client,
        defaults_for=lambda b: lambda spec: engines.engine_for(b).default(spec).values,
        resync_seconds=options.resync_seconds,
        dry_run=options.dry_run,
        ring=ring,
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    elector = _elector(options, api_client)

    def ready() -> bool:
        # A standby is ready: it is healthy and waiting for the Lease. A leader is
        # ready once every informer has listed its kind.
        standby = elector is not None and not elector.leading.is_set()
        joined = ring is None or ring.joined
        return standby or (joined and all(c.informer.synced for c in controllers))

    def readiness() -> Readiness:
        return Readiness(True) if ready() else Readiness(False, "informers not synced")

    def refresh_metrics() -> None:
        metrics.update([c.snapshot() for c in controllers])
        metrics.update_sources({p.binding.name: len(p.informer) for p in sources})

    health = ProbeServer(
        options.health_bind,
        readiness,
        metrics=MetricsEndpoint(metrics.registry, refresh_metrics),
        name="health",
    )
    health.start()

    def start_all() -> None:
        if ring is not None:
            # One tick first, so the informers' first list already asks for this
            # replica's buckets instead of listing everything.
            ring.coordinator.tick()
            ring.start()
        for controller in controllers:
            controller.start(stop)
        for projector in sources:
            projector.start(stop)
        if follower is not None:
            follower.start(stop)
        log.info("controller started", extra={"bindings": [b.name for b in bindings.bindings]})

    if elector is None:
        start_all()
        stop.wait()
        kept_leadership = True
    else:
        kept_leadership = elector.run(stop, start_all)
    log.info("stopping: draining in-flight work")
    if ring is not None:
        ring.stop_serving()
    drained = all([*(p.drain(DRAIN_SECONDS) for p in sources)])
    drained = all(controller.drain(DRAIN_SECONDS) for controller in controllers) and drained
    if ring is not None:
        ring.leave()  # after the drain: deleting the Lease releases every bucket
    if elector is not None and kept_leadership:
        elector.release()
    health.stop()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    log.info("stopped", extra={"drained": drained})
    # Losing the lease is not a clean stop: exit non-zero so the pod restarts as a standby.
    return 0 if kept_leadership else 1


def _follower(
    options: ControllerOptions,
    api_client: client.ApiClient,
    controllers: list[BindingController],
    metrics: ControllerMetrics,
) -> HealthFollower | None:
    """Health of the releases' workloads, followed with the controller's own token. With
    --require-service-account that token may not read a release's objects (docs/operators.md,
    Tenancy), so health is not followed there: no Healthy condition, an empty HEALTH column,
    and Ready does not wait for the workloads."""
    if options.require_service_account or options.dry_run:
        return None
    custom = client.CustomObjectsApi(api_client)

    def patch_status(binding: Binding, obj: dict[str, Any], status: dict[str, Any]) -> Any:
        metadata = obj["metadata"]
        # resourceVersion: a concurrent status write of the reconciler wins, health retries.
        body = {"metadata": {"resourceVersion": metadata.get("resourceVersion")}, "status": status}
        return custom.patch_namespaced_custom_object_status(
            binding.group,
            binding.version,
            metadata["namespace"],
            binding.plural,
            metadata["name"],
            body,
        )

    queues = {c.binding.name: c.queue for c in controllers}
    return HealthFollower(
        api_client,
        [FollowedBinding(c.binding, c.informer) for c in controllers],
        events=EventRecorder(client.CoreV1Api(api_client)),
        sink=metrics,
        patch_status=patch_status,
        # an object whose Ready waits on its workloads is looked at when they change
        requeue=lambda binding, key: queues[binding].add(key),
    )


def _identity(options: ControllerOptions) -> str:
    return options.identity or f"{socket.gethostname()}-{os.getpid()}"


def _ring(options: ControllerOptions, api_client: client.ApiClient) -> Ring | None:
    if not options.shards:
        return None
    lease = options.lease_seconds
    return Ring(
        api_client,
        MemberConfig(
            namespace=options.lease_namespace,
            ring=options.lease_name,
            identity=_identity(options),
            lease_seconds=lease,
            renew_deadline=lease * 2 / 3,
            retry_period=max(0.5, lease / 7.5),
        ),
        server_side=options.server_side_shards,
    )


def _elector(options: ControllerOptions, api_client: client.ApiClient) -> LeaderElector | None:
    if not options.leader_elect:
        return None
    identity = _identity(options)
    return LeaderElector(
        client.CoordinationV1Api(api_client),
        LeaseConfig(namespace=options.lease_namespace, name=options.lease_name, identity=identity),
    )
