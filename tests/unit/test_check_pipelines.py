"""`lostromos check` in a pipeline: `helm template ... | lostromos check -` with
objects of unbound kinds, long inputs that stream with a progress line, a
summary-only mode, and one `-o json` shape (shared with --against-cluster)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from lostromos.authoring.checkreport import Progress
from lostromos.cli import main

pytestmark = pytest.mark.usefixtures("helm_engine_binary")

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = str(ROOT / "lostromos.yaml")
SITE = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
BAD = yaml.safe_load((ROOT / "examples" / "invalid" / "site-bad.yaml").read_text())
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}

# the keys of every object in a report, offline and --against-cluster alike
OBJECT_KEYS = {
    "source",
    "binding",
    "kind",
    "namespace",
    "name",
    "allowed",
    "message",
    "reasons",
    "patch",
    "warnings",
}
REPORT_KEYS = {"against", "checked", "allowed", "denied", "skipped", "objects"}


def stream(tmp_path: Path, *documents: dict) -> str:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def test_unbound_kinds_are_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = stream(tmp_path, CONFIGMAP, SITE, DEPLOYMENT, CONFIGMAP)
    argv = ["check", "--config", BINDINGS, "--crd", "none", objects]
    assert main(argv) == 2  # without the flag an unbound kind is still an error...
    assert "--skip-unbound skips such objects" in capsys.readouterr().err

    assert main([*argv, "--skip-unbound"]) == 0  # ...with it, a note
    out, err = capsys.readouterr()
    assert "Site default/blog: allowed" in out
    assert out.rstrip().endswith("1 allowed, 0 denied")
    assert err == (
        "lostromos check: skipped 3 object(s) of kinds no binding serves: "
        "apps/v1 Deployment (1), v1 ConfigMap (2)\n"
    )


def test_summary_prints_the_counts_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = stream(tmp_path, SITE, BAD, CONFIGMAP)
    argv = ["check", "--config", BINDINGS, "--crd", "none", "--skip-unbound", "--summary"]
    assert main([*argv, objects]) == 1
    assert capsys.readouterr().out == "1 allowed, 1 denied\n"
    assert main([*argv, "-o", "json", objects]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report) == REPORT_KEYS - {"objects"}
    assert (report["checked"], report["allowed"], report["denied"]) == (2, 1, 1)
    assert report["skipped"] == [
        {
            "source": f"{objects} (document 3)",
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "settings",
        }
    ]


def test_the_json_report_has_one_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = stream(tmp_path, SITE, BAD)
    assert main(["check", "--config", BINDINGS, "--crd", "none", "-o", "json", objects]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report) == REPORT_KEYS and report["against"] is None
    assert [set(item) for item in report["objects"]] == [OBJECT_KEYS, OBJECT_KEYS]
    denied = report["objects"][1]
    assert denied["allowed"] is False
    assert denied["reasons"] == denied["message"].splitlines() and len(denied["reasons"]) > 1


def test_a_long_input_streams_with_a_progress_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = [
        {**SITE, "metadata": {"name": f"site-{n:03d}", "namespace": "default"}} for n in range(120)
    ]
    objects = stream(tmp_path, *sites)
    assert main(["check", "--config", BINDINGS, "--crd", "none", objects]) == 0
    out, err = capsys.readouterr()
    assert out.count(": allowed\n") == 120
    progress = err.splitlines()
    assert progress[0] == "lostromos check: checked 12/120 objects"
    assert progress[-1] == "lostromos check: checked 120/120 objects"
    assert len(progress) == 10


def test_progress_rewrites_one_line_on_a_terminal_and_is_quiet_for_short_inputs() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = Progress(100, terminal)
    for _ in range(100):
        progress.tick()
    assert terminal.getvalue().count("\r") == 100
    assert terminal.getvalue().endswith("\rlostromos check: checked 100/100 objects\n")

    quiet = io.StringIO()
    short = Progress(99, quiet)
    for _ in range(99):
        short.tick()
    assert quiet.getvalue() == ""


def test_verdicts_are_yielded_as_they_are_known(tmp_path: Path) -> None:
    """Output streams: the first verdict exists before later objects are looked at."""
    from lostromos.authoring import AuthoringError
    from lostromos.authoring.check import iter_verdicts, read_objects
    from lostromos.config import load_bindings
    from lostromos.engines import EngineRegistry

    registry = EngineRegistry(load_bindings(BINDINGS))
    verdicts = iter_verdicts(
        registry, read_objects([Path(stream(tmp_path, SITE, CONFIGMAP))]), None
    )
    assert next(verdicts).allowed  # type: ignore[union-attr]
    with pytest.raises(AuthoringError, match="no binding in"):
        next(verdicts)
