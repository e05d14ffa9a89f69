"""The operator chart with a binding to a built-in kind: its source webhook rule is
the one lostromos.dev.webhookconfig makes (objectSelector, failurePolicy, no
namespaceSelector for Namespaces), and the controller may watch the source kind
and create and delete the generated kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from test_operator_chart_render import NAMESPACE, bindings_of, documents, one

from lostromos.dev.webhookconfig import client_config, webhook_configurations

ROOT = Path(__file__).resolve().parents[2]


def tenant_values() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "examples" / "tenants" / "lostromos.yaml").read_text())
    (binding,) = document["bindings"]
    binding["chart"] = {"path": "/opt/lostromos/charts/tenant-baseline"}
    binding["source"]["failurePolicy"] = "Ignore"
    return {"bindings": [binding]}


def test_the_chart_writes_the_source_rule_webhookconfig_makes(
    helm_binary: Path, tmp_path: Path
) -> None:
    docs = documents(helm_binary, values=tenant_values(), tmp_path=tmp_path)
    bindings = bindings_of(docs).bindings
    validating = one(docs, "ValidatingWebhookConfiguration", "lostromos-validation")
    selector = validating["webhooks"][0]["namespaceSelector"]
    service = {"name": "lostromos-webhook", "namespace": NAMESPACE, "port": 443}
    _, wanted = webhook_configurations(
        bindings, client_config(ca_pem=b"", service=service), namespace_selector=selector
    )
    assert len(validating["webhooks"]) == len(wanted["webhooks"]) == 2
    for ours, theirs in zip(validating["webhooks"], wanted["webhooks"], strict=True):
        assert ours == {**theirs, "clientConfig": {"service": theirs["clientConfig"]["service"]}}
    source = validating["webhooks"][1]
    assert source["failurePolicy"] == "Ignore"
    assert source["objectSelector"] == {
        "matchExpressions": [{"key": "hosting.example.com/tenant", "operator": "Exists"}]
    }


def test_the_controller_may_watch_the_source_and_keep_generated_objects(
    helm_binary: Path, tmp_path: Path
) -> None:
    docs = documents(helm_binary, values=tenant_values(), tmp_path=tmp_path)
    rules = one(docs, "ClusterRole", "lostromos-controller")["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in rules
    assert {
        "apiGroups": ["hosting.example.com"],
        "resources": ["tenantbaselines"],
        "verbs": ["create", "delete"],
    } in rules
