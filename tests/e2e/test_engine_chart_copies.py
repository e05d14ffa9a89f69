"""The Helm engine never carries one request's chart into the next.

Helm's dependency processing rewrites the chart it is given: disabled subcharts
are dropped, aliases renamed, imported values merged into the parent's. The
engine keeps each chart loaded by digest, so every render and every Helm action
must work on its own copy. tests/e2e/charts/conditional switches a subchart by
condition, an aliased copy of it by condition or tag, a grandchild by the
child's values, and imports values from the child: each render here is
compared byte for byte with what the pinned `helm template` prints for the same
values, one after another and many at once.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.charts import chart_digest
from lostromos.helmengine import ChartSource, HelmEngine, RunningEngine
from tests.helmvalues import helm_values_document
from tests.support import Cluster

pytestmark = pytest.mark.e2e

CHART_PATH = Path(__file__).resolve().parent / "charts" / "conditional"
CHART = ChartSource(CHART_PATH, chart_digest(CHART_PATH))
RELEASE = "shop"
NAMESPACE = "chart-copies"

SETTINGS: dict[str, dict[str, Any]] = {
    "all off": {},
    "worker": {"worker": {"enabled": True}},
    "worker and its sidecar": {"worker": {"enabled": True, "sidecar": {"enabled": True}}},
    "batch by tag": {"tags": {"jobs": True}, "batch": {"enabled": None}},
    "all on": {
        "worker": {"enabled": True, "sidecar": {"enabled": True}},
        "batch": {"enabled": True, "replicas": 3},
    },
}


def helm_template(helm: Path, workdir: Path, name: str, namespace: str) -> str:
    values_file = workdir / f"{name.replace(' ', '-')}.yaml"
    values_file.write_text(helm_values_document(SETTINGS[name]), encoding="utf-8")
    result = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART_PATH), "-n", namespace, "-f", str(values_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.fixture(scope="module")
def expected(helm_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`helm template`'s output for each setting (helm runs once per process: no cache)."""
    workdir = tmp_path_factory.mktemp("chart-copies")
    manifests = {name: helm_template(helm_binary, workdir, name, NAMESPACE) for name in SETTINGS}
    assert len(set(manifests.values())) == len(SETTINGS), "every setting renders differently"
    return manifests


@pytest.fixture
def engine(helm_engine_binary: Path) -> Iterator[HelmEngine]:
    """A fresh engine per test: its chart cache starts empty."""
    with RunningEngine(helm_engine_binary, cluster=False) as running:
        yield running


def render(engine: HelmEngine, name: str) -> str:
    return engine.render(CHART, RELEASE, NAMESPACE, SETTINGS[name]).manifest


def test_each_render_sees_only_its_own_values(engine: HelmEngine, expected: dict[str, str]) -> None:
    order = ["all off", "worker", "all off", "all on", "batch by tag", "worker", "all off"]
    for step, name in enumerate(order):
        assert render(engine, name) == expected[name], f"step {step}: {name}"


def test_concurrent_renders_with_mixed_settings(
    engine: HelmEngine, expected: dict[str, str]
) -> None:
    names = [name for name in SETTINGS for _ in range(12)]
    random.Random(20).shuffle(names)
    with ThreadPoolExecutor(max_workers=8) as pool:
        rendered = list(pool.map(lambda name: render(engine, name), names))
    wrong = [
        name for name, manifest in zip(names, rendered, strict=True) if manifest != expected[name]
    ]
    assert not wrong, f"{len(wrong)} of {len(names)} renders differ from helm template: {wrong}"


def configmaps(cluster: Cluster, namespace: str) -> dict[str, dict[str, str]]:
    listing = json.loads(cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "json").stdout)
    return {
        item["metadata"]["name"]: item.get("data") or {}
        for item in listing["items"]
        if item["metadata"]["name"] != "kube-root-ca.crt"
    }


def templated_configmaps(manifest: str) -> dict[str, dict[str, str]]:
    return {
        document["metadata"]["name"]: document.get("data") or {}
        for document in yaml.safe_load_all(manifest)
        if document
    }


def test_upgrades_apply_each_requests_subcharts(
    cluster: Cluster, helm_engine_binary: Path, tmp_path: Path
) -> None:
    namespace = cluster.namespace("engine-chart-copies")
    with RunningEngine(helm_engine_binary, kubeconfig=cluster.kubeconfig) as engine:
        engine.render(CHART, RELEASE, namespace, SETTINGS["all off"])  # as admission does first
        sequence = ["batch by tag", "worker and its sidecar", "worker", "all on"]
        for revision, name in enumerate(sequence, 1):
            release = engine.upgrade_install(
                RELEASE, namespace, CHART, SETTINGS[name], timeout_seconds=60
            )
            assert release.revision == revision
            wanted = helm_template(cluster.tools["helm"], tmp_path, name, namespace)
            assert configmaps(cluster, namespace) == templated_configmaps(wanted), name


def test_an_upgrade_with_no_values_goes_back_to_the_charts_own(
    cluster: Cluster, helm_engine_binary: Path, tmp_path: Path
) -> None:
    """The object's spec is all of the release's user values: an empty spec means
    the chart's defaults, not Helm's reuse of the previous revision's values."""
    namespace = cluster.namespace("engine-empty-values")
    with RunningEngine(helm_engine_binary, kubeconfig=cluster.kubeconfig) as engine:
        for name in ["all on", "all off"]:
            engine.upgrade_install(RELEASE, namespace, CHART, SETTINGS[name], timeout_seconds=60)
            wanted = helm_template(cluster.tools["helm"], tmp_path, name, namespace)
            assert configmaps(cluster, namespace) == templated_configmaps(wanted), name
