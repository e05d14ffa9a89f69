"""The docs say what the program does: every shell command in README.md and
docs/*.md is one a fresh shell can run, every `lostromos` command parses, the
output shown for the offline ones is the real output, and the object and metric
names the operator docs give are the ones the chart and the code use."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lostromos.cli import build_parser, main
from tests.docsexamples import ROOT, Example, examples, substitutions
from tests.unit.test_monitoring import exported_names
from tests.unit.test_operator_chart_render import documents

EXAMPLES = examples()
# What a fresh shell has after `eval "$(./dev env)"`, plus everyday tools.
KNOWN_COMMANDS = {
    "./dev",
    "kubectl",
    "helm",
    "lostromos",
    "export",
    "eval",
    "git",
    "tar",
    "mkdir",
    "docker",
    "python",
    "cd",
    "cp",
    "date",
}
RUNNABLE = (("check",), ("schema", "lint"), ("version",))


def _ids(found: list[Example]) -> list[str]:
    return [f"{e.doc}:{e.line}" for e in found]


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) > 30
    assert {e.doc for e in EXAMPLES} >= {"README.md", "docs/chart-authors.md", "docs/users.md"}


@pytest.mark.parametrize("example", EXAMPLES, ids=_ids(EXAMPLES))
def test_every_command_runs_in_a_fresh_shell(example: Example) -> None:
    # `uv` is not on PATH in a fresh shell (./dev installs its own copy).
    for command in [example.command, *substitutions(example.command)]:
        program = command.split()[0]
        assert program in KNOWN_COMMANDS, f"{example}: {program} is not on a fresh shell's PATH"
    assert "dirname" not in example.command, f"{example}: dirname of an empty output misleads"


def _dev_commands() -> set[str]:
    return set(re.findall(r"^  (\w+)\)$", (ROOT / "dev").read_text(), re.M))


@pytest.mark.parametrize("example", EXAMPLES, ids=_ids(EXAMPLES))
def test_every_lostromos_and_dev_command_parses(example: Example) -> None:
    for command in [example.command, *substitutions(example.command)]:
        argv = command.split() if "$(" in command else Example("", 0, command).argv
        if argv[0] == "./dev":
            assert argv[1] in _dev_commands(), example
        if argv[0] != "lostromos":
            continue
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as error:
            pytest.fail(f"{example}: does not parse (exit {error.code})")


def _runnable(example: Example) -> bool:
    argv = example.argv
    return (
        argv[0] == "lostromos"
        and example.output != []
        and any(tuple(argv[1 : 1 + len(r)]) == r for r in RUNNABLE)
        and "--against-cluster" not in argv
        and "--render" not in argv
    )


def assert_shown_output_is_real(example: Example, real: str) -> None:
    """Each line shown must appear, in order; `...` stands for lines left out."""
    lines = real.splitlines()
    position = 0
    for shown in example.output:
        if shown.strip() == "...":
            continue
        prefix = shown.endswith("...")
        wanted = shown[:-3].rstrip() if prefix else shown
        for index in range(position, len(lines)):
            if lines[index].startswith(wanted) if prefix else lines[index] == wanted:
                position = index + 1
                break
        else:
            pytest.fail(
                f"{example}: shows {shown!r}, which the real output does not have "
                f"(after line {position}):\n{real}"
            )


OFFLINE = [e for e in EXAMPLES if _runnable(e)]


@pytest.mark.parametrize("example", OFFLINE, ids=_ids(OFFLINE))
@pytest.mark.usefixtures("helm_engine_binary")
def test_offline_examples_show_the_real_output(
    example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    main(example.argv[1:])
    captured = capsys.readouterr()
    assert_shown_output_is_real(example, captured.out + captured.err)


def test_there_are_offline_examples() -> None:
    assert len(OFFLINE) >= 3


def _one(command_start: str, doc: str) -> Example:
    [found] = [e for e in EXAMPLES if e.doc == doc and e.command.startswith(command_start)]
    return found


def _site_version(tmp_path: Path, name: str, version: str, change) -> Path:
    chart = tmp_path / name
    shutil.copytree(ROOT / "charts" / "site", chart)
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(
        re.sub(r"^version: .*$", f"version: {version}", chart_yaml.read_text(), flags=re.M)
    )
    schema = json.loads((chart / "values.schema.json").read_text())
    change(schema)
    (chart / "values.schema.json").write_text(json.dumps(schema))
    return chart


def _next_site(schema: dict) -> None:
    """The change docs/chart-authors.md describes for site 1.1.0."""
    schema["properties"]["php"]["properties"]["version"]["enum"] = ["8.3", "8.4"]
    schema["properties"]["php"]["properties"]["opcache"] = {
        "type": "boolean",
        "description": "Turn on the opcode cache.",
    }
    schema["properties"]["owner"] = {"type": "string", "description": "Who owns the site."}
    schema["required"].append("owner")


def test_the_schema_diff_example_is_real(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _one("lostromos schema diff", "docs/chart-authors.md")
    old = _site_version(tmp_path, "site-1.0.0", "1.0.0", lambda schema: None)
    new = _site_version(tmp_path, "site-1.1.0", "1.1.0", _next_site)
    assert main(["schema", "diff", str(old), str(new)]) == 1
    assert_shown_output_is_real(example, capsys.readouterr().out)


def test_the_against_cluster_example_is_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _one("lostromos check --against-cluster", "docs/chart-authors.md")

    def two(schema: dict) -> None:
        schema["properties"]["php"]["properties"]["version"]["enum"] = ["8.3", "8.4"]

    new = _site_version(tmp_path, "site-2.0.0", "2.0.0", two)
    stored = [
        {
            "metadata": {"namespace": "team-a" if i == 0 else "team-b", "name": f"s{i}"},
            "spec": {
                "domain": "a.example.com",
                "adminEmail": "a@example.com",
                "php": {"version": "8.2" if i == 0 else "8.3"},
            },
        }
        for i in range(12)
    ]
    stored[0]["metadata"]["name"] = "blog"
    monkeypatch.setattr("lostromos.authoring.check.list_stored_objects", lambda *_: stored)
    monkeypatch.chdir(ROOT)
    assert main(["check", "--against-cluster", "--binding", "site", "--chart", str(new)]) == 1
    assert_shown_output_is_real(example, capsys.readouterr().out)


# --- docs/operators.md names what the chart creates --------------------------------


def _operators() -> str:
    return (ROOT / "docs" / "operators.md").read_text()


def test_operator_docs_name_the_objects_the_chart_creates(helm_binary: Path) -> None:
    # A release name without "lostromos" in it: <fullname> is then ops-lostromos.
    rendered = documents(helm_binary)
    names = {d["metadata"]["name"] for d in rendered}
    controller = next(
        d
        for d in rendered
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-controller")
    )
    args = " ".join(controller["spec"]["template"]["spec"]["containers"][0]["args"])
    names |= set(re.findall(r"--lease-name=(\S+)", args))
    mentioned = set(re.findall(r"<fullname>(-[a-z-]*[a-z])", _operators()))
    assert mentioned, "operators.md names no <fullname>-... objects"
    assert not re.search(r"<release>-(?!lostromos`)", _operators()), (
        "object names come from <fullname>, not <release>"
    )
    fullname = "lostromos"  # documents() renders release "lostromos"
    missing = sorted(suffix for suffix in mentioned if fullname + suffix not in names)
    assert missing == [], f"operators.md names objects the chart does not create: {missing}"


def test_operator_docs_name_the_real_webhooks(helm_binary: Path) -> None:
    rendered = documents(helm_binary)
    webhooks = {
        w["name"]
        for d in rendered
        if d["kind"].endswith("WebhookConfiguration")
        for w in d["webhooks"]
    }
    mentioned = set(re.findall(r'"([a-z]+\.lostromos\.dev)"', _operators()))
    assert mentioned and mentioned <= webhooks


def test_operator_docs_list_only_exported_metrics() -> None:
    table = re.findall(r"^\| `(lostromos_[a-z_]+)`(?:, `(lostromos_[a-z_]+)`)?", _operators(), re.M)
    listed = {name for row in table for name in row if name}
    assert "lostromos_build_info" in listed
    assert listed - exported_names() == set()


@pytest.mark.parametrize("doc", ["README.md", "docs/users.md"])
@pytest.mark.usefixtures("helm_engine_binary")
def test_the_denial_shown_is_the_real_one(
    doc: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = [
        line
        for line in (ROOT / doc).read_text().splitlines()
        if line.startswith("spec.") and ": " in line
    ]
    assert shown, f"{doc} shows no denial"
    monkeypatch.chdir(ROOT)
    main(["check", "examples/invalid/site-bad.yaml"])
    real = [
        line.strip()
        for line in capsys.readouterr().out.splitlines()
        if line.strip().startswith("spec.")
    ]
    assert shown == real
