"""reconcile(key) -> Result: one bound object made true in Helm.

Level-based and idempotent: it reads the object from the informer's store,
never trusts the event that woke it, and can run again at any time with the
same outcome. The desired state is summed up in a digest (chart content,
values given to helm, release name); when the object's status already records
that digest for a deployed release, nothing is called at all, which is what
makes a resync of thousands of unchanged objects cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller import status as conditions
from controller.events import EventRecorder
from controller.helm import Helm, HelmError, Release
from controller.informer import Informer, Key
from lostromos.config import Binding
from lostromos.engines import EngineRegistry

log = logging.getLogger(__name__)

FINALIZER = "lostromos.dev/helm-release"
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_RELEASE_NAME = 53


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class ReconcileError(RuntimeError):
    """A failure worth retrying with backoff (helm failed, API conflict)."""


def desired_digest(engine_digest: str, values: Mapping[str, Any], release: str) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{engine_digest}\n{release}\n{canonical}".encode()
    return "sha256:" + hashlib.sha256(material).hexdigest()


class Reconciler:
    def __init__(
        self,
        binding: Binding,
        informer: Informer,
        *,
        api: client.CustomObjectsApi,
        engines: EngineRegistry,
        helm: Helm,
        events: EventRecorder,
    ) -> None:
        self.binding = binding
        self.informer = informer
        self.api = api
        self.engines = engines
        self.helm = helm
        self.events = events

    # -- entry point ----------------------------------------------------------

    def reconcile(self, key: Key) -> Result:
        obj = self.informer.get(key)
        if obj is None:
            return Result()  # gone; its release went with the finalizer
        metadata = obj["metadata"]
        release = self.release_name(obj)
        if metadata.get("deletionTimestamp"):
            self._delete(obj, release)
            return Result()
        if release is None:
            self._invalid(obj, [
                f"release name {self._raw_release_name(obj)!r} from template "
                f"{self.binding.release.name_template!r} is not a valid Helm release name "
                f"(lowercase DNS label of at most {MAX_RELEASE_NAME} characters)"])
            return Result()
        if FINALIZER not in (metadata.get("finalizers") or []):
            obj = self._add_finalizer(obj)
        return self._converge(obj, release)

    # -- naming ---------------------------------------------------------------

    def _raw_release_name(self, obj: dict[str, Any]) -> str:
        metadata = obj["metadata"]
        return self.binding.release.release_name(
            name=metadata["name"], namespace=metadata.get("namespace", ""),
            kind=self.binding.kind, binding=self.binding.name)

    def release_name(self, obj: dict[str, Any]) -> str | None:
        recorded = ((obj.get("status") or {}).get("release") or {}).get("name")
        if recorded:
            # A release keeps the name it was installed under, even if the template changes.
            return str(recorded)
        name = self._raw_release_name(obj)
        if len(name) > MAX_RELEASE_NAME or not _RELEASE_NAME.match(name):
            return None
        return name

    # -- phases ---------------------------------------------------------------

    def _converge(self, obj: dict[str, Any], release: str) -> Result:
        engine = self.engines.engine_for(self.binding)
        spec = obj.get("spec")
        violations = engine.validate({} if spec is None else spec)
        if violations:
            self._invalid(obj, [v.describe("spec") for v in violations])
            return Result()
        values = engine.user_values(spec or {})
        digest = desired_digest(engine.digest, values, release)
        status = obj.get("status") or {}
        recorded = status.get("release") or {}
        generation = obj["metadata"].get("generation", 0)
        if (recorded.get("digest") == digest and recorded.get("status") == "deployed"
                and status.get("observedGeneration") == generation):
            return Result()
        namespace = obj["metadata"]["namespace"]
        log.info("installing release", extra=self._context(obj, release))
        try:
            installed = self.helm.upgrade_install(
                release, namespace, engine.chart.path, values,
                timeout_seconds=self.binding.release.timeout_seconds,
                wait=self.binding.release.wait,
            )
        except HelmError as error:
            self._failed(obj, release, error)
            raise ReconcileError(str(error)) from error
        self._released(obj, installed, digest)
        return Result()

    def _delete(self, obj: dict[str, Any], release: str | None) -> None:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return
        namespace = obj["metadata"]["namespace"]
        if release is not None:
            try:
                self.helm.uninstall(release, namespace,
                                    timeout_seconds=self.binding.release.timeout_seconds)
            except HelmError as error:
                self.events.record(obj, "Warning", "UninstallFailed", error.message)
                raise ReconcileError(str(error)) from error
            self.events.record(obj, "Normal", "Uninstalled", f"Uninstalled release {release}")
            log.info("uninstalled release", extra=self._context(obj, release))
        self._patch_finalizers(obj, [f for f in finalizers if f != FINALIZER])

    def _add_finalizer(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._patch_finalizers(obj, [*(obj["metadata"].get("finalizers") or []), FINALIZER])

    def _patch_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
        metadata = obj["metadata"]
        # resourceVersion makes this a compare-and-swap: a stale view gets 409 and a retry.
        body = {"metadata": {"finalizers": finalizers,
                             "resourceVersion": metadata["resourceVersion"]}}
        try:
            updated = self.api.patch_namespaced_custom_object(
                self.binding.group, self.binding.version, metadata["namespace"],
                self.binding.plural, metadata["name"], body)
        except ApiException as error:
            if error.status == 404:
                return obj
            raise ReconcileError(f"updating finalizers: {error.status} {error.reason}") from error
        self.informer.update(updated)
        return updated

    # -- status ---------------------------------------------------------------

    def _invalid(self, obj: dict[str, Any], problems: list[str]) -> None:
        message = "; ".join(problems)
        was_invalid = (conditions.condition(obj.get("status"), conditions.INVALID) or {}).get(
            "status") == "True"
        self._write_status(obj, [
            conditions.Condition(conditions.READY, False, "Invalid", message),
            conditions.Condition(conditions.INVALID, True, "SchemaViolation", message),
        ])
        if not was_invalid:
            self.events.record(obj, "Warning", "InvalidSpec", message)
            log.info("spec is invalid, not installing", extra=self._context(obj, None))

    def _failed(self, obj: dict[str, Any], release: str, error: HelmError) -> None:
        reason = "Timeout" if error.timed_out else "HelmError"
        self._write_status(obj, [
            conditions.Condition(conditions.READY, False, "ReleaseFailed", error.message),
            conditions.Condition(conditions.RELEASE_FAILED, True, reason, error.message),
            conditions.Condition(conditions.INVALID, False, "Valid"),
        ])
        self.events.record(obj, "Warning", "ReleaseFailed", error.message)
        log.warning("helm failed: %s", error.message, extra=self._context(obj, release))

    def _released(self, obj: dict[str, Any], release: Release, digest: str) -> None:
        verb = "Installed" if release.revision == 1 else "Upgraded"
        message = (f"{verb} release {release.name} revision {release.revision} "
                   f"(chart {release.chart_name}-{release.chart_version})")
        deployed = release.status == "deployed"
        self._write_status(obj, [
            conditions.Condition(conditions.READY, deployed,
                                 "Deployed" if deployed else "NotDeployed", message),
            conditions.Condition(conditions.RELEASED, deployed, verb, message),
            conditions.Condition(conditions.INVALID, False, "Valid"),
            conditions.Condition(conditions.RELEASE_FAILED, False, "Deployed"),
        ], release={
            "name": release.name,
            "namespace": release.namespace,
            "revision": release.revision,
            "status": release.status,
            "chart": release.chart_name,
            "chartVersion": release.chart_version,
            "digest": digest,
            "lastDeployed": release.last_deployed,
        })
        self.events.record(obj, "Normal", verb, message)
        log.info(message, extra=self._context(obj, release.name))

    def _write_status(self, obj: dict[str, Any], updates: list[conditions.Condition],
                      release: dict[str, Any] | None = None) -> None:
        metadata = obj["metadata"]
        current = obj.get("status") or {}
        generation = metadata.get("generation", 0)
        merged = conditions.merge_conditions(current.get("conditions"), updates, generation)
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": merged}
        if release is not None:
            status["release"] = release
        if (current.get("observedGeneration") == generation and release is None
                and conditions.same_conditions(current.get("conditions") or [], merged)):
            return
        try:
            updated = self.api.patch_namespaced_custom_object_status(
                self.binding.group, self.binding.version, metadata["namespace"],
                self.binding.plural, metadata["name"], {"status": status})
        except ApiException as error:
            if error.status == 404:
                return
            raise ReconcileError(f"writing status: {error.status} {error.reason}") from error
        self.informer.update(updated)

    def _context(self, obj: dict[str, Any], release: str | None) -> dict[str, Any]:
        metadata = obj["metadata"]
        return {"kind": self.binding.kind, "namespace": metadata.get("namespace"),
                "object": metadata.get("name"), "release": release}
