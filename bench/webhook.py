"""Benchmark of the admission webhook: latency over HTTPS at fixed request rates,
and CPU per request of its workers and its Helm engine.

    uv run python bench/webhook.py [--modes reapplied,new,off] [--rates 100,200,500,1000]
                                   [--duration 10] [--workers 2] [--threads 4] [--no-pin]
                                   [--engine NAME=PATH ...] [--placements shared,nice,other-core]

Three modes, each a table row per rate:
  reapplied  render on, one spec re-applied (a GitOps sync): remembered verdicts
  new        render on, a spec no earlier request had (a render each)
  off        render off (`admission.render: false`), a new spec each request

The webhook runs as in production (`python -m lostromos webhook`: gunicorn,
TLS from certs.authority, the real lostromos.yaml and charts/site). The load
generator (bench/loadgen, Go, built into .cache/bench/) is open loop: request i
is due at start + i/rate and its latency counts from that moment, so queueing
in the server shows in the percentiles. With --pin (the default on a machine
with two or more cores) the server, its Helm engine included, runs on CPU 0
and the load generator on CPU 1. CPU is read from /proc for the server's whole
process tree over the measured seconds only (the warm-up is a separate run).
With several --engine binaries or --placements, one server per combination
runs side by side and each row is measured on each in turn (interleaved), so
old and new engines, or engine placements, see the same machine.
The in-process table is bench/decision.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.decision import decision_rows, print_decision_table  # noqa: E402
from bench.procstat import load_average  # noqa: E402
from bench.webhook_request import admission_review, numbered_domain  # noqa: E402
from bench.webhookserver import PLACEMENTS, CpuTimes, Server, Variant, pinned  # noqa: E402
from lostromos.dev import isolation  # noqa: E402

LOADGEN_SOURCE = ROOT / "bench" / "loadgen"
LOADGEN_BINARY = ROOT / ".cache" / "bench" / "loadgen"


@dataclass(frozen=True)
class Mode:
    name: str
    render: bool
    new_spec_each_request: bool
    describes: str


MODES = {
    mode.name: mode
    for mode in (
        Mode("reapplied", True, False, "render on, one spec re-applied"),
        Mode("new", True, True, "render on, a new spec each request"),
        Mode("off", False, True, "render off, a new spec each request"),
    )
}
# the targets, server on one core: (mode, rate) -> p99 ms
TARGETS = {("reapplied", 500): 10.0, ("new", 200): 20.0}


@dataclass(frozen=True)
class Settings:
    modes: tuple[Mode, ...]
    rates: tuple[int, ...]
    endpoints: tuple[str, ...]
    duration: float
    warmup: float
    workers: int
    threads: int
    connections: int
    pin: bool
    engine_seconds: float
    skip_http: bool
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class RateResult:
    variant: str
    mode: Mode
    endpoint: str
    rate: int
    measured: dict[str, Any]
    cpu: CpuTimes  # CPU seconds of the server's processes over the measured seconds
    wall: float
    load: float  # the 1-minute load average when the row ended

    def per_request_ms(self, seconds: float) -> float:
        return 1000 * seconds / max(self.measured["completed"], 1)


def build_loadgen() -> Path:
    LOADGEN_BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "build", "-o", str(LOADGEN_BINARY), "."],
        cwd=LOADGEN_SOURCE,
        check=True,
        env={**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"},
    )
    return LOADGEN_BINARY


def check_answers(server: Server, body: bytes) -> None:
    """The benchmarked request must be the happy path: admitted, and defaulted by /mutate."""
    validated = server.post("/validate", body)["response"]
    mutated = server.post("/mutate", body)["response"]
    if not validated["allowed"] or not mutated["allowed"] or "patch" not in mutated:
        raise SystemExit(f"unexpected answers: validate={validated} mutate={mutated}")


class Rows:
    """Runs the load generator for each row; every row's specs are its own."""

    def __init__(self, loadgen: Path, work: Path, body: bytes, settings: Settings) -> None:
        self.loadgen, self.work, self.body, self.settings = loadgen, work, body, settings
        self.runs = 0

    def _body_file(self, mode: Mode) -> Path:
        self.runs += 1
        path = self.work / f"review-{self.runs}.json"
        # a row label no other run has, so a spec is never sent twice in one benchmark
        path.write_bytes(
            numbered_domain(self.body, f"r{self.runs}") if mode.new_spec_each_request else self.body
        )
        return path

    def _loadgen(
        self, server: Server, mode: Mode, endpoint: str, rate: int, seconds: float
    ) -> dict[str, Any]:
        argv = [
            str(self.loadgen),
            *("-url", f"{server.url}/{endpoint}", "-ca", str(server.ca_file)),
            *("-body", str(self._body_file(mode)), "-rate", str(rate)),
            *("-duration", f"{seconds}s", "-warmup", "0s"),
            *("-connections", str(self.settings.connections)),
            *(["-vary"] if mode.new_spec_each_request else []),
        ]
        finished = subprocess.run(
            pinned(argv, 1 if self.settings.pin else None),
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise SystemExit(f"loadgen failed: {finished.stderr}")
        return json.loads(finished.stdout)

    def run(self, variant: str, server: Server, mode: Mode, endpoint: str, rate: int) -> RateResult:
        if self.settings.warmup > 0:
            self._loadgen(server, mode, endpoint, rate, self.settings.warmup)
        cpu_before, wall_before = server.cpu(), time.monotonic()
        measured = self._loadgen(server, mode, endpoint, rate, self.settings.duration)
        cpu_used, wall = server.cpu() - cpu_before, time.monotonic() - wall_before
        return RateResult(
            variant, mode, endpoint, rate, measured, cpu_used, wall, os.getloadavg()[0]
        )


def run_http(settings: Settings, body: bytes) -> list[RateResult]:
    loadgen = build_loadgen()
    results: list[RateResult] = []
    with tempfile.TemporaryDirectory(prefix="lostromos-bench-") as scratch:
        work = Path(scratch)
        rows = Rows(loadgen, work, body, settings)
        for render in (True, False):
            modes = [mode for mode in settings.modes if mode.render == render]
            if not modes:
                continue
            servers: dict[str, Server] = {}
            try:
                for variant in settings.variants:
                    # one at a time: each binds its port before the next picks one
                    server = servers[variant.name] = Server(
                        work,
                        render=render,
                        workers=settings.workers,
                        threads=settings.threads,
                        cpu=0 if settings.pin else None,
                        engine=variant.launcher(work),
                        name=variant.name,
                    )
                    server.wait_ready()
                    check_answers(server, body)
                for mode in modes:
                    for endpoint in settings.endpoints:
                        for rate in settings.rates:
                            for name, server in servers.items():
                                result = rows.run(name, server, mode, endpoint, rate)
                                results.append(result)
                                print(
                                    f"  {name} {mode.name} /{endpoint} at {rate} rps: p99 "
                                    f"{result.measured['latency_ms']['p99']:.2f} ms, load "
                                    f"{result.load:.2f}",
                                    flush=True,
                                )
            finally:
                for server in servers.values():
                    server.stop()
    return results


# --- output -----------------------------------------------------------------------------


def machine_description() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def print_http_table(results: Sequence[RateResult], settings: Settings, load_before: str) -> None:
    placement = (
        "server and its Helm engine pinned to CPU 0 (taskset -c 0), load generator to CPU 1"
        if settings.pin
        else "no CPU pinning: server and load generator share CPUs"
    )
    print(
        f"\nHTTPS, open loop: gunicorn gthread {settings.workers} workers x "
        f"{settings.threads} threads; {placement}; {settings.connections} keep-alive "
        f"connections; {settings.duration:g} s per row after a {settings.warmup:g} s warm-up run"
    )
    print(f"load average (1, 5, 15 min) before the first row: {load_before}")
    print(
        "latency: ms from the scheduled send time to the last byte of the answer; "
        "cores: server CPU / wall; wrk, eng: CPU ms per answered request of the gunicorn "
        "processes and of the Helm engine; load: 1-min load average at the row's end"
    )
    width = max(len(result.variant) for result in results) + 2 if results else 0
    header = (
        f"{'variant':<{width}}{'mode':<10}{'endpoint':<10}{'rate':>6}{'achieved':>9}{'p50':>8}{'p90':>8}"
        f"{'p99':>9}{'p99.9':>9}{'max':>9}{'cores':>6}{'wrk ms':>7}{'eng ms':>7}"
        f"{'errors':>7}{'load':>6}  target"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        measured = result.measured
        latency = measured["latency_ms"]
        bad = measured["errors"] + sum(
            count for status, count in measured["status_counts"].items() if status != "200"
        )
        target = TARGETS.get((result.mode.name, result.rate))
        verdict = ""
        if target is not None and result.endpoint == "validate":
            met = (
                latency["p99"] <= target
                and not bad
                and measured["achieved_rate"] > 0.98 * result.rate
            )
            verdict = f"p99 <= {target:g} ms: {'met' if met else 'MISSED'}"
        print(
            f"{result.variant:<{width}}{result.mode.name:<10}/{result.endpoint:<9}{result.rate:>6}"
            f"{measured['achieved_rate']:>9.1f}{latency['p50']:>8.2f}{latency['p90']:>8.2f}"
            f"{latency['p99']:>9.2f}{latency['p999']:>9.2f}{latency['max']:>9.2f}"
            f"{result.cpu.total / result.wall:>6.2f}"
            f"{result.per_request_ms(result.cpu.workers):>7.2f}"
            f"{result.per_request_ms(result.cpu.engine):>7.2f}{bad:>7}{result.load:>6.2f}"
            f"  {verdict}"
        )
    for variant in settings.variants:
        engine = variant.engine or "the default engine"
        print(f"  {variant.name}: {engine}, placement {variant.placement}")
    for mode in dict.fromkeys(result.mode for result in results):
        print(f"  {mode.name}: {mode.describes}")
    if results:
        print(f"  {results[0].measured['tls_version']}, {results[0].measured['protocol']}")


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--modes", default="reapplied,new,off", help=f"comma-separated, of {', '.join(MODES)}"
    )
    parser.add_argument(
        "--rates", default="100,200,500,1000", help="comma-separated requests per second"
    )
    parser.add_argument("--endpoints", default="validate", help="validate, mutate or both")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--connections", type=int, default=4, help="keep-alive connections of the load generator"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None,
        help="server on CPU 0, load generator on CPU 1 (default when possible)",
    )
    parser.add_argument(
        "--engine-seconds", type=float, default=2.0, help="CPU seconds per in-process row"
    )
    parser.add_argument("--skip-http", action="store_true", help="only the in-process table")
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a Helm engine binary to measure (repeat to compare; default: the webhook's own)",
    )
    parser.add_argument(
        "--placements",
        default="shared",
        help=f"comma-separated Helm engine placements, of {', '.join(PLACEMENTS)}",
    )
    args = parser.parse_args(argv)
    placements = [name for name in args.placements.split(",") if name]
    if unknown_placements := [name for name in placements if name not in PLACEMENTS]:
        parser.error(f"unknown placement(s) {', '.join(unknown_placements)}")
    engines: list[tuple[str, Path | None]] = []
    for entry in args.engine:
        name, _, path = entry.partition("=")
        if not name or not path:
            parser.error(f"--engine {entry}: expected NAME=PATH")
        engines.append((name, Path(path).resolve()))
    variants = tuple(
        Variant(
            "+".join(part for part in (name, placement if len(placements) > 1 else "") if part)
            or "default",
            engine,
            placement,
        )
        for name, engine in engines or [("", None)]
        for placement in placements
    )
    unknown = [name for name in args.modes.split(",") if name and name not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
    return Settings(
        modes=tuple(MODES[name] for name in args.modes.split(",") if name),
        rates=tuple(int(rate) for rate in args.rates.split(",") if rate),
        endpoints=tuple(e for e in args.endpoints.split(",") if e),
        duration=args.duration,
        warmup=args.warmup,
        workers=args.workers,
        threads=args.threads,
        connections=args.connections,
        pin=args.pin,
        engine_seconds=args.engine_seconds,
        skip_http=args.skip_http,
        variants=variants,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    # The server and its load run where only loopback exists (the loadgen builds offline).
    isolation.ensure_isolated(lambda line: print(line, file=sys.stderr, flush=True))
    print(machine_description())
    body = json.dumps(admission_review()).encode()
    if not settings.skip_http:
        load_before = load_average()
        print(f"request body: {len(body)} bytes (a Site CREATE as kubectl apply sends it)")
        print_http_table(run_http(settings, body), settings, load_before)
    load_before = load_average()
    rows = decision_rows(body, settings.engine_seconds)
    print_decision_table(rows)
    print(f"load average before the in-process table: {load_before}; after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
