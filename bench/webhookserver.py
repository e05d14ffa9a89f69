"""The benchmarked webhook: `python -m lostromos webhook` as in production, and
the CPU its whole process tree uses (gunicorn master, workers, the Helm engine
and whatever they start)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from certs.authority import create_ca, issue_serving_cert, write_pair
from lostromos.dev.cluster import free_port
from lostromos.helmengine import find_engine

ROOT = Path(__file__).resolve().parent.parent
BINDINGS = ROOT / "lostromos.yaml"
ENGINE_COMMAND = "helm-engine"  # the engine binary's name (comm) starts with it
# Where the Helm engine runs against the workers, which are pinned to CPU 0:
# shared (CPU 0, same priority), nice (CPU 0, nice 10: the workers come first),
# other-core (CPU 1, with the load generator).
PLACEMENTS = {"shared": (), "nice": ("nice", "-n", "10"), "other-core": ("taskset", "-c", "1")}


@dataclass(frozen=True)
class Variant:
    """One server configuration measured against the others in the same run."""

    name: str
    engine: Path | None  # the Helm engine binary; None: the one the webhook finds itself
    placement: str  # a key of PLACEMENTS

    def launcher(self, work: Path) -> Path | None:
        """What the webhook runs as its Helm engine: the binary, or a script that
        starts it with the placement's priority or CPU."""
        prefix = PLACEMENTS[self.placement]
        if not prefix:
            return self.engine
        binary = find_engine(self.engine)
        script = work / f"engine-{self.name}.sh"
        script.write_text(f'#!/bin/sh\nexec {" ".join(prefix)} {binary} "$@"\n')
        script.chmod(0o755)
        return script


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds (user + system) of the server's processes, by role."""

    workers: float  # gunicorn master and workers, and their reaped children
    engine: float  # the Helm engine process(es)

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.workers - other.workers, self.engine - other.engine)

    @property
    def total(self) -> float:
        return self.workers + self.engine


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def bindings_file(work: Path, render: bool) -> Path:
    """lostromos.yaml, with the site binding's render check on or off."""
    document = yaml.safe_load(BINDINGS.read_text())
    for binding in document["bindings"]:
        binding["chart"]["path"] = str(ROOT / binding["chart"]["path"])
        binding["admission"] = {"render": render}
    path = work / f"bindings-render-{'on' if render else 'off'}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def process_tree(root: int) -> list[int]:
    """The root and every descendant, through every thread's children: the engine
    is started by a supervisor thread, so it is not listed under the main thread."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def cpu_times(root: int) -> CpuTimes:
    workers = engine = 0
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        # utime, stime and the reaped children's cutime, cstime
        ticks = sum(int(value) for value in fields[11:15])
        if command.startswith(ENGINE_COMMAND):
            engine += ticks
        else:
            workers += ticks
    clock = os.sysconf("SC_CLK_TCK")
    return CpuTimes(workers / clock, engine / clock)


class Server:
    """`python -m lostromos webhook` in its own process group, started and stopped by us."""

    def __init__(
        self,
        work: Path,
        *,
        render: bool,
        workers: int,
        threads: int,
        cpu: int | None,
        engine: Path | None = None,
        name: str = "",
    ) -> None:
        # a folder per server: its certificates and log are its own
        work = work / f"{name or 'server'}-render-{'on' if render else 'off'}"
        work.mkdir(parents=True, exist_ok=True)
        ca = create_ca("bench-ca")
        write_pair(ca, work / "ca.crt", work / "ca.key")
        write_pair(
            issue_serving_cert(ca, ["localhost"], ["127.0.0.1"]), work / "tls.crt", work / "tls.key"
        )
        self.ca_file = work / "ca.crt"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log_path = work / "webhook.log"
        argv = [
            sys.executable,
            "-m",
            "lostromos",
            "webhook",
            "--config",
            str(bindings_file(work, render)),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--tls-cert",
            str(work / "tls.crt"),
            "--tls-key",
            str(work / "tls.key"),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            *(["--helm-engine", str(engine)] if engine is not None else []),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                pinned(argv, cpu),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.context = ssl.create_default_context(cafile=str(self.ca_file))

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the webhook exited:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/readyz", context=self.context, timeout=2
                ) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the webhook did not become ready:\n{self.log_path.read_text()}")

    def post(self, path: str, body: bytes) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as answer:
            return json.loads(answer.read())

    def cpu(self) -> CpuTimes:
        return cpu_times(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
