"""Mutating and validating webhook configurations for a set of bindings.

One rule per bound kind, so the API server only ever calls the webhook for
objects lostromos serves; failurePolicy Fail, because admitting an unchecked
object is exactly what lostromos exists to prevent.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from lostromos.config import Binding

# The operator chart's names (`<fullname>-defaulting`, `<fullname>-validation` with the
# release `lostromos`). `lostromos dev up` registers its own under DEV_PREFIX, so the chart
# can be installed over a dev cluster without Helm meeting objects it did not make.
CHART_PREFIX = "lostromos"
DEV_PREFIX = "lostromos-dev"


def client_config(
    *, ca_pem: bytes, url: str | None = None, service: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Where the API server reaches the webhook: a URL (dev) or a Service (in-cluster)."""
    config: dict[str, Any] = {"caBundle": base64.b64encode(ca_pem).decode()}
    if url is not None:
        config["url"] = url
    if service is not None:
        config["service"] = service
    return config


def _rules(bindings: Sequence[Binding]) -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [binding.group],
            "apiVersions": [binding.version],
            "operations": ["CREATE", "UPDATE"],
            "resources": [binding.plural],
            "scope": "Namespaced",
        }
        for binding in bindings
    ]


def _webhook(
    name: str,
    path: str,
    bindings: Sequence[Binding],
    config: dict[str, Any],
    *,
    timeout_seconds: int,
    namespace_selector: dict[str, Any] | None,
) -> dict[str, Any]:
    endpoint = dict(config)
    if "url" in endpoint:
        endpoint["url"] = endpoint["url"].rstrip("/") + path
    if "service" in endpoint:
        endpoint["service"] = {**endpoint["service"], "path": path}
    webhook: dict[str, Any] = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": endpoint,
        "rules": _rules(bindings),
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
    }
    if namespace_selector is not None:
        webhook["namespaceSelector"] = namespace_selector
    return webhook


def source_webhook(
    binding: Binding, validating: dict[str, Any], *, namespace_selector: dict[str, Any] | None
) -> dict[str, Any]:
    """The rule for a binding's source kind (lostromos.sources): only objects its selector
    selects call the webhook (objectSelector), so every other Namespace or Service never
    waits on lostromos; fail closed or open as the binding says."""
    source = binding.source
    assert source is not None
    webhook = {
        **validating,
        "name": f"{binding.name}.source.{validating['name']}",
        "rules": [
            {
                "apiGroups": [source.group],
                "apiVersions": [source.version],
                "operations": ["CREATE", "UPDATE"],
                "resources": [source.resource],
                "scope": "*",
            }
        ],
        "objectSelector": source.selector.as_object(),
        "failurePolicy": source.failure_policy,
    }
    # A Namespace is matched by namespaceSelector on its own labels: the binding's
    # selector is the whole rule there.
    if source.kind == "Namespace" and source.group == "":
        webhook.pop("namespaceSelector", None)
    elif namespace_selector is not None:
        webhook["namespaceSelector"] = namespace_selector
    return webhook


def webhook_configurations(
    bindings: Sequence[Binding],
    config: dict[str, Any],
    *,
    timeout_seconds: int = 10,
    namespace_selector: dict[str, Any] | None = None,
    name_prefix: str = CHART_PREFIX,
) -> list[dict[str, Any]]:
    """The MutatingWebhookConfiguration and the ValidatingWebhookConfiguration."""
    mutating = _webhook(
        "defaulting.lostromos.dev",
        "/mutate",
        bindings,
        config,
        timeout_seconds=timeout_seconds,
        namespace_selector=namespace_selector,
    )
    mutating["reinvocationPolicy"] = "IfNeeded"
    validating = _webhook(
        "validation.lostromos.dev",
        "/validate",
        bindings,
        config,
        timeout_seconds=timeout_seconds,
        namespace_selector=namespace_selector,
    )
    sources = [
        source_webhook(binding, validating, namespace_selector=namespace_selector)
        for binding in bindings
        if binding.source is not None
    ]
    labels = {"app.kubernetes.io/name": "lostromos", "app.kubernetes.io/component": "webhook"}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": f"{name_prefix}-defaulting", "labels": labels},
            "webhooks": [mutating],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": f"{name_prefix}-validation", "labels": labels},
            "webhooks": [validating, *sources],
        },
    ]
