"""Prometheus metrics of one controller process (its own registry: no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.rollout import RolloutProgress


@dataclass(frozen=True)
class BindingSnapshot:
    """What a scrape reports about one binding, read from its queue, store and rollout."""

    binding: str
    queue_depth: int
    objects: int
    releases_by_state: dict[str, int]
    rollout: RolloutProgress
    behind_chart: int


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "lostromos_reconciles_total", "Reconciles by binding and outcome.",
            ["binding", "outcome"], registry=self.registry)
        self.duration = Histogram(
            "lostromos_reconcile_duration_seconds", "Time spent in one reconcile.",
            ["binding"], registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.helm_calls = Counter(
            "lostromos_helm_calls_total", "Helm actions sent to the Helm engine, by action.",
            ["action"], registry=self.registry)
        self.engine_restarts = Counter(
            "lostromos_helm_engine_restarts_total", "Times the Helm engine process was restarted.",
            registry=self.registry)
        self.queue_depth = Gauge(
            "lostromos_queue_depth", "Keys waiting in a binding's work queue.",
            ["binding"], registry=self.registry)
        self.objects = Gauge(
            "lostromos_objects", "Bound objects in the informer's store.",
            ["binding"], registry=self.registry)
        self.releases = Gauge(
            "lostromos_releases", "Bound objects by the reason of their Ready condition.",
            ["binding", "state"], registry=self.registry)
        self.rollout = Gauge(
            "lostromos_rollout_releases",
            "The current chart rollout: releases upgraded, failed, in flight, still behind.",
            ["binding", "state"], registry=self.registry)
        self.rollout_halted = Gauge(
            "lostromos_rollout_halted", "1 when the current chart rollout halted on failures.",
            ["binding"], registry=self.registry)

    def observe_reconcile(self, binding: str, outcome: str, seconds: float) -> None:
        self.reconciles.labels(binding, outcome).inc()
        self.duration.labels(binding).observe(seconds)

    def count_helm_call(self, action: str) -> None:
        self.helm_calls.labels(action).inc()

    def count_engine_restart(self) -> None:
        self.engine_restarts.inc()

    def update(self, snapshots: list[BindingSnapshot]) -> None:
        self.releases.clear()
        for snap in snapshots:
            self.queue_depth.labels(snap.binding).set(snap.queue_depth)
            self.objects.labels(snap.binding).set(snap.objects)
            for state, count in snap.releases_by_state.items():
                self.releases.labels(snap.binding, state).set(count)
            progress = snap.rollout
            for state, count in (("upgraded", progress.upgraded), ("failed", progress.failed),
                                 ("in_flight", progress.in_flight),
                                 ("behind", snap.behind_chart)):
                self.rollout.labels(snap.binding, state).set(count)
            self.rollout_halted.labels(snap.binding).set(1 if progress.halted else 0)
