"""reconcile(key) -> Result: one bound object made true in Helm.

Level-based and idempotent: it reads the object from the informer's store,
never trusts the event that woke it, and can run again at any time with the
same outcome. Each call is two steps: OBSERVE the object and, only when it is
not already in sync, its release (controller/observe.py), then run exactly
ONE action for that state (controller/actions.py):

    in sync                      -> nothing (no validation, no helm call)
    invalid name or spec         -> stall (no helm call)
    retries used up (retries.py) -> give up: Stalled, no helm call until it changes
    no release                   -> install
    foreign release              -> refuse (ReleaseConflict), touch nothing
    a record that does not verify,
      or names objects outside   -> refuse (ReleaseUntrusted), touch nothing
    unsigned, status-recorded    -> adopt (sign it), then the action below
    ours, pending-* (a crash)    -> recover: roll back, or remove revision 1
    ours, objects drifted        -> repair
    ours, deployed for this state -> record it (a crash after helm, before status)
    ours, out of sync            -> upgrade (chart-only changes pass the rollout gate)
    deleting, release ours       -> uninstall, then drop the finalizer
    deleting, release not ours   -> drop the finalizer only

After an install or upgrade, Ready waits until the release's workloads are current
(controller/readiness.py), when the controller follows them (`follow_workloads`).

A suspended object (`lostromos.dev/suspend: "true"`, controller/suspend.py) gets
none of this but deletion: no Helm call and no write until it is resumed.

With `require_service_account` (`--require-service-account`) a binding that
names no `serviceAccountName` is refused before any of this: its objects say
so (ServiceAccountRequired) and no Helm call is made for them, because every
Helm action would otherwise run as the controller's own identity.
"""

from __future__ import annotations

from typing import Protocol

from controller.actions import (
    UNTRUSTED_CODES,
    Actions,
    DriftAcknowledger,
    Events,
    HelmActions,
    ObjectApi,
    ReconcileError,
    Result,
    RolloutGate,
)
from controller.drift import DriftObservations
from controller.informer import Informer, Key
from controller.observe import FINALIZER, Action, Engines, RolloutView, decide, observe
from controller.ownership import release_name
from controller.readiness import ReadyGate, Workloads
from controller.suspend import suspended
from lostromos.config import Binding
from lostromos.engines import BindingLoadError
from lostromos.helmengine import HelmError
from lostromos.renderpool import BudgetedRenderer

__all__ = ["FINALIZER", "ReconcileError", "Reconciler", "Result"]


# The actions after which the object records its release as deployed for this spec.
WRITES_RELEASE = frozenset({Action.INSTALL, Action.UPGRADE, Action.REPAIR, Action.RECORD})


class _Rollout(RolloutGate, RolloutView, Protocol):
    """What the reconciler needs of controller.rollout.Rollout."""


class Reconciler:
    def __init__(
        self,
        binding: Binding,
        informer: Informer,
        *,
        api: ObjectApi,
        engines: Engines,
        helm: HelmActions,
        events: Events,
        rollout: _Rollout,
        drift: DriftObservations | None = None,
        dry_run: bool = False,
        require_service_account: bool = False,
        renderer: BudgetedRenderer | None = None,
    ) -> None:
        self.binding = binding
        self.refused = require_service_account and binding.service_account_name is None
        self.informer = informer
        self.engines = engines
        self.helm = helm
        self.rollout = rollout
        self.dry_run = dry_run
        self.drift = drift if drift is not None else DriftObservations()
        acknowledger: DriftAcknowledger = self.drift
        self.ready_gate: ReadyGate | None = None
        self.actions = Actions(
            binding,
            api=api,
            helm=helm,
            events=events,
            store=informer,
            drift=acknowledger,
            rollout=rollout,
            dry_run=dry_run,
            renderer=renderer,
        )

    def reconcile(self, key: Key) -> Result:
        if suspended(self.informer.get(key)):
            return Result()  # resumed by a change of the annotation, which wakes the key
        if self.refused:
            return self.actions.service_account_required(self.informer.get(key))
        try:
            seen = observe(
                key,
                binding=self.binding,
                store=self.informer,
                engines=self.engines,
                helm=self.helm,
                drift=self.drift,
                rollout=self.rollout,
                read_release=not self.dry_run,
            )
        except HelmError as error:
            if error.code in UNTRUSTED_CODES:  # a forged or edited record: act on none of it
                return self.actions.untrusted(self.informer.get(key), error)
            self.actions.unreadable(self.informer.get(key), error)
            raise ReconcileError(f"reading the release: {error}") from error
        except BindingLoadError as error:
            # One broken binding breaks only itself: its objects say why, nothing else.
            return self.actions.unloadable(self.informer.get(key), error)
        action = decide(seen)
        result = self.actions.run(action, seen)
        if seen.obj is None or (seen.obj.get("metadata") or {}).get("deletionTimestamp"):
            self.actions.settle_rollout(key, succeeded=True)  # its wait ends with it
        elif self.ready_gate is not None and (seen.in_sync or action in WRITES_RELEASE):
            result = self.ready_gate.follow(key, result)  # Ready waits for the workloads
        return result

    def follow_workloads(self, workloads: Workloads) -> None:
        """Ready waits for the release's workloads (controller/readiness.py), as the health
        watches see them, up to the binding's release.readyTimeout (0: it does not)."""
        timeout = self.binding.release.ready_timeout_seconds
        if timeout <= 0 or self.dry_run or self.refused:
            return
        self.actions.awaits_workloads = True
        self.ready_gate = ReadyGate(
            timeout,
            workloads,
            store=self.informer,
            write_status=self.actions._write_status,
            events=self.actions.events,
            release_of=lambda obj: (
                str(obj["metadata"].get("namespace", "")),
                release_name(self.binding, obj["metadata"]),
            ),
            # a gated upgrade holds its rollout slot until its workloads settle
            settled=self.actions.settle_rollout,
        )
