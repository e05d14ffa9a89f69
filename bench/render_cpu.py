"""Admission of a new spec with render on: CPU per decision, two checkouts.

    uv run python bench/render_cpu.py --before DIR [--rounds 5] [--calls 600]

DIR is another checkout of lostromos (say `git archive BASE | tar -x -C DIR`),
with its Helm engine built (`lostromos toolchain build` there, or the same
engine source). Each round runs one short process per row, the rows
alternating, so every row sees the same machine. Each process starts one
render process of its own checkout's engine, as the webhook's master does,
and calls `decide` for /validate of the example Site with a spec no earlier
call had (its domain numbered) `--calls` times after a warm-up; it reports CPU
per call of itself (time.process_time: the decision, the request to the
engine and the answer) and of the render process (/proc/PID/stat: the
render). Other work on a shared machine counts in neither. Both rows judge
the same request, this checkout's (bench/webhook_request.py). Prints every round
and the median per row, with the load average before and after.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import load_average, process_cpu_seconds  # noqa: E402
from bench.webhook_request import admission_review  # noqa: E402


def worker(root: Path, calls: int) -> dict[str, float]:
    """CPU microseconds per new-spec decision (this process, the render process)."""
    sys.path.insert(0, str(root))  # lostromos and webhook from the checkout measured
    from lostromos.admission import decide
    from lostromos.config import load_bindings
    from lostromos.engines import EngineRegistry
    from lostromos.helmengine import find_engine
    from lostromos.rendercheck import RenderCheck
    from lostromos.renderpool import BudgetedRenderer, RenderProcesses
    from webhook.review import decode_json, parse_review

    registry = EngineRegistry(load_bindings(root / "lostromos.yaml"))
    request = parse_review(decode_json(json.dumps(admission_review()).encode()))
    renders = RenderProcesses(find_engine(), count=1)
    renders.start()
    try:
        checks = [RenderCheck(BudgetedRenderer(renders.socket_paths))]
        specs = []
        for number in range(calls + calls // 10):
            obj = copy.deepcopy(request.object)
            obj["spec"]["domain"] = f"blog-{number}.example.com"
            specs.append(replace(request, object=obj))
        for numbered in specs[calls:]:  # the warm-up: its specs are not used again
            assert decide(numbered, registry, "validate", checks).allowed
        pid = renders.pids[0]
        python_started, engine_started = time.process_time(), process_cpu_seconds(pid)
        for numbered in specs[:calls]:
            decide(numbered, registry, "validate", checks)
        python = time.process_time() - python_started
        engine = process_cpu_seconds(pid) - engine_started
    finally:
        renders.stop()
    return {"python": python / calls * 1e6, "engine": engine / calls * 1e6}


def run_row(root: Path, calls: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", str(root), "--calls", str(calls)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=root)
    return json.loads(done.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout of lostromos")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker.resolve(), args.calls)))
        return 0
    if args.before is None:
        parser.error("--before DIR is required")
    rows = {f"before ({args.before})": args.before.resolve(), "this checkout": ROOT}
    print(f"load average before: {load_average()}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in rows}
    for round_ in range(args.rounds):
        for name, root in rows.items():
            results[name].append(run_row(root, args.calls))
        line = "  ".join(
            f"{values[-1]['python']:7.1f} + {values[-1]['engine']:7.1f}"
            for values in results.values()
        )
        print(
            f"round {round_ + 1} (python + engine us): {line}  (load {load_average()})", flush=True
        )
    print(
        f"\ndecide /validate, a new spec each call, render on: CPU us per call, "
        f"median of {args.rounds} (range)"
    )
    print(f"  {'':<44}{'python':>18}{'engine':>20}{'total':>10}")
    for name, values in results.items():
        cells = []
        for part in ("python", "engine"):
            series = [value[part] for value in values]
            cells.append(f"{statistics.median(series):8.1f} ({min(series):.0f}-{max(series):.0f})")
        total = statistics.median(value["python"] + value["engine"] for value in values)
        print(f"  {name:<44}{cells[0]:>18}{cells[1]:>20}{total:10.1f}")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
