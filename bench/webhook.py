"""Benchmark of the admission webhook: latency over HTTPS at fixed request rates,
and the values engine's throughput in-process.

    uv run python bench/webhook.py [--duration 10] [--rates 100,250,500,1000]
                                   [--workers 2] [--threads 4] [--no-pin]

The webhook runs as in production (`python -m lostromos webhook`: gunicorn,
TLS from certs.authority, the real lostromos.yaml and charts/site). The load
generator (bench/loadgen, Go, built into .cache/bench/) is open-loop: request i
is due at start + i/rate and its latency counts from that moment, so queueing
in the server shows in the percentiles. With --pin (the default on a machine
with two or more cores) the server runs on CPU 0 and the load generator on
CPU 1, so the generator never takes the server's CPU. See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from certs.authority import create_ca, issue_serving_cert, write_pair  # noqa: E402
from lostromos.config import load_bindings  # noqa: E402
from lostromos.dev import isolation  # noqa: E402
from lostromos.dev.cluster import free_port  # noqa: E402
from lostromos.engines import EngineRegistry  # noqa: E402
from webhook.review import ReviewHandler  # noqa: E402

LOADGEN_SOURCE = ROOT / "bench" / "loadgen"
LOADGEN_BINARY = ROOT / ".cache" / "bench" / "loadgen"
BINDINGS = ROOT / "lostromos.yaml"
EXAMPLE_SITE = ROOT / "examples" / "site.yaml"
TARGET = "p99 <= 3 ms at 500 rps"


@dataclass(frozen=True)
class Settings:
    duration: float
    warmup: float
    rates: tuple[int, ...]
    workers: int
    threads: int
    connections: int
    endpoints: tuple[str, ...]
    pin: bool
    engine_seconds: float
    profile: bool
    render: bool = True  # the bindings' default: admission renders through the Helm engine
    # every request a different spec (no render verdict reused), not one spec re-applied
    distinct: bool = False


@dataclass(frozen=True)
class RateResult:
    endpoint: str
    rate: int
    measured: dict[str, Any]
    server_cpu: float  # cores used by the server (master + workers) during the run


def admission_review(operation: str = "CREATE") -> dict[str, Any]:
    """A Site AdmissionReview shaped like the one the API server sends for `kubectl apply`."""
    site = yaml.safe_load(EXAMPLE_SITE.read_text())
    applied = json.dumps(site, separators=(",", ":"))
    obj = copy.deepcopy(site)
    obj["metadata"] = {
        "name": "blog",
        "namespace": "default",
        "generation": 1,
        "uid": "5f1d2c1e-8a53-4c4e-9d1a-2f0b7b6c9e10",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied + "\n"},
        "managedFields": [
            {
                "apiVersion": "hosting.example.com/v1",
                "fieldsType": "FieldsV1",
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "time": "2025-01-01T00:00:00Z",
                "fieldsV1": {
                    "f:metadata": {
                        "f:annotations": {
                            ".": {},
                            "f:kubectl.kubernetes.io/last-applied-configuration": {},
                        }
                    },
                    "f:spec": {".": {}, "f:adminEmail": {}, "f:domain": {}, "f:plugins": {}},
                },
            }
        ],
    }
    gvk = {"group": "hosting.example.com", "version": "v1", "kind": "Site"}
    resource = {"group": "hosting.example.com", "version": "v1", "resource": "sites"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0b5b0e6e-4f57-4d43-a8b5-3c6f0d7e2a11",
            "kind": gvk,
            "resource": resource,
            "requestKind": gvk,
            "requestResource": resource,
            "name": "blog",
            "namespace": "default",
            "operation": operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["system:masters", "system:authenticated"],
            },
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {
                "apiVersion": "meta.k8s.io/v1",
                "kind": "CreateOptions",
                "fieldManager": "kubectl-client-side-apply",
                "fieldValidation": "Strict",
            },
        },
    }


# --- the server ---------------------------------------------------------------------


def build_loadgen() -> Path:
    LOADGEN_BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "build", "-o", str(LOADGEN_BINARY), "."],
        cwd=LOADGEN_SOURCE,
        check=True,
        env={**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"},
    )
    return LOADGEN_BINARY


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


class Server:
    """`python -m lostromos webhook` in its own process group, started and stopped by us."""

    def __init__(self, work: Path, settings: Settings) -> None:
        ca = create_ca("bench-ca")
        write_pair(ca, work / "ca.crt", work / "ca.key")
        write_pair(
            issue_serving_cert(ca, ["localhost"], ["127.0.0.1"]), work / "tls.crt", work / "tls.key"
        )
        self.ca_file = work / "ca.crt"
        self.settings = settings
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log_path = work / "webhook.log"
        argv = [
            sys.executable,
            "-m",
            "lostromos",
            "webhook",
            "--config",
            str(bindings_file(work, self.settings.render)),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--tls-cert",
            str(work / "tls.crt"),
            "--tls-key",
            str(work / "tls.key"),
            "--workers",
            str(settings.workers),
            "--threads",
            str(settings.threads),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                pinned(argv, 0 if settings.pin else None),
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

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its live workers."""
        pids = [self.process.pid, *_children(self.process.pid)]
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime and the waited-for children's cutime, cstime
            total += sum(int(value) for value in fields[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def check_answers(server: Server, body: bytes) -> None:
    """The benchmarked request must be the happy path: admitted, and defaulted by /mutate."""
    validated = server.post("/validate", body)["response"]
    mutated = server.post("/mutate", body)["response"]
    if not validated["allowed"] or not mutated["allowed"] or "patch" not in mutated:
        raise SystemExit(f"unexpected answers: validate={validated} mutate={mutated}")


def run_rate(
    loadgen: Path, server: Server, body_file: Path, *, endpoint: str, rate: int, settings: Settings
) -> RateResult:
    argv = [
        str(loadgen),
        "-url",
        f"{server.url}/{endpoint}",
        "-ca",
        str(server.ca_file),
        "-body",
        str(body_file),
        "-rate",
        str(rate),
        "-duration",
        f"{settings.duration}s",
        "-warmup",
        f"{settings.warmup}s",
        "-connections",
        str(settings.connections),
        *(["-vary"] if settings.distinct else []),
    ]
    cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
    finished = subprocess.run(
        pinned(argv, 1 if settings.pin else None), capture_output=True, text=True, check=False
    )
    cpu_used = server.cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    if finished.returncode != 0:
        raise SystemExit(f"loadgen failed: {finished.stderr}")
    measured = json.loads(finished.stdout)
    return RateResult(endpoint, rate, measured, cpu_used / wall)


# --- the engine without HTTP ----------------------------------------------------------


def throughput(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of `call`, run for about `seconds`."""
    for _ in range(50):
        call()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            call()
        calls += 100
    return calls / elapsed


def engine_rows(body: bytes, seconds: float, profile: bool) -> list[tuple[str, float]]:
    registry = EngineRegistry(load_bindings(BINDINGS))
    binding = registry.bindings.bindings[0]
    engine = registry.engine_for(binding)
    spec = json.loads(body)["request"]["object"]["spec"]
    defaulted = engine.default(spec).values
    handler = ReviewHandler(registry)

    def both() -> None:
        # The API server calls /mutate, then /validate on the defaulted object.
        engine.validate(engine.default(spec).values)
        engine.deprecations(defaulted)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("engine.validate(spec)", lambda: engine.validate(spec)),
        ("engine.default(spec)", lambda: engine.default(spec)),
        ("default + validate + deprecations", both),
        (
            "review handler /validate (parse+answer)",
            lambda: handler.handle("validate", "application/json", body),
        ),
        (
            "review handler /mutate (parse+answer)",
            lambda: handler.handle("mutate", "application/json", body),
        ),
    ]
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(2000):
            handler.handle("validate", "application/json", body)
            handler.handle("mutate", "application/json", body)
        profiler.disable()
        print("cProfile of 2000 /validate + 2000 /mutate through the review handler:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return [(name, throughput(call, seconds)) for name, call in cases]


# --- output -----------------------------------------------------------------------------


def machine_description() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}, "
        f"load average before the run {load}"
    )


def print_http_table(results: Sequence[RateResult], settings: Settings) -> None:
    placement = (
        "server pinned to CPU 0 (taskset -c 0), load generator to CPU 1"
        if settings.pin
        else "no CPU pinning: server and load generator share CPUs"
    )
    print(
        f"\nHTTPS, open loop, render checks {'on' if settings.render else 'off'}, "
        f"{'a different spec per request' if settings.distinct else 'one spec re-applied'}: "
        f"gunicorn gthread {settings.workers} workers x "
        f"{settings.threads} threads; {placement}; {settings.connections} keep-alive "
        f"connections; {settings.duration:g} s per row after {settings.warmup:g} s warm-up"
    )
    print("latency = from the scheduled send time to the last byte of the answer (ms)")
    header = (
        f"{'endpoint':<10}{'rate':>6}{'achieved':>10}{'p50':>8}{'p90':>8}{'p99':>8}"
        f"{'p99.9':>8}{'max':>8}{'svc p99':>9}{'cpu':>6}{'errors':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        measured = result.measured
        latency, service = measured["latency_ms"], measured["service_ms"]
        bad = measured["errors"] + sum(
            count for status, count in measured["status_counts"].items() if status != "200"
        )
        verdict = ""
        if result.rate == 500:
            verdict = "met" if latency["p99"] <= 3.0 and not bad else "MISSED"
        print(
            f"/{result.endpoint:<9}{result.rate:>6}{measured['achieved_rate']:>10.1f}"
            f"{latency['p50']:>8.2f}{latency['p90']:>8.2f}{latency['p99']:>8.2f}"
            f"{latency['p999']:>8.2f}{latency['max']:>8.2f}{service['p99']:>9.2f}"
            f"{result.server_cpu:>6.2f}{bad:>8}  {verdict}"
        )
    print(
        f"target ({TARGET}); cpu = server CPU cores used; svc p99 = from actual send; "
        f"{results[0].measured['tls_version'] if results else ''}, "
        f"{results[0].measured['protocol'] if results else ''}"
    )


def print_engine_table(rows: Sequence[tuple[str, float]]) -> None:
    print("\nIn-process, no HTTP (one thread, the examples/site.yaml spec):")
    header = f"{'operation':<42}{'per second':>12}{'us each':>10}"
    print(header)
    print("-" * len(header))
    for name, rate in rows:
        print(f"{name:<42}{rate:>12.0f}{1e6 / rate:>10.1f}")


def parse_settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--rates", default="100,250,500,1000", help="comma-separated requests per second"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--connections", type=int, default=4, help="keep-alive connections of the load generator"
    )
    parser.add_argument("--endpoints", default="validate,mutate")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None,
        help="server on CPU 0, load generator on CPU 1 (default when possible)",
    )
    parser.add_argument(
        "--engine-seconds", type=float, default=2.0, help="seconds per in-process measurement"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the review handler (no HTTP)"
    )
    parser.add_argument("--skip-http", action="store_true", help="only the in-process table")
    parser.add_argument(
        "--render",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="render each admitted spec through the Helm engine (admission.render; default on)",
    )
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="a different spec in every request (default: one spec re-applied, as a GitOps "
        "sync re-applies unchanged objects, whose render verdict is remembered)",
    )
    args = parser.parse_args(argv)
    rates = () if args.skip_http else tuple(int(rate) for rate in args.rates.split(",") if rate)
    return Settings(
        duration=args.duration,
        warmup=args.warmup,
        rates=rates,
        workers=args.workers,
        threads=args.threads,
        connections=args.connections,
        endpoints=tuple(e for e in args.endpoints.split(",") if e),
        pin=args.pin,
        engine_seconds=args.engine_seconds,
        profile=args.profile,
        render=args.render,
        distinct=args.distinct,
    )


def bindings_file(work: Path, render: bool) -> Path:
    """lostromos.yaml, with the site binding's render check on or off."""
    document = yaml.safe_load(BINDINGS.read_text())
    for binding in document["bindings"]:
        binding["chart"]["path"] = str(ROOT / binding["chart"]["path"])
        binding["admission"] = {"render": render}
    path = work / "bindings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    # The server and its load run where only loopback exists (the loadgen builds offline).
    isolation.ensure_isolated(lambda line: print(line, file=sys.stderr, flush=True))
    print(machine_description())
    body = json.dumps(admission_review()).encode()
    # the loadgen's -vary numbers every request's spec.domain
    sent = (
        body.replace(b"blog.example.com", b"blog-__SEQ__.example.com")
        if settings.distinct
        else body
    )
    results: list[RateResult] = []
    if settings.rates:
        loadgen = build_loadgen()
        with tempfile.TemporaryDirectory(prefix="lostromos-bench-") as scratch:
            work = Path(scratch)
            body_file = work / "review.json"
            body_file.write_bytes(sent)
            server = Server(work, settings)
            try:
                server.wait_ready()
                check_answers(server, body)
                print(f"request body: {len(body)} bytes (a Site CREATE as kubectl apply sends it)")
                for endpoint in settings.endpoints:
                    for rate in settings.rates:
                        result = run_rate(
                            loadgen,
                            server,
                            body_file,
                            endpoint=endpoint,
                            rate=rate,
                            settings=settings,
                        )
                        results.append(result)
                        print(
                            f"  /{endpoint} at {rate} rps: p99 "
                            f"{result.measured['latency_ms']['p99']:.2f} ms",
                            flush=True,
                        )
            finally:
                server.stop()
        print_http_table(results, settings)
    print_engine_table(engine_rows(body, settings.engine_seconds, settings.profile))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average after the run: {load} (other work on the machine skews the numbers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
