"""The webhook's certificates as kept in one Secret, and when to renew them.

The Secret holds four keys:

    ca.crt   every CA the API server should trust, newest first (PEM bundle)
    ca.key   the private key of the newest CA (PEM)
    tls.crt  the serving certificate (PEM)
    tls.key  its private key (PEM)

Everything here is pure: reading and checking the data, deciding what to
renew at a given moment. Talking to the API server lives in certs.keeper.

A CA is never swapped in one step. A new CA is first added to the bundle (and
the bundle injected into the webhook configurations) while the old serving
certificate keeps being served; only then is a serving certificate signed by
the new CA issued. Every replica therefore serves a certificate the API server
already trusts, at every moment of a rotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from certs.authority import CertError, KeyPair, create_ca, issue_serving_cert

CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
SECRET_KEYS = (CA_CERT, CA_KEY, TLS_CERT, TLS_KEY)
# The newest CA and the one before it: enough for an overlap, never a growing list.
MAX_TRUSTED_CAS = 2
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)


class BrokenSecret(CertError):
    """The Secret holds data that is not a usable CA and serving certificate."""


@dataclass(frozen=True)
class ServingIdentity:
    """The names the serving certificate must carry."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...] = ()

    @classmethod
    def for_service(
        cls,
        service: str,
        namespace: str,
        *,
        cluster_domain: str = "cluster.local",
        extra_dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
    ) -> ServingIdentity:
        """Every name a client can use for the Service; the API server uses <svc>.<ns>.svc."""
        names = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]
        if cluster_domain:
            names.append(f"{service}.{namespace}.svc.{cluster_domain}")
        names.extend(name for name in extra_dns_names if name not in names)
        return cls(dns_names=tuple(names), ip_addresses=tuple(ip_addresses))


@dataclass(frozen=True)
class RenewalPolicy:
    """How long certificates live and how early they are replaced."""

    ca_days: int = 3650
    serving_days: int = 365
    renew_before: timedelta = timedelta(days=30)

    @property
    def ca_renew_before(self) -> timedelta:
        # A CA is replaced while it can still vouch for a full-length serving certificate.
        return self.renew_before + timedelta(days=self.serving_days)


@dataclass(frozen=True)
class CertMaterial:
    """What the Secret holds: the trusted CAs, the signing CA and the serving pair."""

    trusted: tuple[bytes, ...]  # PEM certificates, newest first; trusted[0] is ca's
    ca: KeyPair
    serving: KeyPair | None = None

    @property
    def bundle_pem(self) -> bytes:
        return b"".join(self.trusted)

    def secret_data(self) -> dict[str, bytes]:
        data = {CA_CERT: self.bundle_pem, CA_KEY: self.ca.key_pem}
        if self.serving is not None:
            data[TLS_CERT] = self.serving.cert_pem
            data[TLS_KEY] = self.serving.key_pem
        return data


@dataclass(frozen=True)
class Plan:
    """What one check decided, and why (for the log)."""

    material: CertMaterial
    ca_changed: bool = False
    serving_changed: bool = False
    reasons: tuple[str, ...] = field(default=())


def split_pem_bundle(bundle: bytes) -> list[bytes]:
    return [match.group(0) + b"\n" for match in _PEM_CERT.finditer(bundle)]


def parse_secret(data: Mapping[str, bytes] | None, where: str) -> CertMaterial | None:
    """The material in a Secret's (decoded) data; None when the Secret is still empty.

    Raises BrokenSecret naming the Secret and the key for anything half there or
    unreadable: lostromos never silently replaces certificates someone put there.
    """
    present = {key: value for key, value in (data or {}).items() if key in SECRET_KEYS and value}
    if not present:
        return None
    hint = (
        f"fix it, or empty it to have new certificates issued: "
        f"lostromos certs reset --secret {where}"
    )
    missing = [key for key in (CA_CERT, CA_KEY) if key not in present]
    if missing:
        raise BrokenSecret(f"Secret {where} has no {' or '.join(missing)}; {hint}")
    if (TLS_CERT in present) != (TLS_KEY in present):
        lacking = TLS_KEY if TLS_CERT in present else TLS_CERT
        raise BrokenSecret(f"Secret {where} has no {lacking}; {hint}")
    trusted = split_pem_bundle(present[CA_CERT])
    if not trusted:
        raise BrokenSecret(f"Secret {where}: {CA_CERT} holds no PEM certificate; {hint}")
    for index, pem in enumerate(trusted):
        try:
            x509.load_pem_x509_certificate(pem)
        except ValueError as error:
            raise BrokenSecret(
                f"Secret {where}: {CA_CERT} certificate {index + 1} is not "
                f"readable: {error}; {hint}"
            ) from None
    ca = KeyPair(cert_pem=trusted[0], key_pem=present[CA_KEY])
    _check_pair(ca, f"Secret {where}: {CA_CERT} (first certificate) and {CA_KEY}", hint)
    serving = None
    if TLS_CERT in present:
        serving = KeyPair(cert_pem=present[TLS_CERT], key_pem=present[TLS_KEY])
        _check_pair(serving, f"Secret {where}: {TLS_CERT} and {TLS_KEY}", hint)
    return CertMaterial(trusted=tuple(trusted), ca=ca, serving=serving)


def _check_pair(pair: KeyPair, what: str, hint: str) -> None:
    try:
        certificate, key = pair.certificate, pair.private_key
    except CertError as error:
        raise BrokenSecret(f"{what}: {error}; {hint}") from None
    if _public_bytes(certificate.public_key()) != _public_bytes(key.public_key()):
        raise BrokenSecret(
            f"{what} do not belong together (the key does not match the certificate); {hint}"
        )


def _public_bytes(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def plan_ca(
    current: CertMaterial | None, policy: RenewalPolicy, now: datetime, *, force: bool = False
) -> Plan:
    """Phase one: the CA and the trusted bundle. The serving pair is left as it is."""
    if current is None:
        ca = create_ca("lostromos-webhook-ca", policy.ca_days)
        return Plan(
            CertMaterial(trusted=(ca.cert_pem,), ca=ca), ca_changed=True, reasons=("no CA yet",)
        )
    reasons: list[str] = []
    if force:
        reasons.append("CA rotation requested")
    elif current.ca.certificate.not_valid_after_utc <= now + policy.ca_renew_before:
        reasons.append("CA expires soon")
    if reasons:
        ca = create_ca("lostromos-webhook-ca", policy.ca_days)
        trusted = (ca.cert_pem, *_unexpired(current.trusted, now))[:MAX_TRUSTED_CAS]
        return Plan(
            replace(current, trusted=trusted, ca=ca), ca_changed=True, reasons=tuple(reasons)
        )
    trusted = tuple(_unexpired(current.trusted, now)) or (current.ca.cert_pem,)
    if trusted != current.trusted:
        return Plan(
            replace(current, trusted=trusted),
            ca_changed=True,
            reasons=("expired CA dropped from the bundle",),
        )
    return Plan(current)


def plan_serving(
    current: CertMaterial,
    identity: ServingIdentity,
    policy: RenewalPolicy,
    now: datetime,
    *,
    force: bool = False,
) -> Plan:
    """Phase two: a serving certificate from the current CA with the wanted names."""
    reasons = serving_problems(current, identity, policy, now)
    if force:
        reasons.insert(0, "rotation requested")
    if not reasons:
        return Plan(current)
    serving = issue_serving_cert(
        current.ca, identity.dns_names, identity.ip_addresses, valid_days=policy.serving_days
    )
    return Plan(replace(current, serving=serving), serving_changed=True, reasons=tuple(reasons))


def serving_problems(
    material: CertMaterial, identity: ServingIdentity, policy: RenewalPolicy, now: datetime
) -> list[str]:
    """Why the serving certificate must be replaced; empty when it is fine."""
    if material.serving is None:
        return ["no serving certificate yet"]
    certificate = material.serving.certificate
    problems = []
    if not issued_by(certificate, material.ca.certificate):
        problems.append("not signed by the current CA")
    if certificate.not_valid_after_utc <= now + policy.renew_before:
        problems.append("expires soon")
    if certificate_names(certificate) != _normalised(identity):
        problems.append("names differ from the Service's")
    return problems


def issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def certificate_names(certificate: x509.Certificate) -> tuple[frozenset[str], frozenset[str]]:
    try:
        alt_names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return frozenset(), frozenset()
    return (
        frozenset(alt_names.get_values_for_type(x509.DNSName)),
        frozenset(str(address) for address in alt_names.get_values_for_type(x509.IPAddress)),
    )


def _normalised(identity: ServingIdentity) -> tuple[frozenset[str], frozenset[str]]:
    return (
        frozenset(identity.dns_names),
        frozenset(str(ip_address(address)) for address in identity.ip_addresses),
    )


def _unexpired(pems: Sequence[bytes], now: datetime) -> list[bytes]:
    return [pem for pem in pems if x509.load_pem_x509_certificate(pem).not_valid_after_utc > now]


def utc_now() -> datetime:
    return datetime.now(UTC)
