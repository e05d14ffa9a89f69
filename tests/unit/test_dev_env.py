"""`lostromos dev env` prints exports only for a state folder whose cluster runs:
for any other it says why and exits 2, instead of exporting a kubeconfig that
is not there (kubectl would fail later with a vaguer message)."""

from __future__ import annotations

import json
import os
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


def test_the_tools_the_cluster_was_started_with_are_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `LOSTROMOS_KUBECTL=... ./dev up` in one shell, `./dev env` in another that has
    # neither that setting nor a build cache: the user still gets the cluster's own tools.
    from lostromos.dev import CLIENT_TOOLS_FILE
    from lostromos.dev.processes import _start_ticks

    tools = tmp_path / "own-tools"
    tools.mkdir()
    for name in ("kubectl", "helm"):
        (tools / name).write_text("#!/bin/sh\n")
        (tools / name).chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    (state / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    me = os.getpid()  # stands in for a running kube-apiserver
    apiserver = {"name": "kube-apiserver", "pid": me, "start_ticks": _start_ticks(me), "log": ""}
    (state / "processes.json").write_text(json.dumps([apiserver]))
    (state / CLIENT_TOOLS_FILE).write_text(
        json.dumps({name: str(tools / name) for name in ("kubectl", "helm")})
    )
    for name in ("KUBECTL", "HELM", "CACHE_DIR"):
        monkeypatch.delenv(f"LOSTROMOS_{name}", raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("LOSTROMOS_CACHE_DIR", str(tmp_path / "empty-cache"))

    assert main(["dev", "env", "--state-dir", str(state)]) == 0
    out, _ = capsys.readouterr()
    assert f"export PATH={tools}:" in out
    assert f"export KUBECONFIG={state.resolve() / 'kubeconfig'}" in out

    (tools / "helm").unlink()  # gone since: looked for as before, and not found
    assert main(["dev", "env", "--state-dir", str(state)]) == 2
    assert "helm is not built yet" in capsys.readouterr().err
