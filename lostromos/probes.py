"""/healthz, /readyz (and optionally /metrics) on a small threaded HTTP server.

The controller and the certificate keeper serve their probes with this; the
webhook answers the same paths with the same JSON bodies from its own app
(webhook.app), so an operator reads one shape everywhere:
``{"status": "ok"}``, ``{"ready": true}``, or 503 with
``{"ready": false, "reason": ...}`` and any details.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)  # shown only when not ready

    def body(self) -> dict[str, Any]:
        if self.ready:
            return {"ready": True}
        return {"ready": False, "reason": self.reason, **self.details}


@dataclass(frozen=True)
class MetricsEndpoint:
    """/metrics: `registry`, served by prometheus-client's own WSGI app (content
    negotiation, gzip, `name[]` filters), after `refresh` updated the gauges."""

    registry: CollectorRegistry
    refresh: Callable[[], None] = lambda: None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # a probe every few seconds is not news


class ProbeServer:
    """Binds at construction (so a bad address fails at start-up); serves after start().

    Paths are matched without their query string (`/readyz?verbose` is /readyz), as
    the API server's own probes and every Prometheus scrape config may add one."""

    def __init__(
        self,
        bind: str,
        readiness: Callable[[], Readiness],
        *,
        metrics: MetricsEndpoint | None = None,
        name: str = "probes",
    ) -> None:
        host, _, port = bind.rpartition(":")
        metrics_app = make_wsgi_app(metrics.registry) if metrics is not None else None

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                return _json(start_response, 200, {"status": "ok"})
            if path == "/readyz":
                state = readiness()
                return _json(start_response, 200 if state.ready else 503, state.body())
            if path == "/metrics" and metrics is not None and metrics_app is not None:
                metrics.refresh()
                answer: Iterable[bytes] = metrics_app(environ, start_response)
                return answer
            return _json(start_response, 404, {"error": "not found"})

        self.server = make_server(
            host or "0.0.0.0",  # noqa: S104
            int(port),
            app,
            server_class=ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(start_response: Callable[..., Any], code: int, payload: Mapping[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    status = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}[code]
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
