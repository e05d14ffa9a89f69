"""`lostromos dev env` prints exports only for a state folder whose cluster runs:
for any other it says why and exits 2, instead of exporting a kubeconfig that
is not there (kubectl would fail later with a vaguer message)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lostromos.cli import main


def test_a_folder_without_a_cluster_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "env", "--state-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"no dev cluster in {tmp_path} (no kubeconfig there)" in err
    assert "./dev up --state-dir" in err


def test_a_stopped_cluster_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What `dev down` leaves: the kubeconfig, and a record of children that are gone.
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    (tmp_path / "processes.json").write_text(
        json.dumps([{"name": "kube-apiserver", "pid": 2**22 + 1, "start_ticks": 1, "log": ""}])
    )
    assert main(["dev", "env", "--state-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"the dev cluster in {tmp_path} is not running" in err
