"""`check --against-cluster -o json` reports in the shape offline `check -o json`
does, over the objects a real API server stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lostromos.cli import main
from tests.support import Cluster
from tests.unit.test_check_pipelines import OBJECT_KEYS, REPORT_KEYS

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_against_cluster_json_has_the_offline_shape(
    cluster: Cluster, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
    for name, replicas in (("small", 1), ("big", 5)):
        site["metadata"] = {"name": name, "namespace": namespace}
        site["spec"]["replicas"] = replicas
        cluster.apply(site)
    stricter = tmp_path / "site"
    stricter.mkdir()
    for path in (ROOT / "charts" / "site").rglob("*"):
        target = stricter / path.relative_to(ROOT / "charts" / "site")
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    schema = json.loads((stricter / "values.schema.json").read_text())
    schema["properties"]["replicas"]["maximum"] = 3
    (stricter / "values.schema.json").write_text(json.dumps(schema))

    capsys.readouterr()
    common = ["check", "--config", str(ROOT / "lostromos.yaml"), "-o", "json"]
    against = ["--against-cluster", "--binding", "site", "--chart", str(stricter)]
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
    assert main([*common, *against, *kubeconfig]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report) == REPORT_KEYS
    assert report["against"] == {"binding": "site", "chart": "site", "version": "1.0.0"}
    mine = {o["name"]: o for o in report["objects"] if o["namespace"] == namespace}
    assert set(mine) == {"small", "big"}
    assert all(set(item) == OBJECT_KEYS for item in report["objects"])
    assert mine["small"]["allowed"] is True and mine["small"]["reasons"] == []
    assert mine["big"]["allowed"] is False
    assert mine["big"]["reasons"] == ["spec.replicas: 5 is not allowed: must be <= 3"]
    assert report["denied"] >= 1 and report["skipped"] == []

    offline = tmp_path / "big.yaml"
    offline.write_text(yaml.safe_dump({**site, "metadata": {"name": "big", "namespace": "x"}}))
    assert main([*common, "--crd", "none", str(offline)]) == 0
    assert set(json.loads(capsys.readouterr().out)) == REPORT_KEYS

    assert main([*common, "--summary", *against, *kubeconfig]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == REPORT_KEYS - {"objects"}
    assert summary["checked"] == report["checked"]
