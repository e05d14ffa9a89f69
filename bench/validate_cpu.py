"""engine.validate on the site chart's fully defaulted spec: CPU per call, two checkouts.

    uv run python bench/validate_cpu.py --before DIR [--rounds 7] [--calls 3000]

DIR is another checkout of lostromos (say `git archive BASE | tar -x -C DIR`).
Each round runs one short process per row, the rows alternating, so every row
sees the same machine; each process judges the spec (nothing remembered)
`--calls` times after a warm-up and reports CPU per call (time.process_time:
other work on a shared machine does not count); every row judges this
checkout's example spec (bench/webhook_request.py). Rows: the other checkout,
this one, and this one with its compiled schema predicates off (jsonschema
alone judges, as before, with this checkout's other changes). Prints every
round and the median per row, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import load_average  # noqa: E402
from bench.webhook_request import admission_review  # noqa: E402


def worker(root: Path, calls: int, predicates: bool) -> float:
    """CPU microseconds per engine.validate call, with the code under `root`."""
    sys.path.insert(0, str(root))  # lostromos and webhook from the checkout measured
    from lostromos.config import load_bindings
    from lostromos.engines import EngineRegistry
    from lostromos.values.engine import ValuesEngine

    registry = EngineRegistry(load_bindings(root / "lostromos.yaml"))
    engine = registry.engine_for(registry.bindings.bindings[0])
    spec = admission_review()["request"]["object"]["spec"]
    defaulted = engine.default(spec).values
    options = {} if predicates else {"predicates": False}
    judging = ValuesEngine(engine.chart, engine.overrides, verdict_cache_size=0, **options)
    assert judging.validate(defaulted) == [], "the defaulted spec must be valid"
    for _ in range(calls // 10):
        judging.validate(defaulted)
    started = time.process_time()
    for _ in range(calls):
        judging.validate(defaulted)
    return (time.process_time() - started) / calls * 1e6


def run_row(root: Path, calls: int, predicates: bool) -> float:
    command = [sys.executable, __file__, "--worker", str(root), "--calls", str(calls)]
    if not predicates:
        command.append("--jsonschema-alone")
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=root)
    return float(json.loads(done.stdout)["us"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout of lostromos")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jsonschema-alone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        us = worker(args.worker.resolve(), args.calls, predicates=not args.jsonschema_alone)
        print(json.dumps({"us": us}))
        return 0
    if args.before is None:
        parser.error("--before DIR is required")
    rows = {
        f"before ({args.before})": (args.before.resolve(), True),
        "this checkout": (ROOT, True),
        "this checkout, predicates off": (ROOT, False),
    }
    print(f"load average before: {load_average()}")
    results: dict[str, list[float]] = {name: [] for name in rows}
    for round_ in range(args.rounds):
        for name, (root, predicates) in rows.items():
            results[name].append(run_row(root, args.calls, predicates))
        line = "  ".join(f"{values[-1]:7.1f}" for values in results.values())
        print(f"round {round_ + 1}: {line}  (load {load_average()})", flush=True)
    print(f"\nengine.validate(site defaulted spec), CPU us per call, median of {args.rounds}:")
    for name, values in results.items():
        spread = f"{min(values):.1f}-{max(values):.1f}"
        print(f"  {name:<44}{statistics.median(values):8.1f}   (range {spread})")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
