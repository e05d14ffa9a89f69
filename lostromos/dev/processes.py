"""Child processes of the dev cluster: started in their own session with a log
file each, recorded in a state file, and stopped in reverse order.

Each child leads its own process group, so stopping one also stops whatever it
started (gunicorn's workers, helm under the controller) and a detached cluster
outlives the `lostromos dev up` that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Child:
    """A running child as recorded in the state file."""

    name: str
    pid: int
    start_ticks: int
    log: str

    def alive(self) -> bool:
        # A pid alone may have been reused since it was recorded; the start time
        # in /proc/<pid>/stat tells the same process from a new one.
        return _start_ticks(self.pid) == self.start_ticks

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self.log).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def _start_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    # The command name in parentheses may hold spaces; fields after it are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return -1
    return int(fields[19])


class Supervisor:
    """Starts, records and stops the children of one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.logs_dir = state_dir / "logs"
        self.state_file = state_dir / "processes.json"
        self.children: list[Child] = []
        self._popen: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        child = Child(
            name=name, pid=process.pid, start_ticks=_start_ticks(process.pid), log=str(log_path)
        )
        self._popen[name] = process
        self.children.append(child)
        self.save()
        return child

    def child(self, name: str) -> Child:
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(name)

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps([asdict(c) for c in self.children], indent=2))
        os.replace(temporary, self.state_file)

    def load(self) -> list[Child]:
        try:
            records = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return []
        self.children = [Child(**record) for record in records]
        return self.children

    def running(self) -> list[Child]:
        return [child for child in self.load() if child.alive()]

    def first_dead(self) -> Child | None:
        for child in self.children:
            process = self._popen.get(child.name)
            exited = process.poll() is not None if process else not child.alive()
            if exited:
                return child
        return None

    def stop(self, name: str, timeout: float = 20.0) -> None:
        """Stop one child and forget it."""
        child = self.child(name)
        _stop_group(child, timeout, self._popen.pop(name, None))
        self.children.remove(child)
        self.save()

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM each child, newest first; SIGKILL what outlives the timeout."""
        for child in reversed(self.children):
            _stop_group(child, timeout, self._popen.get(child.name))
        self.children = []
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def _stop_group(child: Child, timeout: float, process: subprocess.Popen | None) -> None:
    if not child.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        if process is None and not child.alive():
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        # Whatever is left of the group (a straggling worker) goes too.
        os.killpg(child.pid, signal.SIGKILL)
    if process is not None:
        process.wait()
