"""`lostromos check` on built-in objects a binding's source selects (examples/probes,
examples/tenants): judged as the webhook's source rule judges them, with the path in
the object, and never refused as an unbound kind."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.authoring.check import SourceObject, check_objects
from lostromos.config import load_bindings
from lostromos.engines import EngineRegistry

ROOT = Path(__file__).resolve().parents[2]
PROBES = ROOT / "examples" / "probes"
SHOP = yaml.safe_load((PROBES / "objects" / "shop.yaml").read_text())


@pytest.fixture(scope="module")
def probes() -> EngineRegistry:
    return EngineRegistry(load_bindings(PROBES / "lostromos.yaml"))


def shop(**changes: Any) -> SourceObject:
    document = copy.deepcopy(SHOP)
    for part, value in changes.items():
        document["metadata"][part] = value
    return SourceObject("shop.yaml (document 1)", document)


def test_a_selected_service_is_allowed_and_names_its_generated_object(
    probes: EngineRegistry,
) -> None:
    (verdict,) = check_objects(probes, [shop()], crd_mode=None)
    assert verdict.allowed, verdict.message
    assert verdict.description == "Service default/shop (ServiceProbe default/shop)"
    assert verdict.admitted is not None
    assert verdict.admitted["spec"] == {"tier": "critical", "port": 8080, "path": "/ready"}


def test_a_bad_mapped_value_is_denied_at_its_path_in_the_service(probes: EngineRegistry) -> None:
    bad = shop(annotations={"monitoring.example.com/path": "ready"})
    (verdict,) = check_objects(probes, [bad], crd_mode=None)
    assert not verdict.allowed
    assert 'metadata.annotations["monitoring.example.com/path"]: "ready" is not allowed' in (
        verdict.message
    )


def test_an_unselected_service_is_allowed_and_told_it_gets_nothing(
    probes: EngineRegistry,
) -> None:
    (verdict,) = check_objects(probes, [shop(labels={"app": "shop"})], crd_mode=None)
    assert verdict.allowed
    assert verdict.warnings == ["not selected by binding service-probe: it gets no ServiceProbe"]
    assert verdict.admitted is None


def test_a_namespace_is_judged_without_a_namespace_of_its_own() -> None:
    tenants = EngineRegistry(load_bindings(ROOT / "examples" / "tenants" / "lostromos.yaml"))
    document = yaml.safe_load((ROOT / "examples/tenants/objects/team-a.yaml").read_text())
    document["metadata"]["labels"]["hosting.example.com/tier"] = "platinum"
    (verdict,) = check_objects(tenants, [SourceObject("team-a.yaml", document)], crd_mode=None)
    assert not verdict.allowed
    assert verdict.description == "Namespace team-a"
    assert '"platinum" is not allowed: must be one of "bronze", "silver", "gold"' in (
        verdict.message
    )


@pytest.mark.parametrize("example", ["probes", "tenants"])
def test_crd_generate_makes_the_generated_kind_only_and_the_committed_crd_is_current(
    example: str, tmp_path: Path
) -> None:
    config = ROOT / "examples" / example / "lostromos.yaml"
    command = [sys.executable, "-m", "lostromos", "crd", "generate", "--config", str(config)]
    written = subprocess.run(
        [*command, "--output-dir", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert written.returncode == 0, written.stderr
    crds = [yaml.safe_load(path.read_text()) for path in sorted(tmp_path.iterdir())]
    binding = load_bindings(config).bindings[0]
    assert [crd["spec"]["names"]["kind"] for crd in crds] == [binding.kind]  # none for Service
    current = subprocess.run(
        [*command, "--output-dir", str(config.parent / "crds"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert current.returncode == 0, current.stdout + current.stderr
