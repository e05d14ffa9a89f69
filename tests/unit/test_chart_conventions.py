"""Chart conventions: charts/site lints and renders with its ci/ values (as
chart-testing runs it), and the operator chart's CRDs carry the recommended
labels, managed by Helm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lostromos.charts import load_chart
from lostromos.values.engine import ValuesEngine
from tests.unit.test_operator_chart_render import documents

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "charts" / "site"
CI_VALUES = sorted((SITE / "ci").glob("*-values.yaml"))


def helm(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_there_are_ci_values() -> None:
    assert [p.name for p in CI_VALUES] == ["full-values.yaml", "minimal-values.yaml"]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint_strict_and_template_pass_with_ci_values(helm_binary: Path, values: Path) -> None:
    lint = helm(helm_binary, "lint", "--strict", str(SITE), "--values", str(values))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = helm(helm_binary, "template", "ci", str(SITE), "--values", str(values))
    assert rendered.returncode == 0, rendered.stderr
    assert {d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "PersistentVolumeClaim",
    }


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_ci_values_are_what_the_webhook_admits(values: Path) -> None:
    spec = yaml.safe_load(values.read_text())
    assert ValuesEngine(load_chart(SITE)).validate(spec) == []


def test_without_values_helm_names_the_keys_each_site_must_set(helm_binary: Path) -> None:
    # By design: values.yaml cannot default a site's domain and admin email.
    lint = helm(helm_binary, "lint", str(SITE))
    assert lint.returncode != 0
    assert "missing properties 'domain', 'adminEmail'" in lint.stdout + lint.stderr


def test_operator_chart_crds_carry_the_recommended_labels(helm_binary: Path) -> None:
    crds = [d for d in documents(helm_binary) if d["kind"] == "CustomResourceDefinition"]
    assert crds
    for crd in crds:
        labels = crd["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        for key in ("name", "instance", "version", "component", "part-of"):
            assert labels.get(f"app.kubernetes.io/{key}"), key
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
