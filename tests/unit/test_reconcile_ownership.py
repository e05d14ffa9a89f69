"""Ownership in the reconciler: refuse a release of someone else, adopt only what
the binding or lostromos's own marks allow, delete only what is ours, and never
take a release name from status."""

from __future__ import annotations

from typing import Any

import pytest

from controller.reconcile import ReconcileError
from controller.reconcile.outcomes import CONFLICT_RECHECK_SECONDS
from lostromos.helmengine import HelmError
from tests.unit.reconcilekit import (
    World,
    binding,
    in_sync_world,
    ours,
    release,
    release_policy,
    site,
)

CONFLICT = 'release "blog" in team-a exists and belongs to something else'


# -- refuse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        ours(uid="someone-else"),  # another object's release
        {"lostromos.dev/owner-name": "blog"},  # half an owner record
        {},  # unlabeled, installed before the object existed (first_deployed below)
    ],
)
def test_a_release_that_is_not_ours_is_refused_and_never_touched(labels: dict) -> None:
    world = World(site(finalizer=False))
    world.helm.releases[("blog", "team-a")] = release(
        labels=labels, first_deployed="2025-12-31T09:00:00Z"
    )
    for _ in range(3):
        assert world.reconcile().requeue_after == CONFLICT_RECHECK_SECONDS
    assert world.helm.changes() == []
    ready = world.condition("Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ReleaseConflict",
        CONFLICT,
    )
    assert world.condition("Stalled")["status"] == "True"
    assert world.events.recorded == [("Warning", "ReleaseConflict", CONFLICT)]  # one, not three
    assert world.api.finalizer_writes == []  # deleting it later needs no controller


def test_a_pending_release_of_someone_else_is_refused_not_recovered() -> None:
    world = World(site())
    world.helm.releases[("blog", "team-a")] = release(
        revision=3, status="pending-upgrade", labels=ours(uid="other")
    )
    world.reconcile()
    assert world.helm.changes() == []
    assert world.condition("Ready")["reason"] == "ReleaseConflict"


# -- adoption ---------------------------------------------------------------------


def test_an_unlabeled_release_with_lostromos_marks_is_adopted_once() -> None:
    world = World(site())  # the finalizer an earlier lostromos added before installing
    world.helm.releases[("blog", "team-a")] = release(labels={})
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert ours().items() <= world.helm.releases[("blog", "team-a")].labels.items()


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("finalizer", False),  # lostromos never handled this object
        ("chart", "postgresql"),  # not the binding's chart
        ("first_deployed", "2026-01-01T09:59:59.999Z"),  # deployed before the object existed
        ("first_deployed", ""),  # no time to judge by
    ],
)
def test_an_unlabeled_release_without_every_mark_is_refused(change: str, value: Any) -> None:
    world = World(site(finalizer=value if change == "finalizer" else True))
    marks: dict[str, Any] = {"labels": {}}
    if change != "finalizer":
        marks[change] = value
    world.helm.releases[("blog", "team-a")] = release(**marks)
    world.reconcile()
    assert world.helm.changes() == []
    assert world.condition("Ready")["reason"] == "ReleaseConflict"


def test_the_binding_may_adopt_an_unowned_release() -> None:
    world = World(site(finalizer=False), bound=binding(release=release_policy(adopt=True)))
    world.helm.releases[("blog", "team-a")] = release(
        labels={}, chart="other", first_deployed="2020-01-01T00:00:00Z"
    )
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert ours().items() <= world.helm.releases[("blog", "team-a")].labels.items()


def test_adopt_never_takes_a_release_owned_by_another_object() -> None:
    world = World(site(), bound=binding(release=release_policy(adopt=True)))
    world.helm.releases[("blog", "team-a")] = release(labels=ours(uid="other"))
    world.reconcile()
    assert world.helm.changes() == []


# -- delete -----------------------------------------------------------------------


def deleting(world: World) -> None:
    obj = world.obj()
    obj["metadata"] = {
        **obj["metadata"],
        "deletionTimestamp": "2026-01-02T00:00:00Z",
        "resourceVersion": str(int(obj["metadata"]["resourceVersion"]) + 50),
    }
    world.informer.update(obj)
    world.helm.calls.clear()
    world.events.recorded.clear()


def test_deleting_uninstalls_our_release_then_drops_the_finalizer() -> None:
    world = in_sync_world()
    deleting(world)
    world.reconcile()
    assert world.helm.changes() == [("uninstall", "blog", None)]
    assert world.api.finalizer_writes[-1] == []
    assert world.events.reasons() == ["Uninstalled"]


@pytest.mark.parametrize("labels", [ours(uid="other"), {}])
def test_deleting_never_uninstalls_a_release_of_someone_else(labels: dict) -> None:
    world = World(site())
    world.helm.releases[("blog", "team-a")] = release(
        labels=labels, first_deployed="2025-01-01T00:00:00Z"
    )
    deleting(world)
    world.reconcile()
    assert world.helm.changes() == []
    assert world.api.finalizer_writes == [[]]
    assert ("blog", "team-a") in world.helm.releases


def test_deleting_with_no_release_drops_the_finalizer() -> None:
    world = World(site())
    deleting(world)
    world.reconcile()
    assert world.helm.changes() == [] and world.api.finalizer_writes == [[]]


def test_deleting_an_object_without_our_finalizer_is_nothing() -> None:
    world = World(site(finalizer=False))
    deleting(world)
    world.reconcile()
    assert world.helm.calls == [] and world.api.finalizer_writes == []


def test_deleting_with_an_impossible_release_name_makes_no_helm_call() -> None:
    world = World(site("x" * 60))
    key = "team-a/" + "x" * 60
    obj = world.obj(key)
    obj["metadata"] = {
        **obj["metadata"],
        "deletionTimestamp": "2026-01-02T00:00:00Z",
        "resourceVersion": "60",
    }
    world.informer.update(obj)
    world.reconcile(key)
    assert world.helm.calls == [] and world.api.finalizer_writes == [[]]


def test_a_failed_uninstall_keeps_the_finalizer_and_retries() -> None:
    world = in_sync_world()
    deleting(world)
    world.helm.fail["uninstall"] = HelmError("uninstall", "boom")
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.api.finalizer_writes == []  # the finalizer stays
    assert world.events.reasons() == ["UninstallFailed"]


# -- status is never trusted for the release name -----------------------------------


@pytest.mark.parametrize("recorded", ["victim", "--kube-as-group=system:masters"])
def test_status_release_name_is_never_used(recorded: str) -> None:
    world = in_sync_world()
    world.helm.releases[("victim", "team-a")] = release("victim", labels=ours(uid="victim"))
    obj = world.obj()
    obj["status"]["release"] = {**obj["status"]["release"], "name": recorded}
    obj["metadata"] = {**obj["metadata"], "resourceVersion": "80"}
    world.informer.update(obj)
    world.reconcile()
    deleting(world)
    world.reconcile()
    assert {name for _, name, _ in world.helm.calls} == {"blog"}
    assert ("victim", "team-a") in world.helm.releases
