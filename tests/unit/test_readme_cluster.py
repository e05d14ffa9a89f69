"""README's "In a cluster" says what the operator chart runs by default."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _in_a_cluster() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## In a cluster\n", 1)[1]
    return " ".join(section.split("\n## ", 1)[0].split())


def test_the_readme_states_the_charts_replicas_and_sharding() -> None:
    values = yaml.safe_load((ROOT / "charts/lostromos/values.yaml").read_text())
    text = _in_a_cluster()
    webhook, controller = values["webhook"], values["controller"]
    assert f"webhook ({webhook['replicas']} replicas" in text
    assert f"controller ({controller['replicas']} replicas" in text
    assert controller["sharding"]["enabled"]
    assert "sharded" in text and "leader election" not in text
