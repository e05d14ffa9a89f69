"""The real `helm` binary, called with argument lists and JSON output.

lostromos drives the helm CLI instead of re-implementing Helm: the pinned
binary is the same one the differential tests prove the values engine against,
so what the webhook admits is exactly what this installs.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lostromos.values import helm_values_document

MAX_MESSAGE = 800
PENDING_STATES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})


class HelmError(RuntimeError):
    """helm exited non-zero; `message` is helm's own error, trimmed."""

    def __init__(self, action: str, message: str, *, timed_out: bool = False,
                 retryable: bool = False) -> None:
        self.action = action
        self.message = trim(message)
        self.timed_out = timed_out
        # True when helm itself could not be reached (not a verdict on the release).
        self.retryable = retryable
        super().__init__(f"helm {action}: {self.message}")


class HelmMissing(RuntimeError):
    """No helm binary where one was expected."""


def trim(message: str, limit: int = MAX_MESSAGE) -> str:
    message = " ".join(message.replace("Error: ", "", 1).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str
    chart_version: str
    last_deployed: str
    resources: tuple[dict[str, str], ...] = ()
    # The release's own labels (kept on its storage Secret, not in helm's JSON).
    labels: Mapping[str, str] = field(default_factory=dict)
    first_deployed: str = ""  # when revision 1 was deployed

    @classmethod
    def from_json(cls, document: Mapping[str, Any],
                  labels: Mapping[str, str] | None = None) -> Release:
        info = document.get("info") or {}
        metadata = (document.get("chart") or {}).get("metadata") or {}
        return cls(
            name=str(document.get("name", "")),
            namespace=str(document.get("namespace", "")),
            revision=int(document.get("version", 0)),
            status=str(info.get("status", "unknown")),
            chart_name=str(metadata.get("name", "")),
            chart_version=str(metadata.get("version", "")),
            last_deployed=str(info.get("last_deployed", "")),
            first_deployed=str(info.get("first_deployed", "")),
            labels=dict(labels or {}),
            resources=manifest_resources(str(document.get("manifest") or ""),
                                         str(document.get("namespace", ""))),
        )


def manifest_resources(manifest: str, namespace: str) -> tuple[dict[str, str], ...]:
    """apiVersion, kind, namespace and name of every object a release manifest holds."""
    found: list[dict[str, str]] = []
    try:
        documents = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError:
        return ()
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document:
            continue
        metadata = document.get("metadata") or {}
        found.append({
            "apiVersion": str(document.get("apiVersion", "")),
            "kind": str(document["kind"]),
            "namespace": str(metadata.get("namespace") or namespace),
            "name": str(metadata.get("name", "")),
        })
    return tuple(found)


def find_helm(explicit: Path | None) -> Path:
    if explicit is not None:
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise HelmMissing(f"helm binary {explicit} is not an executable file")
        return explicit
    found = shutil.which("helm")
    if found is None:
        raise HelmMissing("helm is not on PATH; install helm or pass --helm PATH")
    return Path(found)


class Helm:
    """One helm binary against one cluster. Thread-safe: every call is a process.

    Where util-linux's setpriv exists, helm runs with a parent-death signal: if
    the controller dies (even by SIGKILL), its helm processes die with it, so a
    release found pending after a restart is known to be abandoned, not in flight.
    """

    def __init__(
        self,
        binary: Path,
        *,
        kubeconfig: Path | None = None,
        env: Mapping[str, str] | None = None,
        on_call: Callable[[str], None] = lambda action: None,
        release_storage: Callable[[str, str], StoredRelease | None] | None = None,
    ) -> None:
        self.binary = binary
        # `helm status -o json` leaves out the release's labels and its chart; this
        # reads them from the release's storage.
        self._release_storage = release_storage
        self._env = dict(os.environ if env is None else env)
        if kubeconfig is not None:
            self._env["KUBECONFIG"] = str(kubeconfig)
        self._on_call = on_call
        setpriv = shutil.which("setpriv")
        self._prefix = [setpriv, "--pdeathsig", "KILL"] if setpriv else []

    def _run(self, action: str, args: list[str], timeout: float) -> str:
        self._on_call(action)
        try:
            result = subprocess.run(
                [*self._prefix, str(self.binary), *args], capture_output=True, text=True,
                env=self._env, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise HelmError(action, f"no answer within {timeout:.0f}s", timed_out=True) from None
        except OSError as error:
            raise HelmError(action, f"cannot run {self.binary}: {error.strerror}") from None
        if result.returncode != 0:
            raise HelmError(action, result.stderr.strip() or result.stdout.strip()
                            or f"exit code {result.returncode}",
                            timed_out="context deadline exceeded" in result.stderr)
        return result.stdout

    def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: Path | str,
        values: Mapping[str, Any],
        *,
        timeout_seconds: int,
        wait: bool = False,
        version: str | None = None,
        repository: str | None = None,
        labels: Mapping[str, str] | None = None,
        impersonate: str | None = None,
    ) -> Release:
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="values-") as values_file:
            # Values may hold secrets: a 0600 temp file, never the command line.
            values_file.write(helm_values_document(values))
            values_file.flush()
            args = [
                "upgrade", "--install", release, str(chart),
                "--namespace", namespace,
                "--values", values_file.name,
                "--timeout", f"{timeout_seconds}s",
                "--output", "json",
                # The object is the source of truth: take back fields someone edited.
                "--force-conflicts",
                # The API server validates every object it is sent (server-side apply);
                # helm's client-side copy of that check fetches and parses the cluster's
                # whole OpenAPI document on every call: 4/5 of helm's CPU, for nothing.
                "--disable-openapi-validation",
            ]
            if wait:
                args.append("--wait=watcher")
            if version:
                args += ["--version", version]
            if repository:
                args += ["--repo", repository]
            if labels:
                args += ["--labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]
            args += _as_user(impersonate)
            output = self._run("upgrade", args, timeout=timeout_seconds + 30)
        return Release.from_json(json.loads(output), labels)

    def uninstall(self, release: str, namespace: str, *, timeout_seconds: int,
                  impersonate: str | None = None) -> None:
        self._run(
            "uninstall",
            ["uninstall", release, "--namespace", namespace, "--ignore-not-found",
             "--timeout", f"{timeout_seconds}s", *_as_user(impersonate)],
            timeout=timeout_seconds + 30,
        )

    def status(self, release: str, namespace: str, *,
               impersonate: str | None = None) -> Release | None:
        try:
            output = self._run("status", ["status", release, "--namespace", namespace,
                                          "--output", "json", *_as_user(impersonate)],
                               timeout=60)
        except HelmError as error:
            if "not found" in error.message:
                return None
            raise
        found = Release.from_json(json.loads(output))
        stored = self._release_storage(release, namespace) if self._release_storage else None
        if stored is None:
            return found
        return dataclasses.replace(found, labels=dict(stored.labels),
                                   chart_name=found.chart_name or stored.chart_name,
                                   chart_version=found.chart_version or stored.chart_version)

    def rollback(self, release: str, namespace: str, revision: int, *,
                 timeout_seconds: int, impersonate: str | None = None) -> None:
        self._run("rollback", ["rollback", release, str(revision), "--namespace", namespace,
                               "--timeout", f"{timeout_seconds}s", *_as_user(impersonate)],
                  timeout=timeout_seconds + 30)


def _as_user(impersonate: str | None) -> list[str]:
    return ["--kube-as-user", impersonate] if impersonate else []


# Labels helm itself keeps on a release's storage Secret; the rest are the release's own.
HELM_STORAGE_LABELS = frozenset({"owner", "name", "status", "version", "createdAt",
                                 "modifiedAt"})


@dataclass(frozen=True)
class StoredRelease:
    """What helm's status JSON leaves out, from the newest storage Secret."""

    labels: Mapping[str, str]
    chart_name: str = ""
    chart_version: str = ""


def stored_release(secrets: Iterable[tuple[Mapping[str, str], str]]) -> StoredRelease | None:
    """From (labels, data.release) of each storage Secret of one release (helm's
    secrets driver: one per revision; the record is base64 of gzipped JSON, inside
    the Secret's own base64): the newest revision's own labels and chart."""
    newest: tuple[Mapping[str, str], str] | None = None
    newest_version = -1
    for labels, data in secrets:
        try:
            version = int(labels.get("version", ""))
        except ValueError:
            continue
        if version > newest_version:
            newest, newest_version = (labels, data), version
    if newest is None:
        return None
    labels, data = newest
    own = {k: str(v) for k, v in labels.items() if k not in HELM_STORAGE_LABELS}
    try:
        record = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(data))))
        metadata = (record.get("chart") or {}).get("metadata") or {}
    except (ValueError, OSError, AttributeError):
        return StoredRelease(own)
    return StoredRelease(own, str(metadata.get("name", "")), str(metadata.get("version", "")))
