"""ACT: one small unit per action `observe.decide` can pick, and the status each leaves.

Every helm call here carries the owner labels (install, upgrade, repair) and
is made only for a release the observe phase found absent or this object's
own; a release of someone else's is never passed to helm at all.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from controller import readiness, retries
from controller import status as conditions
from controller.drift import DriftReport
from controller.informer import Key
from controller.observe import FINALIZER, Action, Desired, Observation
from controller.ownership import DESIRED_LABEL, Ownership, desired_label, owner_labels
from controller.rollout import RolloutProgress
from lostromos.config import Binding
from lostromos.helmengine import ChartSource, Confinement, HelmError, Release
from lostromos.redact import Redactor, redactor_for
from lostromos.renderpool import BudgetedRenderer, RenderOverBudget

log = logging.getLogger("controller.reconcile")

ROLLOUT_WAIT_SECONDS = 2.0
HALTED_RECHECK_SECONDS = 60.0
# A release that belongs to someone else does not change by retrying: look again
# slowly, in case its owner removes it.
CONFLICT_RECHECK_SECONDS = 300.0
UNLOADABLE_RECHECK_SECONDS = 30.0

Condition = conditions.Condition
# Engine codes for a release record lostromos will not act on: one that does not
# verify under the record key, or one that names objects outside the object's
# namespace and the binding's allowed kinds.
UNTRUSTED_CODES = frozenset({"unverified", "confinement"})
_VERBS = {"Installed": "install", "Upgraded": "upgrade", "Repaired": "repair"}


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None
    # The object waits for a change and nothing retries it (the action said why).
    stalled: bool = False


class ReconcileError(RuntimeError):
    """A failure worth retrying with backoff (helm failed, API conflict)."""


class HelmActions(Protocol):
    def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: ChartSource | Path,
        values: Mapping[str, Any],
        *,
        timeout_seconds: int,
        wait: bool = False,
        labels: Mapping[str, str] | None = None,
        impersonate: str | None = None,
        confine: Confinement | None = None,
        schema_checked: bool = False,
        max_history: int = 0,
        secrets: Sequence[str] = (),
    ) -> Release: ...

    def uninstall(
        self,
        release: str,
        namespace: str,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> None: ...

    def adopt(
        self,
        release: Release,
        *,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> Release: ...

    def status(
        self, release: str, namespace: str, *, impersonate: str | None = None
    ) -> Release | None: ...

    def rollback(
        self,
        release: str,
        namespace: str,
        revision: int,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        max_history: int = 0,
        confine: Confinement | None = None,
    ) -> None: ...


class ObjectApi(Protocol):
    """The two writes the controller makes to its own kinds (CustomObjectsApi)."""

    # The kubernetes client's own (positional) signatures.
    def patch_namespaced_custom_object(  # noqa: PLR0917
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any: ...

    def patch_namespaced_custom_object_status(  # noqa: PLR0917
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any: ...


class Events(Protocol):
    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None: ...


class StoreWriter(Protocol):
    def update(self, obj: dict[str, Any]) -> None: ...


class DriftAcknowledger(Protocol):
    def acknowledge(self, key: Key, report: DriftReport) -> None: ...

    def forget(self, key: Key) -> None: ...


class RolloutGate(Protocol):
    def begin(self, target: str) -> bool: ...

    def finish(self, target: str, *, succeeded: bool) -> None: ...

    def halted(self, target: str) -> bool: ...

    def progress(self) -> RolloutProgress: ...


class Actions:
    def __init__(
        self,
        binding: Binding,
        *,
        api: ObjectApi,
        helm: HelmActions,
        events: Events,
        store: StoreWriter,
        drift: DriftAcknowledger,
        rollout: RolloutGate,
        dry_run: bool = False,
        renderer: BudgetedRenderer | None = None,
    ) -> None:
        self.binding = binding
        # renders each desired state within the binding's budget before Helm acts
        self.renderer = renderer
        self.api = api
        self.helm = helm
        self.events = events
        self.store = store
        self.drift = drift
        self.rollout = rollout
        self.dry_run = dry_run
        # Ready waits for the release's workloads after a Helm action (Reconciler.follow_workloads)
        self.awaits_workloads = False
        # Gated upgrades whose Helm action succeeded and whose workloads are still awaited:
        # key -> the rollout target. The slot is held until Ready settles (settle_rollout),
        # so the gate bounds Sites rolling out, not only Helm calls in progress.
        self._held: dict[Key, str] = {}
        self._held_lock = threading.Lock()
        self._units: dict[Action, Callable[[Observation], Result]] = {
            Action.NOTHING: self.nothing,
            Action.INSTALL: self.install,
            Action.UPGRADE: self.upgrade,
            Action.REPAIR: self.repair,
            Action.RECOVER: self.recover,
            Action.REFUSE: self.refuse,
            Action.HOLD: self.hold,
            Action.STALL: self.stall,
            Action.GIVE_UP: self.give_up,
            Action.RECORD: self.record,
            Action.UNINSTALL: self.uninstall,
            Action.RELEASE_FINALIZER: self.release_finalizer,
        }

    def run(self, action: Action, seen: Observation) -> Result:
        if self.dry_run and action is not Action.NOTHING:
            log.info("dry run: would %s release", action.value, extra=self._context(seen))
            return Result()
        try:
            seen = self._adopted(action, seen)
            return self._units[action](seen)
        except HelmError as error:
            if error.code in UNTRUSTED_CODES and seen.obj is not None:
                return self.untrusted(seen.obj, error)
            raise

    def _adopted(self, action: Action, seen: Observation) -> Observation:
        """An unsigned release this object may take over is signed first (exactly the
        record observed), so the action and every later one read a verified record."""
        release = seen.release
        if (
            seen.owner is not Ownership.ADOPTABLE
            or release is None
            or release.record != "unsigned"
            or action not in (Action.UPGRADE, Action.REPAIR, Action.RECOVER, Action.UNINSTALL)
        ):
            return seen
        adopted = self.helm.adopt(
            release,
            impersonate=self.binding.helm_user(seen.namespace),
            confine=self.binding.confinement(seen.namespace),
        )
        log.warning("adopted the unsigned release record", extra=self._context(seen))
        return dataclasses.replace(seen, release=adopted, owner=Ownership.OURS)

    def untrusted(self, obj: dict[str, Any] | None, error: HelmError) -> Result:
        """The release's records cannot be trusted (a record does not verify, or names
        objects outside the object's namespace and allowed kinds): the object says
        so, one Event is recorded, and no Helm action touches anything."""
        if obj is None or self.dry_run:
            return Result()
        message = redactor_for(None, self.binding.sensitive_paths).scrub(
            error.message, obj.get("spec") or {}
        )
        ready = conditions.condition(obj.get("status"), conditions.READY) or {}
        already = ready.get("reason") == "ReleaseUntrusted" and ready.get("message") == message
        self._write_status(obj, conditions.release_untrusted(message))
        if not already:
            self.events.record(obj, "Warning", "ReleaseUntrusted", message)
            log.warning(
                "release record refused (%s), touching nothing",
                error.code,
                extra={"kind": self.binding.kind, "object": obj["metadata"].get("name")},
            )
        return Result(requeue_after=CONFLICT_RECHECK_SECONDS)

    # -- the actions ----------------------------------------------------------

    def nothing(self, seen: Observation) -> Result:
        if seen.obj is None:
            self.drift.forget(seen.key)  # gone; its release went with the finalizer
        return Result()

    def install(self, seen: Observation) -> Result:
        return self._apply(seen, "Installed")

    def upgrade(self, seen: Observation) -> Result:
        return self._apply(seen, "Upgraded", gated=seen.chart_upgrade)

    def repair(self, seen: Observation) -> Result:
        return self._apply(seen, "Repaired")

    def recover(self, seen: Observation) -> Result:
        """A pending-* release of ours. Only the Lease holder runs helm, one worker
        per key, and helm dies with its controller: it was abandoned by a crash."""
        current = seen.release
        assert current is not None and seen.obj is not None  # decide() saw a pending release
        obj = self._reconciling(
            self._ensure_finalizer(seen.obj),
            "Recovering",
            f"Recovering release {current.name} left {current.status}",
        )
        timeout = self.binding.release.timeout_seconds
        try:
            if current.revision <= 1:
                self.helm.uninstall(
                    current.name,
                    seen.namespace,
                    timeout_seconds=timeout,
                    impersonate=self.binding.helm_user(seen.namespace),
                    confine=self.binding.confinement(seen.namespace),
                )
            else:
                self.helm.rollback(
                    current.name,
                    seen.namespace,
                    current.revision - 1,
                    timeout_seconds=timeout,
                    impersonate=self.binding.helm_user(seen.namespace),
                    max_history=self.binding.release.max_history,
                    confine=self.binding.confinement(seen.namespace),
                )
        except HelmError as error:
            if error.code in UNTRUSTED_CODES:
                return self.untrusted(obj, error)
            if self._failed(obj, seen, error):
                return Result(stalled=True)
            raise ReconcileError(self._scrub(seen, obj, str(error))) from error
        self.events.record(
            obj,
            "Warning",
            "Recovered",
            f"Release {current.name} was left {current.status} at revision "
            f"{current.revision}; recovered it before retrying",
        )
        log.warning("recovered release left %s", current.status, extra=self._context(seen))
        return Result(requeue_after=0)  # the next reconcile installs or upgrades

    def refuse(self, seen: Observation) -> Result:
        assert seen.obj is not None
        message = (
            f'release "{seen.release_name}" in {seen.namespace} exists and belongs '
            "to something else"
        )
        ready = conditions.condition(seen.obj.get("status"), conditions.READY) or {}
        already = ready.get("reason") == "ReleaseConflict" and ready.get("status") == "False"
        self._write_status(
            seen.obj,
            [
                Condition(conditions.READY, False, "ReleaseConflict", message),
                Condition(conditions.STALLED, True, "ReleaseConflict", message),
                Condition(conditions.RECONCILING, False, "ReleaseConflict"),
            ],
        )
        if not already:  # one event for the conflict, not one per look
            self.events.record(seen.obj, "Warning", "ReleaseConflict", message)
            log.warning(
                "release belongs to something else, not touching it", extra=self._context(seen)
            )
        return Result(requeue_after=CONFLICT_RECHECK_SECONDS)

    def hold(self, seen: Observation) -> Result:
        assert seen.desired is not None and seen.obj is not None
        if self.rollout.halted(seen.desired.chart_digest):
            self._rollout_halted(seen.obj)
            return Result(requeue_after=HALTED_RECHECK_SECONDS)
        return Result(requeue_after=ROLLOUT_WAIT_SECONDS)

    def stall(self, seen: Observation) -> Result:
        assert seen.obj is not None
        if seen.name_problem is not None:
            problems, reason = [seen.name_problem], "InvalidReleaseName"
        else:
            problems, reason = list(seen.problems), "SchemaViolation"
        message = "; ".join(problems)
        invalid = conditions.condition(seen.obj.get("status"), conditions.INVALID) or {}
        self._write_status(
            seen.obj,
            [
                Condition(conditions.READY, False, "Invalid", message),
                Condition(conditions.STALLED, True, reason, message),
                Condition(conditions.RECONCILING, False, reason),
                Condition(conditions.INVALID, True, reason, message),
            ],
        )
        if invalid.get("status") != "True":
            self.events.record(seen.obj, "Warning", "InvalidSpec", message)
            log.info("spec is invalid, not installing", extra=self._context(seen))
        return Result()

    def give_up(self, seen: Observation) -> Result:
        """Retries used up for this desired state (controller/retries.py): say so, try nothing."""
        assert seen.obj is not None and seen.desired is not None
        failing = conditions.condition(seen.obj.get("status"), conditions.RELEASE_FAILED) or {}
        failures = retries.failures_so_far(seen.obj, seen.desired.digest)
        self._write_status(
            seen.obj,
            self._exhausted(failures, seen.release_name, str(failing.get("message") or "")),
            desired=seen.desired,
        )
        return Result(stalled=True)

    def uninstall(self, seen: Observation) -> Result:
        assert seen.obj is not None
        try:
            self.helm.uninstall(
                seen.release_name,
                seen.namespace,
                timeout_seconds=self.binding.release.timeout_seconds,
                impersonate=self.binding.helm_user(seen.namespace),
                confine=self.binding.confinement(seen.namespace),
            )
        except HelmError as error:
            if error.code in UNTRUSTED_CODES:
                return self.untrusted(seen.obj, error)
            self.events.record(
                seen.obj, "Warning", "UninstallFailed", self._scrub(seen, seen.obj, error.message)
            )
            raise ReconcileError(self._scrub(seen, seen.obj, str(error))) from error
        self.events.record(
            seen.obj, "Normal", "Uninstalled", f"Uninstalled release {seen.release_name}"
        )
        log.info("uninstalled release", extra=self._context(seen))
        return self.release_finalizer(seen)

    def release_finalizer(self, seen: Observation) -> Result:
        assert seen.obj is not None
        if seen.owner is Ownership.FOREIGN:
            log.info(
                "deleting an object whose release belongs to something else: "
                "leaving the release alone",
                extra=self._context(seen),
            )
        finalizers = seen.obj["metadata"].get("finalizers") or []
        self._patch_finalizers(seen.obj, [f for f in finalizers if f != FINALIZER])
        self.drift.forget(seen.key)
        return Result()

    def record(self, seen: Observation) -> Result:
        """Our release already deployed this desired state (its signed record says so)
        but the object's status does not: a replica died between helm and its status
        write. Record it; another revision would change nothing."""
        assert seen.obj is not None and seen.release is not None and seen.desired is not None
        obj = self._ensure_finalizer(seen.obj)
        self._released(obj, seen.release, seen.desired, "Installed")
        return Result()

    # -- helpers --------------------------------------------------------------

    def _apply(self, seen: Observation, verb: str, *, gated: bool = False) -> Result:
        desired = seen.desired
        assert desired is not None and seen.obj is not None
        obj = self._ensure_finalizer(seen.obj)
        obj = self._reconciling(
            obj,
            verb.removesuffix("ed") + "ing",
            f"Running helm upgrade --install for release {seen.release_name}",
            desired,
        )
        if gated and not self.rollout.begin(desired.chart_digest):
            return Result(requeue_after=ROLLOUT_WAIT_SECONDS)  # the last slot went meanwhile
        log.info("%s release", _VERBS[verb], extra=self._context(seen))
        succeeded = False
        try:
            secrets = self._secrets(seen, obj)
            self._render_within_budget(seen, secrets)
            installed = self.helm.upgrade_install(
                seen.release_name,
                seen.namespace,
                desired.chart,
                desired.values,
                timeout_seconds=self.binding.release.timeout_seconds,
                wait=self.binding.release.wait,
                labels={
                    **owner_labels(self.binding, obj["metadata"]),
                    DESIRED_LABEL: desired_label(desired.digest),
                },
                # what the chart renders stays in the object's namespace, and the API
                # server bounds the rest by the binding's ServiceAccount there
                impersonate=self.binding.helm_user(seen.namespace),
                confine=self.binding.confinement(seen.namespace),
                schema_checked=True,  # observe validated these values (the Helm-exact engine)
                # every upgrade and repair prunes the release's history, as `helm upgrade`
                max_history=self.binding.release.max_history,
                secrets=secrets,
            )
            succeeded = True
        except HelmError as error:
            if self._failed(obj, seen, error):
                return Result(stalled=True)
            raise ReconcileError(self._scrub(seen, obj, str(error))) from error
        finally:
            if gated and succeeded and self.awaits_workloads:
                with self._held_lock:
                    self._held[seen.key] = desired.chart_digest
            elif gated:
                self.rollout.finish(desired.chart_digest, succeeded=succeeded)
        if seen.drift is not None:
            self.drift.acknowledge(seen.key, seen.drift)
        self._released(obj, installed, desired, verb)
        return Result()

    def settle_rollout(self, key: Key, succeeded: bool) -> None:
        """A gated upgrade's wait ended (Ready, the ready timeout, or the object went):
        its slot is given back and counted as the workloads came out."""
        with self._held_lock:
            target = self._held.pop(key, None)
        if target is not None:
            self.rollout.finish(target, succeeded=succeeded)

    def _render_within_budget(self, seen: Observation, secrets: list[str]) -> None:
        """Render the desired state in a render process that is killed past the
        binding's renderBudget; raise RenderOverBudget if it was. Go cannot stop the
        render inside a Helm action, so a template bomb must be caught here, before
        it reaches one."""
        desired = seen.desired
        if self.renderer is None or desired is None:
            return
        try:
            self.renderer.render(
                desired.chart,
                seen.release_name,
                seen.namespace,
                desired.values,
                budget=self.binding.render_budget,
                schema_checked=True,
                secrets=secrets,  # scrubbed from the render process's own log lines
            )
        except RenderOverBudget:
            raise
        except HelmError:
            pass  # the action's own render (where lookup sees the cluster) judges the chart

    def _ensure_finalizer(self, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            return obj
        return self._patch_finalizers(obj, [*finalizers, FINALIZER])

    def _patch_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
        metadata = obj["metadata"]
        # resourceVersion makes this a compare-and-swap: a stale view gets 409 and a retry.
        body = {
            "metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}
        }
        try:
            updated = self.api.patch_namespaced_custom_object(
                self.binding.group,
                self.binding.version,
                metadata["namespace"],
                self.binding.plural,
                metadata["name"],
                body,
            )
        except ApiException as error:
            if error.status == 404:
                return obj
            raise ReconcileError(f"updating finalizers: {error.status} {error.reason}") from error
        self.store.update(updated)
        return dict(updated)

    def _reconciling(
        self, obj: dict[str, Any], reason: str, message: str, desired: Desired | None = None
    ) -> dict[str, Any]:
        return self._write_status(
            obj,
            [
                Condition(conditions.READY, None, "Progressing", message),
                Condition(conditions.RECONCILING, True, reason, message),
                Condition(conditions.STALLED, False, reason),
            ],
            desired=desired,
        )

    def unloadable(self, obj: dict[str, Any] | None, error: Exception) -> Result:
        """The binding's chart cannot be loaded: the object says so, and is looked at
        again when the registry next retries the chart."""
        if obj is not None and not self.dry_run:
            self._write_status(obj, conditions.binding_unloadable(error))
        return Result(requeue_after=UNLOADABLE_RECHECK_SECONDS)

    def unreadable(self, obj: dict[str, Any] | None, error: HelmError) -> None:
        """`helm status` failed for a reason retrying alone may not fix (the binding's
        ServiceAccount may not read Helm's Secrets there, say): the object says why
        while the read is retried with backoff."""
        if obj is None or self.dry_run or error.retryable:
            return
        message = redactor_for(None, self.binding.sensitive_paths).scrub(
            error.message, obj.get("spec") or {}
        )
        self._write_status(obj, conditions.release_unreadable(message))

    def service_account_required(self, obj: dict[str, Any] | None) -> Result:
        """The binding names no ServiceAccount and the controller acts only as one: the
        object says so and nothing else happens. Not even `helm status` runs, and a
        deleting object keeps its finalizer, so its release is neither read nor
        orphaned as the controller's own identity. Bindings change only with a restart,
        so there is nothing to look at again."""
        if obj is None or self.dry_run:
            return Result()
        metadata = obj["metadata"]
        if FINALIZER not in (metadata.get("finalizers") or []) and not (
            self.binding.selector.matches(metadata)
        ):
            return Result()  # not served by this controller at all
        ready = conditions.condition(obj.get("status"), conditions.READY) or {}
        updates = conditions.service_account_required(self.binding.name)
        self._write_status(obj, updates)
        if ready.get("reason") != updates[0].reason:  # one event, not one per resync
            self.events.record(obj, "Warning", updates[0].reason, updates[0].message)
        return Result()

    def _failed(self, obj: dict[str, Any], seen: Observation, error: HelmError) -> bool:
        """Record a failed Helm action; True when it used up the object's retries."""
        if error.retryable:
            return False  # helm could not be reached: says nothing about the release
        assert seen.desired is not None  # only a validated desired state reaches Helm
        if isinstance(error, RenderOverBudget):
            reason = "RenderBudgetExceeded"
        else:
            reason = "Timeout" if error.timed_out else "HelmError"
        # Helm's message may quote a chart's `fail` text or a value: sensitive ones go.
        message = self._scrub(seen, obj, error.message)
        failures = retries.after_failure(obj, seen.desired.digest)
        gave_up = retries.exhausted(failures.count, self.binding.release.retries)
        summary = (
            self._exhausted(failures.count, seen.release_name, message)
            if gave_up
            else [
                Condition(conditions.READY, False, "ReleaseFailed", message),
                Condition(conditions.RECONCILING, False, "ReleaseFailed"),
                Condition(conditions.STALLED, False, "Retrying", "Retrying with backoff"),
            ]
        )
        self._write_status(
            obj,
            [
                *summary,
                Condition(conditions.RELEASE_FAILED, True, reason, message),
                Condition(conditions.INVALID, False, "Valid"),
            ],
            desired=seen.desired,
            extra={"failures": failures.to_status()},
        )
        self.events.record(obj, "Warning", "ReleaseFailed", message)
        # the log gets the action and Helm's error code, never text that may hold values
        log.warning("helm %s failed (%s)", error.action, error.code, extra=self._context(seen))
        if gave_up:
            self.events.record(obj, "Warning", retries.RETRIES_EXHAUSTED, summary[0].message)
            log.warning(
                "giving up after %d failed attempt(s), until the spec, the chart or the "
                "retry annotation changes",
                failures.count,
                extra=self._context(seen),
            )
        return gave_up

    @staticmethod
    def _exhausted(failures: int, release: str, last_error: str) -> list[Condition]:
        message = retries.exhausted_message(failures, release, last_error)
        reason = retries.RETRIES_EXHAUSTED
        return [
            Condition(conditions.READY, False, reason, message),
            Condition(conditions.RECONCILING, False, reason),
            Condition(conditions.STALLED, True, reason, message),
        ]

    def _scrub(self, seen: Observation, obj: dict[str, Any], text: str) -> str:
        return self._redactor(seen).scrub(text, obj.get("spec") or {})

    def _secrets(self, seen: Observation, obj: dict[str, Any]) -> list[str]:
        """The object's sensitive values: the engine scrubs them from what Helm says."""
        return self._redactor(seen).sensitive_values(obj.get("spec") or {})

    def _redactor(self, seen: Observation) -> Redactor:
        redactor = seen.desired.redactor if seen.desired is not None else None
        if redactor is None:  # no chart at hand: the binding's sensitivePaths still count
            redactor = redactor_for(None, self.binding.sensitive_paths)
        return redactor

    def _rollout_halted(self, obj: dict[str, Any]) -> None:
        failing = conditions.condition(obj.get("status"), conditions.RELEASE_FAILED) or {}
        if failing.get("status") == "True" and failing.get("reason") != "RolloutHalted":
            return  # its own failure (helm's message) says more than the halt would
        progress = self.rollout.progress()
        message = (
            f"The rollout of a new chart to this binding's releases halted after "
            f"{progress.failed} of {progress.upgraded + progress.failed} upgrades failed; "
            "this release keeps its current chart until the chart changes again"
        )
        self._write_status(
            obj,
            [
                Condition(conditions.STALLED, True, "RolloutHalted", message),
                Condition(conditions.RELEASE_FAILED, True, "RolloutHalted", message),
            ],
        )

    def _released(self, obj: dict[str, Any], release: Release, desired: Desired, verb: str) -> None:
        if verb == "Installed" and release.revision != 1:
            verb = "Upgraded"
        message = (
            f"{verb} release {release.name} revision {release.revision} "
            f"(chart {release.chart_name}-{release.chart_version})"
        )
        deployed = release.status == "deployed"
        self._write_status(
            obj,
            [
                # Ready now, or once the workloads are current (controller/readiness.py)
                *readiness.after_release(deployed, verb, message, wait=self.awaits_workloads),
                Condition(conditions.STALLED, False, verb),
                Condition(conditions.RELEASED, deployed, verb, message),
                Condition(conditions.INVALID, False, "Valid"),
                Condition(conditions.RELEASE_FAILED, False, "Deployed"),
            ],
            release={
                "name": release.name,
                "namespace": release.namespace,
                "revision": release.revision,
                "status": release.status,
                "chart": release.chart_name,
                "chartVersion": release.chart_version,
                "digest": desired.digest,
                "chartDigest": desired.chart_digest,
                "lastDeployed": release.last_deployed,
                "resources": list(release.resources),
            },
            desired=desired,
            extra={"failures": None},  # a success ends the count (merge patch: null deletes)
        )
        self.events.record(obj, "Normal", verb, message)
        log.info(
            message,
            extra={
                "kind": self.binding.kind,
                "release": release.name,
                "namespace": release.namespace,
            },
        )

    def _write_status(
        self,
        obj: dict[str, Any],
        updates: list[Condition],
        release: dict[str, Any] | None = None,
        desired: Desired | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge-patch status; `extra` holds more top-level fields (None deletes one)."""
        metadata = obj["metadata"]
        current = obj.get("status") or {}
        generation = metadata.get("generation", 0)
        merged = conditions.merge_conditions(current.get("conditions"), updates, generation)
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": merged}
        if release is not None:
            status["release"] = release
        if desired is not None:  # the target chart, shown even before a release exists
            status["chart"] = {"name": desired.chart_name, "version": desired.chart_version}
        status.update(extra or {})
        if (
            current.get("observedGeneration") == generation
            and release is None
            and (desired is None or current.get("chart") == status["chart"])
            and all(current.get(key) == value for key, value in (extra or {}).items())
            and conditions.same_conditions(current.get("conditions") or [], merged)
        ):
            return obj
        try:
            updated = self.api.patch_namespaced_custom_object_status(
                self.binding.group,
                self.binding.version,
                metadata["namespace"],
                self.binding.plural,
                metadata["name"],
                {"status": status},
            )
        except ApiException as error:
            if error.status == 404:
                return obj
            raise ReconcileError(f"writing status: {error.status} {error.reason}") from error
        self.store.update(updated)
        return dict(updated)

    def _context(self, seen: Observation) -> dict[str, Any]:
        metadata = (seen.obj or {}).get("metadata") or {}
        return {
            "kind": self.binding.kind,
            "namespace": metadata.get("namespace"),
            "object": metadata.get("name"),
            "release": seen.release_name or None,
        }
