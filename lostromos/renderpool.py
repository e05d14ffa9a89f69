"""Renders that can be stopped: a few Helm engine processes, killed when over budget.

Go cannot cancel a running template: `{{ range until 20000 }}{{ range until
20000 }}{{ end }}{{ end }}` in a value the chart passes to `tpl` runs for
minutes whatever timeout Helm is given. So renders do not run in the engine
that performs Helm actions. `RenderProcesses` starts a few `helm-engine
--no-cluster` processes (in the webhook's master, or the controller), and
`BudgetedRenderer` sends each render to one of them with the binding's budget
(lostromos.config.RenderBudget). A render still running at the end of its
time budget has its process SIGKILLed: the kernel releases its CPU and memory
at once, and the process's supervisor starts a fresh one. An answer longer than
the output budget allows is refused the same way, without being read.

Killing a process also ends the renders other requests had running in it;
those are sent once more to another process (renders have no side effects).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lostromos.config import RenderBudget
from lostromos.engineprocess import EngineProcess
from lostromos.enginewire import (
    ChartSource,
    Confinement,
    EngineError,
    EngineUnavailable,
    ErrorCode,
    HelmError,
    Rendered,
    RenderVerdict,
    WireObject,
    chart_wire,
    decode_answer,
    request_line,
)

log = logging.getLogger("lostromos.renderpool")

RENDER_PROCESSES = 2
# Render processes run below the processes that start them (nice 10): on a
# shared core a review that needs no render (a re-applied object) and the
# Python part of one that does are not queued behind running renders.
# Measured in bench/README.md ("Engine placement").
RENDER_NICENESS = 10
# Go's garbage collector runs when the heap has grown by GOGC percent since the
# last collection. A render allocates a few megabytes and keeps none of them, so
# collecting half as often saves about a sixth of a render's CPU for about 8 MB
# more memory per render process (bench/README.md, "Admission of a new spec").
# A GOGC in the environment is kept.
RENDER_GOGC = "200"
# An answer carries the manifest JSON-escaped and its objects: the read is cut
# off well past the output budget, the manifest itself is measured exactly.
ANSWER_OVERHEAD_BYTES = 1024 * 1024
CONNECT_WAIT_SECONDS = 5.0  # a replaced process is ready within milliseconds
# recv(n) allocates n bytes before it reads: a verdict is a few dozen bytes, a
# manifest a few kilobytes, and a mebibyte per call cost more system time than the
# read (an mmap and munmap each time).
READ_CHUNK_BYTES = 64 * 1024
_PEERCRED = struct.Struct("3i")  # pid, uid, gid of a Unix socket's peer
RENDER_REQUEST_ID = 1  # one request per connection


class RenderOverBudget(HelmError):
    """The render ran past its binding's time or output budget and was stopped."""

    marker = "the render budget"  # in every message, so a verdict line can be recognised

    def __init__(self, message: str) -> None:
        super().__init__("render", message, code=ErrorCode.BUDGET)


class _Vanished(EngineUnavailable):
    """The render process went away during the render (killed for another's budget)."""


class RenderProcesses:
    """`count` engine processes without a cluster, each restarted when it exits."""

    def __init__(self, binary: Path, *, count: int = RENDER_PROCESSES) -> None:
        environment = {} if "GOGC" in os.environ else {"GOGC": RENDER_GOGC}
        self.processes = [
            EngineProcess(binary, cluster=False, niceness=RENDER_NICENESS, environment=environment)
            for _ in range(count)
        ]

    def start(self) -> None:
        try:
            for process in self.processes:
                process.start()
        except HelmError:
            self.stop()
            raise

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    @property
    def socket_paths(self) -> list[Path]:
        return [process.socket_path for process in self.processes]

    @property
    def pids(self) -> list[int]:
        return [pid for process in self.processes if (pid := process.pid) is not None]


class BudgetedRenderer:
    """Renders through RenderProcesses' sockets within a budget; safe for threads.

    Connections are kept between renders (a connection and the engine's goroutine
    for it cost more than a small render's answer); they belong to the process
    that made them, so one built before a fork starts with none in each child.
    A connection whose process was killed meanwhile fails at once, and the render
    goes to a fresh one.
    """

    def __init__(
        self, socket_paths: Sequence[Path], *, connect_wait: float = CONNECT_WAIT_SECONDS
    ) -> None:
        if not socket_paths:
            raise ValueError("no render process to render with")
        self.socket_paths = list(socket_paths)
        self.connect_wait = connect_wait
        self.killed = 0  # processes stopped for their budget, in this process
        self._in_flight = [0] * len(self.socket_paths)
        self._lock = threading.Lock()
        # idle connections per render process, each with the process's pid (to kill it)
        self._idle: list[list[tuple[socket.socket, int]]] = [[] for _ in self.socket_paths]
        self._owner = os.getpid()

    def render(
        self,
        chart: ChartSource | Path,
        release: str,
        namespace: str,
        values: Mapping[str, Any],
        *,
        budget: RenderBudget,
        confine: Confinement | None = None,
        schema_checked: bool = False,
        secrets: Sequence[str] = (),
    ) -> Rendered:
        """`helm template`, or RenderOverBudget, HelmError (the chart's own failure),
        EngineUnavailable (no render process answered)."""
        line = _render_line(
            chart, release, namespace, values, budget, confine, schema_checked, secrets, False
        )
        rendered = Rendered.from_wire(self._run(line, budget))
        if len(rendered.manifest.encode()) > budget.output_bytes:
            raise RenderOverBudget(_output_message(budget))
        return rendered

    def verdict(
        self,
        chart: ChartSource | Path,
        release: str,
        namespace: str,
        values: Mapping[str, Any],
        *,
        budget: RenderBudget,
        confine: Confinement | None = None,
        schema_checked: bool = False,
        secrets: Sequence[str] = (),
    ) -> RenderVerdict:
        """What `render` judges, without the manifest: the same steps in the engine
        (confinement included) and the same errors, and an answer of a few bytes
        where the manifest would be kilobytes to send, read and decode. For callers
        that need the verdict only (admission, the controller's budget check)."""
        line = _render_line(
            chart, release, namespace, values, budget, confine, schema_checked, secrets, True
        )
        verdict = RenderVerdict.from_wire(self._run(line, budget))
        if verdict.manifest_bytes > budget.output_bytes:
            raise RenderOverBudget(_output_message(budget))
        return verdict

    def _run(self, line: bytes, budget: RenderBudget) -> WireObject:
        deadline = time.monotonic() + budget.seconds
        tried: set[int] = set()
        while True:
            slot = self._least_busy(tried if len(tried) < len(self.socket_paths) else set())
            tried.add(slot)
            try:
                return self._call(slot, line, deadline, budget)
            except _Vanished:
                # The process was killed under this render (another render's budget),
                # or while its connection was kept: again elsewhere with the time left;
                # with none left, it is over budget.
                if time.monotonic() >= deadline:
                    raise RenderOverBudget(_time_message(budget)) from None

    def _least_busy(self, tried: set[int]) -> int:
        with self._lock:
            slot = min(
                (index for index in range(len(self.socket_paths)) if index not in tried),
                key=lambda index: self._in_flight[index],
            )
            self._in_flight[slot] += 1
            return slot

    def _call(self, slot: int, line: bytes, deadline: float, budget: RenderBudget) -> WireObject:
        """The render's result; the HelmError it answers; RenderOverBudget;
        _Vanished when the process went away under it (or before it: an idle
        connection to a process since replaced)."""
        try:
            sock, pid = self._take(slot, deadline)
            kept = False
            try:
                answer = _exchange(
                    sock, line, deadline, 2 * budget.output_bytes + ANSWER_OVERHEAD_BYTES
                )
                if answer is None:
                    self._kill(pid)
                    raise RenderOverBudget(_time_message(budget))
                if not answer.endswith(b"\n"):
                    if len(answer) > budget.output_bytes:
                        self._kill(pid)  # it may still be writing: free its memory now
                        raise RenderOverBudget(_output_message(budget))
                    raise _Vanished("render", "the render process stopped mid-render")
                try:
                    result = decode_answer("render", answer, RENDER_REQUEST_ID)
                except EngineError:
                    raise  # no longer known to be in step with the process
                except HelmError:
                    kept = self._give_back(slot, sock, pid)  # an answer: the line is whole
                    raise
                kept = self._give_back(slot, sock, pid)
                return result
            finally:
                if not kept:
                    sock.close()
        except OSError as error:
            raise _Vanished(
                "render", f"the render process failed: {error.strerror or error}"
            ) from None
        finally:
            with self._lock:
                self._in_flight[slot] -= 1

    def _take(self, slot: int, deadline: float) -> tuple[socket.socket, int]:
        """An idle connection to the slot's process and its pid, or a new one."""
        with self._lock:
            if self._owner != os.getpid():  # forked: the parent's connections are not ours
                self._idle, self._owner = [[] for _ in self.socket_paths], os.getpid()
            if self._idle[slot]:
                return self._idle[slot].pop()
        sock = self._connect(slot, deadline)
        try:
            pid = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )[0]
        except OSError:
            sock.close()
            raise
        return sock, pid

    def _give_back(self, slot: int, sock: socket.socket, pid: int) -> bool:
        with self._lock:
            if self._owner != os.getpid():
                return False
            self._idle[slot].append((sock, pid))
            return True

    def _connect(self, slot: int, deadline: float) -> socket.socket:
        give_up = max(deadline, time.monotonic() + self.connect_wait)
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_paths[slot]))
                return sock
            except OSError as error:
                sock.close()
                if time.monotonic() >= give_up:
                    raise EngineUnavailable(
                        "render", f"no render process at {self.socket_paths[slot]}: {error}"
                    ) from None
                time.sleep(0.02)

    def _kill(self, pid: int) -> None:
        # SIGKILL: Go cannot stop a template, and anything gentler lets it run on
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.killed += 1
        log.warning("render over budget: render process %d killed and replaced", pid)


def _render_line(  # noqa: PLR0917
    chart: ChartSource | Path,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    budget: RenderBudget,
    confine: Confinement | None,
    schema_checked: bool,
    secrets: Sequence[str],
    verdict: bool,
) -> bytes:
    params: dict[str, Any] = dict(
        chart=chart_wire(chart),
        release=release,
        namespace=namespace,
        values=values,
        timeoutSeconds=budget.seconds,
        confine=confine.to_wire() if confine else None,
        skipSchemaValidation=schema_checked,
        redact=list(secrets),  # the engine scrubs them from errors and Helm's log lines
    )
    if verdict:
        params["verdict"] = True
    return request_line(RENDER_REQUEST_ID, "render", params)


def _exchange(sock: socket.socket, line: bytes, deadline: float, limit: int) -> bytes | None:
    """Send one request and read its answer line: at most `limit` bytes, None on timeout."""
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    sock.sendall(line)
    answer = bytearray()
    while len(answer) <= limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            data = sock.recv(min(READ_CHUNK_BYTES, limit + 1 - len(answer)))
        except TimeoutError:
            return None
        if not data:
            break
        answer += data
        if answer.endswith(b"\n"):
            break
    return bytes(answer)


def _time_message(budget: RenderBudget) -> str:
    return (
        f"the chart's templates did not finish within the render budget of "
        f"{budget.seconds:g}s (renderBudget.seconds); the render was stopped"
    )


def _output_message(budget: RenderBudget) -> str:
    return (
        f"the chart's templates render more than the render budget of "
        f"{budget.output_bytes} bytes (renderBudget.outputBytes); the render was refused"
    )
