"""The controller process: one informer per binding feeding one work queue per
binding, a bounded pool of workers per binding that only ever see keys, and a
small HTTP server for /healthz, /readyz and /metrics. SIGTERM stops the
watches, lets the workers finish the keys they hold, and exits 0."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from controller.drift import DriftChecker
from controller.events import EventRecorder
from controller.health import HealthServer
from controller.informer import Informer
from controller.leader import LeaderElector, LeaseConfig
from controller.metrics import BindingSnapshot, ControllerMetrics
from controller.queue import ShutDown, WorkQueue
from controller.reconcile import ReconcileError, Reconciler
from controller.rollout import Rollout
from controller.status import READY, condition
from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings, ConfigError, load_bindings
from lostromos.engines import EngineRegistry
from lostromos.helmengine import HelmEngine, HelmError, RunningEngine, find_engine
from lostromos.logs import configure_logging

log = logging.getLogger("lostromos.controller")
DRAIN_SECONDS = 60.0


@dataclass(frozen=True)
class ControllerOptions:
    bindings_path: Path
    kubeconfig: Path | None = None
    helm_engine: Path | None = None
    health_bind: str = "0.0.0.0:8080"
    log_format: str = "text"
    log_level: str = "info"
    resync_seconds: float = 600.0
    leader_elect: bool = False
    lease_namespace: str = "default"
    lease_name: str = "lostromos-controller"
    identity: str = ""
    dry_run: bool = False
    chart_cache: Path | None = None


class BindingController:
    """Informer + queue + workers for one binding."""

    def __init__(self, binding: Binding, api_client: client.ApiClient, *,
                 engines: EngineRegistry, helm: HelmEngine, metrics: ControllerMetrics,
                 resync_seconds: float, dry_run: bool) -> None:
        self.binding = binding
        self.queue = WorkQueue()
        self.metrics = metrics
        self.engines = engines
        custom = client.CustomObjectsApi(api_client)
        self.informer = Informer(custom, binding, self.queue.add, resync_seconds=resync_seconds,
                                 label_selector=binding.selector.labels)
        self.rollout = Rollout(binding.name, binding.rollout)
        self.drift = DriftChecker(api_client, self.informer, self.queue.add,
                                  binding.drift_check_seconds)
        self.reconciler = Reconciler(
            binding, self.informer, api=custom, engines=engines, helm=helm,
            events=EventRecorder(client.CoreV1Api(api_client), dry_run=dry_run),
            rollout=self.rollout, drift=self.drift.observations, dry_run=dry_run)
        self.threads: list[threading.Thread] = []

    def snapshot(self) -> BindingSnapshot:
        target = self.engines.engine_for(self.binding).digest
        states: dict[str, int] = {}
        behind = 0
        for obj in self.informer.objects():
            status = obj.get("status") or {}
            ready = condition(status, READY) or {}
            state = ready.get("reason") or "Pending"
            states[state] = states.get(state, 0) + 1
            recorded = (status.get("release") or {}).get("chartDigest")
            behind += recorded is not None and recorded != target
        return BindingSnapshot(self.binding.name, len(self.queue), len(self.informer),
                               states, self.rollout.progress(), behind)

    def start(self, stop: threading.Event) -> None:
        name = self.binding.name
        for target, label in ((self.informer.run, "informer"), (self.drift.run, "drift")):
            threading.Thread(target=target, args=(stop,), name=f"{label}-{name}",
                             daemon=True).start()
        for index in range(self.binding.concurrency):
            worker = threading.Thread(target=self._work, name=f"worker-{name}-{index}",
                                      daemon=True)
            worker.start()
            self.threads.append(worker)

    def _work(self) -> None:
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            if key is None:
                continue
            self._process(key)

    def _process(self, key: str) -> None:
        started = time.monotonic()
        outcome = "success"
        try:
            result = self.reconciler.reconcile(key)
        except ReconcileError as error:
            outcome = "error"
            delay = self.queue.add_rate_limited(key)
            log.info("reconcile failed, retrying in %.1fs: %s", delay, error,
                     extra={"kind": self.binding.kind, "object": key})
        except Exception:
            outcome = "error"
            delay = self.queue.add_rate_limited(key)
            log.exception("reconcile crashed, retrying in %.1fs", delay,
                          extra={"kind": self.binding.kind, "object": key})
        else:
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)
        finally:
            self.queue.done(key)
            self.metrics.observe_reconcile(self.binding.name, outcome,
                                           time.monotonic() - started)

    def drain(self, timeout: float) -> bool:
        self.informer.stop()
        self.queue.shutdown()
        finished = self.queue.wait_idle(timeout)
        for thread in self.threads:
            thread.join(timeout=1)
        return finished


def _api_client(kubeconfig: Path | None) -> client.ApiClient:
    if kubeconfig is not None:
        return config.new_client_from_config(config_file=str(kubeconfig))
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except ConfigException:
        return config.new_client_from_config()


def run(options: ControllerOptions) -> int:
    configure_logging(options.log_format, options.log_level)
    try:
        bindings = load_bindings(options.bindings_path)
        engines = EngineRegistry(bindings, chart_cache=options.chart_cache)
        engines.check_all()
        engine_binary = find_engine(options.helm_engine)
        api_client = _api_client(options.kubeconfig)
    except (ConfigError, ChartError, HelmError, ConfigException, OSError) as error:
        print(f"lostromos controller: {error}", file=sys.stderr)
        return 2

    metrics = ControllerMetrics()
    engine = RunningEngine(engine_binary, kubeconfig=options.kubeconfig,
                           on_call=metrics.count_helm_call,
                           on_restart=metrics.count_engine_restart)
    try:
        with engine as helm:
            return _run(options, bindings, engines=engines, helm=helm, api_client=api_client,
                        metrics=metrics)
    except HelmError as error:  # the engine did not start
        print(f"lostromos controller: {error}", file=sys.stderr)
        return 2


def _run(options: ControllerOptions, bindings: Bindings, *, engines: EngineRegistry,
         helm: HelmEngine, api_client: client.ApiClient, metrics: ControllerMetrics) -> int:
    controllers = [
        BindingController(binding, api_client, engines=engines, helm=helm, metrics=metrics,
                          resync_seconds=options.resync_seconds, dry_run=options.dry_run)
        for binding in bindings.bindings
    ]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    elector = _elector(options, api_client)

    def ready() -> bool:
        # A standby is ready: it is healthy and waiting for the Lease. A leader is
        # ready once every informer has listed its kind.
        standby = elector is not None and not elector.leading.is_set()
        return standby or all(c.informer.synced for c in controllers)

    health = HealthServer(options.health_bind, metrics, ready=ready,
                          snapshots=lambda: [c.snapshot() for c in controllers])
    health.start()

    def start_all() -> None:
        for controller in controllers:
            controller.start(stop)
        log.info("controller started", extra={"bindings": [b.name for b in bindings.bindings]})

    if elector is None:
        start_all()
        stop.wait()
        kept_leadership = True
    else:
        kept_leadership = elector.run(stop, start_all)
    log.info("stopping: draining in-flight work")
    drained = all(controller.drain(DRAIN_SECONDS) for controller in controllers)
    if elector is not None and kept_leadership:
        elector.release()
    health.stop()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    log.info("stopped", extra={"drained": drained})
    # Losing the lease is not a clean stop: exit non-zero so the pod restarts as a standby.
    return 0 if kept_leadership else 1


def _elector(options: ControllerOptions, api_client: client.ApiClient) -> LeaderElector | None:
    if not options.leader_elect:
        return None
    identity = options.identity or f"{socket.gethostname()}-{os.getpid()}"
    return LeaderElector(client.CoordinationV1Api(api_client), LeaseConfig(
        namespace=options.lease_namespace, name=options.lease_name, identity=identity))
