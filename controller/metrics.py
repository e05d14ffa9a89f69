"""Prometheus metrics of one controller process (its own registry: no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

from controller.rollout import RolloutProgress
from lostromos.version import build_info_gauge


@dataclass(frozen=True)
class ShardSnapshot:
    """One replica's share of the ring, as a scrape reports it for one binding."""

    buckets: int
    ranges: int
    members: int
    watch_events: int
    server_side: bool
    ring_in_flight_max: int


@dataclass(frozen=True)
class BindingSnapshot:
    """What a scrape reports about one binding, read from its queue, store and rollout."""

    binding: str
    queue_depth: int
    objects: int
    releases_by_state: dict[str, int]
    rollout: RolloutProgress
    behind_chart: int
    not_ready: int = 0
    shard: ShardSnapshot | None = None
    stalled: int = 0


# Helm actions take from a second (a no-op upgrade) to the action's timeout (minutes).
HELM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
HELM_OUTCOMES = ("success", "not_found", "failure", "timeout")


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # What every Prometheus exporter offers: CPU, memory, open files, start time, GC.
        ProcessCollector(registry=self.registry)
        self.registry.register(PLATFORM_COLLECTOR)
        self.build_info = build_info_gauge(self.registry)
        self.helm_duration = Histogram(
            "lostromos_helm_action_duration_seconds",
            "Time of one Helm action (install, upgrade, uninstall, rollback, ...) by outcome.",
            ["action", "outcome"],
            registry=self.registry,
            buckets=HELM_BUCKETS,
        )
        self.not_ready = Gauge(
            "lostromos_objects_not_ready",
            "Bound objects whose Ready condition is not True.",
            ["binding"],
            registry=self.registry,
        )
        self.reconciles = Counter(
            "lostromos_reconciles_total",
            "Reconciles by binding and outcome.",
            ["binding", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "lostromos_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["binding"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.helm_calls = Counter(
            "lostromos_helm_calls_total",
            "Helm actions sent to the Helm engine, by action.",
            ["action"],
            registry=self.registry,
        )
        self.engine_restarts = Counter(
            "lostromos_helm_engine_restarts_total",
            "Times the Helm engine process was restarted.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "lostromos_queue_depth",
            "Keys waiting in a binding's work queue.",
            ["binding"],
            registry=self.registry,
        )
        self.stalled = Gauge(
            "lostromos_objects_stalled",
            "Bound objects whose Stalled condition is True: they wait for a person.",
            ["binding"],
            registry=self.registry,
        )
        self.objects = Gauge(
            "lostromos_objects",
            "Bound objects in the informer's store.",
            ["binding"],
            registry=self.registry,
        )
        self.source_objects = Gauge(
            "lostromos_source_objects",
            "Selected source objects (a binding's built-in kind) in the projector's store: "
            "with --shards, this replica's share.",
            ["binding"],
            registry=self.registry,
        )
        self.releases = Gauge(
            "lostromos_releases",
            "Bound objects by the reason of their Ready condition.",
            ["binding", "state"],
            registry=self.registry,
        )
        self.rollout = Gauge(
            "lostromos_rollout_releases",
            "The current chart rollout: releases upgraded, failed, in flight, still behind.",
            ["binding", "state"],
            registry=self.registry,
        )
        self.rollout_halted = Gauge(
            "lostromos_rollout_halted",
            "1 when the current chart rollout halted on failures.",
            ["binding"],
            registry=self.registry,
        )

        self.shard_buckets = Gauge(
            "lostromos_shard_buckets",
            "Hash buckets (of 256) this replica serves.",
            ["binding"],
            registry=self.registry,
        )
        self.shard_ranges = Gauge(
            "lostromos_shard_ranges",
            "Contiguous hash ranges this replica serves.",
            ["binding"],
            registry=self.registry,
        )
        self.shard_members = Gauge(
            "lostromos_shard_members",
            "Live controller replicas in the ring, as seen here.",
            ["binding"],
            registry=self.registry,
        )
        self.shard_events = Gauge(
            "lostromos_shard_watch_events",
            "Watch events received since start (bookmarks "
            "excluded): with server-side sharding, only this replica's share.",
            ["binding"],
            registry=self.registry,
        )
        self.shard_server_side = Gauge(
            "lostromos_shard_server_side",
            "1 when the API server filters by hash range.",
            ["binding"],
            registry=self.registry,
        )
        self.ring_in_flight_max = Gauge(
            "lostromos_rollout_ring_in_flight_max",
            "Most chart upgrades in flight across the whole ring, seen when taking a slot.",
            ["binding"],
            registry=self.registry,
        )

        self.health_changes = Counter(
            "lostromos_health_changes_total",
            "Times a bound object's health (its Healthy condition's reason) changed, by the "
            "state it changed to.",
            ["binding", "health"],
            registry=self.registry,
        )
        self.health = Gauge(
            "lostromos_objects_by_health",
            "Bound objects by the health of their workloads (Healthy, Progressing, Degraded).",
            ["binding", "health"],
            registry=self.registry,
        )

    def health_changed(self, binding: str, state: str) -> None:
        self.health_changes.labels(binding, state).inc()

    def health_states(self, binding: str, counts: dict[str, int]) -> None:
        for state, count in counts.items():
            self.health.labels(binding, state).set(count)

    def observe_reconcile(self, binding: str, outcome: str, seconds: float) -> None:
        self.reconciles.labels(binding, outcome).inc()
        self.duration.labels(binding).observe(seconds)

    def count_helm_call(self, action: str) -> None:
        self.helm_calls.labels(action).inc()

    def count_engine_restart(self) -> None:
        self.engine_restarts.inc()

    def observe_helm_action(self, action: str, outcome: str, seconds: float) -> None:
        """One finished Helm action; outcome is one of HELM_OUTCOMES."""
        self.helm_duration.labels(action, outcome).observe(seconds)

    def update(self, snapshots: list[BindingSnapshot]) -> None:
        self.releases.clear()
        for snap in snapshots:
            self.queue_depth.labels(snap.binding).set(snap.queue_depth)
            self.objects.labels(snap.binding).set(snap.objects)
            self.not_ready.labels(snap.binding).set(snap.not_ready)
            self.stalled.labels(snap.binding).set(snap.stalled)
            for state, count in snap.releases_by_state.items():
                self.releases.labels(snap.binding, state).set(count)
            progress = snap.rollout
            for state, count in (
                ("upgraded", progress.upgraded),
                ("failed", progress.failed),
                ("in_flight", progress.in_flight),
                ("behind", snap.behind_chart),
            ):
                self.rollout.labels(snap.binding, state).set(count)
            self.rollout_halted.labels(snap.binding).set(1 if progress.halted else 0)
            if snap.shard is not None:
                self._update_shard(snap.binding, snap.shard)

    def update_sources(self, counts: dict[str, int]) -> None:
        """Source objects held, by binding (controller.sources)."""
        for binding, count in counts.items():
            self.source_objects.labels(binding).set(count)

    def _update_shard(self, binding: str, shard: ShardSnapshot) -> None:
        self.shard_buckets.labels(binding).set(shard.buckets)
        self.shard_ranges.labels(binding).set(shard.ranges)
        self.shard_members.labels(binding).set(shard.members)
        self.shard_events.labels(binding).set(shard.watch_events)
        self.shard_server_side.labels(binding).set(1 if shard.server_side else 0)
        self.ring_in_flight_max.labels(binding).set(shard.ring_in_flight_max)
