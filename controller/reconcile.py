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
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller import status as conditions
from controller.events import EventRecorder
from controller.informer import Informer, Key
from controller.rollout import Rollout
from lostromos.config import Binding
from lostromos.engines import EngineRegistry
from lostromos.helmengine import PENDING_STATES, ChartSource, HelmEngine, HelmError, Release

log = logging.getLogger(__name__)

FINALIZER = "lostromos.dev/helm-release"
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_RELEASE_NAME = 53


ANOTHER_OPERATION = "another operation (install/upgrade/rollback) is in progress"
ROLLOUT_WAIT_SECONDS = 2.0
HALTED_RECHECK_SECONDS = 60.0


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
        helm: HelmEngine,
        events: EventRecorder,
        rollout: Rollout,
        dry_run: bool = False,
    ) -> None:
        self.binding = binding
        self.informer = informer
        self.api = api
        self.engines = engines
        self.helm = helm
        self.events = events
        self.rollout = rollout
        self.dry_run = dry_run
        # Keys whose release objects drifted: the next reconcile re-applies the
        # release even though the desired digest has not changed.
        self._repair: set[Key] = set()
        self._repair_lock = threading.Lock()

    def request_repair(self, key: Key) -> None:
        with self._repair_lock:
            self._repair.add(key)

    def _take_repair(self, key: Key) -> bool:
        with self._repair_lock:
            if key in self._repair:
                self._repair.discard(key)
                return True
            return False

    # -- entry point ----------------------------------------------------------

    def reconcile(self, key: Key) -> Result:
        obj = self.informer.get(key)
        if obj is None:
            return Result()  # gone; its release went with the finalizer
        metadata = obj["metadata"]
        ours = FINALIZER in (metadata.get("finalizers") or [])
        if not ours and not self.binding.selector.matches(metadata):
            return Result()  # filtered out (opt-in annotation): not this controller's object
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
        if not ours:
            obj = self._add_finalizer(obj)
        return self._converge(obj, release, repair=self._take_repair(key))

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

    def _converge(self, obj: dict[str, Any], release: str, *, repair: bool) -> Result:
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
        if (not repair and recorded.get("digest") == digest
                and recorded.get("status") == "deployed"
                and status.get("observedGeneration") == generation):
            return Result()
        # An existing release whose only news is a new chart joins the rollout.
        chart_upgrade = recorded.get("chartDigest") not in (None, engine.digest) and not repair
        if chart_upgrade and not self.rollout.begin(engine.digest):
            if self.rollout.halted(engine.digest):
                self._rollout_halted(obj)
                return Result(requeue_after=HALTED_RECHECK_SECONDS)
            return Result(requeue_after=ROLLOUT_WAIT_SECONDS)
        action = "repair" if repair else "upgrade" if recorded else "install"
        if self.dry_run:
            log.info("dry run: would %s release", action, extra=self._context(obj, release))
            if chart_upgrade:
                self.rollout.finish(engine.digest, succeeded=True)
            return Result()
        log.info("%s release", action, extra=self._context(obj, release))
        try:
            installed = self._upgrade_install(
                obj, release, ChartSource(engine.chart.path, engine.chart.digest), values)
        except HelmError as error:
            if chart_upgrade:
                self.rollout.finish(engine.digest, succeeded=False)
            self._failed(obj, release, error)
            raise ReconcileError(str(error)) from error
        if chart_upgrade:
            self.rollout.finish(engine.digest, succeeded=True)
        self._released(obj, installed, digest, engine.digest,
                       "Repaired" if repair else None)
        return Result()

    def _upgrade_install(self, obj: dict[str, Any], release: str, chart: ChartSource,
                         values: dict[str, Any]) -> Release:
        namespace = obj["metadata"]["namespace"]

        def attempt() -> Release:
            return self.helm.upgrade_install(
                release, namespace, chart, values,
                timeout_seconds=self.binding.release.timeout_seconds,
                wait=self.binding.release.wait)

        try:
            return attempt()
        except HelmError as error:
            if ANOTHER_OPERATION not in error.message:
                raise
        # Only the Lease holder runs helm, one worker per key, and helm dies with
        # its controller: a pending release here was abandoned by a crash.
        self._recover_pending(obj, release)
        return attempt()

    def _recover_pending(self, obj: dict[str, Any], release: str) -> None:
        namespace = obj["metadata"]["namespace"]
        timeout = self.binding.release.timeout_seconds
        current = self.helm.status(release, namespace)
        if current is None or current.status not in PENDING_STATES:
            return
        if current.revision <= 1:
            self.helm.uninstall(release, namespace, timeout_seconds=timeout)
        else:
            self.helm.rollback(release, namespace, current.revision - 1, timeout_seconds=timeout)
        self.events.record(obj, "Warning", "Recovered",
                           f"Release {release} was left {current.status} at revision "
                           f"{current.revision}; recovered it before retrying")
        log.warning("recovered release left %s", current.status,
                    extra=self._context(obj, release))

    def _delete(self, obj: dict[str, Any], release: str | None) -> None:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return
        namespace = obj["metadata"]["namespace"]
        if self.dry_run:
            log.info("dry run: would uninstall release", extra=self._context(obj, release))
            return
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
        if self.dry_run:
            return obj
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

    def _rollout_halted(self, obj: dict[str, Any]) -> None:
        failing = conditions.condition(obj.get("status"), conditions.RELEASE_FAILED) or {}
        if failing.get("status") == "True":
            return  # its own failure (helm's message) says more than the halt would
        progress = self.rollout.progress()
        message = (f"The rollout of a new chart to this binding's releases halted after "
                   f"{progress.failed} of {progress.upgraded + progress.failed} upgrades failed; "
                   "this release keeps its current chart until the chart changes again")
        self._write_status(obj, [
            conditions.Condition(conditions.RELEASE_FAILED, True, "RolloutHalted", message)])

    def _released(self, obj: dict[str, Any], release: Release, digest: str,
                  chart_digest: str, verb: str | None = None) -> None:
        verb = verb or ("Installed" if release.revision == 1 else "Upgraded")
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
            "chartDigest": chart_digest,
            "lastDeployed": release.last_deployed,
            "resources": list(release.resources),
        })
        self.events.record(obj, "Normal", verb, message)
        log.info(message, extra=self._context(obj, release.name))

    def _write_status(self, obj: dict[str, Any], updates: list[conditions.Condition],
                      release: dict[str, Any] | None = None) -> None:
        if self.dry_run:
            return
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
