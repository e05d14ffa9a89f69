"""Prometheus metrics of one controller process (its own registry: no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
            "lostromos_helm_calls_total", "helm invocations by action.",
            ["action"], registry=self.registry)
        self.queue_depth = Gauge(
            "lostromos_queue_depth", "Keys waiting in a binding's work queue.",
            ["binding"], registry=self.registry)
        self.objects = Gauge(
            "lostromos_objects", "Bound objects in the informer's store.",
            ["binding"], registry=self.registry)

    def observe_reconcile(self, binding: str, outcome: str, seconds: float) -> None:
        self.reconciles.labels(binding, outcome).inc()
        self.duration.labels(binding).observe(seconds)

    def count_helm_call(self, action: str) -> None:
        self.helm_calls.labels(action).inc()

    def set_gauges(self, values: dict[str, tuple[int, int]]) -> None:
        for binding, (depth, objects) in values.items():
            self.queue_depth.labels(binding).set(depth)
            self.objects.labels(binding).set(objects)
