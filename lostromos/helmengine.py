"""The Helm engine: Helm's own library in one long-lived child process.

The controller and the webhook each run one `helmengine` (built from the same
pinned helm.sh/helm/v4 module as the helm CLI, see tools/k8s/helmengine) and
talk to it over a Unix socket: one JSON request per line, one JSON answer per
line (protocol version 1, documented in docs/engine.md). The process keeps
loaded charts, Kubernetes connections and discovery between calls, so an
install costs the API requests it makes and nothing else.

`EngineProcess` (lostromos.engineprocess) starts and restarts the child;
`EngineClient` is the connection pool; lostromos.enginewire is the wire format
and decodes every answer; `HelmEngine` is the typed Helm actions API that the
reconciler and admission call. Values travel only over the socket: nothing is
written to disk.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lostromos.engineprocess import EngineProcess, find_engine
from lostromos.enginewire import (
    ChartSource,
    Confinement,
    EngineError,
    EngineMissing,
    EngineUnavailable,
    ErrorCode,
    HelmError,
    Pulled,
    Release,
    Rendered,
    Violation,
    WireObject,
    chart_wire,
    decode_answer,
    request_line,
    trim,
)

# The protocol's types are used through this module by most callers.
__all__ = [
    "PENDING_STATES",
    "ChartSource",
    "Confinement",
    "EngineClient",
    "EngineError",
    "EngineMissing",
    "EngineProcess",
    "EngineUnavailable",
    "ErrorCode",
    "HelmEngine",
    "HelmError",
    "Pulled",
    "Release",
    "Rendered",
    "RunningEngine",
    "Violation",
    "find_engine",
    "trim",
]

log = logging.getLogger("lostromos.helmengine")

PENDING_STATES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
# How long a call waits for a (re)starting engine's socket before giving up.
CONNECT_WAIT_SECONDS = 5.0


class EngineClient:
    """A pool of connections to one engine socket; safe for many threads.

    Each connection carries one request at a time. A pool belongs to the
    process that made it: after a fork (gunicorn workers) it starts empty.
    """

    def __init__(self, socket_path: Path, *, connect_wait: float = CONNECT_WAIT_SECONDS) -> None:
        self.socket_path = socket_path
        self.connect_wait = connect_wait
        self._lock = threading.Lock()
        self._idle: list[tuple[socket.socket, Any]] = []
        self._pid = os.getpid()
        self._next_id = 0

    def call(self, op: str, timeout: float, **params: Any) -> WireObject:
        """Send one request; return its result, or raise the HelmError it answers
        (EngineUnavailable: no answer; EngineError: not a protocol answer)."""
        connection = self._take(op)
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
        sock, reader = connection
        line = request_line(request_id, op, params)
        try:
            sock.settimeout(timeout)
            sock.sendall(line)
            answer = reader.readline()
        except TimeoutError:
            self._discard(connection)
            raise HelmError(
                op,
                f"the Helm engine gave no answer within {timeout:.0f}s",
                code=ErrorCode.TIMEOUT,
                retryable=True,
            ) from None
        except OSError as error:
            self._discard(connection)
            raise EngineUnavailable(
                op, f"the Helm engine connection failed during {op}: {error.strerror or error}"
            ) from None
        if not answer.endswith(b"\n"):  # nothing, or cut off: the engine died
            self._discard(connection)
            raise EngineUnavailable(
                op,
                f"the Helm engine stopped while running {op}; "
                "it is restarted and the action will be retried",
            )
        try:
            result = decode_answer(op, answer, request_id)
        except EngineError:
            self._discard(connection)  # no longer known to be in step with the engine
            raise
        except HelmError:
            self._give_back(connection)
            raise
        self._give_back(connection)
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock, reader in idle:
            reader.close()
            sock.close()

    def _take(self, op: str) -> tuple[socket.socket, Any]:
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        deadline = time.monotonic() + self.connect_wait
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                return sock, sock.makefile("rb")
            except OSError as error:
                sock.close()
                if time.monotonic() >= deadline:
                    raise EngineUnavailable(
                        op,
                        f"the Helm engine is not reachable at {self.socket_path}: {error.strerror}",
                    ) from None
                time.sleep(0.05)

    def _give_back(self, connection: tuple[socket.socket, Any]) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(connection)
                return
        self._discard(connection)

    @staticmethod
    def _discard(connection: tuple[socket.socket, Any]) -> None:
        sock, reader = connection
        reader.close()
        sock.close()


# Time the engine may take beyond an action's own Helm timeout before the
# client stops waiting (Helm honours its timeout; this covers the wire).
WIRE_MARGIN_SECONDS = 30.0


class HelmEngine:
    """Helm actions through the engine: what the reconciler and admission call."""

    def __init__(
        self,
        client: EngineClient,
        *,
        on_call: Callable[[str], None] = lambda action: None,
        observe: Callable[[str, str, float], None] = lambda action, outcome, s: None,
    ) -> None:
        self.client = client
        self._on_call = on_call
        self._observe = observe

    def _call(self, op: str, timeout: float, **params: Any) -> WireObject:
        self._on_call(op)
        started = time.monotonic()
        outcome = "failure"
        try:
            result = self.client.call(op, timeout, **params)
            outcome = "success"
            return result
        except HelmError as error:
            # "No such release" is an answer, not a failure: every first status of a
            # new object gets it, and counting it would bury real failures in noise.
            if error.code is ErrorCode.NOT_FOUND:
                outcome = "not_found"
            else:
                outcome = "timeout" if error.timed_out else "failure"
            raise
        finally:
            self._observe(op, outcome, time.monotonic() - started)

    def render(
        self,
        chart: ChartSource,
        release: str,
        namespace: str,
        values: Mapping[str, Any],
        *,
        confine: Confinement | None = None,
        timeout_seconds: float = 10.0,
        schema_checked: bool = False,
        secrets: Sequence[str] = (),
    ) -> Rendered:
        result = self._call(
            "render",
            timeout_seconds,
            chart=chart_wire(chart),
            release=release,
            namespace=namespace,
            values=values,
            timeoutSeconds=timeout_seconds,
            confine=confine.to_wire() if confine else None,
            # values lostromos's Helm-exact engine has judged need not be judged twice
            skipSchemaValidation=schema_checked,
            redact=list(secrets),  # the engine scrubs them from errors and Helm's log lines
        )
        return Rendered.from_wire(result)

    def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: ChartSource | Path,
        values: Mapping[str, Any],
        *,
        timeout_seconds: int,
        wait: bool = False,
        labels: Mapping[str, str] | None = None,
        impersonate: str | None = None,
        confine: Confinement | None = None,
        schema_checked: bool = False,
        max_history: int = 0,
        secrets: Sequence[str] = (),
    ) -> Release:
        result = self._call(
            "upgrade",
            timeout_seconds + WIRE_MARGIN_SECONDS,
            chart=chart_wire(chart),
            release=release,
            namespace=namespace,
            values=values,
            timeoutSeconds=timeout_seconds,
            wait=wait,
            labels=dict(labels or {}),
            impersonate=impersonate or "",
            confine=confine.to_wire() if confine else None,
            skipSchemaValidation=schema_checked,
            maxHistory=max_history,
            redact=list(secrets),
        )
        return Release.from_wire(result)

    def status(
        self, release: str, namespace: str, *, impersonate: str | None = None
    ) -> Release | None:
        try:
            result = self._call(
                "status", 60.0, release=release, namespace=namespace, impersonate=impersonate or ""
            )
        except HelmError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return Release.from_wire(result)

    def uninstall(
        self,
        release: str,
        namespace: str,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> None:
        self._call(
            "uninstall",
            timeout_seconds + WIRE_MARGIN_SECONDS,
            release=release,
            namespace=namespace,
            timeoutSeconds=timeout_seconds,
            impersonate=impersonate or "",
            confine=confine.to_wire() if confine else None,
        )

    def adopt(
        self,
        release: Release,
        *,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> Release:
        """Sign the newest record of an unsigned release: exactly the one `status`
        described (its revision and record digest), dropping older unsigned ones."""
        result = self._call(
            "adopt",
            60.0,
            release=release.name,
            namespace=release.namespace,
            revision=release.revision,
            digest=release.record_digest,
            impersonate=impersonate or "",
            confine=confine.to_wire() if confine else None,
        )
        return Release.from_wire(result)

    def rollback(
        self,
        release: str,
        namespace: str,
        revision: int,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        max_history: int = 0,
        confine: Confinement | None = None,
    ) -> None:
        self._call(
            "rollback",
            timeout_seconds + WIRE_MARGIN_SECONDS,
            release=release,
            namespace=namespace,
            revision=revision,
            timeoutSeconds=timeout_seconds,
            impersonate=impersonate or "",
            maxHistory=max_history,
            confine=confine.to_wire() if confine else None,
        )

    def pull(
        self,
        repository: str,
        name: str,
        version: str,
        destination: Path,
        *,
        source: Mapping[str, Any] | None = None,
        digest: str = "",
        timeout_seconds: float = 120.0,
    ) -> Pulled:
        """`helm pull` of `name` at `version` from an HTTP repository or an oci://
        registry into destination. `source` is Helm's repository options
        (credentials, TLS, plainHTTP, registryConfig, keyring, maxBytes); `digest`
        pins an OCI chart's manifest."""
        result = self._call(
            "pull",
            timeout_seconds,
            repository=repository,
            name=name,
            version=version,
            destination=str(destination),
            source=dict(source or {}),
            digest=digest,
        )
        return Pulled.from_wire(result)


class RunningEngine:
    """An engine process and its client, started together and stopped together."""

    def __init__(
        self,
        binary: Path,
        *,
        kubeconfig: Path | None = None,
        cluster: bool = True,
        log_level: str = "warn",
        on_call: Callable[[str], None] = lambda action: None,
        observe: Callable[[str, str, float], None] = lambda action, outcome, s: None,
        on_restart: Callable[[], None] = lambda: None,
        record_key_file: Path | None = None,
    ) -> None:
        self.process = EngineProcess(
            binary,
            kubeconfig=kubeconfig,
            cluster=cluster,
            log_level=log_level,
            on_restart=on_restart,
            record_key_file=record_key_file,
        )
        self.client = EngineClient(self.process.socket_path)
        self.helm = HelmEngine(self.client, on_call=on_call, observe=observe)

    def __enter__(self) -> HelmEngine:
        self.process.start()
        return self.helm

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.process.stop()
