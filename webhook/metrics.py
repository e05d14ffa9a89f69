"""Prometheus metrics of one webhook app.

Each app owns its CollectorRegistry, so two apps in one process (tests) never
share or collide. Under gunicorn each worker is its own process; there the
values go to files in a multiprocess directory and /metrics adds up every
worker's files, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from lostromos.version import build_info_gauge

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Admission calls are sub-millisecond to a few milliseconds; the API server gives up at 10 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0)


def enable_multiprocess(directory: str | Path) -> None:
    """Make metrics created from now on write to `directory` (call before forking workers).

    prometheus_client picks its value storage from the environment when it is
    first imported; re-picking it here makes the switch work even when something
    imported prometheus_client earlier in this process.
    """
    os.environ[MULTIPROCESS_ENV] = str(directory)
    values.ValueClass = values.get_value_class()


def forget_process(pid: int, directory: str | Path) -> None:
    """Bookkeeping for a worker that exited (its live gauges, should we ever add any)."""
    mark_process_dead(pid, str(directory))


class WebhookMetrics:
    """Request counts by endpoint, kind and verdict; latency by endpoint."""

    def __init__(self, multiprocess_dir: str | Path | None = None) -> None:
        if multiprocess_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise ValueError("call enable_multiprocess() before creating multiprocess metrics")
        self._own = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lostromos_webhook_requests",
            "Admission requests answered, by endpoint, bound kind and verdict.",
            ["endpoint", "kind", "verdict"],
            registry=self._own,
        )
        self.latency = Histogram(
            "lostromos_webhook_request_duration_seconds",
            "Time to answer one admission request, body reading included.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self._own,
        )
        # Every worker writes the same 1: "max" reports it once, not once per worker.
        build_info_gauge(self._own, multiprocess_mode="max")
        if multiprocess_dir is None:
            self._exposed = self._own
        else:
            # The per-process metrics above still write their values to the
            # directory; the exposition registry reads every worker's files.
            self._exposed = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self._exposed, path=str(multiprocess_dir))

    def observe(self, endpoint: str, kind: str, verdict: str, seconds: float) -> None:
        self.requests.labels(endpoint, kind, verdict).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self._exposed), CONTENT_TYPE_LATEST
