"""What a user meets in the first hour, on the real API server: repeated
release failures are one counted Event and one log line; the README tour and
the commands `./dev up` prints work in a fresh shell; the operator chart
installs over CRDs applied by hand."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lostromos.dev.cluster import DevOptions
from tests.docsexamples import ROOT, Example, examples
from tests.e2e.controllerkit import BoundKind, ControllerProcess
from tests.support import Cluster, eventually, is_ready

pytestmark = pytest.mark.e2e


def test_repeated_release_failures_are_one_counted_event(cluster: Cluster, tmp_path: Path) -> None:
    namespace = cluster.namespace("ev-aggregated")
    kind = BoundKind(cluster, tmp_path)
    (kind.chart / "templates" / "broken.yaml").write_text('{{ fail "this chart is broken" }}\n')
    kind.create("broken", namespace)
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log")
    controller.start()
    try:

        def failures() -> list[dict] | None:
            listing = json.loads(
                cluster.kubectl(
                    "get",
                    "events",
                    "-n",
                    namespace,
                    "-o",
                    "json",
                    "--field-selector",
                    "reason=ReleaseFailed,involvedObject.name=broken",
                ).stdout
            )
            items = listing["items"]
            return items if sum(item.get("count", 1) for item in items) >= 5 else None

        events = eventually(failures, timeout=150, message="ReleaseFailed counted 5 times")
        # One Event per distinct message (a first install and the retries after it may
        # word helm's error differently), each counting its repeats.
        messages = [event["message"] for event in events]
        assert len(set(messages)) == len(messages) <= 2, messages
        assert max(event["count"] for event in events) >= 3
        assert all("this chart is broken" in message for message in messages)
        # and the controller's log says it once, as a warning naming object and release
        log = controller.log()
        assert "Traceback" not in log
        warned = [
            line for line in log.splitlines() if "WARNING" in line and "reconcile failed" in line
        ]
        assert 1 <= len(warned) <= len(events), log
        assert f"object={namespace}/broken" in warned[0] and "release=broken" in warned[0]
    finally:
        controller.stop_quietly()


# --- the README tour, copied into a fresh shell --------------------------------------


def _tour() -> tuple[list[Example], list[str]]:
    """The tour's commands, and the denial lines README shows for the bad Site."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## A five-minute kubectl tour")
    end = readme.index("\n## ", start + 1)
    first, last = readme[:start].count("\n"), readme[:end].count("\n")
    commands = [e for e in examples() if e.doc == "README.md" and first < e.line < last]
    shown = readme[start:end]
    denial = [line for line in shown.splitlines() if line.startswith("spec.")]
    return commands, denial


def fresh_shell(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """bash as a new terminal has it: no venv, no uv, no KUBECONFIG, the system PATH."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
    )


EXAMPLE_SITES = ("site.yaml", "site-shop.yaml")


def test_the_readme_tour_works_in_a_fresh_shell(cluster: Cluster, tmp_path: Path) -> None:
    commands, denial = _tour()
    assert commands[0].command == 'eval "$(./dev env)"', commands[0]
    assert denial, "README shows no denial lines"
    # `./dev env` is `uv sync`, then exactly this command (in the user's shell, where
    # Go, a prerequisite, is on PATH).
    printed = subprocess.run(
        [sys.executable, "-m", "lostromos", "dev", "env", "--state-dir", str(cluster.state_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "dirname" not in printed and printed.count("export ") == 2
    setup = printed + "lostromos version >/dev/null\n"
    found = fresh_shell(tmp_path, setup + "command -v kubectl helm lostromos")
    assert found.returncode == 0, found.stderr
    assert found.stderr == "", found.stderr  # no `dirname: missing operand` and the like

    # What `./dev up` applies from examples/: the tour uses both Sites.
    for example_file in EXAMPLE_SITES:
        cluster.apply((ROOT / "examples" / example_file).read_text())
    for name in ("blog", "shop"):
        eventually(
            lambda name=name: is_ready(cluster.get("site", name)),
            timeout=120,
            message=f"{name} Ready",
        )
    try:
        for example in commands[1:]:
            result = fresh_shell(tmp_path, setup + example.command)
            if "site-bad.yaml" in example.command:
                assert result.returncode != 0, f"{example}: the bad Site was admitted"
                for line in denial:
                    assert line in result.stderr, f"{example}: shows {line!r}:\n{result.stderr}"
                continue
            assert result.returncode == 0, f"{example} failed:\n{result.stderr}"
            if example.command == "kubectl get sites":
                assert "blog" in result.stdout and "True" in result.stdout
    finally:
        for example_file in EXAMPLE_SITES:
            cluster.kubectl(
                "delete",
                "-f",
                str(ROOT / "examples" / example_file),
                "--ignore-not-found",
                "--wait=false",
            )


def test_the_stop_line_dev_up_prints_works_in_a_fresh_shell(
    cluster: Cluster, tmp_path: Path
) -> None:
    from lostromos.cli import _print_usage

    class Printed:
        state_dir = cluster.state_dir
        options = DevOptions(
            state_dir=cluster.state_dir,
            bindings_path=ROOT / "lostromos.yaml",
            crds_dir=ROOT / "crds",
            examples_dir=None,
            tools=cluster.tools,
        )

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _print_usage(Printed(), cluster.tools, detached=True)
    [stop] = [line for line in buffer.getvalue().splitlines() if line.startswith("Stop it with: ")]
    # --help: the command as printed resolves and parses, and stops nothing.
    result = fresh_shell(tmp_path, stop.removeprefix("Stop it with: ") + " --help")
    assert result.returncode == 0, result.stderr
    assert "usage: lostromos dev down" in result.stdout


# --- the operator chart over CRDs applied by hand ----------------------------------


def test_the_operator_chart_adopts_crds_applied_by_hand(cluster: Cluster) -> None:
    # The session's CRDs were applied with kubectl from crds/, as the docs describe.
    install = (
        "install",
        "lostromos",
        str(ROOT / "charts" / "lostromos"),
        "-n",
        "adopt",
        "--create-namespace",
        "--dry-run=server",
    )
    refused = cluster.helm(*install, check=False)
    assert refused.returncode != 0
    assert "exists and cannot be imported into the current release" in refused.stderr
    adopted = cluster.helm(*install, "--take-ownership", check=False)
    assert adopted.returncode == 0, adopted.stderr
