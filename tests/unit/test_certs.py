"""The webhook's CA and serving certificate: chain, names, expiry, files, real TLS."""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from certs import authority
from certs.authority import CertError, KeyPair, create_ca, issue_serving_cert
from certs.inject import JSON_PATCH, inject_with_api

SERVICE_NAMES = ["lostromos-webhook.lostromos.svc", "localhost"]


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return create_ca("test-ca")


@pytest.fixture(scope="module")
def serving(ca: KeyPair) -> KeyPair:
    return issue_serving_cert(ca, SERVICE_NAMES, ["127.0.0.1", "::1"])


def verify(ca: KeyPair, leaf: KeyPair, subject: x509.DNSName | x509.IPAddress) -> None:
    verifier = (
        PolicyBuilder()
        .store(Store([ca.certificate]))
        .time(datetime.now(UTC))
        .build_server_verifier(subject)
    )
    chain = verifier.verify(leaf.certificate, [])
    assert chain[-1] == ca.certificate


def test_chain_verifies_for_every_dns_name_and_ip(ca: KeyPair, serving: KeyPair) -> None:
    for name in SERVICE_NAMES:
        verify(ca, serving, x509.DNSName(name))
    verify(ca, serving, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))


def test_chain_refuses_a_name_not_in_the_certificate(ca: KeyPair, serving: KeyPair) -> None:
    with pytest.raises(VerificationError):
        verify(ca, serving, x509.DNSName("evil.example.com"))


def test_chain_refuses_another_ca(serving: KeyPair) -> None:
    with pytest.raises(VerificationError):
        verify(create_ca("other-ca"), serving, x509.DNSName("localhost"))


def test_ca_is_a_p256_sha256_signing_authority(ca: KeyPair) -> None:
    certificate = ca.certificate
    assert certificate.issuer == certificate.subject
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"
    assert certificate.signature_hash_algorithm.name == "sha256"
    basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_serving_cert_names_usage_and_key_ids(ca: KeyPair, serving: KeyPair) -> None:
    certificate = serving.certificate
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == SERVICE_NAMES
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    authority_key = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ca_key = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert authority_key.value.key_identifier == ca_key.value.digest
    assert certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert certificate.issuer == ca.certificate.subject
    assert isinstance(serving.private_key, ec.EllipticCurvePrivateKey)
    assert serving.private_key.public_key().public_numbers() == (
        certificate.public_key().public_numbers()
    )


def test_validity_starts_in_the_past_and_lasts_the_days_asked(ca: KeyPair) -> None:
    before = datetime.now(UTC)
    leaf = issue_serving_cert(ca, ["localhost"], valid_days=30).certificate
    assert leaf.not_valid_before_utc <= before - timedelta(seconds=30)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=30) <= lifetime <= timedelta(days=30, minutes=2)


def test_serving_cert_never_outlives_its_ca() -> None:
    short_ca = create_ca("short", valid_days=2)
    leaf = issue_serving_cert(short_ca, ["localhost"], valid_days=365).certificate
    assert leaf.not_valid_after_utc == short_ca.certificate.not_valid_after_utc


def test_bad_requests_are_refused_with_a_clear_error(ca: KeyPair) -> None:
    with pytest.raises(CertError, match="at least one DNS name"):
        issue_serving_cert(ca, [])
    with pytest.raises(CertError, match="'not-an-ip' is not an IPv4 or IPv6 address"):
        issue_serving_cert(ca, ["localhost"], ["not-an-ip"])
    with pytest.raises(CertError, match="valid_days 0"):
        create_ca(valid_days=0)
    with pytest.raises(CertError, match="not a PEM certificate"):
        authority.load_certificate(b"garbage")


def test_write_pair_modes_and_content(tmp_path: Path, serving: KeyPair) -> None:
    cert_path, key_path = tmp_path / "tls" / "tls.crt", tmp_path / "tls" / "tls.key"
    authority.write_pair(serving, cert_path, key_path)
    assert cert_path.read_bytes() == serving.cert_pem
    assert key_path.read_bytes() == serving.key_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644


def test_write_pair_tightens_an_existing_loose_key_file(
    tmp_path: Path, ca: KeyPair, serving: KeyPair
) -> None:
    key_path = tmp_path / "tls.key"
    key_path.write_bytes(b"old")
    key_path.chmod(0o644)
    authority.write_pair(serving, tmp_path / "tls.crt", key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes() == serving.key_pem


def test_write_pair_replaces_atomically_and_leaves_no_temporary_files(
    tmp_path: Path, ca: KeyPair, serving: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    authority.write_pair(serving, cert_path, key_path)
    old_inode = cert_path.stat().st_ino
    renewed = issue_serving_cert(ca, ["localhost"])
    authority.write_pair(renewed, cert_path, key_path)
    # A new inode means the file was swapped in whole, never rewritten in place.
    assert cert_path.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.crt", "tls.key"]

    def fail_replace(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(authority.os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        authority.write_pair(issue_serving_cert(ca, ["localhost"]), cert_path, key_path)
    # A failed write keeps the previous files intact and cleans up after itself.
    assert cert_path.read_bytes() == renewed.cert_pem
    assert key_path.read_bytes() == renewed.key_pem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.crt", "tls.key"]


def tls_round_trip(tmp_path: Path, ca: KeyPair, serving: KeyPair, server_hostname: str) -> bytes:
    """Serve one TLS connection with ``serving`` on 127.0.0.1; return what the client read."""
    cert_path, key_path, ca_path = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    authority.write_pair(serving, cert_path, key_path)
    ca_path.write_bytes(ca.cert_pem)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_context.load_cert_chain(cert_path, key_path)
    client_context = ssl.create_default_context(cafile=str(ca_path))  # trusts only our CA

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    server_errors: list[BaseException] = []

    def serve_once() -> None:
        try:
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"hello over tls")
        except (OSError, ssl.SSLError) as error:
            server_errors.append(error)

    server = threading.Thread(target=serve_once, daemon=True)
    server.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            return tls.recv(100)
    finally:
        server.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_real_tls_handshake_trusting_only_the_ca(
    tmp_path: Path, ca: KeyPair, serving: KeyPair, server_hostname: str
) -> None:
    assert tls_round_trip(tmp_path, ca, serving, server_hostname) == b"hello over tls"


def test_real_tls_handshake_fails_for_a_name_the_cert_lacks(tmp_path: Path, ca: KeyPair) -> None:
    only_service = issue_serving_cert(ca, ["lostromos-webhook.lostromos.svc"])
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        tls_round_trip(tmp_path, ca, only_service, "localhost")


def test_real_tls_handshake_fails_with_an_untrusted_ca(tmp_path: Path, serving: KeyPair) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        tls_round_trip(tmp_path, create_ca("stranger"), serving, "localhost")


# --- caBundle injection, against a fake admission API that records what it is sent ---


def webhook_configuration(kind: str, name: str, bundles: list[str | None]) -> object:
    webhook_type = k8s.V1MutatingWebhook if kind == "mutating" else k8s.V1ValidatingWebhook
    configuration_type = (
        k8s.V1MutatingWebhookConfiguration
        if kind == "mutating"
        else k8s.V1ValidatingWebhookConfiguration
    )
    webhooks = [
        webhook_type(
            name=f"{index}.sites.hosting.example.com",
            admission_review_versions=["v1"],
            side_effects="None",
            client_config=k8s.AdmissionregistrationV1WebhookClientConfig(
                url="https://127.0.0.1:8443/x", ca_bundle=bundle
            ),
        )
        for index, bundle in enumerate(bundles)
    ]
    return configuration_type(metadata=k8s.V1ObjectMeta(name=name), webhooks=webhooks)


class FakeAdmissionApi:
    def __init__(self, mutating: dict[str, object], validating: dict[str, object]) -> None:
        self.stored = {"mutating": mutating, "validating": validating}
        self.patches: list[tuple[str, str, list[dict], str]] = []

    def _read(self, kind: str, name: str) -> object:
        if name not in self.stored[kind]:
            raise ApiException(status=404, reason="Not Found")
        return self.stored[kind][name]

    def read_mutating_webhook_configuration(self, name: str) -> object:
        return self._read("mutating", name)

    def read_validating_webhook_configuration(self, name: str) -> object:
        return self._read("validating", name)

    def patch_mutating_webhook_configuration(self, name: str, body: list, **kwargs: str) -> None:
        self.patches.append(("mutating", name, body, kwargs["_content_type"]))

    def patch_validating_webhook_configuration(self, name: str, body: list, **kwargs: str) -> None:
        self.patches.append(("validating", name, body, kwargs["_content_type"]))


def test_inject_patches_every_webhook_of_every_configuration(ca: KeyPair) -> None:
    api = FakeAdmissionApi(
        {"site-defaults": webhook_configuration("mutating", "site-defaults", [None, "b2xk"])},
        {"site-checks": webhook_configuration("validating", "site-checks", [None])},
    )
    inject_with_api(api, ca.cert_pem, mutating=["site-defaults"], validating=["site-checks"])
    bundle = base64.b64encode(ca.cert_pem).decode()
    assert api.patches == [
        (
            "mutating",
            "site-defaults",
            [
                {"op": "test", "path": "/webhooks/0/name", "value": "0.sites.hosting.example.com"},
                {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle},
                {"op": "test", "path": "/webhooks/1/name", "value": "1.sites.hosting.example.com"},
                {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": bundle},
            ],
            JSON_PATCH,
        ),
        (
            "validating",
            "site-checks",
            [
                {"op": "test", "path": "/webhooks/0/name", "value": "0.sites.hosting.example.com"},
                {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": bundle},
            ],
            JSON_PATCH,
        ),
    ]
    assert base64.b64decode(bundle) == ca.cert_pem


def test_inject_skips_webhooks_that_already_carry_the_ca(ca: KeyPair) -> None:
    bundle = base64.b64encode(ca.cert_pem).decode()
    api = FakeAdmissionApi(
        {"site-defaults": webhook_configuration("mutating", "site-defaults", [bundle, "b2xk"])},
        {"site-checks": webhook_configuration("validating", "site-checks", [bundle])},
    )
    inject_with_api(api, ca.cert_pem, mutating=["site-defaults"], validating=["site-checks"])
    assert api.patches == [
        (
            "mutating",
            "site-defaults",
            [
                {"op": "test", "path": "/webhooks/1/name", "value": "1.sites.hosting.example.com"},
                {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": bundle},
            ],
            JSON_PATCH,
        ),
    ]


def test_inject_names_every_missing_configuration_and_patches_nothing(ca: KeyPair) -> None:
    api = FakeAdmissionApi(
        {"site-defaults": webhook_configuration("mutating", "site-defaults", [None])}, {}
    )
    with pytest.raises(
        CertError, match=r"ValidatingWebhookConfiguration 'site-checks'.* not found"
    ):
        inject_with_api(api, ca.cert_pem, mutating=["site-defaults"], validating=["site-checks"])
    assert api.patches == []


def test_inject_refuses_a_bundle_that_is_not_a_certificate() -> None:
    api = FakeAdmissionApi({}, {})
    with pytest.raises(CertError, match="not a PEM certificate"):
        inject_with_api(api, b"-----BEGIN NOTHING-----", mutating=[], validating=[])


def test_key_file_is_never_readable_by_others_while_written(
    tmp_path: Path, serving: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_modes: list[int] = []
    real_replace = os.replace

    def watching_replace(source: str, target: str) -> None:
        seen_modes.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, target)

    monkeypatch.setattr(authority.os, "replace", watching_replace)
    authority.write_pair(serving, tmp_path / "tls.crt", tmp_path / "tls.key")
    assert seen_modes == [0o600, 0o644]  # key first, then certificate
