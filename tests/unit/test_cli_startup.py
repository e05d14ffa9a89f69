"""`lostromos --help`, `version` and completions answer as quickly as kubectl and
helm do: they import no module that only some commands need. Measured by what
a fresh interpreter has imported (timing on a loaded machine proves nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each costs 0.1-1 s to import; only the commands that use them may.
HEAVY = ("kubernetes", "urllib3", "cryptography", "jsonschema", "yaml", "prometheus_client")

_PROBE = """
import contextlib, io, json, sys
from lostromos.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _imported_by(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("--version",),
        ("version",),
        ("version", "-o", "json"),
        ("completion", "bash"),
        ("__complete", "certs", ""),
        ("__complete", "check", "--"),
        ("dev", "--help"),
    ],
    ids=" ".join,
)
def test_quick_commands_import_nothing_heavy(argv: tuple[str, ...]) -> None:
    assert _imported_by(*argv) & set(HEAVY) == set()


def test_a_command_that_needs_the_kubernetes_client_still_gets_it() -> None:
    # The lazily named handler resolves: `certs status` reaches its own code
    # (and the client) before failing on the Secret reference.
    assert "kubernetes" in _imported_by("certs", "status", "--secret", "not-a-reference")
