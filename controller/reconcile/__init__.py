"""reconcile(key) -> Result: one bound object made true in Helm.

Level-based and idempotent: it reads the object from the informer's store, never
trusts the event that woke it, and can run again at any time with the same
outcome. Each call is three steps, each in its own room:

    observe.py    what is true: the object, its desired state, and (only when it
                  is not in sync) its release; never raises for what it finds
    decide.py     the state table, written once: the Observation's State, and the
                  one Action that State calls for
    the action    one unit, picked by the `match` below:
                    apply.py     install, upgrade, repair, record; adopt first
                                 (through the binding's Deployer: a Helm release,
                                 deployers.py, or an ApplySet, controller/applyset)
                    recover.py   a pending-* release of ours rolled back or removed
                    delete.py    uninstall ours, then drop the finalizer
                    outcomes.py  the actions that call no Helm (refuse, hold,
                                 stall, give up, and why observe could not finish)
                    readiness.py Ready's wait for the release's workloads, after
                                 the units that write a release and while in sync

and beside them: summarize.py (Ready, Reconciling and Stalled from an action's
Outcome, the only place they are made), writer.py (status and finalizer writes),
ports.py (the Protocols for Helm, the Deployer, the API and events that tests
fake; Result),
context.py (what every unit is handed).
"""

from __future__ import annotations

from typing import Protocol, assert_never

from controller.drift import DriftObservations
from controller.health import release_key
from controller.informer import Informer, Key
from controller.reconcile import apply, delete, outcomes, recover
from controller.reconcile.context import Context, log
from controller.reconcile.decide import REPORTS, Action, decide
from controller.reconcile.deployers import HelmDeployer
from controller.reconcile.observe import FINALIZER, UNTRUSTED_CODES, Observation, observe
from controller.reconcile.ports import (
    Deployer,
    Engines,
    Events,
    HelmActions,
    ObjectApi,
    ReconcileError,
    Result,
    RolloutGate,
    RolloutView,
)
from controller.reconcile.readiness import ReadyGate, Workloads
from controller.reconcile.writer import ObjectWriter
from lostromos.config import Binding
from lostromos.helmengine import HelmError
from lostromos.renderpool import BudgetedRenderer

__all__ = ["FINALIZER", "ReconcileError", "Reconciler", "Result"]


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
        deployer: Deployer | None = None,
    ) -> None:
        self.binding = binding
        # the binding's `deployer`: a Helm release unless controller/applyset's is given
        self.deployer = deployer if deployer is not None else HelmDeployer(binding, helm)
        # Every Helm action would otherwise run as the controller's own identity.
        self.refused = require_service_account and binding.service_account_name is None
        self.informer = informer
        self.engines = engines
        self.helm = helm
        self.rollout = rollout
        self.dry_run = dry_run
        self.drift = drift if drift is not None else DriftObservations()
        self.context = Context(
            binding,
            helm=helm,
            deployer=self.deployer,
            events=events,
            writer=ObjectWriter(binding, api=api, store=informer),
            drift=self.drift,
            rollout=rollout,
            dry_run=dry_run,
            renderer=renderer,
        )

    def reconcile(self, key: Key) -> Result:
        seen = observe(
            key,
            binding=self.binding,
            store=self.informer,
            engines=self.engines,
            deployer=self.deployer,
            drift=self.drift,
            rollout=self.rollout,
            read_release=not self.dry_run,
            service_account_missing=self.refused,
            awaits_workloads=self.ready_gate is not None,
        )
        result = self.act(decide(seen), seen)
        if seen.obj is None or (seen.obj.get("metadata") or {}).get("deletionTimestamp"):
            self.context.settle_rollout(key, succeeded=True)  # its wait ends with it
        return result

    @property
    def ready_gate(self) -> ReadyGate | None:
        return self.context.ready_gate

    def follow_workloads(self, workloads: Workloads) -> None:
        """Ready waits for the release's workloads (readiness.py), as the health
        watches see them, up to the binding's release.readyTimeout (0: it does not)."""
        timeout = self.binding.release.ready_timeout_seconds
        if timeout <= 0 or self.dry_run or self.refused:
            return
        self.context.ready_gate = ReadyGate(
            timeout,
            workloads,
            store=self.informer,
            writer=self.context.writer,
            events=self.context.events,
            release_of=lambda obj: release_key(self.binding, obj),
            # a gated upgrade holds its rollout slot until its workloads settle
            settled=self.context.settle_rollout,
        )

    def act(self, action: Action, seen: Observation) -> Result:
        if self.dry_run and action is not Action.NOTHING and action not in REPORTS:
            log.info("dry run: would %s release", action.value, extra=self.context.log_fields(seen))
            return Result()
        try:
            return self._run(action, apply.adopted(self.context, action, seen))
        except HelmError as error:
            if error.code in UNTRUSTED_CODES and seen.obj is not None:
                return outcomes.untrusted(self.context, seen.obj, error)
            raise

    def _run(self, action: Action, seen: Observation) -> Result:  # noqa: PLR0911, PLR0912 - one per action
        ctx = self.context
        match action:
            case Action.NOTHING:
                return outcomes.nothing(ctx, seen)
            case Action.INSTALL:
                return apply.install(ctx, seen)
            case Action.UPGRADE:
                return apply.upgrade(ctx, seen)
            case Action.REPAIR:
                return apply.repair(ctx, seen)
            case Action.RECORD:
                return apply.record(ctx, seen)
            case Action.AWAIT_WORKLOADS:
                return ctx.await_workloads(seen.key, Result())
            case Action.RECOVER:
                return recover.recover(ctx, seen)
            case Action.UNINSTALL:
                return delete.uninstall(ctx, seen)
            case Action.RELEASE_FINALIZER:
                return delete.release_finalizer(ctx, seen)
            case Action.REFUSE:
                return outcomes.refuse(ctx, seen)
            case Action.HOLD:
                return outcomes.hold(ctx, seen)
            case Action.STALL:
                return outcomes.stall(ctx, seen)
            case Action.GIVE_UP:
                return outcomes.give_up(ctx, seen)
            case Action.REQUIRE_SERVICE_ACCOUNT:
                return outcomes.service_account_required(ctx, seen)
            case Action.REPORT_UNLOADABLE:
                return outcomes.unloadable(ctx, seen)
            case Action.REPORT_UNTRUSTED:
                assert seen.read_error is not None
                return outcomes.untrusted(ctx, seen.obj, seen.read_error)
            case Action.REPORT_UNREADABLE:
                return outcomes.unreadable(ctx, seen)
            case _:
                assert_never(action)
