"""The CLI to kubectl's and helm's conventions: version, help for every flag,
-o json|yaml, stdin, lint and diff exit codes, one-line errors."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lostromos import toolchain
from lostromos.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "charts" / "site"


def _parsers(
    parser: argparse.ArgumentParser, path: str = "lostromos"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def _quiet_default(action: argparse.Action) -> bool:
    return action.default in (None, False, [], argparse.SUPPRESS) or action.required


def test_every_flag_has_help_and_says_its_default() -> None:
    missing = []
    for where, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            name = f"{where} {'/'.join(action.option_strings) or action.dest}"
            text = action.help or ""
            if not text:
                missing.append(f"{name}: no help")
            elif action.option_strings and not _quiet_default(action) and "default" not in text:
                missing.append(f"{name}: default {action.default!r} not said")
    assert missing == []


def test_version_names_the_pinned_helm_and_kubernetes(capsys: pytest.CaptureFixture[str]) -> None:
    pinned = toolchain.tool_versions()
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    short = capsys.readouterr().out
    assert short.startswith("lostromos 0.") and pinned["helm"] in short
    assert pinned["kube-apiserver"] in short
    assert main(["version"]) == 0
    text = capsys.readouterr().out
    assert f"helm:        {pinned['helm']}" in text
    assert f"kubernetes:  {pinned['kube-apiserver']}" in text
    assert main(["version", "-o", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["helm"] == pinned["helm"] and info["etcd"] == pinned["etcd"]


@pytest.mark.usefixtures("helm_engine_binary")
def test_check_reads_stdin_and_prints_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "examples" / "invalid" / "site-bad.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["check", "-", "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["denied"] == 1 and report["allowed"] == 0
    verdict = report["objects"][0]
    assert verdict["source"] == "stdin (document 1)" and verdict["allowed"] is False
    assert "spec.adminEmail: required property is missing" in verdict["message"]


@pytest.mark.usefixtures("helm_engine_binary")
def test_check_prints_yaml(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", "examples/site.yaml", "-o", "yaml"]) == 0
    report = yaml.safe_load(capsys.readouterr().out)
    assert report["allowed"] == len(report["objects"]) >= 1
    assert {"op": "add", "path": "/spec/replicas", "value": 1} in report["objects"][0]["patch"]


def _warnings_only_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "fresh"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: fresh\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: 1\n")
    (chart / "values.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"replicas": {"type": "integer"}}})
    )
    return chart


def test_lint_passes_warnings_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = _warnings_only_chart(tmp_path)
    assert main(["schema", "lint", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "warning: spec.replicas: no description" in out
    assert "fresh 0.1.0: 0 error(s), 1 warning(s), 0 note(s)" in out
    assert main(["schema", "lint", "--strict", str(chart)]) == 1
    capsys.readouterr()
    assert main(["schema", "lint", str(chart), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert report["findings"] == [
        {
            "severity": "warning",
            "where": "spec.replicas",
            "message": "no description: `kubectl explain` will show nothing",
        }
    ]


def test_a_fresh_schema_init_passes_lint(tmp_path: Path) -> None:
    chart = _warnings_only_chart(tmp_path)
    (chart / "values.schema.json").unlink()
    assert main(["schema", "init", str(chart)]) == 0
    assert main(["schema", "lint", str(chart)]) == 0


def test_diff_reports_a_new_required_property_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "site"
    import shutil

    shutil.copytree(SITE, new)
    schema = json.loads((new / "values.schema.json").read_text())
    schema["required"].append("owner")
    schema["properties"]["owner"] = {"type": "string"}
    (new / "values.schema.json").write_text(json.dumps(schema))
    assert main(["schema", "diff", str(SITE), str(new)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "spec.owner" in line]
    assert lines == ["BREAKING spec.owner: now required"]
    assert main(["schema", "diff", str(SITE), str(new), "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == [
        {"breaking": True, "where": "spec.owner", "message": "now required"}
    ]


def test_an_unreachable_cluster_is_one_line_without_urllib3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:1",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    monkeypatch.chdir(ROOT)
    assert (
        main(
            [
                "check",
                "--against-cluster",
                "--binding",
                "site",
                "--chart",
                str(SITE),
                "--kubeconfig",
                str(kubeconfig),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err == (
        "lostromos: error: cannot reach the cluster: connection refused (https://127.0.0.1:1)\n"
    )


def test_any_command_reports_an_unreachable_cluster_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:1",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    assert main(["certs", "status", "--secret", "ops/tls", "--kubeconfig", str(kubeconfig)]) == 2
    assert capsys.readouterr().err == (
        "lostromos: error: cannot reach the cluster: connection refused (https://127.0.0.1:1)\n"
    )
