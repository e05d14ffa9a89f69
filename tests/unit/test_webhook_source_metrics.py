"""The webhook's request metrics count admissions of a source kind (a built-in kind a
binding's `source` selects) under its own kind, as they count a custom kind: the
tenant-baseline example (examples/tenants) through the real app and EngineRegistry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from lostromos.config import load_bindings
from lostromos.engines import EngineRegistry
from webhook.app import create_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tenants" / "lostromos.yaml"
REQUESTS = "lostromos_webhook_requests_total"


def namespace_review(name: str, labels: dict[str, str]) -> dict[str, Any]:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    request = {
        "uid": f"uid-{name}",
        "kind": {"group": "", "version": "v1", "kind": "Namespace"},
        "resource": {"group": "", "version": "v1", "resource": "namespaces"},
        "name": name,
        "operation": "CREATE",
        "userInfo": {"username": "kubernetes-admin"},
        "object": obj,
        "oldObject": None,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def post(client: FlaskClient, document: dict[str, Any]) -> bool:
    reply = client.post("/validate", data=json.dumps(document), content_type="application/json")
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return bool(reply.get_json()["response"]["allowed"])


def sample(text: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{REQUESTS}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_source_admissions_are_counted_under_the_source_kind() -> None:
    client = create_app(EngineRegistry(load_bindings(EXAMPLE))).test_client()
    tenant = "hosting.example.com/tenant"
    assert post(client, namespace_review("team-a", {tenant: "team-a"}))
    assert not post(
        client,
        namespace_review("team-b", {tenant: "team-b", "hosting.example.com/tier": "platinum"}),
    )
    assert not post(client, namespace_review("team-c", {tenant: "Not A Team"}))
    text = client.get("/metrics").get_data(as_text=True)
    allowed = sample(text, endpoint="validate", kind="Namespace", verdict="allowed")
    denied = sample(text, endpoint="validate", kind="Namespace", verdict="denied")
    assert (allowed, denied) == (1, 2)
    assert sample(text, endpoint="validate", kind="unbound", verdict="allowed") == 0
    assert sample(text, endpoint="validate", kind="unbound", verdict="denied") == 0


def test_a_kind_no_binding_selects_stays_unbound() -> None:
    client = create_app(EngineRegistry(load_bindings(EXAMPLE))).test_client()
    review = namespace_review("plain", {})
    review["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    review["request"]["object"]["kind"] = "ConfigMap"
    post(client, review)
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        sum(
            sample(text, endpoint="validate", kind="unbound", verdict=v)
            for v in ("allowed", "denied")
        )
        == 1
    )
