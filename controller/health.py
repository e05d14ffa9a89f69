"""/healthz, /readyz and /metrics for the controller, on a small threaded HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controller.metrics import BindingSnapshot, ControllerMetrics


class HealthServer:
    def __init__(self, bind: str, metrics: ControllerMetrics, *, ready: Callable[[], bool],
                 snapshots: Callable[[], list[BindingSnapshot]]) -> None:
        host, _, port = bind.rpartition(":")
        metrics_ref, ready_ref, snapshots_ref = metrics, ready, snapshots

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif self.path == "/readyz":
                    is_ready = ready_ref()
                    self._send(200 if is_ready else 503,
                               b"ok\n" if is_ready else b"informers not synced\n", "text/plain")
                elif self.path == "/metrics":
                    metrics_ref.update(snapshots_ref())
                    self._send(200, generate_latest(metrics_ref.registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the log

        self.server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)  # noqa: S104
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="health",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
