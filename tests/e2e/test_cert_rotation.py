"""Certificate rotation under steady admission traffic, with zero failed requests,
and a certs sidecar that meets a broken Secret or an unreachable API server with one
clear line and a non-ready probe instead of a crash.

The webhook, its certs sidecar (`lostromos certs ensure --watch`) and the rotation
commands run with a token of the chart's webhook ServiceAccount, on a private API
server where the chart is applied as it is.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes import client, config

from lostromos import toolchain
from lostromos.dev.cluster import free_port
from lostromos.dev.processes import Child
from tests.e2e.operatorkit import (
    CERT_SECRET,
    MUTATING,
    ROOT,
    WEBHOOK_SA,
    OperatorCluster,
    health,
)
from tests.support import eventually

pytestmark = pytest.mark.e2e
NAMESPACE = "lostromos-system"
APPS = "shop"
PAUSE_SECONDS = 0.02  # between requests of one traffic thread: steady, not a flood


@dataclass
class Webhook:
    cluster: OperatorCluster
    kubeconfig: Path
    cert_dir: Path
    url: str
    process: Child
    keeper_port: int


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    tools = toolchain.ensure(toolchain.TOOL_NAMES)
    state_dir = tmp_path_factory.mktemp("rotation")
    cluster = OperatorCluster(state_dir, tools)
    cluster.start()
    try:
        cluster.kubectl("create", "namespace", APPS)
        cluster.install(NAMESPACE)
        kubeconfig = cluster.token_kubeconfig(WEBHOOK_SA, state_dir / "webhook.kubeconfig")
        cert_dir = state_dir / "tls"
        # Checked every second, so the test sees each rotation quickly.
        _, keeper_port = cluster.start_keeper(
            "certs", kubeconfig, cert_dir, "--check-interval", "1", "--propagation-seconds", "2"
        )
        eventually(lambda: health(keeper_port)[0] == 200, timeout=60, message="certs ready")
        bindings = cluster.bindings_file(state_dir / "lostromos.yaml")
        process, url = cluster.start_webhook(bindings, cert_dir)
        cluster.point_webhooks_at(url)
        yield Webhook(cluster, kubeconfig, cert_dir, url, process, keeper_port)
    finally:
        leftovers = cluster.stop()
        assert not leftovers, f"processes left behind: {leftovers}"


# -- traffic -----------------------------------------------------------------------------


def site_body(name: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())
    document["metadata"] = {"name": name, "namespace": APPS}
    return document


@dataclass
class Traffic:
    """Counts answers per phase; any failure is kept with its message."""

    phase: str = "before"
    ok: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, source: str, error: str | None) -> None:
        with self.lock:
            if error is None:
                key = f"{source}:{self.phase}"
                self.ok[key] = self.ok.get(key, 0) + 1
            else:
                self.failures.append(f"{source} during {self.phase}: {error}")

    def count(self, source: str, phase: str) -> int:
        with self.lock:
            return self.ok.get(f"{source}:{phase}", 0)


def through_api_server(cluster: OperatorCluster, traffic: Traffic, stop: threading.Event) -> None:
    """Server-side dry-run creates: the API server calls both webhooks, stores nothing."""
    api = client.CustomObjectsApi(config.new_client_from_config(str(cluster.kubeconfig)))
    while not stop.is_set():
        try:
            created = api.create_namespaced_custom_object(
                "hosting.example.com", "v1", APPS, "sites", site_body("traffic"), dry_run="All"
            )
            # Defaulted by the mutating webhook: proof the call went through it.
            error = None if created["spec"]["php"]["version"] == "8.3" else "not defaulted"
        except Exception as failure:  # every kind of failure counts
            error = f"{type(failure).__name__}: {failure}"
        traffic.record("api-server", error)
        stop.wait(PAUSE_SECONDS)


def review(uid: str) -> bytes:
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "hosting.example.com", "version": "v1", "kind": "Site"},
                "resource": {"group": "hosting.example.com", "version": "v1", "resource": "sites"},
                "name": "direct",
                "namespace": APPS,
                "operation": "CREATE",
                "userInfo": {"username": "test"},
                "object": site_body("direct"),
                "dryRun": True,
            },
        }
    ).encode()


def direct_https(hook: Webhook, traffic: Traffic, stop: threading.Event) -> None:
    """A new TLS connection for every review, trusting the bundle the API server is given."""
    port = int(hook.url.rsplit(":", 1)[1])
    while not stop.is_set():
        uid = str(uuid.uuid4())
        try:
            context = ssl.create_default_context(cafile=str(hook.cert_dir / "ca.crt"))
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
            try:
                connection.request(
                    "POST",
                    "/validate",
                    body=review(uid),
                    headers={"Content-Type": "application/json"},
                )
                answer = connection.getresponse()
                payload = json.loads(answer.read())
            finally:
                connection.close()
            response = payload.get("response") or {}
            error = (
                None
                if (
                    answer.status == 200
                    and response.get("uid") == uid
                    and response.get("allowed") is True
                )
                else f"answer {payload}"
            )
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
        traffic.record("direct", error)
        stop.wait(PAUSE_SECONDS)


def served_certificate(url: str) -> x509.Certificate:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def certs_command(hook: Webhook, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lostromos", "certs", *args, "--kubeconfig", str(hook.kubeconfig)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ca_bundle_size(cluster: OperatorCluster) -> int:
    configuration = cluster.get("mutatingwebhookconfiguration", MUTATING, "")
    assert configuration is not None
    pem = base64.b64decode(configuration["webhooks"][0]["clientConfig"]["caBundle"])
    return pem.count(b"-----BEGIN CERTIFICATE-----")


def test_rotation_under_steady_traffic_fails_no_request(webhook: Webhook) -> None:
    hook, cluster = webhook, webhook.cluster
    traffic = Traffic()
    stop = threading.Event()
    threads = [
        threading.Thread(target=through_api_server, args=(cluster, traffic, stop)),
        threading.Thread(target=direct_https, args=(hook, traffic, stop)),
    ]
    for thread in threads:
        thread.start()
    try:

        def answered(phase: str, count: int = 20) -> bool:
            if traffic.failures:
                raise AssertionError("\n".join(traffic.failures[:5]))
            return all(traffic.count(source, phase) >= count for source in ("api-server", "direct"))

        eventually(lambda: answered("before"), timeout=60, message="traffic flowing")
        first = served_certificate(hook.url)
        first_ca = cluster.get("secret", CERT_SECRET, NAMESPACE)["data"]["ca.crt"]

        # 1. A new serving certificate from the same CA.
        traffic.phase = "serving rotation"
        rotated = certs_command(hook, "rotate", *cluster.keeper_args(hook.cert_dir))
        assert rotated.returncode == 0, rotated.stderr
        second = eventually(
            lambda: (c := served_certificate(hook.url)).serial_number != first.serial_number and c,
            timeout=60,
            message="new serving certificate served",
        )
        assert second.issuer == first.issuer
        traffic.phase = "after serving rotation"
        eventually(
            lambda: answered("after serving rotation"),
            timeout=60,
            message="traffic after the serving rotation",
        )

        # 2. A new CA: trusted alongside the old one first, then serving.
        traffic.phase = "ca rotation"
        rotated = certs_command(
            hook,
            "rotate",
            "--ca",
            "--propagation-seconds",
            "2",
            *cluster.keeper_args(hook.cert_dir),
        )
        assert rotated.returncode == 0, rotated.stderr
        third = eventually(
            lambda: (c := served_certificate(hook.url)).serial_number != second.serial_number and c,
            timeout=60,
            message="certificate from the new CA served",
        )
        assert (
            third.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
            != second.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        )
        assert ca_bundle_size(cluster) == 2  # the old CA stays trusted during the overlap
        assert cluster.get("secret", CERT_SECRET, NAMESPACE)["data"]["ca.crt"] != first_ca
        traffic.phase = "after ca rotation"
        eventually(
            lambda: answered("after ca rotation"),
            timeout=60,
            message="traffic after the CA rotation",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert traffic.failures == []
    assert hook.process.alive(), "the webhook restarted or died"
    log = (cluster.state_dir / "logs" / "webhook.log").read_text()
    assert "serving a new TLS certificate" in log
    assert "Traceback" not in log


@dataclass
class Sidecar:
    process: subprocess.Popen
    port: int
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def sidecar(
    cluster: OperatorCluster, kubeconfig: Path, directory: Path, secret: str
) -> Iterator[Sidecar]:
    """A certs sidecar of its own (not injecting anything), stopped by SIGTERM at the end."""
    port = free_port()
    log = directory / "certs.log"
    argv = cluster.keeper_argv(kubeconfig, directory / "tls", port, secret=secret, inject=False)
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        yield Sidecar(process, port, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def failing_three_times(port: int) -> dict[str, Any] | None:
    status, payload = health(port)
    return payload if status == 503 and payload.get("failures", 0) >= 3 else None


def test_broken_secret_is_one_clear_error_and_not_ready(webhook: Webhook, tmp_path: Path) -> None:
    cluster, admin = webhook.cluster, webhook.cluster.kubeconfig
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "broken-tls",
        "-n",
        NAMESPACE,
        "--from-literal=ca.crt=not a certificate",
        "--from-literal=ca.key=nope",
    )
    with sidecar(cluster, admin, tmp_path, "broken-tls") as keeper:
        failing = eventually(
            lambda: failing_three_times(keeper.port),
            timeout=60,
            message="not ready, and retried three times",
        )
        assert f"Secret {NAMESPACE}/broken-tls" in failing["reason"]
        assert "ca.crt holds no PEM certificate" in failing["reason"]
        assert "lostromos certs reset" in failing["reason"]
        assert keeper.process.poll() is None, "the sidecar exited instead of waiting for a fix"
        assert health(keeper.port, "/healthz")[0] == 200  # no liveness restart either
        assert keeper.text().count("ERROR") == 1, keeper.text()
        assert "Traceback" not in keeper.text()

        # The one-shot form says the same in one line and exits 2.
        once = lostromos_certs(
            "ensure",
            "--secret",
            f"{NAMESPACE}/broken-tls",
            "--service",
            WEBHOOK_SA,
            "--kubeconfig",
            str(admin),
        )
        assert once.returncode == 2
        assert once.stderr.startswith(f"lostromos: error: Secret {NAMESPACE}/broken-tls")
        assert once.stderr.count("\n") == 1, once.stderr

        # Emptied, the Secret gets new certificates and the sidecar becomes ready.
        reset = lostromos_certs(
            "reset", "--secret", f"{NAMESPACE}/broken-tls", "--kubeconfig", str(admin)
        )
        assert reset.returncode == 0, reset.stderr
        eventually(
            lambda: health(keeper.port)[0] == 200, timeout=60, message="ready after the reset"
        )
        assert (tmp_path / "tls" / "tls.crt").is_file()
        assert "certificates are in place again" in keeper.text()
        status = lostromos_certs(
            "status", "--secret", f"{NAMESPACE}/broken-tls", "--kubeconfig", str(admin)
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("signing CA       CN=lostromos-webhook-ca")
        assert "names 127.0.0.1, " in status.stdout
        assert f"{WEBHOOK_SA}.{NAMESPACE}.svc, " in status.stdout
        keeper.process.send_signal(signal.SIGTERM)
        assert keeper.process.wait(timeout=30) == 0


def test_unreachable_api_server_is_one_clear_error_and_not_ready(
    webhook: Webhook, tmp_path: Path
) -> None:
    cluster = webhook.cluster
    closed = free_port()
    unreachable = tmp_path / "unreachable.kubeconfig"
    document = yaml.safe_load(cluster.kubeconfig.read_text())
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed}"
    unreachable.write_text(yaml.safe_dump(document))
    with sidecar(cluster, unreachable, tmp_path, CERT_SECRET) as keeper:
        failing = eventually(
            lambda: failing_three_times(keeper.port),
            timeout=90,
            message="not ready, and retried three times",
        )
        assert f"cannot reach the API server at https://127.0.0.1:{closed}" in failing["reason"]
        assert "Connection refused" in failing["reason"]
        assert keeper.process.poll() is None
        assert keeper.text().count("ERROR") == 1, keeper.text()
        assert "Traceback" not in keeper.text()
        keeper.process.send_signal(signal.SIGTERM)
        assert keeper.process.wait(timeout=30) == 0


def lostromos_certs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lostromos", "certs", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
