"""Keep the webhook's certificates in one Secret, trusted by the API server and on disk.

One `ensure()` call reads the Secret, creates or renews what is missing or
about to expire (certs.material decides), writes it back with a
compare-and-swap on resourceVersion (so of two webhook replicas renewing at
once exactly one wins and the other takes the winner's certificates), injects
the CA bundle into the webhook configurations and finally writes the serving
pair into a folder the webhook's TLS context reloads from. Running it again
changes nothing: every replica runs it periodically.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from certs.authority import CertError, write_file, write_pair
from certs.inject import inject_with_api
from certs.material import (
    CA_CERT,
    TLS_CERT,
    TLS_KEY,
    CertMaterial,
    RenewalPolicy,
    ServingIdentity,
    issued_by,
    parse_secret,
    plan_ca,
    plan_serving,
    utc_now,
)

log = logging.getLogger("lostromos.certs")
REQUEST_TIMEOUT = 15
MAX_CONFLICTS = 5
SECRET_LABELS = {
    "app.kubernetes.io/name": "lostromos",
    "app.kubernetes.io/component": "webhook-certificates",
}


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        namespace, _, name = text.partition("/")
        if not namespace or not name or "/" in name:
            raise CertError(f"--secret {text!r} must be NAMESPACE/NAME")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class KeeperOptions:
    secret: SecretRef
    identity: ServingIdentity
    mutating: tuple[str, ...] = ()
    validating: tuple[str, ...] = ()
    policy: RenewalPolicy = field(default_factory=RenewalPolicy)
    cert_dir: Path | None = None
    # The API server sees a new caBundle through its own watch; give it this long
    # before a certificate signed by a newly trusted CA is served.
    propagation_seconds: float = 5.0


@dataclass(frozen=True)
class EnsureResult:
    material: CertMaterial
    secret_written: bool
    bundle_injected: bool
    files_written: bool
    reasons: tuple[str, ...]


class _Conflict(Exception):
    """Someone else wrote the Secret between our read and our write."""


class CertKeeper:
    def __init__(
        self,
        api_client: client.ApiClient,
        options: KeeperOptions,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.server = api_client.configuration.host
        self.options = options
        self.clock = clock
        self.sleep = sleep

    # -- public ---------------------------------------------------------------

    def ensure(self, *, force_ca: bool = False, force_serving: bool = False) -> EnsureResult:
        """Make the Secret, the webhook configurations and the files agree and be current."""
        options = self.options
        reasons: list[str] = []
        written = injected = False
        for _attempt in range(MAX_CONFLICTS):
            secret = self._read_secret()
            material = parse_secret(_decode(secret.data), str(options.secret))
            now = self.clock()
            ca_plan = plan_ca(material, options.policy, now, force=force_ca)
            if ca_plan.ca_changed:
                try:
                    secret = self._write_secret(secret, ca_plan.material)
                except _Conflict:
                    continue  # another replica renewed: start over from what it wrote
                force_ca, written = False, True
                reasons.extend(ca_plan.reasons)
            material = ca_plan.material
            injected = self._inject(material.bundle_pem) or injected
            serving_plan = plan_serving(
                material, options.identity, options.policy, now, force=force_serving
            )
            if serving_plan.serving_changed:
                if switches_ca(material):
                    # The API server learns the new bundle through its own watch: give it
                    # time before any replica can serve a certificate only that bundle trusts.
                    self.sleep(options.propagation_seconds)
                try:
                    secret = self._write_secret(secret, serving_plan.material)
                except _Conflict:
                    continue
                force_serving, written = False, True
                reasons.extend(f"serving certificate: {r}" for r in serving_plan.reasons)
            material = serving_plan.material
            files_written = self._write_files(material)
            if written or injected or files_written:
                log.info(
                    "certificates in place",
                    extra={
                        "secret": str(options.secret),
                        "changed": reasons,
                        "expires": _expiry(material),
                    },
                )
            return EnsureResult(material, written, injected, files_written, tuple(reasons))
        raise CertError(
            f"Secret {options.secret} kept changing while it was being renewed "
            f"({MAX_CONFLICTS} attempts); try again"
        )

    def reset(self) -> None:
        """Empty the Secret so the next ensure() issues a new CA and serving certificate."""
        secret = self._read_secret()
        secret.data = None
        self._call(
            f"cannot update Secret {self.options.secret}",
            self.core.replace_namespaced_secret,
            self.options.secret.name,
            self.options.secret.namespace,
            secret,
        )

    # -- the Secret -----------------------------------------------------------

    def _read_secret(self) -> client.V1Secret:
        ref = self.options.secret
        try:
            return self._call(
                f"cannot read Secret {ref}",
                self.core.read_namespaced_secret,
                ref.name,
                ref.namespace,
            )
        except _NotFound:
            pass
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=ref.name, namespace=ref.namespace, labels=SECRET_LABELS
            ),
            type="Opaque",
        )
        try:
            return self._call(
                f"Secret {ref} does not exist and cannot be created "
                f"(the chart creates it; install it again, or create it with "
                f"`kubectl create secret generic {ref.name} -n {ref.namespace}`)",
                self.core.create_namespaced_secret,
                ref.namespace,
                body,
            )
        except _NotFound:
            raise CertError(f"namespace {ref.namespace!r} of Secret {ref} does not exist") from None

    def _write_secret(self, secret: client.V1Secret, material: CertMaterial) -> client.V1Secret:
        # `secret` carries the resourceVersion we read: replace is a compare-and-swap.
        secret.data = {
            key: base64.b64encode(value).decode("ascii")
            for key, value in material.secret_data().items()
        }
        ref = self.options.secret
        return self._call(
            f"cannot update Secret {ref}",
            self.core.replace_namespaced_secret,
            ref.name,
            ref.namespace,
            secret,
        )

    # -- the API server and the disk ---------------------------------------------

    def _inject(self, bundle: bytes) -> bool:
        options = self.options
        if not options.mutating and not options.validating:
            return False
        try:
            sent = inject_with_api(
                self.admission, bundle, mutating=options.mutating, validating=options.validating
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise CertError(self._unreachable(error)) from None
        return bool(sent)

    def _write_files(self, material: CertMaterial) -> bool:
        directory = self.options.cert_dir
        if directory is None or material.serving is None:
            return False
        wanted = {
            CA_CERT: material.bundle_pem,
            TLS_CERT: material.serving.cert_pem,
            TLS_KEY: material.serving.key_pem,
        }
        if all(_read_or_none(directory / name) == content for name, content in wanted.items()):
            return False
        try:
            write_file(directory / CA_CERT, material.bundle_pem)
            write_pair(material.serving, directory / TLS_CERT, directory / TLS_KEY)
        except OSError as error:
            raise CertError(
                f"cannot write certificates to {directory}: {error.strerror or error}"
            ) from None
        return True

    def _call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                raise _NotFound from None
            if error.status == 409:
                raise _Conflict from None
            raise CertError(f"{what}: {_api_message(error)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise CertError(self._unreachable(error)) from None

    def _unreachable(self, error: BaseException) -> str:
        reason = getattr(error, "reason", None) or error
        text = re.sub(r"<[^>]+>:\s*", "", str(reason))
        return f"cannot reach the API server at {self.server}: {text}"


class _NotFound(Exception):
    pass


def switches_ca(material: CertMaterial) -> bool:
    """True when the serving certificate in use was signed by another CA than the current one."""
    serving = material.serving
    return serving is not None and not issued_by(serving.certificate, material.ca.certificate)


def _decode(data: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for key, value in (data or {}).items():
        try:
            decoded[key] = base64.b64decode(value or "", validate=True)
        except ValueError:
            decoded[key] = b""
    return decoded


def _api_message(error: ApiException) -> str:
    import json

    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"HTTP {error.status}: {message or error.reason}"


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _expiry(material: CertMaterial) -> str | None:
    if material.serving is None:
        return None
    return material.serving.certificate.not_valid_after_utc.isoformat()
