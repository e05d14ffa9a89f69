"""`lostromos certs ...`: the webhook's certificates, kept in a Secret (the
commands' arguments are in certs.cli).

    ensure   create or load the CA and serving certificate, inject the caBundle,
             write the files; with --watch keep doing it (the webhook pod's
             sidecar), renewing before expiry and serving /healthz and /readyz
    rotate   replace the serving certificate now (--ca: the CA too, with overlap)
    reset    empty the Secret so new certificates are issued on the next check
    status   print what the Secret holds and when it expires

A broken Secret or an unreachable API server is one clear line, never a
traceback; under --watch the process stays up, not ready, and retries.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from certs.authority import CertError
from certs.keeper import CertKeeper, EnsureResult, KeeperOptions, SecretRef
from certs.material import RenewalPolicy, ServingIdentity, certificate_names, parse_secret
from lostromos.backoff import backoff_delay
from lostromos.probes import ProbeServer, Readiness

log = logging.getLogger("lostromos.certs")
CERTS_ERRORS: tuple[type[BaseException], ...] = (CertError,)
FIRST_RETRY_SECONDS = 2.0


def keeper_options(args: argparse.Namespace) -> KeeperOptions:
    secret = SecretRef.parse(args.secret)
    if args.service is None and not args.dns_name and not args.ip_address:
        raise CertError("name the webhook's --service (or give --dns-name / --ip-address)")
    for value, flag in ((args.serving_days, "--serving-days"), (args.ca_days, "--ca-days")):
        if value < 1:
            raise CertError(f"{flag} {value} must be at least 1")
    if args.renew_before_days < 0 or args.renew_before_days >= args.serving_days:
        raise CertError(
            f"--renew-before-days {args.renew_before_days} must be between 0 and "
            f"--serving-days ({args.serving_days})"
        )
    if args.service is not None:
        identity = ServingIdentity.for_service(
            args.service,
            args.namespace or secret.namespace,
            cluster_domain=args.cluster_domain,
            extra_dns_names=args.dns_name,
            ip_addresses=args.ip_address,
        )
    else:
        identity = ServingIdentity(tuple(args.dns_name), tuple(args.ip_address))
    return KeeperOptions(
        secret=secret,
        identity=identity,
        mutating=tuple(args.mutating),
        validating=tuple(args.validating),
        policy=RenewalPolicy(
            ca_days=args.ca_days,
            serving_days=args.serving_days,
            renew_before=timedelta(days=args.renew_before_days),
        ),
        cert_dir=args.cert_dir,
        propagation_seconds=args.propagation_seconds,
    )


def api_client(kubeconfig: Path | None):  # -> kubernetes.client.ApiClient
    from lostromos.kube import KubeConfigError
    from lostromos.kube import api_client as kube_client

    try:
        return kube_client(kubeconfig)
    except KubeConfigError as error:
        raise CertError(f"no usable Kubernetes client configuration: {error}") from None


# -- commands --------------------------------------------------------------------------


def cmd_ensure(args: argparse.Namespace) -> int:
    from lostromos.logs import configure_logging

    configure_logging(args.log_format)
    options = keeper_options(args)
    keeper = CertKeeper(api_client(args.kubeconfig), options)
    if not args.watch:
        _report(keeper.ensure())
        return 0
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return watch(keeper, stop, check_interval=args.check_interval, health_bind=args.health_bind)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_rotate(args: argparse.Namespace) -> int:
    from lostromos.logs import configure_logging

    configure_logging(args.log_format)
    keeper = CertKeeper(api_client(args.kubeconfig), keeper_options(args))
    _report(keeper.ensure(force_ca=args.ca, force_serving=True))
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    secret = SecretRef.parse(args.secret)
    options = KeeperOptions(secret=secret, identity=ServingIdentity(("unused",)))
    CertKeeper(api_client(args.kubeconfig), options).reset()
    print(f"emptied Secret {secret}: the webhook issues new certificates on its next check")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import base64

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    secret = SecretRef.parse(args.secret)
    try:
        found = client.CoreV1Api(api_client(args.kubeconfig)).read_namespaced_secret(
            secret.name, secret.namespace
        )
    except ApiException as error:
        raise CertError(
            f"cannot read Secret {secret}: HTTP {error.status} {error.reason}"
        ) from None
    data = {k: base64.b64decode(v) for k, v in (found.data or {}).items()}
    material = parse_secret(data, str(secret))
    if material is None:
        print(f"Secret {secret} is empty: certificates are issued on the next check")
        return 0
    from cryptography import x509

    for index, pem in enumerate(material.trusted):
        ca = x509.load_pem_x509_certificate(pem)
        role = "signing CA" if index == 0 else "trusted CA"
        print(
            f"{role:16} {ca.subject.rfc4514_string()}  expires "
            f"{ca.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
        )
    if material.serving is None:
        print("serving          none yet")
    else:
        serving = material.serving.certificate
        dns, ips = certificate_names(serving)
        print(
            f"serving          expires {serving.not_valid_after_utc:%Y-%m-%d %H:%M}Z  "
            f"names {', '.join(sorted(dns | ips))}"
        )
    return 0


def _report(result: EnsureResult) -> None:
    changes = "; ".join(result.reasons) or "nothing to change"
    serving = result.material.serving
    if serving is None:
        print(f"certificates: {changes}")
        return
    expires = serving.certificate.not_valid_after_utc
    print(
        f"certificates in place ({changes}); the serving certificate expires "
        f"{expires:%Y-%m-%d %H:%M}Z"
    )


# -- the sidecar loop ----------------------------------------------------------------------


@dataclass
class KeeperHealth:
    ready: bool = False
    reason: str = "certificates not checked yet"
    failures: int = 0  # checks failed in a row


def watch(
    keeper: CertKeeper, stop: threading.Event, *, check_interval: float, health_bind: str | None
) -> int:
    """ensure() until `stop`; errors are logged once each and make /readyz answer 503."""
    health = KeeperHealth()
    server = _health_server(health_bind, health) if health_bind else None
    last_error: str | None = None
    failures = 0
    while not stop.is_set():
        try:
            keeper.ensure()
        except CertError as error:
            message = str(error)
            health.ready, health.reason, health.failures = False, message, failures + 1
            if message != last_error:
                log.error(message)
                last_error = message
            failures += 1
            delay = backoff_delay(
                failures, base=FIRST_RETRY_SECONDS, cap=check_interval, jitter=None
            )
        except Exception as error:  # a bug: say it once with its traceback, stay up, retry
            message = f"unexpected error: {type(error).__name__}: {error}"
            health.ready, health.reason, health.failures = False, message, failures + 1
            if message != last_error:
                log.exception(message)
                last_error = message
            failures += 1
            delay = check_interval
        else:
            if last_error is not None:
                log.info("certificates are in place again")
            health.ready, health.reason, health.failures = True, "", 0
            last_error, failures = None, 0
            delay = check_interval
        stop.wait(delay)
    if server is not None:
        server.stop()
    return 0


def _health_server(bind: str, health: KeeperHealth) -> ProbeServer:
    def readiness() -> Readiness:
        return Readiness(health.ready, health.reason, {"failures": health.failures})

    try:
        server = ProbeServer(bind, readiness, name="certs-health")
    except (OSError, ValueError) as error:
        raise CertError(
            f"--health-bind {bind}: {getattr(error, 'strerror', None) or error}"
        ) from None
    return server.start()
