"""The admission decision in process, no HTTP: CPU time per call, the Python
side and the Helm engine separately.

    uv run python bench/decision.py [--seconds 2]

Rows: the values engine judging the site chart's defaulted spec (nothing
remembered), the same spec remembered, defaulting, and `decide` for /validate
with render checks through a real Helm engine (no cluster): a re-applied spec
(every verdict remembered), a new spec each call with render on, and with
render off. The `WSGI` rows call the webhook's whole WSGI app (production
limits, metrics and review budget) for a re-applied review, through the plain
admission path and through Flask's routes, interleaved in rounds so both see
the same machine. CPU is read with time.process_time (this process) and from
/proc/<engine>/stat (the engine), so other work on the machine does not count;
wall-clock rates would. See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import io
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import load_average, process_cpu_seconds  # noqa: E402
from bench.webhook_request import admission_review  # noqa: E402
from lostromos.admission import AdmissionRequest, decide  # noqa: E402
from lostromos.config import load_bindings  # noqa: E402
from lostromos.engines import EngineRegistry  # noqa: E402
from lostromos.helmengine import find_engine  # noqa: E402
from lostromos.rendercheck import RenderCheck  # noqa: E402
from lostromos.renderpool import BudgetedRenderer, RenderProcesses  # noqa: E402
from lostromos.values.engine import ValuesEngine  # noqa: E402
from webhook.app import create_app  # noqa: E402
from webhook.options import (  # noqa: E402
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SPEC_VALUES,
    DEFAULT_REVIEW_SECONDS,
)
from webhook.review import ReviewHandler, decode_json, parse_review  # noqa: E402

BINDINGS = ROOT / "lostromos.yaml"
VALIDATE_TARGET_US = 200.0  # engine.validate on the site chart's defaulted spec


@dataclass(frozen=True)
class CpuRow:
    name: str
    calls: int
    python_us: float  # CPU of this process per call
    engine_us: float  # CPU of the Helm engine per call


def measure(
    name: str, call: Callable[[], object], seconds: float, engine_pid: int | None = None
) -> CpuRow:
    """CPU per call of `call`, run for about `seconds` of this process's CPU."""
    for _ in range(20):
        call()
    calls = 0
    python_started, engine_started = time.process_time(), process_cpu_seconds(engine_pid)
    while time.process_time() - python_started < seconds:
        for _ in range(20):
            call()
        calls += 20
    python_used = time.process_time() - python_started
    engine_used = process_cpu_seconds(engine_pid) - engine_started
    return CpuRow(name, calls, 1e6 * python_used / calls, 1e6 * engine_used / calls)


def measure_interleaved(
    calls: dict[str, Callable[[], object]], seconds: float, rounds: int = 6
) -> list[CpuRow]:
    """CPU per call of each of `calls`, alternating in `rounds` so that every one
    runs under the same conditions; about `seconds` of CPU each in all."""
    used = dict.fromkeys(calls, 0.0)
    counts = dict.fromkeys(calls, 0)
    for call in calls.values():
        for _ in range(20):
            call()
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.process_time()
            while time.process_time() - started < seconds / rounds:
                for _ in range(20):
                    call()
                counts[name] += 20
            used[name] += time.process_time() - started
    return [CpuRow(name, counts[name], 1e6 * used[name] / counts[name], 0.0) for name in calls]


def wsgi_call(app: Callable[..., Any], path: str, body: bytes) -> Callable[[], object]:
    """One POST of `body` to `path` through the WSGI callable `app`, as gunicorn calls it."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8443",
        "wsgi.url_scheme": "https",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"{path}: {status}")

    def call() -> object:
        answer = app({**environ, "wsgi.input": io.BytesIO(body)}, start_response)
        return b"".join(answer)

    return call


def wsgi_rows(
    registry: EngineRegistry, checks: list[Any], body: bytes, seconds: float
) -> list[CpuRow]:
    """The webhook's WSGI app for a re-applied review: plain admission path against Flask."""
    app = create_app(
        registry,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        checks=checks,
        review_seconds=DEFAULT_REVIEW_SECONDS,
        max_spec_values=DEFAULT_MAX_SPEC_VALUES,
    )
    plain = app.wsgi_app  # AdmissionPath, with Flask behind it
    flask = plain.fallback  # type: ignore[attr-defined]
    return measure_interleaved(
        {
            f"WSGI {path}, {label}": wsgi_call(callable_, path, body)
            for path in ("/validate", "/mutate")
            for label, callable_ in (("plain path", plain), ("through Flask", flask))
        },
        seconds,
    )


def renumbered(request: AdmissionRequest, counter: itertools.count) -> AdmissionRequest:
    """The request with a spec no earlier call had: its domain numbered."""
    obj = copy.deepcopy(request.object)
    obj["spec"]["domain"] = f"blog-{next(counter)}.example.com"
    return replace(request, object=obj)


def decision_rows(body: bytes, seconds: float) -> list[CpuRow]:
    registry = EngineRegistry(load_bindings(BINDINGS))
    binding = registry.bindings.bindings[0]
    engine = registry.engine_for(binding)
    request = parse_review(decode_json(body))
    spec = request.object["spec"]
    defaulted = engine.default(spec).values
    judging = ValuesEngine(engine.chart, engine.overrides, verdict_cache_size=0)
    alone = ValuesEngine(engine.chart, engine.overrides, verdict_cache_size=0, predicates=False)
    counter = itertools.count()
    rows = [
        measure(
            "engine.validate(defaulted spec), judged", lambda: judging.validate(defaulted), seconds
        ),
        measure(
            "engine.validate, judged by jsonschema alone",
            lambda: alone.validate(defaulted),
            seconds,
        ),
        measure(
            "engine.verdict(defaulted spec), judged", lambda: judging.verdict(defaulted), seconds
        ),
        measure(
            "engine.verdict(defaulted spec), remembered", lambda: engine.verdict(defaulted), seconds
        ),
        measure("engine.default(spec), filled", lambda: judging.default(spec), seconds),
        measure("engine.default(spec), remembered", lambda: engine.default(spec), seconds),
    ]
    renders = RenderProcesses(find_engine(), count=1)
    renders.start()
    try:
        engine_pid = renders.pids[0]
        checks = [RenderCheck(BudgetedRenderer(renders.socket_paths))]
        handler = ReviewHandler(registry, checks)
        rows += [
            measure(
                "decide /validate, re-applied, render on",
                lambda: decide(request, registry, "validate", checks),
                seconds,
                engine_pid,
            ),
            measure(
                "review handler /validate, re-applied (parse+answer)",
                lambda: handler.handle("validate", "application/json", body),
                seconds,
                engine_pid,
            ),
            measure(
                "review handler /mutate, re-applied (parse+answer)",
                lambda: handler.handle("mutate", "application/json", body),
                seconds,
                engine_pid,
            ),
            measure(
                "decide /validate, new spec each call, render on",
                lambda: decide(renumbered(request, counter), registry, "validate", checks),
                seconds,
                engine_pid,
            ),
        ]
        rows += wsgi_rows(registry, checks, body, 2 * seconds)
    finally:
        renders.stop()
    rows.append(
        measure(
            "decide /validate, new spec each call, render off",
            lambda: decide(renumbered(request, counter), registry, "validate"),
            seconds,
        )
    )
    return rows


def print_decision_table(rows: Sequence[CpuRow]) -> None:
    print("\nIn process, no HTTP (one thread; the examples/site.yaml Site; CPU time per call):")
    header = f"{'operation':<54}{'calls':>8}{'python us':>11}{'engine us':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row.name:<54}{row.calls:>8}{row.python_us:>11.1f}{row.engine_us:>11.1f}")
    judged = rows[0].python_us
    verdict = "met" if judged <= VALIDATE_TARGET_US else "MISSED"
    print(f"target: engine.validate <= {VALIDATE_TARGET_US:.0f} us of CPU: {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per row")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    print_decision_table(decision_rows(json.dumps(admission_review()).encode(), args.seconds))
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
