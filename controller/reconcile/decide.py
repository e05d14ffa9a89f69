"""DECIDE: the state table, written once. An Observation is in exactly one State;
each State calls for exactly one Action.

This is the whole table: every outcome of a reconcile, including the ones where
observe could not finish reading (a binding that cannot be loaded, a release that
cannot be read or trusted, a binding refused for want of a ServiceAccount), goes
through `decide`. `state` is read top to bottom, first match wins, in the manner of
Flux helm-controller's `DetermineReleaseState`; `action_for` is one `match` over
the State enum (mypy checks that no State is left without an Action), as Flux's
`actionForState`. docs/design.md and the units refer to this module rather than
repeat it; tests/unit/test_decide_table.py has one row per State.
"""

from __future__ import annotations

import enum
from typing import assert_never

from controller.ownership import DESIRED_LABEL, Ownership, desired_label
from controller.reconcile.observe import UNTRUSTED_CODES, Observation
from lostromos.helmengine import PENDING_STATES


class Action(enum.Enum):
    """What a reconcile does; the unit for each is named in the Reconciler's `match`."""

    NOTHING = "nothing"  # gone, not ours to serve, suspended or in sync
    INSTALL = "install"  # no release yet, valid spec
    UPGRADE = "upgrade"  # our release, out of sync
    REPAIR = "repair"  # our release, in sync, but its objects drifted
    RECOVER = "recover"  # our release left pending-* by a crash: roll back or remove
    RECORD = "record"  # our signed release is this desired state, deployed: status only
    AWAIT_WORKLOADS = "await-workloads"  # in sync, Ready waits for the workloads: judge it
    REFUSE = "refuse"  # the release belongs to someone else: touch nothing
    HOLD = "hold"  # a chart rollout's gate is shut: wait, touch nothing
    STALL = "stall"  # invalid name or spec: no helm call until the object changes
    GIVE_UP = "give-up"  # retries used up for this desired state: no helm call until it changes
    UNINSTALL = "uninstall"  # deleting, and the release is ours
    RELEASE_FINALIZER = "release-finalizer"  # deleting, no release of ours: only let go
    # Observe could not finish: the object says why, and no Helm action runs.
    REQUIRE_SERVICE_ACCOUNT = "require-service-account"
    REPORT_UNLOADABLE = "report-unloadable"  # the binding's chart: looked at again shortly
    REPORT_UNTRUSTED = "report-untrusted"  # a record that does not verify, or leaves confinement
    REPORT_UNREADABLE = "report-unreadable"  # `helm status` failed: said, then retried


# The actions that only say why observe could not finish; each looks after dry run
# itself (a dry run still says, for instance, that a binding cannot be loaded).
REPORTS = frozenset(
    {
        Action.REQUIRE_SERVICE_ACCOUNT,
        Action.REPORT_UNLOADABLE,
        Action.REPORT_UNTRUSTED,
        Action.REPORT_UNREADABLE,
    }
)


class State(enum.Enum):
    """Every state an Observation can be in, in the order `state` tests them."""

    GONE = "no object in the store"
    SUSPENDED = "suspended (lostromos.dev/suspend), not deleting"
    NOT_SERVED = "the binding's selector does not serve it, and it has no finalizer"
    SERVICE_ACCOUNT_MISSING = "--require-service-account, and the binding names none"
    BINDING_UNLOADABLE = "the binding's chart cannot be loaded"
    RELEASE_UNTRUSTED = "a release record does not verify, or names objects outside"
    RELEASE_UNREADABLE = "`helm status` failed"
    DELETED_UNMANAGED = "deleting, without our finalizer"
    DELETING_INVALID_NAME = "deleting, and its name makes no Helm release name"
    DELETING_UNREAD = "deleting, release not read (dry run)"
    DELETING_OURS = "deleting, the release ours (or adoptable)"
    DELETING_NOT_OURS = "deleting, the release absent or someone else's"
    INVALID = "invalid release name or spec"
    IN_SYNC = "status records this desired state, deployed, no drift reported"
    AWAITING_WORKLOADS = "in sync, Ready waits for the release's workloads (readiness.py)"
    RETRIES_EXHAUSTED = "retries used up for this desired state (controller/retries.py)"
    ROLLOUT_SHUT = "a chart upgrade, and the rollout gate is shut"
    UNREAD_RECORDED = "release not read (dry run), status records one"
    UNREAD_NEW = "release not read (dry run), status records none"
    FOREIGN = "the release belongs to someone else"
    ABSENT = "no release"
    PENDING = "our release left pending-* (a crash)"
    DRIFTED = "our release, its objects drifted"
    DEPLOYED_UNRECORDED = "our release deployed this desired state; status does not say so"
    OUT_OF_SYNC = "our release, out of sync"


def decide(seen: Observation) -> Action:
    """The one action an observation calls for."""
    return action_for(state(seen))


def state(seen: Observation) -> State:  # noqa: PLR0911, PLR0912 - one return per state
    """The one State an observation is in: the first that holds, top to bottom."""
    if seen.obj is None:
        return State.GONE
    if seen.suspended:
        return State.SUSPENDED
    if seen.filtered:
        return State.NOT_SERVED
    if seen.service_account_missing:
        return State.SERVICE_ACCOUNT_MISSING
    if seen.load_error is not None:
        return State.BINDING_UNLOADABLE
    if seen.read_error is not None:
        if seen.read_error.code in UNTRUSTED_CODES:  # a forged or edited record
            return State.RELEASE_UNTRUSTED
        return State.RELEASE_UNREADABLE
    if seen.deleting:
        return _deleting(seen)
    if seen.name_problem is not None or seen.problems:
        return State.INVALID
    if seen.in_sync:
        return State.AWAITING_WORKLOADS if seen.awaiting_workloads else State.IN_SYNC
    if seen.retries_exhausted:
        return State.RETRIES_EXHAUSTED
    if not seen.rollout_open:
        return State.ROLLOUT_SHUT
    if not seen.release_read:  # dry run: judge from what the object records
        recorded = (seen.obj.get("status") or {}).get("release") or {}
        return State.UNREAD_RECORDED if recorded else State.UNREAD_NEW
    if seen.owner == Ownership.FOREIGN:
        return State.FOREIGN
    if seen.owner == Ownership.ABSENT:
        return State.ABSENT
    if seen.release is not None and seen.release.status in PENDING_STATES:
        return State.PENDING
    if seen.drift is not None:
        return State.DRIFTED
    if _deployed_for_desired(seen):
        return State.DEPLOYED_UNRECORDED  # a predecessor died after helm, before its status
    return State.OUT_OF_SYNC


def action_for(state: State) -> Action:  # noqa: PLR0911, PLR0912 - one per action
    match state:
        case (
            State.GONE
            | State.SUSPENDED
            | State.NOT_SERVED
            | State.DELETED_UNMANAGED
            | State.IN_SYNC
        ):
            return Action.NOTHING
        case State.SERVICE_ACCOUNT_MISSING:
            return Action.REQUIRE_SERVICE_ACCOUNT
        case State.BINDING_UNLOADABLE:
            return Action.REPORT_UNLOADABLE
        case State.RELEASE_UNTRUSTED:
            return Action.REPORT_UNTRUSTED
        case State.RELEASE_UNREADABLE:
            return Action.REPORT_UNREADABLE
        case State.DELETING_UNREAD | State.DELETING_OURS:
            return Action.UNINSTALL
        case State.DELETING_INVALID_NAME | State.DELETING_NOT_OURS:
            return Action.RELEASE_FINALIZER  # never uninstall a release that is not ours
        case State.INVALID:
            return Action.STALL
        case State.RETRIES_EXHAUSTED:
            return Action.GIVE_UP
        case State.ROLLOUT_SHUT:
            return Action.HOLD
        case State.FOREIGN:
            return Action.REFUSE
        case State.UNREAD_NEW | State.ABSENT:
            return Action.INSTALL
        case State.PENDING:
            return Action.RECOVER
        case State.DRIFTED:
            return Action.REPAIR
        case State.DEPLOYED_UNRECORDED:
            return Action.RECORD
        case State.AWAITING_WORKLOADS:
            return Action.AWAIT_WORKLOADS
        case State.UNREAD_RECORDED | State.OUT_OF_SYNC:
            return Action.UPGRADE
        case _:
            assert_never(state)


def _deleting(seen: Observation) -> State:
    if not seen.had_finalizer:
        return State.DELETED_UNMANAGED
    if seen.name_problem is not None:
        return State.DELETING_INVALID_NAME
    if not seen.release_read:
        return State.DELETING_UNREAD
    if seen.owner in (Ownership.OURS, Ownership.ADOPTABLE):
        return State.DELETING_OURS
    return State.DELETING_NOT_OURS


def _deployed_for_desired(seen: Observation) -> bool:
    """Is our release's newest revision deployed for exactly this desired state?"""
    release, desired = seen.release, seen.desired
    return (
        seen.owner is Ownership.OURS
        and release is not None
        and desired is not None
        and release.status == "deployed"
        and release.labels.get(DESIRED_LABEL) == desired_label(desired.digest)
    )
