"""`lostromos dev up`: the whole system on loopback.

etcd and kube-apiserver (real, pinned, built from Go modules) with a state
folder; with nodes (the default of `dev up`), kube-controller-manager,
kube-scheduler and kwok's simulated nodes (lostromos/dev/dataplane.py), so
Deployments get pods that become Running and Ready; the example CRDs; the
webhook under gunicorn over TLS, registered with the API server through webhook
configurations carrying its caBundle; the controller; the example objects.
Ready means each step has been checked through the API server, not merely
started.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from certs.authority import create_ca, issue_serving_cert, write_pair
from lostromos.config import load_bindings
from lostromos.dev import CLIENT_TOOLS, CLIENT_TOOLS_FILE, DevError, dataplane
from lostromos.dev.pki import ClusterPki
from lostromos.dev.processes import Child, Supervisor
from lostromos.dev.webhookconfig import DEV_PREFIX, client_config, webhook_configurations

Say = Callable[[str], None]


@dataclass(frozen=True)
class DevOptions:
    state_dir: Path
    bindings_path: Path
    crds_dir: Path
    examples_dir: Path | None
    tools: dict[str, Path]
    start_timeout: float = 120.0
    controller_args: Sequence[str] = ()
    # More than one runs them sharded: each works on its own hash ranges.
    controllers: int = 1
    # The API server's sharded LIST and WATCH (alpha in the pinned 1.37).
    sharded_list_watch: bool = True
    # Simulated nodes (kwok), with kube-controller-manager and kube-scheduler so
    # Deployments get pods; 0 runs etcd and kube-apiserver only.
    nodes: int = 0
    # Webhook Services resolved to endpoints, never ClusterIPs (off only to prove a guard).
    aggregator_routing: bool = True


@dataclass
class Endpoints:
    etcd_client: int = 0
    etcd_peer: int = 0
    apiserver: int = 0
    webhook: int = 0
    controller: int = 0
    controllers: list[int] = field(default_factory=list)
    controller_manager: int = 0
    scheduler: int = 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DevCluster:
    """Starts and stops the local system rooted at one state folder."""

    def __init__(self, options: DevOptions, say: Say) -> None:
        self.options = options
        self.say = say
        self.state_dir = options.state_dir.resolve()
        self.pki = ClusterPki(self.state_dir / "pki")
        self.supervisor = Supervisor(self.state_dir)
        self.ports = Endpoints()

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    # -- lifecycle -------------------------------------------------------------

    def up(self) -> None:
        """Bring everything up, or stop what started and raise DevError."""
        running = self.supervisor.running()
        if running:
            names = ", ".join(f"{c.name} (pid {c.pid})" for c in running)
            raise DevError(
                f"state folder {self.state_dir} is in use by a running dev cluster: {names}; "
                f"use it with KUBECONFIG={self.kubeconfig}, or stop it with "
                f"`lostromos dev down --state-dir {self.state_dir}`"
            )
        reused = (self.state_dir / "etcd").is_dir()
        self.say(f"{'reusing' if reused else 'creating'} state folder {self.state_dir}")
        try:
            self.start_control_plane()
            if self.options.nodes > 0:
                self.start_data_plane()
            self._install_crds()
            self._start_webhook()
            self._start_controller()
            self._apply_examples()
        except BaseException:
            self.supervisor.stop_all()
            raise
        (self.state_dir / "ports.json").write_text(json.dumps(self.ports.__dict__, indent=2))
        # `dev env`, run in another shell, gives the user the kubectl and helm this
        # cluster was started with, whatever that shell's LOSTROMOS_* settings say.
        tools = self.options.tools
        clients = {name: str(tools[name]) for name in CLIENT_TOOLS if name in tools}
        (self.state_dir / CLIENT_TOOLS_FILE).write_text(json.dumps(clients, indent=2))

    def start_control_plane(self) -> None:
        """etcd and kube-apiserver only (what tests of API-server outages need)."""
        self._start_etcd()
        self._start_apiserver()

    def restart_apiserver(self, *, down_seconds: float = 0.0) -> None:
        """Stop the API server, stay down a while, start it again on the same port."""
        self.supervisor.stop("kube-apiserver")
        time.sleep(down_seconds)
        self._start_apiserver(port=self.ports.apiserver)

    def restart_controllers(self) -> None:
        """Stop the controller processes and start them again: their first list is a
        full resync, and they load the bound charts as they are on disk now."""
        for child in list(self.supervisor.children):
            if child.name == "controller" or child.name.startswith("controller-"):
                self.supervisor.stop(child.name)
        self._start_controller()

    def watch(self, stop: threading.Event) -> Child | None:
        """Block until `stop` is set or a child dies; return the dead child."""
        while not stop.wait(0.5):
            dead = self.supervisor.first_dead()
            if dead is not None:
                return dead
        return None

    def stop(self) -> None:
        self.supervisor.stop_all()

    # -- components ------------------------------------------------------------

    def _start(
        self,
        name: str,
        argv: Sequence[str],
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
    ) -> Child:
        self.say(f"starting {name}")
        child = self.supervisor.start(name, argv, env)
        deadline = time.monotonic() + self.options.start_timeout
        while time.monotonic() < deadline:
            if not child.alive() or self.supervisor.first_dead() is child:
                raise DevError(
                    f"{name} exited during start-up; last lines of {child.log}:\n{child.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
                if ready():
                    return child
            time.sleep(0.25)
        raise DevError(
            f"{name} was not ready within {self.options.start_timeout:.0f}s; "
            f"last lines of {child.log}:\n{child.log_tail()}"
        )

    def _start_etcd(self) -> None:
        self.ports.etcd_client, self.ports.etcd_peer = free_port(), free_port()
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        argv = [
            str(self.options.tools["etcd"]),
            "--name=lostromos-dev",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=lostromos-dev={peer}",
            # A throwaway local cluster: fsync costs seconds per burst, buys nothing.
            "--unsafe-no-fsync",
            # 1,000 simulated Sites grew the database to 359 MiB between the API server's
            # compactions; etcd's default 2 GiB quota would stop every write at a few
            # thousand. 8 GiB is etcd's documented ceiling.
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ]

        def ready() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as answer:  # noqa: S310
                return json.load(answer).get("health") == "true"

        self._start("etcd", argv, ready)

    def _start_apiserver(self, port: int | None = None) -> None:
        if not self.pki.exists():
            self.pki.create()
        self.ports.apiserver = port or free_port()
        pki = self.pki
        argv = [
            str(self.options.tools["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--cert-dir={pki.directory}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            # Room for thousands of Services (each Site has one): the largest range allowed.
            # Nothing may ever dial these addresses (docs/design.md, "Addresses nothing
            # dials"): no kube-proxy runs, and they belong to nobody on this machine.
            "--service-cluster-ip-range=10.96.0.0/12",
            # Webhook and aggregated-API Services resolve to their endpoints, never to
            # the ClusterIP: a Service with no ready endpoint fails at once, without a
            # connection attempt, instead of sending a packet off the machine.
            f"--enable-aggregator-routing={str(self.options.aggregator_routing).lower()}",
            # Loopback cannot be published as the kubernetes Service endpoint.
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            *self._admission_without_controllers(),
            "--profiling=false",
            "--v=1",
            f"--feature-gates=ShardedListAndWatch={str(self.options.sharded_list_watch).lower()}",
        ]
        self._write_kubeconfig()
        context = self._api_tls_context()

        def ready() -> bool:
            url = f"https://127.0.0.1:{self.ports.apiserver}/readyz"
            with urllib.request.urlopen(url, context=context, timeout=2) as answer:
                return answer.status == 200

        self._start("kube-apiserver", argv, ready)

    def _admission_without_controllers(self) -> list[str]:
        if self.options.nodes > 0:
            return []
        # Without kube-controller-manager no ServiceAccount controller makes the
        # `default` ServiceAccount pods need, and no protection controller would ever
        # release a deleted PersistentVolumeClaim: these two plugins would wedge objects.
        return ["--disable-admission-plugins=ServiceAccount,StorageObjectInUseProtection"]

    def start_data_plane(self) -> None:
        """kube-controller-manager, kube-scheduler, kwok, storage classes and the nodes."""
        tools = self.options.tools
        timeout = self.options.start_timeout
        self.ports.controller_manager = free_port()
        self._start(
            "kube-controller-manager",
            dataplane.controller_manager_argv(
                tools["kube-controller-manager"], self, self.ports.controller_manager
            ),
            dataplane.healthz(self.ports.controller_manager),
        )
        self.ports.scheduler = free_port()
        self._start(
            "kube-scheduler",
            dataplane.scheduler_argv(tools["kube-scheduler"], self, self.ports.scheduler),
            dataplane.healthz(self.ports.scheduler),
        )
        config = dataplane.write_kwok_config(self.state_dir / "kwok" / "stages.yaml")
        self._start("kwok", dataplane.kwok_argv(tools["kwok"], self, config), lambda: True)
        self.kubectl("apply", "-f", str(dataplane.STAGES_DIR / "storage-classes.yaml"))
        nodes = [dataplane.node_manifest(i) for i in range(self.options.nodes)]
        self.say(f"adding {len(nodes)} simulated node(s)")
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(nodes))
        wanted = set(dataplane.node_names(self.options.nodes))
        dataplane.wait_for(
            f"nodes {', '.join(sorted(wanted))} Ready",
            lambda: wanted <= dataplane.ready_nodes(self),
            timeout,
        )
        # the ServiceAccount admission plugin refuses pods until this exists
        dataplane.wait_for(
            "the default ServiceAccount (kube-controller-manager)",
            lambda: dataplane.default_service_account_exists(self),
            timeout,
        )

    def _api_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lostromos-dev",
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.ports.apiserver}",
                        "certificate-authority-data": b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "lostromos-admin",
                    "user": {
                        "client-certificate-data": b64(self.pki.admin_cert),
                        "client-key-data": b64(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "lostromos-dev",
                    "context": {
                        "cluster": "lostromos-dev",
                        "user": "lostromos-admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "lostromos-dev",
        }
        temporary = self.kubeconfig.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(config, sort_keys=False))
        temporary.chmod(0o600)
        os.replace(temporary, self.kubeconfig)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.options.tools["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.client_env(),
        )
        if check and result.returncode != 0:
            raise DevError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def client_env(self) -> dict[str, str]:
        """Environment for kubectl and helm against this cluster. Their discovery
        caches (keyed by host and port, and ports change on every start) go in
        the state folder, not in ~/.kube/cache."""
        helm_home = self.state_dir / "helm"
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.state_dir / "kube-cache"),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }

    def _install_crds(self) -> None:
        self.say(f"installing CRDs from {self.options.crds_dir}")
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(self.options.crds_dir)
        )
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")

    def _start_webhook(self) -> None:
        webhook_dir = self.state_dir / "webhook"
        ca_cert, ca_key = webhook_dir / "ca.crt", webhook_dir / "ca.key"
        cert, key = webhook_dir / "tls.crt", webhook_dir / "tls.key"
        if not ca_cert.is_file():
            ca = create_ca("lostromos-webhook-ca")
            write_pair(ca, ca_cert, ca_key)
            write_pair(issue_serving_cert(ca, ["localhost"], ["127.0.0.1"]), cert, key)
        self.ports.webhook = free_port()
        url = f"https://127.0.0.1:{self.ports.webhook}"
        argv = [
            sys.executable,
            "-m",
            "lostromos",
            "webhook",
            "--config",
            str(self.options.bindings_path),
            "--bind",
            f"127.0.0.1:{self.ports.webhook}",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ]
        context = ssl.create_default_context(cafile=str(ca_cert))

        def answers() -> bool:
            with urllib.request.urlopen(  # noqa: S310 - our own https URL
                f"{url}/readyz",
                context=context,
                timeout=2,
            ) as answer:
                return answer.status == 200

        self._start("webhook", argv, answers)
        bindings = load_bindings(self.options.bindings_path).bindings
        configurations = webhook_configurations(
            bindings, client_config(ca_pem=ca_cert.read_bytes(), url=url), name_prefix=DEV_PREFIX
        )
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(configurations))
        self.say("checking that the API server reaches the webhook")
        deadline = time.monotonic() + 30
        while not self._webhook_reachable(bindings):
            if time.monotonic() > deadline:
                raise DevError(
                    "the API server cannot reach the webhook; last lines of "
                    f"{self.supervisor.child('webhook').log}:\n"
                    f"{self.supervisor.child('webhook').log_tail()}"
                )
            time.sleep(0.5)

    def _webhook_reachable(self, bindings: Sequence) -> bool:
        """A server-side dry run goes through both webhooks and stores nothing."""
        for binding in bindings:
            probe = {
                "apiVersion": binding.api_version,
                "kind": binding.kind,
                "metadata": {"name": "lostromos-readiness-probe", "namespace": "default"},
                "spec": {},
            }
            result = self.kubectl(
                "create",
                "--dry-run=server",
                "-o",
                "name",
                "-f",
                "-",
                stdin=json.dumps(probe),
                check=False,
            )
            if result.returncode != 0 and not _webhook_answered(result.stderr):
                return False
        return True

    def _start_controller(self) -> None:
        count = max(1, self.options.controllers)
        self.ports.controllers = [free_port() for _ in range(count)]
        self.ports.controller = self.ports.controllers[0]
        env = self.client_env()
        for index, port in enumerate(self.ports.controllers):
            argv = [
                sys.executable,
                "-m",
                "lostromos",
                "controller",
                "--config",
                str(self.options.bindings_path),
                "--kubeconfig",
                str(self.kubeconfig),
                "--helm-engine",
                str(self.options.tools["helm-engine"]),
                "--health-bind",
                f"127.0.0.1:{port}",
                *(["--shards"] if count > 1 else []),
                # no nodes, no pods: Ready cannot wait for workloads that never run
                *(["--no-ready-wait"] if self.options.nodes <= 0 else []),
                *self.options.controller_args,
            ]

            def ready(port: int = port) -> bool:
                url = f"http://127.0.0.1:{port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    return answer.status == 200

            self._start("controller" if index == 0 else f"controller-{index + 1}", argv, ready, env)

    def _apply_examples(self) -> None:
        examples = self.options.examples_dir
        if examples is None:
            return
        files = sorted(p for p in examples.glob("*.yaml") if p.is_file())
        if not files:
            return
        self.say(f"applying {len(files)} example object(s) from {examples}")
        for path in files:
            self.kubectl("apply", "-f", str(path))


def run_foreground(cluster: DevCluster, say: Say) -> int:
    """Stay up until Ctrl-C or SIGTERM (exit 0) or until a child dies (exit 1)."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        dead = cluster.watch(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("stopping")
        cluster.stop()
    if dead is not None:
        say(f"{dead.name} exited unexpectedly; last lines of {dead.log}:\n{dead.log_tail()}")
        return 1
    return 0


def _webhook_answered(stderr: str) -> bool:
    """A refused probe still proves the webhook answered: refused by our webhook, or by the
    CRD's schema (a full-mode CRD may require keys the probe has not), which the API server
    checks only after the mutating webhook returned; a webhook it cannot reach fails the
    call with "failed calling webhook" instead."""
    if "failed calling webhook" in stderr:
        return False
    return "denied the request" in stderr or " is invalid: " in stderr
