"""Serving the webhook: gunicorn embedded, TLS 1.2+ only, graceful on SIGTERM.

`serve()` refuses to start - one line on stderr, exit status 2 - when the
bindings file or a bound chart is broken, so a bad chart never reaches a
running webhook. Otherwise it runs gunicorn in the foreground: a master
process and `workers` forked processes of `threads` threads each (gthread),
all answering from the charts loaded once in the master before forking.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from lostromos.charts import ChartError
from lostromos.config import ConfigError, load_bindings
from lostromos.engines import EngineRegistry
from lostromos.helmengine import EngineClient, EngineProcess, HelmEngine, HelmError, find_engine
from lostromos.logs import LogFormat, configure_logging
from lostromos.rendercheck import RenderCheck
from webhook.app import DEFAULT_MAX_BODY_BYTES, create_app
from webhook.certreload import ReloadingContext
from webhook.metrics import enable_multiprocess, forget_process

EXIT_REFUSED = 2
log = logging.getLogger("lostromos.webhook")


@dataclass(kw_only=True)
class ServeOptions:
    bindings_path: Path
    bind: str = "127.0.0.1:8443"
    certfile: Path
    keyfile: Path
    workers: int = 2
    threads: int = 4
    log_format: LogFormat = "text"
    log_level: str = "info"
    access_log: bool = False  # one line per request is too chatty at hundreds per second
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    graceful_timeout: int = 20  # in-flight reviews finish; the API server waits 10 s at most
    keepalive: int = 30  # the API server reuses connections to webhooks
    helm_engine: Path | None = None  # default: the toolchain build, then PATH


# A client gets this many seconds for the TLS handshake, and again for sending
# each request; every blocking write must make progress within it too. The API
# server gives a webhook 30 s at most for everything, and sends a review in
# one go: a peer slower than this is not the API server.
IO_TIMEOUT_SECONDS = 10.0


class BoundedSSLSocket(ssl.SSLSocket):
    """An SSL socket whose blocking operations cannot hang a worker thread.

    gunicorn's threaded worker does the handshake and reads a request in a pool
    thread on a blocking socket with no timeout, so a client that connects and
    goes quiet, or trickles a byte at a time, holds that thread for good; enough
    of them and the webhook stops answering, and with failurePolicy Fail so does
    every write of a bound kind. gunicorn calls setblocking(True) before it
    reads each request: from there the request has IO_TIMEOUT_SECONDS to
    arrive, and a peer that misses the deadline is treated as one that left.
    """

    _read_deadline = 0.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._read_deadline = time.monotonic() + IO_TIMEOUT_SECONDS
            self.settimeout(IO_TIMEOUT_SECONDS)
        else:
            super().setblocking(False)

    def do_handshake(self, block: bool = False) -> None:
        self.setblocking(True)
        try:
            super().do_handshake(block)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "TLS handshake timed out") from None

    def _time_left(self) -> float:
        remaining = self._read_deadline - time.monotonic()
        if remaining > 0 and self.gettimeout() is not None:
            self.settimeout(remaining)
        return remaining

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._time_left() <= 0:
            return b""  # the parser sees a client that went away
        try:
            return super().recv(buflen, flags)
        except TimeoutError:
            return b""

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._time_left() <= 0:
            return 0
        try:
            return super().recv_into(buffer, nbytes, flags)  # type: ignore[arg-type]
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

    def __init__(self, certfile: Path, keyfile: Path, *, check_seconds: float = 1.0) -> None:
        self.certfile = certfile
        self.keyfile = keyfile
        self.check_seconds = check_seconds
        self._reloading: ReloadingContext | None = None
        self._built_in_pid = 0

    def build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.sslsocket_class = BoundedSSLSocket
        context.load_cert_chain(certfile=str(self.certfile), keyfile=str(self.keyfile))
        return context

    def context(self) -> ssl.SSLContext:
        if self._reloading is None or self._built_in_pid != os.getpid():
            self._reloading = ReloadingContext(self.certfile, self.keyfile, self.build,
                                               check_seconds=self.check_seconds)
            self._built_in_pid = os.getpid()
        return self._reloading.current()

    def gunicorn_hook(self) -> Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
        def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext],
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
    tls = ServingTLS(options.certfile, options.keyfile)
    try:
        registry = _load_registry(options.bindings_path)
        tls.build()  # a missing or mismatched certificate stops us here, not in every worker
    except (ConfigError, ChartError) as error:
        return _refuse(str(error))
    except (OSError, ssl.SSLError) as error:
        return _refuse(f"cannot load TLS certificate {options.certfile} and key "
                       f"{options.keyfile}: {getattr(error, 'strerror', None) or error}")

    # One Helm engine per pod, started by the master and shared by every worker
    # over its socket; only needed when some binding renders at admission.
    engine: EngineProcess | None = None
    if any(binding.admission.render for binding in registry.bindings.bindings):
        try:
            engine = EngineProcess(find_engine(options.helm_engine), cluster=False)
            engine.start()
        except HelmError as error:
            return _refuse(error.message)

    master_pid = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="lostromos-webhook-metrics-")
    enable_multiprocess(metrics_dir)

    def load_app() -> Any:
        # Runs in each worker after the fork: the registry (charts loaded and
        # validators compiled in the master) is inherited, not rebuilt.
        render = None
        if engine is not None:
            render = RenderCheck(HelmEngine(EngineClient(engine.socket_path, connect_wait=2.0)))
        app = create_app(registry, max_body_bytes=options.max_body_bytes,
                         metrics_multiprocess_dir=metrics_dir, render=render)
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
        "worker_class": "gthread",
        "threads": options.threads,
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
            shutil.rmtree(metrics_dir, ignore_errors=True)
            if engine is not None:
                engine.stop()
    return 0


def _load_registry(bindings_path: Path) -> EngineRegistry:
    registry = EngineRegistry(load_bindings(bindings_path))
    registry.check_all()
    return registry


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
