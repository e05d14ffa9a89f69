"""Certificates for the local API server: its CA, serving certificate, the
admin client certificate of the kubeconfig, and the service-account key."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.authority import KeyPair, create_ca, issue_serving_cert, write_pair


@dataclass(frozen=True)
class ClusterPki:
    """File locations of the local cluster's key material."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def exists(self) -> bool:
        files = (self.ca_cert, self.ca_key, self.serving_cert, self.serving_key,
                 self.admin_cert, self.admin_key, self.service_account_key,
                 self.service_account_pub)
        return all(path.is_file() for path in files)

    def create(self) -> None:
        """Write a fresh CA and everything it signs. Reused on later starts."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = create_ca("lostromos-dev-cluster-ca")
        write_pair(ca, self.ca_cert, self.ca_key)
        serving = issue_serving_cert(
            ca,
            dns_names=["localhost", "kubernetes", "kubernetes.default",
                       "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
            ip_addresses=["127.0.0.1", "10.0.0.1"],
        )
        write_pair(serving, self.serving_cert, self.serving_key)
        write_pair(issue_client_cert(ca, "lostromos-admin", ["system:masters"]),
                   self.admin_cert, self.admin_key)
        sa_key = ec.generate_private_key(ec.SECP256R1())
        write_pair(
            KeyPair(
                cert_pem=sa_key.public_key().public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                ),
                key_pem=sa_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
            self.service_account_pub,
            self.service_account_key,
        )


def issue_client_cert(ca: KeyPair, user: str, groups: list[str], valid_days: int = 365) -> KeyPair:
    """A client certificate the API server maps to `user` in `groups`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
