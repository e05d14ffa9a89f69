"""The operator chart on a real API server of its own, run with its own identities.

`OperatorCluster` starts etcd and kube-apiserver only (the session `cluster`
fixture runs a webhook and a controller as admin; the chart's webhook
configurations and a second controller would fight with those). `install()`
applies `helm template charts/lostromos` as it is. The chart's pods cannot run
(no kubelet), so `start_*` run the same commands as the pods, as local
processes, each with a real token of the chart's ServiceAccount: every API call
they and their helm make is authorised by the chart's RBAC and nothing else.
The one admin-side change is the webhook configurations' clientConfig, pointed
from the in-cluster Service to the local webhook's URL.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lostromos.dev.cluster import DevCluster, DevOptions, free_port
from lostromos.dev.processes import Child
from tests.support import Cluster, eventually

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "lostromos"
RELEASE = "lostromos"
WEBHOOK_SA = "lostromos-webhook"
CONTROLLER_SA = "lostromos-controller"
CERT_SECRET = "lostromos-webhook-tls"
MUTATING, VALIDATING = "lostromos-defaulting", "lostromos-validation"


class OperatorCluster(Cluster):
    """A private control plane plus the helpers to run lostromos as the chart would."""

    def __init__(self, state_dir: Path, tools: dict[str, Path]) -> None:
        options = DevOptions(
            state_dir=state_dir,
            bindings_path=ROOT / "lostromos.yaml",
            crds_dir=ROOT / "crds",
            examples_dir=None,
            tools=tools,
        )
        self.dev = DevCluster(options, say=lambda line: print(f"[operator] {line}", flush=True))
        super().__init__(
            state_dir=state_dir,
            kubeconfig=self.dev.kubeconfig,
            tools=tools,
            env=self.dev.client_env(),
        )
        self.namespace_name = ""

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        # Only the control plane: lostromos itself is started below, as the chart runs it.
        self.dev.start_control_plane()

    def stop(self) -> list[Child]:
        children = list(self.dev.supervisor.children)
        self.dev.stop()
        return [child for child in children if child.alive()]

    # -- the chart ---------------------------------------------------------------

    def render(
        self, namespace: str, *settings: str, release: str = RELEASE, values: Path | None = None
    ) -> str:
        args = ["template", release, str(CHART), "--namespace", namespace]
        if values is not None:
            args += ["--values", str(values)]
        for setting in settings:
            args += ["--set", setting]
        return self.helm(*args).stdout

    def install(
        self, namespace: str, *settings: str, release: str = RELEASE, values: Path | None = None
    ) -> list[dict[str, Any]]:
        """Apply the rendered chart as it is; return its documents."""
        self.namespace_name = namespace
        self.kubectl("create", "namespace", namespace)
        rendered = self.render(namespace, *settings, release=release, values=values)
        self.kubectl("apply", "-f", "-", stdin=rendered)
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    def bindings_file(self, path: Path) -> Path:
        """The chart's ConfigMap, with chart paths from the image moved to this checkout."""
        configmap = json.loads(
            self.kubectl(
                "get", "configmap", f"{RELEASE}-bindings", "-n", self.namespace_name, "-o", "json"
            ).stdout
        )
        text = configmap["data"]["lostromos.yaml"].replace(
            "/opt/lostromos/charts/", f"{ROOT}/charts/"
        )
        path.write_text(text)
        return path

    def point_webhooks_at(self, url: str) -> None:
        """No kubelet, no Service endpoints: send the API server to the local webhook."""
        for kind, name, path in (
            ("mutatingwebhookconfiguration", MUTATING, "/mutate"),
            ("validatingwebhookconfiguration", VALIDATING, "/validate"),
        ):
            patch = [
                {"op": "remove", "path": "/webhooks/0/clientConfig/service"},
                {"op": "add", "path": "/webhooks/0/clientConfig/url", "value": url + path},
            ]
            self.kubectl("patch", kind, name, "--type=json", "-p", json.dumps(patch))

    # -- identities --------------------------------------------------------------

    def token_kubeconfig(self, service_account: str, path: Path) -> Path:
        """A kubeconfig that is exactly the ServiceAccount: a token from the TokenRequest API."""
        token = self.kubectl(
            "create", "token", service_account, "-n", self.namespace_name, "--duration=2h"
        ).stdout.strip()
        ca = base64.b64encode(self.dev.pki.ca_cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.dev.ports.apiserver}",
                        "certificate-authority-data": ca,
                    },
                }
            ],
            "users": [{"name": service_account, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "sa",
                    "context": {
                        "cluster": "local",
                        "user": service_account,
                        "namespace": self.namespace_name,
                    },
                }
            ],
            "current-context": "sa",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def as_identity(
        self, kubeconfig: Path, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.tools["kubectl"]), f"--kubeconfig={kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=self.env,
        )

    def can_i(self, service_account: str, *args: str) -> bool:
        identity = f"system:serviceaccount:{self.namespace_name}:{service_account}"
        result = self.kubectl("auth", "can-i", "--as", identity, *args, check=False)
        return result.stdout.strip() == "yes"

    # -- lostromos, as the pods run it ------------------------------------------------

    def keeper_args(
        self, cert_dir: Path, *extra: str, secret: str = CERT_SECRET, inject: bool = True
    ) -> list[str]:
        """The sidecar's arguments, plus the names the local webhook is reached by."""
        configurations = ["--mutating", MUTATING, "--validating", VALIDATING] if inject else []
        return [
            "--secret",
            f"{self.namespace_name}/{secret}",
            "--service",
            WEBHOOK_SA,
            "--namespace",
            self.namespace_name,
            *configurations,
            "--cert-dir",
            str(cert_dir),
            "--dns-name",
            "localhost",
            "--ip-address",
            "127.0.0.1",
            *extra,
        ]

    def keeper_argv(
        self,
        kubeconfig: Path,
        cert_dir: Path,
        health_port: int,
        *extra: str,
        secret: str = CERT_SECRET,
        inject: bool = True,
    ) -> list[str]:
        """The certs sidecar: `lostromos certs ensure --watch`, ready once files are in place."""
        return [
            sys.executable,
            "-m",
            "lostromos",
            "certs",
            "ensure",
            "--watch",
            *self.keeper_args(cert_dir, *extra, secret=secret, inject=inject),
            "--kubeconfig",
            str(kubeconfig),
            "--health-bind",
            f"127.0.0.1:{health_port}",
        ]

    def start_keeper(
        self, name: str, kubeconfig: Path, cert_dir: Path, *extra: str
    ) -> tuple[Child, int]:
        port = free_port()
        child = self.dev.supervisor.start(
            name, self.keeper_argv(kubeconfig, cert_dir, port, *extra), {**os.environ}
        )
        return child, port

    def start_webhook(self, bindings: Path, cert_dir: Path) -> tuple[Child, str]:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "lostromos",
            "webhook",
            "--config",
            str(bindings),
            "--bind",
            f"127.0.0.1:{port}",
            "--tls-cert",
            str(cert_dir / "tls.crt"),
            "--tls-key",
            str(cert_dir / "tls.key"),
        ]
        child = self.dev.supervisor.start("webhook", argv, {**os.environ})
        url = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
        eventually(
            lambda: _status(f"{url}/readyz", context) == 200, timeout=60, message="webhook ready"
        )
        return child, url

    def start_controller(
        self, bindings: Path, kubeconfig: Path, extra: Sequence[str] = ()
    ) -> tuple[Child, int]:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "lostromos",
            "controller",
            "--config",
            str(bindings),
            "--kubeconfig",
            str(kubeconfig),
            "--helm-engine",
            str(self.tools["helm-engine"]),
            "--health-bind",
            f"127.0.0.1:{port}",
            "--leader-elect",
            "--lease-namespace",
            self.namespace_name,
            "--lease-name",
            CONTROLLER_SA,
            "--resync-seconds",
            "5",
            # this control plane runs no pods: Ready cannot wait for workloads
            "--no-ready-wait",
            *extra,
        ]
        env = {**self.env, "KUBECONFIG": str(kubeconfig)}
        child = self.dev.supervisor.start("controller", argv, env)
        eventually(
            lambda: _status(f"http://127.0.0.1:{port}/readyz") == 200,
            timeout=60,
            message="controller ready",
        )
        return child, port


def health(port: int, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return 0, {}


def _status(url: str, context: ssl.SSLContext | None = None) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ssl.SSLError):
        return 0
