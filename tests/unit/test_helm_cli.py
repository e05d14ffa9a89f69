"""The CLI Helm class's additions: owner labels on upgrade, labels and first
deployment read back, impersonation. A stand-in script plays helm."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from controller.helm import Helm, StoredRelease

RELEASE = {"name": "blog", "namespace": "team-a", "version": 2,
           "info": {"status": "deployed", "first_deployed": "2026-01-01T10:00:03Z",
                    "last_deployed": "2026-01-02T10:00:00Z"},
           "chart": {"metadata": {"name": "site", "version": "1.0.0"}}, "manifest": ""}


def fake_helm(tmp_path: Path, *, with_chart: bool = True) -> tuple[Path, Path]:
    document = RELEASE if with_chart else {k: v for k, v in RELEASE.items() if k != "chart"}
    args_file = tmp_path / "args.json"
    script = tmp_path / "helm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(args_file)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"print({json.dumps(json.dumps(document))})\n")
    script.chmod(0o755)
    return script, args_file


def test_upgrade_passes_the_owner_labels_and_the_user_to_act_as(tmp_path: Path) -> None:
    binary, args_file = fake_helm(tmp_path)
    released = Helm(binary).upgrade_install(
        "blog", "team-a", "/charts/site", {"a": 1}, timeout_seconds=5,
        labels={"lostromos.dev/owner-uid": "u-1", "lostromos.dev/binding": "site"},
        impersonate="system:serviceaccount:team-a:deployer")
    args = json.loads(args_file.read_text())
    assert args[args.index("--labels") + 1] == (
        "lostromos.dev/binding=site,lostromos.dev/owner-uid=u-1")
    assert args[args.index("--kube-as-user") + 1] == "system:serviceaccount:team-a:deployer"
    assert released.first_deployed == "2026-01-01T10:00:03Z"
    assert released.labels == {"lostromos.dev/owner-uid": "u-1",
                               "lostromos.dev/binding": "site"}


def test_status_reads_labels_and_chart_from_release_storage(tmp_path: Path) -> None:
    binary, _ = fake_helm(tmp_path, with_chart=False)  # helm v4's status JSON has no chart
    asked: list[tuple[str, str]] = []

    def storage(release: str, namespace: str) -> StoredRelease:
        asked.append((release, namespace))
        return StoredRelease({"lostromos.dev/owner-uid": "u-9"}, "site", "1.0.0")

    found = Helm(binary, release_storage=storage).status("blog", "team-a")
    assert found is not None and found.labels == {"lostromos.dev/owner-uid": "u-9"}
    assert (found.chart_name, found.chart_version) == ("site", "1.0.0")
    assert found.first_deployed == "2026-01-01T10:00:03Z"
    assert asked == [("blog", "team-a")]
