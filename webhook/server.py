"""Serving the webhook: gunicorn embedded, TLS 1.2+ only, graceful on SIGTERM.

`serve()` refuses to start - one line on stderr, exit status 2 - when the
bindings file or a bound chart is broken, so a bad chart never reaches a
running webhook. Otherwise it runs gunicorn in the foreground: a master
process and `workers` forked processes of `threads` threads each (gthread,
with the TLS handshake and request reading moved into its poller: see
webhook.worker), all answering from the charts loaded once in the master before forking.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from lostromos.chartrepo import engine_puller
from lostromos.charts import ChartError
from lostromos.config import ConfigError, load_bindings
from lostromos.engines import EngineRegistry
from lostromos.helmengine import EngineMissing, HelmError, find_engine
from lostromos.logs import configure_logging
from lostromos.probes import MetricsEndpoint, ProbeServer, Readiness
from lostromos.rendercheck import RenderCheck
from lostromos.renderpool import BudgetedRenderer, RenderProcesses
from webhook.app import create_app
from webhook.certreload import ReloadingContext
from webhook.metrics import enable_multiprocess, forget_process
from webhook.options import DEFAULT_IO_TIMEOUT_SECONDS, ServeOptions
from webhook.worker import PollingTLSWorker

__all__ = ["ServeOptions", "ServingTLS", "serve"]

EXIT_REFUSED = 2
log = logging.getLogger("lostromos.webhook")


class BoundedSSLSocket(ssl.SSLSocket):
    """An SSL socket whose blocking reads and writes cannot hang a worker thread.

    The handshake and the first read of each request happen in the poller
    (webhook.worker), but a thread still reads what is left of a chunked body
    and writes the answer on a blocking socket. gunicorn calls setblocking(True)
    before it reads each request: from there the request has `io_timeout`
    seconds, and a peer that misses the deadline is treated as one that left.
    """

    io_timeout = DEFAULT_IO_TIMEOUT_SECONDS
    _read_deadline = 0.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._read_deadline = time.monotonic() + self.io_timeout
            self.settimeout(self.io_timeout)
        else:
            super().setblocking(False)

    def _deadline_passed(self) -> bool:
        if not self.gettimeout():  # non-blocking, in the poller: no deadline of ours
            return False
        remaining = self._read_deadline - time.monotonic()
        if remaining > 0:
            self.settimeout(remaining)
        return remaining <= 0

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._deadline_passed():
            return b""  # the parser sees a client that went away
        try:
            return super().recv(buflen, flags)
        except TimeoutError:
            return b""

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._deadline_passed():
            return 0
        try:
            return super().recv_into(buffer, nbytes, flags)
        except TimeoutError:
            return 0


class ServingTLS:
    """Builds the TLS context of one worker: TLS 1.2 or newer, our certificate.

    gunicorn asks its ssl_context hook for a context on every new connection.
    Each worker process keeps one context and rebuilds it only when the
    certificate or key file changed on disk (webhook.certreload), so a rotated
    certificate is served from the next connection on, by every worker, without
    a restart and without touching connections already open.
    """

    def __init__(
        self,
        certfile: Path,
        keyfile: Path,
        *,
        check_seconds: float = 1.0,
        io_timeout: float = DEFAULT_IO_TIMEOUT_SECONDS,
    ) -> None:
        self.certfile = certfile
        self.keyfile = keyfile
        self.check_seconds = check_seconds
        self._socket_class = type(
            "BoundedSSLSocket", (BoundedSSLSocket,), {"io_timeout": io_timeout}
        )
        self._reloading: ReloadingContext | None = None
        self._built_in_pid = 0

    def build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.sslsocket_class = self._socket_class
        context.load_cert_chain(certfile=str(self.certfile), keyfile=str(self.keyfile))
        return context

    def context(self) -> ssl.SSLContext:
        if self._reloading is None or self._built_in_pid != os.getpid():
            self._reloading = ReloadingContext(
                self.certfile, self.keyfile, self.build, check_seconds=self.check_seconds
            )
            self._built_in_pid = os.getpid()
        return self._reloading.current()

    def gunicorn_hook(self) -> Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
        def ssl_context(
            config: Any,
            default_ssl_context_factory: Callable[[], ssl.SSLContext],
        ) -> ssl.SSLContext:
            return self.context()

        return ssl_context


class _PropagatingLogger(GunicornLogger):
    """gunicorn's own log records go to our handler (text or JSON), not to its own."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for gunicorn_log in (self.error_log, self.access_log):
            for handler in list(gunicorn_log.handlers):
                gunicorn_log.removeHandler(handler)
            gunicorn_log.propagate = True


class _WebhookApplication(BaseApplication):
    def __init__(self, settings: dict[str, Any], load_app: Callable[[], Any]) -> None:
        self._settings = settings
        self._load_app = load_app
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load_app()


def serve(options: ServeOptions) -> int:
    """Run the webhook until SIGTERM; 0 after a graceful stop, 2 when refusing to start."""
    configure_logging(options.log_format, options.log_level)
    tls = ServingTLS(options.certfile, options.keyfile, io_timeout=options.io_timeout)
    try:
        registry = _load_registry(options.bindings_path, options.helm_engine)
        tls.build()  # a missing or mismatched certificate stops us here, not in every worker
    except (ConfigError, ChartError) as error:
        return _refuse(str(error))
    except (OSError, ssl.SSLError) as error:
        return _refuse(
            f"cannot load TLS certificate {options.certfile} and key "
            f"{options.keyfile}: {getattr(error, 'strerror', None) or error}"
        )

    # Render processes per pod, started by the master and shared by every worker
    # over their sockets; a worker kills one whose render passes its budget and
    # the master starts another. Only needed when some binding renders at admission.
    renders: RenderProcesses | None = None
    if any(binding.admission.render for binding in registry.bindings.bindings):
        try:
            renders = RenderProcesses(find_engine(options.helm_engine))
            renders.start()
        except (EngineMissing, HelmError) as error:
            return _refuse(error.message)

    master_pid = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="lostromos-webhook-metrics-")
    enable_multiprocess(metrics_dir)
    try:
        metrics_server = _metrics_server(options.metrics_bind, metrics_dir)
    except (OSError, ValueError) as error:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if renders is not None:
            renders.stop()
        return _refuse(
            f"--metrics-bind {options.metrics_bind}: {getattr(error, 'strerror', None) or error}"
        )

    def load_app() -> Any:
        # Runs in each worker after the fork: the registry (charts loaded and
        # validators compiled in the master) is inherited, not rebuilt.
        checks = []
        if renders is not None:
            checks.append(RenderCheck(BudgetedRenderer(renders.socket_paths)))
        app = create_app(
            registry,
            max_body_bytes=options.max_body_bytes,
            metrics_multiprocess_dir=metrics_dir,
            checks=checks,
            review_seconds=options.review_seconds,
            max_spec_values=options.max_spec_values,
        )
        # Everything built so far lives as long as the worker. Left to the
        # collector, each full collection walks all of it again: a pause of
        # tens of milliseconds in the middle of someone's kubectl apply.
        gc.collect()
        gc.freeze()
        return app

    def child_exit(server: Any, worker: Any) -> None:
        forget_process(worker.pid, metrics_dir)

    settings: dict[str, Any] = {
        "bind": [options.bind],
        "workers": options.workers,
        "worker_class": type(
            "Worker",
            (PollingTLSWorker,),
            {"io_timeout": options.io_timeout, "max_body_bytes": options.max_body_bytes},
        ),
        "threads": options.threads,
        "worker_connections": options.max_connections,
        "certfile": str(options.certfile),
        "keyfile": str(options.keyfile),
        "ssl_context": tls.gunicorn_hook(),
        "graceful_timeout": options.graceful_timeout,
        "keepalive": options.keepalive,
        "accesslog": "-" if options.access_log else None,
        "errorlog": "-",
        "loglevel": options.log_level,
        "logger_class": _PropagatingLogger,
        "child_exit": child_exit,
        "proc_name": "lostromos-webhook",
        "control_socket_disable": True,  # no runtime control socket in $HOME
        "preload_app": False,
    }
    try:
        _WebhookApplication(settings, load_app).run()
    except SystemExit as exit_request:
        if os.getpid() != master_pid:
            raise  # a worker leaving: gunicorn decides its exit status
        return _exit_status(exit_request.code)
    finally:
        if os.getpid() == master_pid:
            if metrics_server is not None:
                metrics_server.stop()
            shutil.rmtree(metrics_dir, ignore_errors=True)
            if renders is not None:
                renders.stop()
    return 0


def _load_registry(bindings_path: Path, engine_binary: Path | None) -> EngineRegistry:
    registry = EngineRegistry(load_bindings(bindings_path), puller=engine_puller(engine_binary))
    registry.check_all()
    return registry


def _metrics_server(bind: str | None, metrics_dir: str) -> ProbeServer | None:
    """/metrics of every worker (their multiprocess files) over plain HTTP on `bind`,
    served by the master, which outlives the workers (None: no such port)."""
    if bind is None:
        return None
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=metrics_dir)
    # /readyz here says only that the master runs: probes belong on the admission port.
    server = ProbeServer(
        bind, lambda: Readiness(True), metrics=MetricsEndpoint(registry), name="webhook-metrics"
    )
    return server.start()


def _refuse(message: str) -> int:
    print(f"lostromos webhook: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
