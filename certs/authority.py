"""A small certificate authority for the admission webhook's serving certificate.

The API server calls the webhook over TLS and trusts exactly the CA whose
certificate is put in each webhook configuration's caBundle, so lostromos runs
its own CA instead of depending on a cluster-wide issuer.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Certificates start a little in the past so a peer whose clock runs slightly
# behind does not reject a certificate issued a moment ago.
CLOCK_SKEW = timedelta(minutes=1)
KEY_FILE_MODE = 0o600
CERT_FILE_MODE = 0o644


class CertError(ValueError):
    """A certificate or key cannot be read, issued, written or injected."""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM (PKCS#8, unencrypted) private key."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return load_certificate(self.cert_pem)

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        try:
            key = serialization.load_pem_private_key(self.key_pem, password=None)
        except ValueError as error:
            raise CertError(f"not a PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertError(f"expected an EC private key, got {type(key).__name__}")
        return key


def create_ca(common_name: str = "lostromos-ca", valid_days: int = 3650) -> KeyPair:
    """A self-signed CA that may only sign certificates (path length 0)."""
    _check_valid_days(valid_days)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before = datetime.now(UTC) - CLOCK_SKEW
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CLOCK_SKEW + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pair(certificate, key)


def issue_serving_cert(
    ca: KeyPair,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    valid_days: int = 365,
) -> KeyPair:
    """A TLS server certificate for the given names, signed by ``ca``.

    The first DNS name (or IP address) is also the subject's common name, for
    tools that still display it; clients match on the subjectAltName only.
    """
    _check_valid_days(valid_days)
    if not dns_names and not ip_addresses:
        raise CertError("a serving certificate needs at least one DNS name or IP address")
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    for address in ip_addresses:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise CertError(f"ip_addresses: {address!r} is not an IPv4 or IPv6 address") from None
    ca_cert = ca.certificate
    ca_key = ca.private_key
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = (list(dns_names) or list(ip_addresses))[0][:64]
    not_before = datetime.now(UTC) - CLOCK_SKEW
    # A leaf must not outlive the CA that vouches for it.
    not_after = min(
        not_before + CLOCK_SKEW + timedelta(days=valid_days), ca_cert.not_valid_after_utc
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _pair(certificate, key)


def issue_client_cert(
    ca: KeyPair, user: str, groups: Sequence[str], valid_days: int = 365
) -> KeyPair:
    """A client certificate the API server maps to `user` in `groups` (O= entries)."""
    _check_valid_days(valid_days)
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = datetime.now(UTC) - CLOCK_SKEW
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(
            min(
                not_before + CLOCK_SKEW + timedelta(days=valid_days),
                ca.certificate.not_valid_after_utc,
            )
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )
    return _pair(certificate, key)


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_pair(pair: KeyPair, cert_path: Path, key_path: Path) -> None:
    """Write both files so a reader sees the old or the new file, never half of one.

    The key is created with mode 0600 before any secret byte is written. The
    key is replaced first: a server that reloads on a certificate change then
    never pairs a new certificate with an old key.
    """
    _write_atomic(Path(key_path), pair.key_pem, KEY_FILE_MODE)
    _write_atomic(Path(cert_path), pair.cert_pem, CERT_FILE_MODE)


def write_file(path: Path, content: bytes, mode: int = CERT_FILE_MODE) -> None:
    """Replace one file atomically: a reader sees the old or the new content."""
    _write_atomic(Path(path), content, mode)


def load_certificate(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise CertError(f"not a PEM certificate: {error}") from None


def _pair(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    return KeyPair(
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM), key_pem=private_key_pem(key)
    )


def _check_valid_days(valid_days: int) -> None:
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or valid_days < 1:
        raise CertError(f"valid_days {valid_days!r} must be a positive number of days")


def _write_atomic(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives beside the target so os.replace stays on one
    # file system and is atomic; mkstemp creates it 0600 already.
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
