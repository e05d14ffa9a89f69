"""Ready waits for the release's workloads (controller/reconcile/readiness.py): the pure verdict,
and the reconciler with the wait wired in, against fakes of the health watches."""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.health import HealthState, ObjectHealth
from controller.healthwatch import FollowedBinding, HealthFollower
from controller.reconcile.readiness import (
    DEADLINE_EXCEEDED,
    awaiting,
    expected_workloads,
    judge,
    with_missing,
)
from tests.unit.reconcilekit import World, binding, release_policy, site

STARTED = datetime.datetime(2026, 1, 1, 11, 0, 0, tzinfo=datetime.UTC)  # FakeHelm's lastDeployed
RELEASED_MESSAGE = "Installed release blog revision 1 (chart site-1.0.0)"
PROGRESSING = ObjectHealth("Deployment", "blog", HealthState.PROGRESSING, "0 of 1 pods available")
CURRENT = ObjectHealth("Deployment", "blog", HealthState.HEALTHY)


def waiting_site(**status: Any) -> dict[str, Any]:
    """A Site whose release was written and whose Ready waits for its Deployment."""
    obj = site(
        status={
            "observedGeneration": 1,
            "release": {
                "name": "blog",
                "status": "deployed",
                "lastDeployed": "2026-01-01T11:00:00Z",
                "resources": [
                    {"kind": "Deployment", "namespace": "team-a", "name": "blog"},
                    {"kind": "Service", "namespace": "team-a", "name": "blog"},
                ],
            },
            "conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "Progressing"},
                {"type": "Reconciling", "status": "True", "reason": "Progressing"},
                {
                    "type": "Released",
                    "status": "True",
                    "reason": "Installed",
                    "message": RELEASED_MESSAGE,
                },
            ],
            **status,
        }
    )
    return obj


def by_type(conditions: list[Any]) -> dict[str, Any]:
    return {c.type: c for c in conditions}


# -- the verdict ---------------------------------------------------------------


def test_current_workloads_make_the_object_ready_with_the_helm_actions_message() -> None:
    verdict = judge(waiting_site(), [CURRENT], timeout_seconds=300, now=STARTED)
    ready = by_type(verdict.conditions)
    assert (ready["Ready"].status, ready["Ready"].reason) == (True, "Deployed")
    assert ready["Ready"].message == RELEASED_MESSAGE
    assert (ready["Reconciling"].status, ready["Reconciling"].reason) == (False, "Installed")
    assert ready["Stalled"].status is False
    assert verdict.event is None and verdict.requeue_after is None


def test_before_the_deadline_it_waits_names_the_workload_and_looks_again_at_the_deadline() -> None:
    now = STARTED + datetime.timedelta(seconds=100)
    verdict = judge(waiting_site(), [PROGRESSING], timeout_seconds=300, now=now)
    ready = by_type(verdict.conditions)
    assert (ready["Ready"].status, ready["Ready"].reason) == (None, "Progressing")
    assert ready["Ready"].message == (
        f"{RELEASED_MESSAGE}; waiting for its workloads: "
        "Deployment blog: Progressing (0 of 1 pods available)"
    )
    assert (ready["Reconciling"].status, ready["Reconciling"].reason) == (True, "Progressing")
    assert verdict.requeue_after == pytest.approx(200)
    assert verdict.event is None


def test_past_the_deadline_it_is_stalled_with_one_event_and_no_retry() -> None:
    now = STARTED + datetime.timedelta(seconds=301)
    verdict = judge(waiting_site(), [PROGRESSING], timeout_seconds=300, now=now)
    ready = by_type(verdict.conditions)
    assert (ready["Ready"].status, ready["Ready"].reason) == (False, DEADLINE_EXCEEDED)
    assert (ready["Stalled"].status, ready["Stalled"].reason) == (True, DEADLINE_EXCEEDED)
    assert ready["Reconciling"].status is False
    assert "not current within 300s (release.readyTimeout)" in ready["Ready"].message
    assert "Deployment blog: Progressing (0 of 1 pods available)" in ready["Ready"].message
    assert verdict.event is not None and verdict.event[:2] == ("Warning", DEADLINE_EXCEEDED)
    assert verdict.requeue_after is None  # nothing to retry: the watches say when it changes

    already = waiting_site()
    already["status"]["conditions"][0] |= {"status": "False", "reason": DEADLINE_EXCEEDED}
    again = judge(already, [PROGRESSING], timeout_seconds=300, now=now)
    assert again.event is None  # one Event for the deadline, not one per look


def test_a_timed_out_object_becomes_ready_when_its_workloads_catch_up() -> None:
    late = waiting_site()
    late["status"]["conditions"][0] |= {"status": "False", "reason": DEADLINE_EXCEEDED}
    assert awaiting(late)
    now = STARTED + datetime.timedelta(hours=1)
    ready = by_type(judge(late, [CURRENT], timeout_seconds=300, now=now).conditions)
    assert (ready["Ready"].status, ready["Stalled"].status) == (True, False)


def test_a_workload_the_watches_have_not_seen_yet_keeps_the_wait() -> None:
    expected = expected_workloads(waiting_site())
    assert expected == [("Deployment", "blog")]  # the Service is no workload
    items = with_missing([], expected)
    verdict = judge(waiting_site(), items, timeout_seconds=300, now=STARTED)
    assert by_type(verdict.conditions)["Ready"].reason == "Progressing"
    assert "Deployment blog: Progressing (not seen yet)" in verdict.conditions[0].message


def test_only_a_written_release_with_the_wait_marker_is_awaiting() -> None:
    assert awaiting(waiting_site())
    assert not awaiting(site(status={"conditions": waiting_site()["status"]["conditions"]}))
    helm_running = waiting_site()
    helm_running["status"]["conditions"][1]["reason"] = "Upgrading"  # Helm itself is running
    assert not awaiting(helm_running)
    assert not awaiting(None)


# -- the reconciler with the wait wired in ----------------------------------------------


@dataclass
class FakeWorkloads:
    """The health watches: what they have seen, and what a confirming GET returns."""

    seen: list[ObjectHealth] = field(default_factory=list)
    live: dict[str, ObjectHealth] = field(default_factory=dict)
    synced: bool = True
    confirmations: list[str] = field(default_factory=list)

    def workloads(self, release: tuple[str, str]) -> list[ObjectHealth]:
        assert release == ("team-a", "blog")
        return list(self.seen)

    def confirm(self, kind: str, namespace: str, name: str) -> ObjectHealth | None:
        self.confirmations.append(f"{kind}/{namespace}/{name}")
        return self.live.get(name)


class Clock:
    def __init__(self) -> None:
        self.now = STARTED + datetime.timedelta(seconds=1)

    def __call__(self) -> datetime.datetime:
        return self.now


def waiting_world(
    timeout: int = 300, obj: dict[str, Any] | None = None
) -> tuple[World, FakeWorkloads, Clock]:
    world = World(
        obj or site(), bound=binding(release=release_policy(ready_timeout_seconds=timeout))
    )
    original = world.helm.upgrade_install

    def with_a_deployment(*args: Any, **kwargs: Any) -> Any:
        written = original(*args, **kwargs)
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "team-a",
            "name": "blog",
        }
        written = replace(written, resources=(*written.resources, deployment))
        world.helm.releases[(written.name, written.namespace)] = written
        return written

    world.helm.upgrade_install = with_a_deployment  # type: ignore[method-assign]
    workloads, clock = FakeWorkloads(), Clock()
    world.reconciler.follow_workloads(workloads)
    if world.reconciler.ready_gate is not None:
        world.reconciler.ready_gate.clock = clock
    return world, workloads, clock


def test_after_an_install_ready_waits_until_the_deployment_is_current() -> None:
    world, workloads, _ = waiting_world()
    result = world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    ready = world.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "Progressing")
    assert "Deployment blog: Progressing (not seen yet)" in ready["message"]
    assert world.condition("Reconciling")["status"] == "True"
    assert world.condition("Released")["status"] == "True"  # Helm's part is done
    assert result.requeue_after == pytest.approx(299)

    workloads.seen = [PROGRESSING]  # the watches saw the Deployment: requeued, looked at
    world.reconcile()
    assert (
        "Deployment blog: Progressing (0 of 1 pods available)"
        in world.condition("Ready")["message"]
    )
    assert world.condition("Ready")["status"] == "Unknown"

    workloads.seen = [CURRENT]
    workloads.live = {"blog": CURRENT}
    world.reconcile()
    assert world.condition("Ready")["status"] == "True"
    assert world.condition("Ready")["reason"] == "Deployed"
    assert world.condition("Reconciling")["status"] == "False"
    assert workloads.confirmations == ["Deployment/team-a/blog"]
    assert world.helm.actions() == ["status", "upgrade"]  # waiting made no Helm call


def test_a_watch_copy_from_before_helms_write_does_not_end_the_wait() -> None:
    world, workloads, _ = waiting_world()
    world.reconcile()
    workloads.seen = [CURRENT]  # the watches still hold the old, current Deployment
    workloads.live = {
        "blog": ObjectHealth(
            "Deployment",
            "blog",
            HealthState.PROGRESSING,
            "its controller has not seen the newest spec yet",
        )
    }
    world.reconcile()
    assert world.condition("Ready")["status"] == "Unknown"
    assert "has not seen the newest spec yet" in world.condition("Ready")["message"]


def test_a_confirming_read_that_fails_keeps_the_wait_and_looks_again_soon() -> None:
    world, workloads, _ = waiting_world()
    world.reconcile()
    workloads.seen = [CURRENT]

    def unreachable(kind: str, namespace: str, name: str) -> ObjectHealth | None:
        raise ApiException(status=503, reason="Service Unavailable")

    workloads.confirm = unreachable  # type: ignore[method-assign]
    result = world.reconcile()
    assert world.condition("Ready")["status"] == "Unknown"
    assert result.requeue_after == pytest.approx(2.0)


def test_past_the_ready_timeout_one_event_and_no_helm_retry() -> None:
    world, workloads, clock = waiting_world(timeout=60)
    world.reconcile()
    workloads.seen = [PROGRESSING]
    clock.now = STARTED + datetime.timedelta(seconds=61)
    for _ in range(3):
        result = world.reconcile()
    ready = world.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", DEADLINE_EXCEEDED)
    assert world.condition("Stalled")["status"] == "True"
    assert world.events.reasons().count(DEADLINE_EXCEEDED) == 1
    assert world.helm.actions() == ["status", "upgrade"]
    assert result.requeue_after is None

    workloads.seen = [CURRENT]  # the pods came after all
    workloads.live = {"blog": CURRENT}
    world.reconcile()
    assert world.condition("Ready")["status"] == "True"
    assert world.condition("Stalled")["status"] == "False"


def test_a_restarted_controller_resumes_the_wait_instead_of_marking_ready() -> None:
    before, _, _ = waiting_world()
    before.reconcile()  # installed; Ready waits
    stored = copy.deepcopy(before.obj())
    assert awaiting(stored)

    after, workloads, _ = waiting_world(obj=stored)  # a new process, the same object
    workloads.synced = False  # its watches have not listed yet: what they hold proves nothing
    workloads.seen, workloads.live = [CURRENT], {"blog": CURRENT}
    result = after.reconcile()
    assert after.helm.calls == []  # in sync: no Helm call, not even a status read
    assert after.condition("Ready")["status"] == "Unknown"
    assert workloads.confirmations == []
    # looked at again when the watches have listed (they requeue it), or at the deadline
    assert result.requeue_after == pytest.approx(299)

    workloads.synced = True
    workloads.seen = [PROGRESSING]
    after.reconcile()
    assert after.condition("Ready")["status"] == "Unknown"
    workloads.seen, workloads.live = [CURRENT], {"blog": CURRENT}
    after.reconcile()
    assert after.condition("Ready")["status"] == "True"
    assert after.helm.calls == []


def test_ready_does_not_wait_with_a_zero_timeout() -> None:
    world, _, _ = waiting_world(timeout=0)
    world.reconcile()
    assert world.condition("Ready")["status"] == "True"
    assert world.reconciler.ready_gate is None


# -- the health watches hand a waiting object back to its queue -----------------------------


class Store:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.items = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objects}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.items.get(key)

    def objects(self) -> list[dict[str, Any]]:
        return list(self.items.values())

    def update(self, obj: dict[str, Any]) -> None:
        self.items[f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"] = obj


class Sink:
    def health_changed(self, binding: str, state: str) -> None:
        pass

    def health_states(self, binding: str, counts: dict[str, int]) -> None:
        pass


class Events:
    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        pass


def test_a_change_of_a_waiting_releases_workload_requeues_its_object_and_no_other() -> None:
    waiting = waiting_site()
    settled = site(
        "done",
        status={
            "release": {"name": "done"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Deployed"}],
        },
    )
    requeued: list[tuple[str, str]] = []

    def patch_status(_: Any, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        return obj | {"status": (obj.get("status") or {}) | status}

    follower = HealthFollower(
        None,  # type: ignore[arg-type]  # flush makes no API call but the status patch
        [FollowedBinding(binding(), Store(waiting, settled))],
        events=Events(),
        sink=Sink(),
        patch_status=patch_status,
        requeue=lambda name, key: requeued.append((name, key)),
    )
    for release in ("blog", "done"):
        follower.observe(
            "Deployment",
            {
                "metadata": {
                    "namespace": "team-a",
                    "name": release,
                    "generation": 1,
                    "annotations": {"meta.helm.sh/release-name": release},
                },
                "spec": {"replicas": 1},
                "status": {"observedGeneration": 1},
            },
        )
    follower.flush()
    assert requeued == [("site", "team-a/blog")]


def test_once_every_kind_is_listed_each_waiting_object_is_looked_at_again() -> None:
    requeued: list[tuple[str, str]] = []
    follower = HealthFollower(
        None,  # type: ignore[arg-type]  # the lists below are handed in
        [FollowedBinding(binding(), Store(waiting_site()))],
        events=Events(),
        sink=Sink(),
        patch_status=lambda _, obj, status: obj | {"status": obj["status"] | status},
        requeue=lambda name, key: requeued.append((name, key)),
    )
    deployment = {
        "metadata": {
            "namespace": "team-a",
            "name": "blog",
            "generation": 1,
            "annotations": {"meta.helm.sh/release-name": "blog"},
        },
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1},
    }

    def listing(*items: dict[str, Any]) -> Any:
        return lambda **_: {"items": list(items), "metadata": {"resourceVersion": "7"}}

    follower._list("Deployment", listing(deployment))  # type: ignore[arg-type]
    follower.flush()
    assert requeued == [("site", "team-a/blog")]  # seen before the watches are synced
    follower.flush()
    assert len(requeued) == 1  # nothing changed
    for kind in ("StatefulSet", "DaemonSet", "PersistentVolumeClaim", "Job"):
        follower._list(kind, listing())  # type: ignore[arg-type]
    assert follower.synced
    follower.flush()
    assert requeued == [("site", "team-a/blog")] * 2  # synced now: judged again


def upgraded_to_a_new_chart(world: World, workloads: FakeWorkloads) -> None:
    """Installed and Ready on the first chart, then a gated upgrade to `chart-2`."""
    world.reconcile()
    workloads.seen, workloads.live = [CURRENT], {"blog": CURRENT}
    world.reconcile()
    assert world.condition("Ready")["status"] == "True"
    world.engine.digest = "chart-2"
    workloads.seen, workloads.live = [PROGRESSING], {"blog": PROGRESSING}
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade", "status", "upgrade"]
    assert world.condition("Ready")["status"] == "Unknown"


def test_a_gated_upgrade_holds_its_rollout_slot_until_its_workloads_are_current() -> None:
    world, workloads, _ = waiting_world()
    upgraded_to_a_new_chart(world, workloads)
    progress = world.rollout.progress()
    assert (progress.in_flight, progress.upgraded) == (1, 0)  # Helm is done, the pods are not

    workloads.seen, workloads.live = [CURRENT], {"blog": CURRENT}
    world.reconcile()
    assert world.condition("Ready")["status"] == "True"
    progress = world.rollout.progress()
    assert (progress.in_flight, progress.upgraded, progress.failed) == (0, 1, 0)


def test_a_gated_upgrade_whose_workloads_miss_the_ready_timeout_counts_as_failed() -> None:
    world, workloads, clock = waiting_world(timeout=60)
    upgraded_to_a_new_chart(world, workloads)
    clock.now = STARTED + datetime.timedelta(seconds=3600)
    world.reconcile()
    assert world.condition("Ready")["reason"] == DEADLINE_EXCEEDED
    progress = world.rollout.progress()
    assert (progress.in_flight, progress.upgraded, progress.failed) == (0, 0, 1)
    world.reconcile()  # looked at again: counted once
    assert world.rollout.progress().failed == 1
