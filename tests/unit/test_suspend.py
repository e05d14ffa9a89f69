"""Suspend and resume (controller/suspend.py): no Helm call and no write while the
annotation says so, except for deletion; a resumed object converges as usual."""

from __future__ import annotations

from controller.suspend import SUSPEND_ANNOTATION, suspended
from tests.unit.reconcilekit import World, ours, release, site

SUSPEND = {SUSPEND_ANNOTATION: "true"}


def test_only_true_suspends_and_deletion_is_never_suspended() -> None:
    assert suspended(site(annotations=SUSPEND))
    assert suspended(site(annotations={SUSPEND_ANNOTATION: " True "}))
    assert not suspended(site(annotations={SUSPEND_ANNOTATION: "false"}))
    assert not suspended(site())
    assert not suspended(None)
    assert not suspended(site(annotations=SUSPEND, deletionTimestamp="2026-01-01T11:00:00Z"))


def test_a_suspended_new_object_is_not_installed_until_resumed() -> None:
    world = World(site(finalizer=False, annotations=SUSPEND))
    for _ in range(3):
        assert world.reconcile().requeue_after is None
    assert world.helm.calls == []
    assert world.api.status_writes == [] and world.api.finalizer_writes == []
    world.obj()["metadata"]["annotations"] = {}
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]  # an install (upgrade --install)
    assert world.events.reasons() == ["Installed"]


def test_a_suspended_release_that_fell_pending_is_left_as_it_is() -> None:
    world = World(site(annotations=SUSPEND))
    world.helm.releases[("blog", "team-a")] = release(
        revision=2, status="pending-upgrade", labels=ours()
    )
    world.reconcile()
    assert world.helm.calls == []


def test_a_suspended_object_that_is_deleted_is_still_uninstalled() -> None:
    world = World(site(annotations=SUSPEND, deletionTimestamp="2026-01-01T11:00:00Z"))
    world.helm.releases[("blog", "team-a")] = release(labels=ours())
    world.reconcile()
    assert world.helm.changes() == [("uninstall", "blog", None)]
