"""The fast loop's guard: what needs helm, kubectl, Go or an API server is marked `cluster`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, needs_cluster

UNIT = ROOT / "tests" / "unit" / "test_x.py"


def test_tests_using_a_toolchain_fixture_need_the_cluster() -> None:
    assert needs_cluster(UNIT, ["tmp_path", "helm_binary"])
    assert needs_cluster(UNIT, ["cluster"])
    assert not needs_cluster(UNIT, ["tmp_path", "capsys"])


def test_e2e_and_differential_tests_need_the_cluster() -> None:
    assert needs_cluster(ROOT / "tests" / "e2e" / "test_x.py", [])
    assert needs_cluster(ROOT / "tests" / "differential" / "test_x.py", [])
    assert not needs_cluster(Path("/elsewhere/tests/e2e/test_x.py"), [])
