"""The Helm engine's process: found, started, and restarted when it dies.

`find_engine` says which binary to run (EngineMissing when there is none);
`EngineProcess` runs it as a child of this process, on a socket in a fresh
0700 folder, and restarts it with backoff. lostromos.helmengine talks to it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from lostromos.enginewire import (
    PROTOCOL_VERSION,
    EngineError,
    EngineMissing,
    ErrorCode,
    HelmError,
    Ready,
    require_executable,
)

log = logging.getLogger("lostromos.helmengine")

START_TIMEOUT_SECONDS = 30.0
RESTART_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)


class EngineProcess:
    """Runs the engine as a child of this process and restarts it when it dies.

    The child exits when its stdin closes and is killed by the kernel when the
    thread that started it exits (the supervisor thread, which lives as long as
    this object), so it never outlives its parent.
    """

    def __init__(
        self,
        binary: Path,
        *,
        kubeconfig: Path | None = None,
        cluster: bool = True,
        log_level: str = "warn",
        on_restart: Callable[[], None] = lambda: None,
        record_key_file: Path | None = None,
        niceness: int = 0,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self._niceness = niceness
        # variables set for the engine over this process's own (None: this process's)
        self._environment = {**os.environ, **environment} if environment else None
        self._args = ["--log-level", log_level]
        if record_key_file is not None:
            self._args += ["--record-key-file", str(record_key_file)]
        if not cluster:
            self._args.append("--no-cluster")
        elif kubeconfig is not None:
            self._args += ["--kubeconfig", str(kubeconfig)]
        self._dir = Path(tempfile.mkdtemp(prefix="lostromos-engine-"))
        self.socket_path = self._dir / "engine.sock"
        self._on_restart = on_restart
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._failure = ""
        self._thread = threading.Thread(target=self._supervise, name="helm-engine", daemon=True)
        self.restarts = 0

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start the engine: EngineMissing when there is no binary to run, HelmError
        (unavailable) when it is not ready within `timeout`."""
        require_executable(self.binary)  # else setpriv would fail to exec it, silently
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise HelmError(
                "start",
                self._failure
                or f"the Helm engine {self.binary} was not ready within {timeout:.0f}s",
                code=ErrorCode.UNAVAILABLE,
            )

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(15)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _supervise(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set():
                return
            self._ready.clear()
            if code == -signal.SIGKILL:
                # killed for a render over its budget (lostromos.renderpool): replaced
                # at once, and not a crash that should slow the next start down
                delay = 0.0
            else:
                # A long healthy run resets the backoff; a crash loop slows down.
                attempt = 0 if time.monotonic() - started > 60 else attempt + 1
                delay = RESTART_BACKOFF_SECONDS[min(attempt, len(RESTART_BACKOFF_SECONDS) - 1)]
            log.warning("Helm engine exited with code %s; restarting in %.1fs", code, delay)
            self.restarts += 1
            self._on_restart()
            self._stopping.wait(delay)

    def _run_once(self) -> int | None:
        command = [str(self.binary), "--socket", str(self.socket_path), *self._args]
        nice = shutil.which("nice") if self._niceness else None
        if nice:
            # Before exec, so that every thread of the Go runtime starts at it
            # (a priority set on a running process holds for one thread only).
            command = [nice, "-n", str(self._niceness), *command]
        setpriv = shutil.which("setpriv")
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", *command]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._environment
            )
        except OSError as error:
            self._failure = f"cannot run the Helm engine {self.binary}: {error.strerror}"
            return None
        self._process = process
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            ready = Ready.from_wire(line) if line else None
        except EngineError as error:
            self._failure = f"the Helm engine {self.binary} did not start: {error.message}"
            process.kill()
        else:
            if ready is not None and ready.protocol == PROTOCOL_VERSION:
                self._ready.set()
            elif ready is not None:
                self._failure = (
                    f"the Helm engine {self.binary} speaks protocol {ready.protocol}, "
                    f"want {PROTOCOL_VERSION}: build it with `lostromos toolchain build`"
                )
                process.kill()
        code = process.wait()
        return code


def find_engine(explicit: Path | None = None) -> Path:
    """The engine binary: an explicit path, LOSTROMOS_HELM_ENGINE, the toolchain
    cache, or `lostromos-helm-engine` on PATH (where the image installs it).
    EngineMissing when there is none to run."""
    from lostromos import toolchain

    if explicit is not None:
        return require_executable(explicit)
    engine = toolchain.tool("helm-engine")
    try:
        found = toolchain.find(engine.name)
    except toolchain.ToolchainError as error:
        raise EngineMissing(os.environ.get(engine.env_var, engine.name), str(error)) from None
    if found is not None:
        return found
    on_path = shutil.which("lostromos-helm-engine")
    if on_path is None:
        try:
            expected: Path | str = toolchain.build_dir() / toolchain.cached_name(engine)
        except toolchain.ToolchainError:  # no Go to name the build: the tool's name will do
            expected = engine.name
        raise EngineMissing(expected, "is not built (nor is lostromos-helm-engine on PATH)")
    return Path(on_path)
