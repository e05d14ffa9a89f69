"""The retry budget: failed Helm actions are counted in status, the last allowed
one stalls the object (RetriesExhausted), and only a change of the attempt's
identity (generation, desired digest, the retry annotation) tries again."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller import retries
from controller.reconcile import ReconcileError
from lostromos.helmengine import HelmError
from tests.unit.reconcilekit import World, binding, release_policy, site

FAILURE = HelmError(
    "upgrade", 'execution error at (site/templates/broken.yaml:1:3): domain "x" is refused'
)


def failing_world(retries_setting: int = 2, **site_changes: Any) -> World:
    world = World(
        site(**site_changes), bound=binding(release=release_policy(retries=retries_setting))
    )
    world.helm.fail["upgrade"] = FAILURE
    return world


def exhaust(world: World, attempts: int) -> Any:
    """Fail `attempts - 1` times with a retry, then return the last attempt's result."""
    for _ in range(attempts - 1):
        with pytest.raises(ReconcileError, match="refused"):
            world.reconcile()
    return world.reconcile()


def edit(world: World, **changes: Any) -> None:
    """A change someone makes to the stored object (the API server bumps resourceVersion)."""
    obj = copy.deepcopy(world.obj())
    metadata = obj["metadata"]
    metadata["resourceVersion"] = str(int(metadata["resourceVersion"]) + 1)
    if "spec" in changes:
        obj["spec"] = changes.pop("spec")
        metadata["generation"] += 1
    metadata.update(changes)
    world.informer.update(obj)


def test_the_last_allowed_failure_stalls_the_object_with_the_attempts_and_the_error() -> None:
    world = failing_world(retries_setting=2)
    result = exhaust(world, attempts=3)  # two retries after the first attempt

    assert result.stalled and result.requeue_after is None  # no backoff retry either
    assert world.helm.actions().count("upgrade") == 3
    stalled, ready = world.condition("Stalled"), world.condition("Ready")
    assert (stalled["status"], stalled["reason"]) == ("True", "RetriesExhausted")
    assert (ready["status"], ready["reason"]) == ("False", "RetriesExhausted")
    assert "after 3 failed attempts" in stalled["message"]
    assert 'domain "x" is refused' in stalled["message"]  # the last error
    assert world.condition("Reconciling")["status"] == "False"
    assert world.condition("ReleaseFailed")["status"] == "True"
    status = world.obj()["status"]
    assert status["observedGeneration"] == 1  # kstatus trusts conditions of this generation only
    assert status["failures"]["count"] == 3 and status["failures"]["generation"] == 1
    assert world.events.reasons() == ["ReleaseFailed"] * 3 + ["RetriesExhausted"]


def test_failures_before_the_last_keep_retrying_with_the_count_in_status() -> None:
    world = failing_world(retries_setting=2)
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.obj()["status"]["failures"]["count"] == 1
    assert world.condition("Stalled")["status"] == "False"
    assert world.condition("Ready")["reason"] == "ReleaseFailed"


def test_a_stalled_object_calls_no_helm_and_writes_nothing_also_after_a_restart() -> None:
    world = failing_world(retries_setting=1)
    exhaust(world, attempts=2)
    # A new controller (restart, another replica) knows only what status says.
    fresh = World(copy.deepcopy(world.obj()), bound=world.binding)
    result = fresh.reconcile()
    assert result.stalled
    assert fresh.helm.calls == []  # not even `helm status`
    assert fresh.engine.validations == 0
    assert fresh.api.status_writes == [] and fresh.events.recorded == []


def test_a_status_written_before_the_give_up_is_completed_by_it() -> None:
    # e.g. the controller died between its last failure and the Stalled write
    world = failing_world(retries_setting=1)
    exhaust(world, attempts=2)
    obj = copy.deepcopy(world.obj())
    obj["status"]["conditions"] = [
        c for c in obj["status"]["conditions"] if c["type"] not in ("Stalled", "Ready")
    ]
    fresh = World(obj, bound=world.binding)
    assert fresh.reconcile().stalled
    assert fresh.condition("Stalled")["reason"] == "RetriesExhausted"
    assert "is refused" in fresh.condition("Ready")["message"]
    assert fresh.helm.calls == []


def test_a_spec_edit_tries_again_and_a_success_clears_the_count() -> None:
    world = failing_world(retries_setting=0)  # give up at the first failure
    assert world.reconcile().stalled
    del world.helm.fail["upgrade"]
    edit(world, spec={"domain": "fixed.example.com"})

    assert not world.reconcile().stalled
    assert world.condition("Ready")["status"] == "True"
    assert world.condition("Stalled")["status"] == "False"
    assert "failures" not in world.obj()["status"]


def test_a_new_generation_with_the_same_values_tries_again() -> None:
    world = failing_world(retries_setting=1)
    exhaust(world, attempts=2)
    edit(world, spec=dict(world.obj()["spec"]))  # same values, new generation
    world.helm.calls.clear()
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert world.obj()["status"]["failures"] == {
        **world.obj()["status"]["failures"],
        "count": 1,
        "generation": 2,
    }


def test_a_new_chart_tries_again() -> None:
    world = failing_world(retries_setting=1)
    exhaust(world, attempts=2)
    world.engine.digest = "chart-2"  # the binding now serves another chart (or overrides)
    world.helm.calls.clear()
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]


def test_a_new_value_of_the_retry_annotation_tries_again() -> None:
    world = failing_world(retries_setting=1)
    exhaust(world, attempts=2)
    edit(world, annotations={retries.RETRY_ANNOTATION: "rbac-fixed"})
    world.helm.calls.clear()
    with pytest.raises(ReconcileError):
        world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert world.obj()["status"]["failures"]["retry"] == "rbac-fixed"
    # the same value again is no new request: the count goes on from there
    assert world.reconcile().stalled
    assert world.obj()["status"]["failures"]["count"] == 2


def test_more_retries_in_the_binding_resume_a_stalled_object() -> None:
    world = failing_world(retries_setting=0)
    world.reconcile()
    more = World(copy.deepcopy(world.obj()), bound=binding(release=release_policy(retries=5)))
    more.helm.fail["upgrade"] = FAILURE
    with pytest.raises(ReconcileError):
        more.reconcile()
    assert more.obj()["status"]["failures"]["count"] == 2


def test_minus_one_retries_forever() -> None:
    world = failing_world(retries_setting=-1)
    for _ in range(25):
        with pytest.raises(ReconcileError):
            world.reconcile()
    assert world.obj()["status"]["failures"]["count"] == 25
    assert world.condition("Stalled")["status"] == "False"


def test_helm_unreachable_is_not_counted() -> None:
    world = failing_world(retries_setting=0)
    world.helm.fail["upgrade"] = HelmError("upgrade", "engine gone", retryable=True)
    for _ in range(3):
        with pytest.raises(ReconcileError):
            world.reconcile()
    assert "failures" not in world.obj()["status"]


def test_a_failed_recovery_counts_too() -> None:
    from tests.unit.reconcilekit import ours, release

    world = failing_world(retries_setting=0)
    world.helm.releases[("blog", "team-a")] = release(
        revision=3, status="pending-upgrade", labels=ours()
    )
    world.helm.fail["rollback"] = HelmError("rollback", "Error: rollback refused")
    assert world.reconcile().stalled
    assert world.condition("Stalled")["reason"] == "RetriesExhausted"


def test_a_deleted_stalled_object_is_still_uninstalled() -> None:
    from tests.unit.reconcilekit import ours, release

    world = failing_world(retries_setting=0)
    world.helm.releases[("blog", "team-a")] = release(labels=ours())
    world.reconcile()
    edit(world, deletionTimestamp="2026-01-02T00:00:00Z")
    world.reconcile()
    assert ("uninstall", "blog", None) in world.helm.calls


@pytest.mark.parametrize(
    "recorded",
    [
        None,
        "garbage",
        {"count": "3", "generation": 1, "digest": "d", "retry": ""},
        {"count": True, "generation": 1, "digest": "d", "retry": ""},
        {"count": -4, "generation": 1, "digest": "d", "retry": ""},
        {"count": 3, "generation": 2, "digest": "d", "retry": ""},  # another generation
        {"count": 3, "generation": 1, "digest": "other", "retry": ""},  # another state
        {"count": 3, "generation": 1, "digest": "d", "retry": "x"},  # before the annotation
    ],
)
def test_a_record_of_another_attempt_or_none_counts_nothing(recorded: Any) -> None:
    obj = site(status={"failures": recorded} if recorded is not None else {})
    obj["metadata"]["annotations"] = {}
    assert retries.failures_so_far(obj, "d") == 0
    assert retries.after_failure(obj, "d").count == 1


def test_a_record_of_this_attempt_counts() -> None:
    obj = site(status={"failures": {"count": 3, "generation": 1, "digest": "d", "retry": ""}})
    assert retries.failures_so_far(obj, "d") == 3
    assert retries.after_failure(obj, "d").to_status() == {
        "count": 4,
        "generation": 1,
        "digest": "d",
        "retry": "",
    }


def test_exhausted_is_more_failures_than_retries() -> None:
    assert not retries.exhausted(2, 2) and retries.exhausted(3, 2)
    assert retries.exhausted(1, 0)
    assert not retries.exhausted(10**6, -1)
