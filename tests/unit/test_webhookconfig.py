"""Webhook configurations: one rule per bound kind, fail closed, no side effects."""

from __future__ import annotations

import base64
from pathlib import Path

from lostromos.config import load_bindings
from lostromos.dev.webhookconfig import client_config, webhook_configurations

ROOT = Path(__file__).resolve().parents[2]


def test_configurations_for_the_site_binding() -> None:
    bindings = load_bindings(ROOT / "lostromos.yaml").bindings
    config = client_config(ca_pem=b"PEM", url="https://127.0.0.1:9443/")
    mutating, validating = webhook_configurations(bindings, config, timeout_seconds=5)

    assert mutating["kind"] == "MutatingWebhookConfiguration"
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    (mutate,) = mutating["webhooks"]
    (validate,) = validating["webhooks"]
    assert mutate["clientConfig"]["url"] == "https://127.0.0.1:9443/mutate"
    assert validate["clientConfig"]["url"] == "https://127.0.0.1:9443/validate"
    assert base64.b64decode(validate["clientConfig"]["caBundle"]) == b"PEM"
    for webhook in (mutate, validate):
        assert webhook["failurePolicy"] == "Fail"
        assert webhook["sideEffects"] == "None"
        assert webhook["timeoutSeconds"] == 5
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["rules"] == [
            {
                "apiGroups": ["hosting.example.com"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["sites"],
                "scope": "Namespaced",
            }
        ]


def test_in_cluster_service_reference_gets_the_path() -> None:
    bindings = load_bindings(ROOT / "lostromos.yaml").bindings
    config = client_config(
        ca_pem=b"PEM", service={"name": "lostromos-webhook", "namespace": "lostromos", "port": 443}
    )
    selector = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
        ]
    }
    mutating, _ = webhook_configurations(bindings, config, namespace_selector=selector)
    (mutate,) = mutating["webhooks"]
    assert mutate["clientConfig"]["service"]["path"] == "/mutate"
    assert "url" not in mutate["clientConfig"]
    assert mutate["namespaceSelector"] == selector
