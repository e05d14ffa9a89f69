"""Certificates for the local API server: its CA, serving certificate, the
admin client certificate of the kubeconfig, and the service-account key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.authority import (
    KEY_FILE_MODE,
    create_ca,
    issue_client_cert,
    issue_serving_cert,
    private_key_pem,
    write_file,
    write_pair,
)


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
        files = (
            self.ca_cert,
            self.ca_key,
            self.serving_cert,
            self.serving_key,
            self.admin_cert,
            self.admin_key,
            self.service_account_key,
            self.service_account_pub,
        )
        return all(path.is_file() for path in files)

    def create(self) -> None:
        """Write a fresh CA and everything it signs. Reused on later starts."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = create_ca("lostromos-dev-cluster-ca")
        write_pair(ca, self.ca_cert, self.ca_key)
        serving = issue_serving_cert(
            ca,
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", "10.96.0.1"],
        )
        write_pair(serving, self.serving_cert, self.serving_key)
        write_pair(
            issue_client_cert(ca, "lostromos-admin", ["system:masters"]),
            self.admin_cert,
            self.admin_key,
        )
        sa_key = ec.generate_private_key(ec.SECP256R1())
        write_file(self.service_account_key, private_key_pem(sa_key), mode=KEY_FILE_MODE)
        write_file(
            self.service_account_pub,
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
