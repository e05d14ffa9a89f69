"""Put the webhook CA into the caBundle of the webhook configurations that call it.

The API server verifies the webhook's serving certificate against each
webhook's clientConfig.caBundle, so after the CA is created or rotated every
webhook entry in the named configurations must carry it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from certs.authority import CertError, load_certificate

JSON_PATCH = "application/json-patch+json"
MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"


class AdmissionApi(Protocol):
    """The part of kubernetes.client.AdmissionregistrationV1Api this module uses."""

    def read_mutating_webhook_configuration(self, name: str) -> Any: ...
    def read_validating_webhook_configuration(self, name: str) -> Any: ...
    def patch_mutating_webhook_configuration(
        self, name: str, body: Any, *, _content_type: str | None = ...
    ) -> Any: ...
    def patch_validating_webhook_configuration(
        self, name: str, body: Any, *, _content_type: str | None = ...
    ) -> Any: ...


@dataclass(frozen=True)
class ConfigurationPatch:
    """The JSON patch that sets the caBundle of every webhook of one configuration."""

    kind: str
    name: str
    operations: list[dict[str, Any]]


def inject_with_api(
    api: AdmissionApi, ca_pem: bytes, *, mutating: Sequence[str], validating: Sequence[str]
) -> list[ConfigurationPatch]:
    """Set clientConfig.caBundle of every webhook in the named configurations to ``ca_pem``
    (``api`` is an AdmissionregistrationV1Api); returns the patches sent.

    Every configuration is read before any is patched, so a missing one fails
    the whole call with a CertError naming it and nothing is half done.
    """
    load_certificate(ca_pem)  # refuse to install something that is not a certificate
    bundle = base64.b64encode(ca_pem).decode("ascii")
    wanted = [(MUTATING, name) for name in mutating] + [(VALIDATING, name) for name in validating]
    configurations: list[tuple[str, str, Any]] = []
    missing: list[str] = []
    for kind, name in wanted:
        try:
            configurations.append((kind, name, _read(api, kind, name)))
        except ApiException as error:
            if error.status != 404:
                raise CertError(
                    f"{kind} {name!r}: cannot read it to set caBundle: "
                    f"HTTP {error.status} {error.reason}"
                ) from None
            missing.append(f"{kind} {name!r}")
    if missing:
        raise CertError(f"cannot set caBundle: {', '.join(missing)} not found")

    sent: list[ConfigurationPatch] = []
    for kind, name, configuration in configurations:
        patch = bundle_patch(kind, name, configuration, ca_pem, bundle)
        if not patch.operations:
            continue  # already carries this CA: no write, no new resourceVersion
        try:
            _patch(api, kind, name, patch.operations)
        except ApiException as error:
            raise CertError(
                f"{kind} {name!r}: cannot set caBundle: HTTP {error.status} {error.reason}"
            ) from None
        sent.append(patch)
    return sent


def bundle_patch(
    kind: str, name: str, configuration: Any, ca_pem: bytes, bundle: str
) -> ConfigurationPatch:
    """JSON patch operations for the webhooks whose caBundle differs from ``ca_pem``.

    Each change is guarded by a "test" of the webhook's name at that index, so
    if someone reorders the webhooks between our read and our patch the API
    server rejects the patch instead of putting the bundle on the wrong entry.
    """
    operations: list[dict[str, Any]] = []
    for index, webhook in enumerate(getattr(configuration, "webhooks", None) or []):
        if _bundle_matches(webhook.client_config.ca_bundle, ca_pem):
            continue
        operations.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook.name})
        operations.append(
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
        )
    return ConfigurationPatch(kind=kind, name=name, operations=operations)


def _bundle_matches(current: str | bytes | None, ca_pem: bytes) -> bool:
    # Depending on the client version caBundle comes back as the base64 text
    # of the wire format or as the decoded bytes.
    if not current:
        return False
    raw = current.encode("ascii", "replace") if isinstance(current, str) else current
    if raw == ca_pem:
        return True
    try:
        return base64.b64decode(raw, validate=True) == ca_pem
    except (binascii.Error, ValueError):
        return False


def _read(api: AdmissionApi, kind: str, name: str) -> Any:
    if kind == MUTATING:
        return api.read_mutating_webhook_configuration(name)
    return api.read_validating_webhook_configuration(name)


def _patch(api: AdmissionApi, kind: str, name: str, operations: list[dict[str, Any]]) -> None:
    if kind == MUTATING:
        api.patch_mutating_webhook_configuration(name, operations, _content_type=JSON_PATCH)
    else:
        api.patch_validating_webhook_configuration(name, operations, _content_type=JSON_PATCH)
