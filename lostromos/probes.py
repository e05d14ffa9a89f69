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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)  # shown only when not ready

    def body(self) -> dict[str, Any]:
        if self.ready:
            return {"ready": True}
        return {"ready": False, "reason": self.reason, **self.details}


# the metrics endpoint: the exposition text and its content type
MetricsSource = Callable[[], tuple[bytes, str]]


class ProbeServer:
    """Binds at construction (so a bad address fails at start-up); serves after start()."""

    def __init__(
        self,
        bind: str,
        readiness: Callable[[], Readiness],
        *,
        metrics: MetricsSource | None = None,
        name: str = "probes",
    ) -> None:
        host, _, port = bind.rpartition(":")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._send_json(200, {"status": "ok"})
                elif self.path == "/readyz":
                    state = readiness()
                    self._send_json(200 if state.ready else 503, state.body())
                elif self.path == "/metrics" and metrics is not None:
                    payload, content_type = metrics()
                    self._send(200, payload, content_type)
                else:
                    self._send_json(404, {"error": "not found"})

            def _send_json(self, code: int, payload: Mapping[str, Any]) -> None:
                self._send(code, json.dumps(payload).encode(), "application/json")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a probe every few seconds is not news

        self.server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)  # noqa: S104
        self.server.daemon_threads = True
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
