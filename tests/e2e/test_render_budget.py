"""Renders that pass their budget are killed, in the webhook and in the controller.

tests/e2e/charts/greeting passes a tenant's value through `tpl`, so a tenant
writes template code: `{{ range until 20000 }}{{ range until 20000 }}{{ end }}
{{ end }}` runs for minutes, and Go cannot stop it. Through the real API server:

- the webhook denies four such bombs at once, naming the render budget, while
  another tenant's server-side dry runs keep succeeding; afterwards the render
  processes' CPU (from /proc/<pid>/stat) is back to idle;
- a manifest past the output budget is denied with the budget named;
- the controller (one worker for its kind) gives a bomb a RenderBudgetExceeded
  condition and never hands it to Helm, and another tenant's object becomes
  Ready meanwhile: no worker is held past the budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.controllerkit import BoundKind, ControllerProcess, controller_for
from tests.e2e.webhookkit import OwnWebhook, preserving_crd
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "tests" / "e2e" / "charts" / "greeting"
GROUP = "budget.e2e.lostromos.dev"
BOMB = "{{ range until 20000 }}{{ range until 20000 }}{{ end }}{{ end }}"
BUDGET = {"seconds": 3, "outputBytes": 1024 * 1024}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def greeting(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Greeting",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def dry_run(cluster: Cluster, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--request-timeout=20s",
        "-f",
        "-",
        stdin=json.dumps(manifest),
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def webhook(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnWebhook]:
    workdir = tmp_path_factory.mktemp("budget-webhook")
    binding = {
        "name": "greeting",
        "group": GROUP,
        "version": "v1",
        "kind": "Greeting",
        "plural": "greetings",
        "chart": {"path": str(CHART)},
        "renderBudget": BUDGET,
    }
    path = workdir / "bindings.yaml"
    path.write_text(yaml.safe_dump({"bindings": [binding]}))
    cluster.apply(preserving_crd(GROUP, "Greeting", "greetings"))
    cluster.kubectl(
        "wait", "--for=condition=Established", f"crd/greetings.{GROUP}", "--timeout=60s"
    )
    running = OwnWebhook(cluster, path, workdir / "webhook.log").start()
    yield running
    running.stop()


def engine_pids(parent: int) -> list[int]:
    """The Helm engine processes `parent` started (its render processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and name.startswith("helm-engine"):
            found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone: it uses no CPU any more
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def busy_cores(parent: int, seconds: float = 5.0) -> float:
    pids = engine_pids(parent)
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / seconds


@contextmanager
def other_tenant(cluster: Cluster, namespace: str) -> Iterator[list[str]]:
    failures: list[str] = []
    runs: list[float] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            result = dry_run(cluster, greeting(namespace, f"calm-{len(runs)}", greeting="hi"))
            runs.append(time.monotonic() - started)
            if result.returncode != 0:
                failures.append(result.stderr.strip())
            stop.wait(max(0.0, 1.0 - runs[-1]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield failures
    finally:
        stop.set()
        thread.join(timeout=180)
        ordered = sorted(runs)
        print(
            f"other tenant: {len(runs)} dry runs, {len(failures)} failed, "
            f"p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]:.2f}s"
        )
        assert len(runs) >= 3


def test_a_template_bomb_is_denied_within_the_budget_and_its_cpu_released(
    cluster: Cluster, webhook: OwnWebhook
) -> None:
    attacker = cluster.namespace("bomber")
    assert webhook.process is not None
    parent = webhook.process.pid
    assert engine_pids(parent)  # the CPU measured below is theirs
    with other_tenant(cluster, cluster.namespace("bystander-bomb")) as failures:
        time.sleep(2)
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda n: dry_run(cluster, greeting(attacker, f"bomb-{n}", greeting=BOMB)),
                    range(4),
                )
            )
        time.sleep(2)
    for result in results:
        assert result.returncode != 0
        assert "render budget of 3s (renderBudget.seconds)" in result.stderr, result.stderr
    assert failures == []
    # the killed renders' CPU is released: the render processes idle again
    cores = busy_cores(parent)
    print(f"render processes after the bombs: {cores:.2f} cores busy")
    assert cores < 0.1  # idle processes; one still rendering a bomb uses 0.4-1 core here


def test_a_manifest_past_the_output_budget_is_denied(cluster: Cluster, webhook: OwnWebhook) -> None:
    namespace = cluster.namespace("padder")
    result = dry_run(cluster, greeting(namespace, "huge", padding=2 * 1024 * 1024))
    assert result.returncode != 0
    assert "render budget of 1048576 bytes (renderBudget.outputBytes)" in result.stderr
    fine = dry_run(cluster, greeting(namespace, "small", padding=1000))
    assert fine.returncode == 0, fine.stderr


def test_the_controller_stops_a_bomb_before_helm_and_serves_other_tenants(
    cluster: Cluster, tmp_path: Path, controllers: list[ControllerProcess]
) -> None:
    kind = BoundKind(cluster, tmp_path, source=CHART, concurrency=1, renderBudget=BUDGET)
    attacker, bystander = cluster.namespace("ctl-bomber"), cluster.namespace("ctl-bystander")
    controller = controller_for(cluster, kind, tmp_path, controllers).start()
    for number in range(2):
        kind.create(f"bomb-{number}", attacker, greeting=BOMB)
    time.sleep(1)
    kind.create("calm", bystander, greeting="hi")
    # one worker for the kind: the other tenant is served only if no bomb holds it
    eventually(lambda: kind.ready("calm", bystander), timeout=90, message="calm Ready")
    for number in range(2):
        name = f"bomb-{number}"

        def refused(name: str = name) -> bool:
            failed = kind.condition(name, attacker, "ReleaseFailed") or {}
            return failed.get("reason") == "RenderBudgetExceeded"

        eventually(refused, timeout=90, message=f"{name} RenderBudgetExceeded")
        failed = kind.condition(name, attacker, "ReleaseFailed") or {}
        assert "render budget of 3s (renderBudget.seconds)" in failed["message"]
    # no bomb reached a Helm action (not even a pending release)
    listing = cluster.helm(
        "list", "--deployed", "--failed", "--pending", "-n", attacker, "-o", "json"
    ).stdout
    assert json.loads(listing) == []
    assert controller.process is not None and controller.process.poll() is None
