"""The reconciler's state table (controller/reconcile/decide.py), row by row: one
Observation per State, the State it is read as and the Action it calls for; and the
summary conditions (controller/reconcile/summarize.py) of every Outcome kind.

A State or a Kind added without a row here fails `test_every_state_has_a_row` or
`test_every_kind_has_a_row`, so the table and its test cannot drift apart."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.drift import DriftReport
from controller.ownership import DESIRED_LABEL, Ownership, desired_label
from controller.reconcile.decide import Action, State, action_for, decide, state
from controller.reconcile.observe import Desired, Observation
from controller.reconcile.summarize import Kind, Outcome, summarize
from lostromos.engines import BindingLoadError
from lostromos.helmengine import ChartSource, HelmError
from tests.unit.reconcilekit import ours, release, site

DESIRED = Desired(
    values={"domain": "blog.example.com"},
    digest="sha256:desired",
    chart_digest="chart-1",
    chart=ChartSource(Path("/charts/site"), "content-1"),
    chart_name="site",
)

# Our release, read, out of sync with a valid spec: the last row of the table.
OUT_OF_SYNC = Observation(
    key="team-a/blog",
    obj=site(),
    release_name="blog",
    had_finalizer=True,
    desired=DESIRED,
    release_read=True,
    release=release(revision=2, labels=ours()),
    owner=Ownership.OURS,
)


def _with(**changes: Any) -> Callable[[], Observation]:
    return lambda: dataclasses.replace(OUT_OF_SYNC, **changes)


ROWS: dict[State, tuple[Callable[[], Observation], Action]] = {
    State.GONE: (lambda: Observation("team-a/blog", None), Action.NOTHING),
    State.SUSPENDED: (_with(suspended=True), Action.NOTHING),
    State.NOT_SERVED: (_with(filtered=True, had_finalizer=False), Action.NOTHING),
    State.SERVICE_ACCOUNT_MISSING: (
        _with(service_account_missing=True),
        Action.REQUIRE_SERVICE_ACCOUNT,
    ),
    State.BINDING_UNLOADABLE: (
        _with(load_error=BindingLoadError("site", "charts/site: not found")),
        Action.REPORT_UNLOADABLE,
    ),
    State.RELEASE_UNTRUSTED: (
        _with(read_error=HelmError("status", "record does not verify", code="unverified")),
        Action.REPORT_UNTRUSTED,
    ),
    State.RELEASE_UNREADABLE: (
        _with(read_error=HelmError("status", "secrets is forbidden", code="kube")),
        Action.REPORT_UNREADABLE,
    ),
    State.DELETED_UNMANAGED: (_with(deleting=True, had_finalizer=False), Action.NOTHING),
    State.DELETING_INVALID_NAME: (
        _with(deleting=True, name_problem="release name is 54 characters"),
        Action.RELEASE_FINALIZER,
    ),
    State.DELETING_UNREAD: (
        _with(deleting=True, release_read=False, release=None, owner=None),
        Action.UNINSTALL,
    ),
    State.DELETING_OURS: (_with(deleting=True), Action.UNINSTALL),
    State.DELETING_NOT_OURS: (
        _with(deleting=True, owner=Ownership.FOREIGN),
        Action.RELEASE_FINALIZER,
    ),
    State.INVALID: (_with(problems=("spec.replicas: must be an integer",)), Action.STALL),
    State.IN_SYNC: (_with(in_sync=True), Action.NOTHING),
    State.AWAITING_WORKLOADS: (
        _with(in_sync=True, awaiting_workloads=True),
        Action.AWAIT_WORKLOADS,
    ),
    State.RETRIES_EXHAUSTED: (_with(retries_exhausted=True), Action.GIVE_UP),
    State.ROLLOUT_SHUT: (_with(chart_upgrade=True, rollout_open=False), Action.HOLD),
    State.UNREAD_RECORDED: (
        _with(
            obj=site(status={"release": {"name": "blog", "revision": 1}}),
            release_read=False,
            release=None,
            owner=None,
        ),
        Action.UPGRADE,
    ),
    State.UNREAD_NEW: (_with(release_read=False, release=None, owner=None), Action.INSTALL),
    State.FOREIGN: (_with(owner=Ownership.FOREIGN), Action.REFUSE),
    State.ABSENT: (_with(release=None, owner=Ownership.ABSENT), Action.INSTALL),
    State.PENDING: (
        _with(release=release(revision=2, status="pending-upgrade", labels=ours())),
        Action.RECOVER,
    ),
    State.DRIFTED: (_with(drift=DriftReport(1, 1)), Action.REPAIR),
    State.DEPLOYED_UNRECORDED: (
        _with(
            release=release(
                revision=2, labels={**ours(), DESIRED_LABEL: desired_label(DESIRED.digest)}
            )
        ),
        Action.RECORD,
    ),
    State.OUT_OF_SYNC: (lambda: OUT_OF_SYNC, Action.UPGRADE),
}


def test_every_state_has_a_row() -> None:
    assert set(State) - set(ROWS) == set(), "a State without a row in this table"


def test_every_action_is_some_states() -> None:
    assert {action for _, action in ROWS.values()} == set(Action)


@pytest.mark.parametrize("row", list(State), ids=lambda s: s.name)
def test_each_state_is_read_and_acted_on_as_the_table_says(row: State) -> None:
    build, action = ROWS[row]
    seen = build()
    assert state(seen) is row
    assert action_for(row) is action
    assert decide(seen) is action


def test_the_first_state_that_holds_wins() -> None:
    """A deleting object is deleted however out of step it is; a gone one is nothing."""
    assert state(_with(deleting=True, retries_exhausted=True, problems=("x",))()) is (
        State.DELETING_OURS
    )
    assert state(_with(suspended=True, deleting=True)()) is State.SUSPENDED
    assert state(_with(in_sync=True, retries_exhausted=True)()) is State.IN_SYNC
    assert state(_with(in_sync=True, problems=("spec.x: bad",))()) is State.INVALID
    assert state(_with(service_account_missing=True, deleting=True)()) is (
        State.SERVICE_ACCOUNT_MISSING
    )


# -- summarize: Ready, Reconciling, Stalled from an Outcome ---------------------------

# (Ready, Reconciling, Stalled) as status text; absent: the outcome leaves it alone
SUMMARIES: dict[Kind, tuple[str | None, str | None, str | None]] = {
    Kind.PROGRESSING: ("Unknown", "True", "False"),
    Kind.DEPLOYED: ("True", "False", "False"),
    Kind.NOT_DEPLOYED: ("False", "False", "False"),
    Kind.RETRYING: ("False", "False", "False"),
    Kind.STALLED: ("False", "False", "True"),
    Kind.HALTED: (None, None, "True"),
    Kind.NOT_RECONCILED: ("False", None, None),
}


def test_every_kind_has_a_row() -> None:
    assert set(Kind) - set(SUMMARIES) == set(), "a Kind without a row in this table"


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.name)
def test_each_outcome_kind_summarizes_as_the_table_says(kind: Kind) -> None:
    summary = {c.type: c for c in summarize(Outcome(kind, "Because", "what happened"))}
    got = tuple(
        summary[name].status_text if name in summary else None
        for name in ("Ready", "Reconciling", "Stalled")
    )
    assert got == SUMMARIES[kind]
    if "Ready" in summary:  # Ready carries the message kubectl's MESSAGE column shows
        assert summary["Ready"].message == "what happened"


def test_ready_takes_its_own_reason_when_the_outcome_names_one() -> None:
    outcome = Outcome(Kind.STALLED, "SchemaViolation", "spec.x: bad", ready_reason="Invalid")
    summary = {c.type: c.reason for c in summarize(outcome)}
    assert summary == {
        "Ready": "Invalid",
        "Reconciling": "SchemaViolation",
        "Stalled": "SchemaViolation",
    }
