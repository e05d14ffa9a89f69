"""Admission that no single request can stop (issue: a hostile tenant's requests).

Each attack runs while another tenant's `kubectl apply --dry-run=server` runs
every second through the real API server; every one of those must succeed
(the p99 is printed, not asserted: the machine is shared):

- a value built to make a backtracking regex engine run for minutes
  (`adminEmail: "a@" + "."*100000 + "@"` against the site chart's pattern) is
  denied with the field named, four at once;
- 80 connections that trickle a chunked body or an `Expect: 100-continue`
  body to the webhook, reopened as the webhook cuts them off.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import Cluster

pytestmark = pytest.mark.e2e
REQUEST_TIMEOUT = "10s"  # generous: a failure here is the webhook not answering at all
TRICKLERS = 80
ATTACK_SECONDS = 25


def site(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"domain": f"{name}.example.com", "adminEmail": "admin@example.com", **spec},
    }


def dry_run(cluster: Cluster, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "apply",
        "--dry-run=server",
        f"--request-timeout={REQUEST_TIMEOUT}",
        "-f",
        "-",
        stdin=json.dumps(manifest),
        check=False,
        timeout=120,
    )


@dataclass
class OtherTenant:
    """Applies a valid Site (server-side dry run) once a second, noting each outcome."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def report(self, attack: str) -> str:
        return (
            f"{attack}: {len(self.latencies)} other-tenant dry runs, {len(self.failures)} failed, "
            f"p99 {self.p99():.2f}s, max {max(self.latencies):.2f}s"
        )


@contextmanager
def other_tenant_applying(cluster: Cluster, namespace: str) -> Iterator[OtherTenant]:
    tenant = OtherTenant()
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            result = dry_run(cluster, site(namespace, f"calm-{len(tenant.latencies)}"))
            elapsed = time.monotonic() - started
            tenant.latencies.append(elapsed)
            if result.returncode != 0:
                tenant.failures.append(f"after {elapsed:.2f}s: {result.stderr.strip()}")
            stop.wait(max(0.0, 1.0 - elapsed))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield tenant
    finally:
        stop.set()
        thread.join(timeout=180)


def test_a_redos_value_is_denied_and_other_tenants_keep_applying(cluster: Cluster) -> None:
    namespace = cluster.namespace("redos")
    attack = site(namespace, "evil", adminEmail="a@" + "." * 100_000 + "@")
    with other_tenant_applying(cluster, cluster.namespace("bystander-redos")) as tenant:
        time.sleep(2)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: dry_run(cluster, attack), range(4)))
        time.sleep(3)
    print(tenant.report("4 ReDoS applies"))
    for result in results:
        assert result.returncode != 0
        # judged by the schema (the field is named), not cut off by a timeout
        assert "spec.adminEmail" in result.stderr, result.stderr[-2000:]
        assert "timeout" not in result.stderr.lower()
    assert tenant.failures == []
    assert len(tenant.latencies) >= 3


class Trickler(threading.Thread):
    """Holds one connection at a time that sends a request head, then its body a
    byte every half second; reopens it whenever the webhook closes it."""

    def __init__(self, port: int, context: ssl.SSLContext, kind: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.context, self.kind, self.stop = port, context, kind, stop
        self.opened = 0
        self.answers: list[bytes] = []

    def head(self) -> bytes:
        start = b"POST /validate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n"
        if self.kind == "chunked":
            return start + b"Transfer-Encoding: chunked\r\n\r\n4000\r\n"
        return start + b"Content-Length: 16384\r\nExpect: 100-continue\r\n\r\n"

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                tls = self.context.wrap_socket(raw, server_hostname="127.0.0.1")
            except OSError:
                self.stop.wait(0.1)
                continue
            self.opened += 1
            with tls:
                self._trickle(tls)

    def _trickle(self, tls: ssl.SSLSocket) -> None:
        answer = b""
        try:
            tls.sendall(self.head())
            tls.settimeout(0.5)
            while not self.stop.is_set():
                try:
                    chunk = tls.recv(4096)
                except TimeoutError:
                    tls.sendall(b"{")
                    continue
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        self.answers.append(answer)


def test_trickling_bodies_hold_no_thread_and_other_tenants_keep_applying(
    cluster: Cluster,
) -> None:
    port = json.loads((cluster.state_dir / "ports.json").read_text())["webhook"]
    context = ssl.create_default_context(cafile=str(cluster.state_dir / "webhook" / "ca.crt"))
    stop = threading.Event()
    tricklers = [
        Trickler(port, context, "chunked" if index % 2 else "expect", stop)
        for index in range(TRICKLERS)
    ]
    with other_tenant_applying(cluster, cluster.namespace("bystander-trickle")) as tenant:
        for trickler in tricklers:
            trickler.start()
        time.sleep(ATTACK_SECONDS)
        stop.set()
        for trickler in tricklers:
            trickler.join(timeout=15)
    print(tenant.report(f"{TRICKLERS} trickling connections"))
    assert tenant.failures == []
    assert len(tenant.latencies) >= 10
    # the webhook cut them off (they came back) and said why
    assert sum(t.opened for t in tricklers) > TRICKLERS
    answers = [a for t in tricklers for a in t.answers]
    assert any(b"408 Request Timeout" in a for a in answers)
    expecting = [a for t in tricklers if t.kind == "expect" for a in t.answers]
    assert all(a.startswith(b"HTTP/1.1 100 Continue") for a in expecting if a)
