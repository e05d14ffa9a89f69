"""Shell completion: the script bash sources asks the CLI itself what comes next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lostromos.cli import build_parser, main
from lostromos.completion import candidates


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["sch"], ["schema"]),
        (["schema", ""], ["init", "lint", "diff", "bundle"]),
        (["schema", "lint", "--s"], ["--strict"]),
        (["check", "-o", ""], ["text", "json", "yaml"]),
        (["check", "--output=j"], []),  # a value given with = is not a flag to complete
        (
            ["toolchain", "path", "k"],
            ["kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler", "kwok"],
        ),
        (["crd", "generate", "--validation", ""], ["webhook", "full"]),
        (["check", "examples/"], []),  # file names: left to the shell
    ],
)
def test_candidates_follow_the_parser(words: list[str], expected: list[str]) -> None:
    assert candidates(build_parser(), words) == expected


def test_every_command_completes() -> None:
    offered = set(candidates(build_parser(), [""]))
    assert {
        "version",
        "completion",
        "check",
        "schema",
        "crd",
        "dev",
        "controller",
        "webhook",
        "certs",
        "toolchain",
    } <= offered


def test_bash_completes_with_the_printed_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    bin_dir = Path(sys.executable).parent
    probe = (
        script + "COMP_WORDS=(lostromos schema l); COMP_CWORD=2; _lostromos\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["lint"]
