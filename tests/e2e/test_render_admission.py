"""Admission renders the chart: templates refuse what the schema lets through.

tests/e2e/charts/render's schema admits all of these specs; its templates do not
(`required`, `fail`, a nil pointer), or they would write outside the object's
namespace. Through the real API server, `kubectl apply` gets Helm's own message,
and nothing is stored. A binding with `admission.render: false` admits them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.webhookkit import OwnWebhook, preserving_crd
from tests.support import Cluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GROUP = "render.e2e.lostromos.dev"
GOOD = {"owner": "team-a", "image": {"tag": "1.0"}}


@pytest.fixture(scope="module")
def render_webhook(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    workdir = tmp_path_factory.mktemp("render-webhook")
    chart = {"path": str(ROOT / "tests" / "e2e" / "charts" / "render")}
    bindings = {
        "bindings": [
            {
                "name": "probe",
                "group": GROUP,
                "version": "v1",
                "kind": "Probe",
                "plural": "probes",
                "chart": chart,
            },
            {
                "name": "lenient",
                "group": GROUP,
                "version": "v1",
                "kind": "Lenient",
                "plural": "lenients",
                "chart": chart,
                "admission": {"render": False},
            },
            {
                "name": "spacer",
                "group": GROUP,
                "version": "v1",
                "kind": "Spacer",
                "plural": "spacers",
                "chart": chart,
                "clusterScopedKinds": ["Namespace"],
            },
        ]
    }
    path = workdir / "bindings.yaml"
    path.write_text(yaml.safe_dump(bindings))
    for kind, plural in (("Probe", "probes"), ("Lenient", "lenients"), ("Spacer", "spacers")):
        cluster.apply(preserving_crd(GROUP, kind, plural))
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{plural}.{GROUP}", "--timeout=60s"
        )
    webhook = OwnWebhook(cluster, path, workdir / "webhook.log").start()
    yield
    webhook.stop()


def apply(cluster: Cluster, kind: str, name: str, spec: dict[str, Any]) -> tuple[bool, str]:
    manifest = {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }
    result = cluster.apply(manifest, check=False, extra=("--dry-run=server",))
    return result.returncode == 0, result.stderr


@pytest.mark.usefixtures("render_webhook")
def test_a_spec_that_renders_is_admitted(cluster: Cluster) -> None:
    admitted, error = apply(cluster, "Probe", "fine", GOOD)
    assert admitted, error


@pytest.mark.usefixtures("render_webhook")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"image": {"tag": "1.0"}},
            "spec: the chart cannot render these values: templates/configmap.yaml: owner is required",  # noqa: E501
        ),
        (
            {**GOOD, "mode": "fail"},
            "spec: the chart cannot render these values: templates/configmap.yaml: "
            "mode fail is not supported by this chart",
        ),
        (
            {"owner": "team-a"},
            "spec: the chart cannot render these values: templates/configmap.yaml: "
            "nil pointer evaluating .Values.image.tag",
        ),
        (
            {**GOOD, "targetNamespace": "kube-system"},
            "spec: the chart would write ConfigMap kube-system/cross: it is in namespace "
            '"kube-system"; a release may only write to its own namespace "default"',
        ),
        (
            {**GOOD, "createNamespace": True},
            "spec: the chart would write Namespace cross-space: Namespace is cluster-scoped, and "
            "this binding allows no cluster-scoped Namespace objects",
        ),
    ],
    ids=["required", "fail", "nil-pointer", "other-namespace", "cluster-scoped"],
)
def test_what_the_templates_refuse_is_refused_with_helms_message(
    cluster: Cluster, spec: dict[str, Any], message: str
) -> None:
    admitted, error = apply(cluster, "Probe", "cross", spec)
    assert not admitted
    assert 'Probe "cross" in namespace "default" is invalid' in error
    assert message in " ".join(error.split()), error
    assert cluster.get(f"probes.{GROUP}", "cross") is None


@pytest.mark.usefixtures("render_webhook")
def test_render_checks_can_be_turned_off_and_cluster_kinds_allow_listed(cluster: Cluster) -> None:
    admitted, error = apply(cluster, "Lenient", "loose", {**GOOD, "mode": "fail"})
    assert admitted, error
    admitted, error = apply(cluster, "Spacer", "spaced", {**GOOD, "createNamespace": True})
    assert admitted, error
