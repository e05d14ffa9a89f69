"""A test-owned webhook on the session's real API server.

Serves a bindings file of the test's own (its own kinds, in a group of its
own) with the session webhook's TLS certificate on another port, registered
under webhook configurations of its own, so a test can bind charts of its own
without touching the session's Site webhook.
"""

from __future__ import annotations

import itertools
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from lostromos.config import load_bindings
from lostromos.dev.cluster import free_port
from lostromos.dev.webhookconfig import client_config, webhook_configurations
from tests.support import Cluster, eventually

ROOT = Path(__file__).resolve().parents[2]
_counter = itertools.count(1)


def preserving_crd(group: str, kind: str, plural: str) -> dict[str, Any]:
    """A CRD that keeps whatever spec it is given (nulls too): the webhook judges it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": plural[:-1]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


class OwnWebhook:
    """`lostromos webhook` for a bindings file, registered with the API server."""

    def __init__(self, cluster: Cluster, bindings_path: Path, log_path: Path, *extra: str) -> None:
        self.cluster = cluster
        self.bindings_path = bindings_path
        self.log_path = log_path
        self.extra = extra  # more `lostromos webhook` flags
        self.port = free_port()
        self.names = [f"lostromos-test-{next(_counter)}-{part}" for part in ("mutate", "validate")]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnWebhook:
        webhook_dir = self.cluster.state_dir / "webhook"
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lostromos",
                "webhook",
                "--config",
                str(self.bindings_path),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--tls-cert",
                str(webhook_dir / "tls.crt"),
                "--tls-key",
                str(webhook_dir / "tls.key"),
                "--helm-engine",
                str(self.cluster.tools["helm-engine"]),
                *self.extra,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.cluster.env,
        )
        context = ssl.create_default_context(cafile=str(webhook_dir / "ca.crt"))

        def ready() -> bool:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{self.port}/readyz", context=context, timeout=2
                ) as answer:
                    return answer.status == 200
            except OSError:
                return False

        eventually(ready, timeout=60, message=f"test webhook ready (log {self.log_path})")
        bindings = load_bindings(self.bindings_path).bindings
        configurations = webhook_configurations(
            bindings,
            client_config(
                ca_pem=(webhook_dir / "ca.crt").read_bytes(), url=f"https://127.0.0.1:{self.port}"
            ),
        )
        for configuration, name in zip(configurations, self.names, strict=True):
            configuration["metadata"]["name"] = name
            for webhook in configuration["webhooks"]:
                webhook["name"] = webhook["name"].replace("lostromos.dev", f"{name}.lostromos.dev")
        self.cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(configurations))
        return self

    def stop(self) -> None:
        for kind, name in zip(
            ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"),
            self.names,
            strict=True,
        ):
            self.cluster.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
