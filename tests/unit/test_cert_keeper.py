"""Certificates kept in a Secret: what is renewed when, how two writers settle, how a
rotated CA overlaps the old one, and how the webhook picks up new files."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from certs.authority import CertError, create_ca, issue_serving_cert, write_pair
from certs.keeper import CertKeeper, KeeperOptions, SecretRef
from certs.material import (
    BrokenSecret,
    CertMaterial,
    RenewalPolicy,
    ServingIdentity,
    parse_secret,
    plan_ca,
    plan_serving,
    split_pem_bundle,
)
from webhook.certreload import ReloadingContext
from webhook.server import ServingTLS

IDENTITY = ServingIdentity.for_service("lostromos-webhook", "ops", ip_addresses=["127.0.0.1"])
POLICY = RenewalPolicy(ca_days=3650, serving_days=365, renew_before=timedelta(days=30))
NOW = datetime.now(UTC)


def fresh() -> CertMaterial:
    material = plan_ca(None, POLICY, NOW).material
    return plan_serving(material, IDENTITY, POLICY, NOW).material


# -- deciding -----------------------------------------------------------------------------


def test_service_identity_has_every_name_the_api_server_may_use() -> None:
    assert IDENTITY.dns_names == (
        "lostromos-webhook",
        "lostromos-webhook.ops",
        "lostromos-webhook.ops.svc",
        "lostromos-webhook.ops.svc.cluster.local",
    )


def test_a_current_pair_is_left_alone() -> None:
    material = fresh()
    assert plan_ca(material, POLICY, NOW).ca_changed is False
    assert plan_serving(material, IDENTITY, POLICY, NOW).serving_changed is False


def test_serving_certificate_renews_before_it_expires_or_when_names_change() -> None:
    material = fresh()
    later = NOW + timedelta(days=340)
    renewed = plan_serving(material, IDENTITY, POLICY, later)
    assert renewed.serving_changed and renewed.reasons == ("expires soon",)
    other = ServingIdentity.for_service("renamed", "ops")
    assert plan_serving(material, other, POLICY, NOW).reasons == (
        "names differ from the Service's",
    )
    forced = plan_serving(material, IDENTITY, POLICY, NOW, force=True)
    assert forced.serving_changed and forced.material.serving != material.serving


def test_new_ca_is_trusted_beside_the_old_one_before_it_signs() -> None:
    material = fresh()
    rotated = plan_ca(material, POLICY, NOW, force=True)
    assert rotated.ca_changed
    assert rotated.material.trusted == (rotated.material.ca.cert_pem, material.ca.cert_pem)
    assert rotated.material.serving == material.serving  # still the old one: phase one only
    switched = plan_serving(rotated.material, IDENTITY, POLICY, NOW)
    assert switched.reasons == ("not signed by the current CA",)
    again = plan_ca(switched.material, POLICY, NOW, force=True)
    assert len(again.material.trusted) == 2  # the oldest CA drops out: never a growing list
    assert material.ca.cert_pem not in again.material.trusted


def test_ca_renews_while_it_can_still_vouch_for_a_full_serving_term() -> None:
    material = fresh()
    almost = NOW + timedelta(days=3650 - 365 - 29)
    assert plan_ca(material, POLICY, almost).reasons == ("CA expires soon",)
    assert plan_ca(material, POLICY, NOW + timedelta(days=3000)).ca_changed is False


def test_secret_round_trip_and_broken_secrets_are_named(tmp_path: Path) -> None:
    material = fresh()
    assert parse_secret(material.secret_data(), "ops/tls") == material
    assert parse_secret({}, "ops/tls") is None
    data = material.secret_data()
    cases = {
        "has no ca.key": {**data, "ca.key": b""},
        "ca.crt holds no PEM certificate": {**data, "ca.crt": b"garbage"},
        "has no tls.key": {k: v for k, v in data.items() if k != "tls.key"},
        "do not belong together": {**data, "tls.key": create_ca().key_pem},
        "not a PEM private key": {**data, "ca.key": b"-----BEGIN PRIVATE KEY-----\nx\n"},
    }
    for expected, broken in cases.items():
        with pytest.raises(BrokenSecret) as error:
            parse_secret(broken, "ops/tls")
        message = str(error.value)
        assert "Secret ops/tls" in message and expected in message, message
        assert "lostromos certs reset --secret ops/tls" in message


def test_pem_bundles_split_into_certificates() -> None:
    one, two = create_ca("a").cert_pem, create_ca("b").cert_pem
    assert split_pem_bundle(one + two) == [one, two]
    assert split_pem_bundle(b"nothing here") == []


# -- the keeper against a fake API server ---------------------------------------------------------


class FakeCore:
    """Secrets with resourceVersion compare-and-swap; `interfere` writes in between once."""

    def __init__(self) -> None:
        self.secret = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="tls", namespace="ops", resource_version="1"),
            type="Opaque",
        )
        self.writes = 0
        self.interfere: CertMaterial | None = None

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> k8s.V1Secret:
        return k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(
                name=name,
                namespace=namespace,
                resource_version=self.secret.metadata.resource_version,
            ),
            type="Opaque",
            data=dict(self.secret.data or {}) or None,
        )

    def replace_namespaced_secret(
        self, name: str, namespace: str, body: k8s.V1Secret, **_: Any
    ) -> k8s.V1Secret:
        if self.interfere is not None:
            self._store(self.interfere.secret_data())
            self.interfere = None
        if body.metadata.resource_version != self.secret.metadata.resource_version:
            raise ApiException(status=409, reason="Conflict")
        self.writes += 1
        self._store({k: base64.b64decode(v) for k, v in (body.data or {}).items()})
        return self.read_namespaced_secret(name, namespace)

    def _store(self, data: dict[str, bytes]) -> None:
        version = str(int(self.secret.metadata.resource_version) + 1)
        self.secret = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="tls", namespace="ops", resource_version=version),
            data={k: base64.b64encode(v).decode() for k, v in data.items()} or None,
        )

    def material(self) -> CertMaterial | None:
        data = {k: base64.b64decode(v) for k, v in (self.secret.data or {}).items()}
        return parse_secret(data, "ops/tls")


class FakeAdmission:
    def __init__(self) -> None:
        self.bundle: str | None = None
        self.patches = 0

    def _configuration(self, name: str) -> Any:
        webhook = k8s.V1ValidatingWebhook(
            name="validation.lostromos.dev",
            admission_review_versions=["v1"],
            side_effects="None",
            client_config=k8s.AdmissionregistrationV1WebhookClientConfig(
                url="https://x", ca_bundle=self.bundle
            ),
        )
        return k8s.V1ValidatingWebhookConfiguration(
            metadata=k8s.V1ObjectMeta(name=name), webhooks=[webhook]
        )

    def read_validating_webhook_configuration(self, name: str, **_: Any) -> Any:
        return self._configuration(name)

    def patch_validating_webhook_configuration(self, name: str, body: list, **_: Any) -> None:
        self.bundle = body[-1]["value"]
        self.patches += 1


def keeper(
    tmp_path: Path, core: FakeCore, admission: FakeAdmission, sleeps: list[float]
) -> CertKeeper:
    options = KeeperOptions(
        secret=SecretRef("ops", "tls"),
        identity=IDENTITY,
        validating=("lostromos-validation",),
        policy=POLICY,
        cert_dir=tmp_path,
        propagation_seconds=5,
    )
    kept = CertKeeper(k8s.ApiClient(), options, sleep=sleeps.append)
    kept.core, kept.admission = core, admission  # type: ignore[assignment]
    return kept


def test_keeper_fills_an_empty_secret_injects_and_writes_files(tmp_path: Path) -> None:
    core, admission, sleeps = FakeCore(), FakeAdmission(), []
    result = keeper(tmp_path, core, admission, sleeps).ensure()
    stored = core.material()
    assert stored is not None and stored.serving is not None
    assert result.secret_written and result.bundle_injected and result.files_written
    assert base64.b64decode(admission.bundle or "") == stored.bundle_pem
    assert (tmp_path / "tls.crt").read_bytes() == stored.serving.cert_pem
    assert (tmp_path / "ca.crt").read_bytes() == stored.bundle_pem
    assert sleeps == []  # nothing was being served yet: no reason to wait
    again = keeper(tmp_path, core, admission, sleeps).ensure()
    assert not (again.secret_written or again.bundle_injected or again.files_written)


def test_keeper_takes_the_winners_certificates_after_a_conflict(tmp_path: Path) -> None:
    core, admission, sleeps = FakeCore(), FakeAdmission(), []
    other_replica = fresh()
    core.interfere = other_replica
    keeper(tmp_path, core, admission, sleeps).ensure()
    assert core.material() == other_replica
    assert (tmp_path / "tls.crt").read_bytes() == other_replica.serving.cert_pem


def test_ca_rotation_waits_for_the_api_server_before_switching(tmp_path: Path) -> None:
    core, admission, sleeps = FakeCore(), FakeAdmission(), []
    kept = keeper(tmp_path, core, admission, sleeps)
    first = kept.ensure().material
    serving = kept.ensure(force_serving=True).material
    assert serving.ca == first.ca and sleeps == []  # same CA: nothing to wait for
    rotated = kept.ensure(force_ca=True).material
    assert sleeps == [5]
    assert rotated.trusted == (rotated.ca.cert_pem, first.ca.cert_pem)
    assert base64.b64decode(admission.bundle or "") == rotated.bundle_pem
    assert (tmp_path / "tls.crt").read_bytes() == rotated.serving.cert_pem


def test_api_errors_become_one_line_naming_the_secret(tmp_path: Path) -> None:
    class Forbidden(FakeCore):
        def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Any:
            raise ApiException(status=403, reason="Forbidden")

    with pytest.raises(CertError, match=r"cannot read Secret ops/tls: HTTP 403"):
        keeper(tmp_path, Forbidden(), FakeAdmission(), []).ensure()


# -- the webhook side: reloading files ------------------------------------------------


def served_serial(context: ssl.SSLContext) -> int:
    server, client_end = socket.socketpair()
    peer: list[int] = []

    def serve() -> None:
        try:
            with context.wrap_socket(server, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    checking = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    checking.check_hostname = False
    checking.verify_mode = ssl.CERT_NONE
    with checking.wrap_socket(client_end) as tls:
        der = tls.getpeercert(binary_form=True)
        peer.append(x509.load_der_x509_certificate(der).serial_number)
    thread.join()
    return peer[0]


def test_context_follows_the_files_and_keeps_the_old_one_on_a_half_written_pair(
    tmp_path: Path,
) -> None:
    ca = create_ca()
    first, second = (issue_serving_cert(ca, ["localhost"]) for _ in range(2))
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    write_pair(first, cert, key)
    now = [0.0]
    tls = ServingTLS(cert, key)
    reloading = ReloadingContext(cert, key, tls.build, check_seconds=1.0, clock=lambda: now[0])
    context = reloading.current()
    assert served_serial(context) == first.certificate.serial_number

    key.write_bytes(second.key_pem)  # the key is replaced first, the certificate not yet
    now[0] += 2
    assert reloading.current() is context  # mismatched pair: keep serving the old one
    write_pair(second, cert, key)
    now[0] += 0.5
    assert reloading.current() is context  # not looked at again within check_seconds
    now[0] += 1
    renewed = reloading.current()
    assert renewed is not context and reloading.reloads == 1
    assert served_serial(renewed) == second.certificate.serial_number
    now[0] += 5
    assert reloading.current() is renewed  # unchanged files: the same context


def test_first_context_failure_is_raised(tmp_path: Path) -> None:
    reloading = ReloadingContext(
        tmp_path / "missing.crt",
        tmp_path / "missing.key",
        ServingTLS(tmp_path / "missing.crt", tmp_path / "missing.key").build,
    )
    with pytest.raises(OSError):
        reloading.current()
