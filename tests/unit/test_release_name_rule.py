"""One release-name rule: Helm's table gets the same verdict from the pinned `helm`,
the webhook's admission, `lostromos check` and the controller."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_releases import HELM_NAMES
from test_webhook_app import real_registry, site_review

from lostromos.authoring.check import SourceObject, check_objects
from tests.unit.reconcilekit import World, site
from webhook.app import create_app

REPO = Path(__file__).resolve().parents[2]
RENDER_CHART = REPO / "tests" / "e2e" / "charts" / "render"
# Helm's table, and the names the two old rules disagreed on. An empty name is no
# object's: the API server names it (generateName) or refuses it before admission.
NAMES = {
    **{name: accepted for name, accepted in HELM_NAMES.items() if name},
    "blog.v2": True,
    "a.b": True,
    "blog-": False,
    "a" * 54: False,
}
VALID_SPEC = {"domain": "blog.example.com", "adminEmail": "admin@example.com"}


def helm_accepts(helm: Path, name: str) -> bool:
    result = subprocess.run(
        [str(helm), "template", name, str(RENDER_CHART), "--set-string", "owner=o,image.tag=1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.returncode == 0


def admission_accepts(name: str) -> bool:
    client = create_app(real_registry(), max_body_bytes=64 * 1024).test_client()
    review = site_review(VALID_SPEC)
    review["request"]["name"] = name
    review["request"]["object"]["metadata"]["name"] = name
    answer = client.post("/validate", data=json.dumps(review), content_type="application/json")
    return bool(answer.get_json()["response"]["allowed"])


def check_accepts(name: str) -> bool:
    document = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": name, "namespace": "default"},
        "spec": VALID_SPEC,
    }
    (verdict,) = check_objects(real_registry(), [SourceObject("test", document)])
    return verdict.allowed


def controller_accepts(name: str) -> bool:
    world = World(site(name, finalizer=False))
    world.reconcile(f"team-a/{name}")
    return bool(world.helm.calls)


@pytest.mark.parametrize(("name", "accepted"), NAMES.items(), ids=lambda v: repr(v)[:20])
def test_helm_admission_check_and_controller_agree(
    helm_binary: Path, name: str, accepted: bool
) -> None:
    verdicts = {
        "helm": helm_accepts(helm_binary, name),
        "admission": admission_accepts(name),
        "check": check_accepts(name),
        "controller": controller_accepts(name),
    }
    assert verdicts == dict.fromkeys(verdicts, accepted)
