"""The health of a release from its workloads' status (controller/health.py)."""

from __future__ import annotations

from typing import Any

from controller.health import (
    HealthState,
    ObjectHealth,
    object_health,
    release_of,
    summarise,
)
from controller.healthwatch import HealthFollower


def deployment(
    *,
    replicas: int = 2,
    available: int = 2,
    updated: int = 2,
    total: int | None = None,
    generation: int = 3,
    observed: int = 3,
    progressing: str | None = "NewReplicaSetAvailable",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": updated if total is None else total,
        "updatedReplicas": updated,
        "availableReplicas": available,
    }
    if progressing:
        status["conditions"] = [{"type": "Progressing", "status": "True", "reason": progressing}]
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status,
    }


def state(kind: str, obj: dict[str, Any]) -> HealthState:
    return object_health(kind, obj).state


def test_a_deployment_with_every_pod_available_is_healthy() -> None:
    assert state("Deployment", deployment()) is HealthState.HEALTHY


def test_a_finished_rollout_that_lost_pods_is_degraded_and_says_how_many() -> None:
    health = object_health("Deployment", deployment(available=1))
    assert health.state is HealthState.DEGRADED
    assert health.message == "1 of 2 pods available"


def test_pods_starting_during_a_rollout_are_progressing_not_degraded() -> None:
    assert state("Deployment", deployment(available=0, progressing="ReplicaSetUpdated")) is (
        HealthState.PROGRESSING
    )
    assert state("Deployment", deployment(updated=1, available=1)) is HealthState.PROGRESSING
    assert state("Deployment", deployment(total=3)) is HealthState.PROGRESSING


def test_a_deployment_its_controller_has_not_seen_is_progressing() -> None:
    assert state("Deployment", deployment(generation=4)) is HealthState.PROGRESSING
    assert state("Deployment", {"metadata": {"name": "web", "generation": 1}}) is (
        HealthState.PROGRESSING
    )


def test_a_rollout_past_its_deadline_is_degraded() -> None:
    stuck = deployment(updated=1, available=1, progressing="ProgressDeadlineExceeded")
    assert state("Deployment", stuck) is HealthState.DEGRADED


def test_replicas_default_to_one_and_zero_replicas_is_healthy() -> None:
    obj = deployment(available=1, updated=1)
    del obj["spec"]["replicas"]
    assert state("Deployment", obj) is HealthState.HEALTHY
    assert state("Deployment", deployment(replicas=0, available=0, updated=0)) is (
        HealthState.HEALTHY
    )


def test_claims_bound_pending_and_lost() -> None:
    assert state("PersistentVolumeClaim", {"status": {"phase": "Bound"}}) is HealthState.HEALTHY
    assert state("PersistentVolumeClaim", {"status": {"phase": "Pending"}}) is (
        HealthState.PROGRESSING
    )
    assert state("PersistentVolumeClaim", {}) is HealthState.PROGRESSING
    assert state("PersistentVolumeClaim", {"status": {"phase": "Lost"}}) is HealthState.DEGRADED


def test_statefulsets_and_daemonsets_read_missing_pods_as_progressing() -> None:
    sts = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 1, "readyReplicas": 3, "currentRevision": "a"},
    }
    assert state("StatefulSet", sts) is HealthState.HEALTHY
    sts["status"] |= {"updateRevision": "b"}
    assert state("StatefulSet", sts) is HealthState.PROGRESSING
    sts["status"] |= {"updateRevision": "a", "readyReplicas": 1}
    assert state("StatefulSet", sts) is HealthState.PROGRESSING
    ds = {
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 2,
        },
    }
    assert state("DaemonSet", ds) is HealthState.HEALTHY
    ds["status"]["numberAvailable"] = 1
    assert state("DaemonSet", ds) is HealthState.PROGRESSING


def test_jobs_complete_failed_and_running() -> None:
    def job(kind: str) -> dict[str, Any]:
        return {"status": {"conditions": [{"type": kind, "status": "True", "reason": "X"}]}}

    assert state("Job", job("Complete")) is HealthState.HEALTHY
    assert state("Job", job("Failed")) is HealthState.DEGRADED
    assert state("Job", {"status": {}}) is HealthState.PROGRESSING


def test_a_release_is_as_unhealthy_as_its_worst_workload_and_names_it() -> None:
    summary = summarise(
        [
            ObjectHealth("Deployment", "web", HealthState.HEALTHY),
            ObjectHealth("PersistentVolumeClaim", "data", HealthState.PROGRESSING, "Pending"),
            ObjectHealth("Deployment", "php", HealthState.DEGRADED, "0 of 1 pods available"),
        ]
    )
    assert summary.state is HealthState.DEGRADED
    assert summary.message == (
        "Deployment php: Degraded (0 of 1 pods available); "
        "PersistentVolumeClaim data: Progressing (Pending)"
    )
    healthy = summarise([ObjectHealth("Deployment", "web", HealthState.HEALTHY)])
    assert (healthy.state, healthy.message) == (HealthState.HEALTHY, "1 workloads current")


def test_the_release_comes_from_helms_annotations() -> None:
    annotations = {
        "meta.helm.sh/release-name": "shop",
        "meta.helm.sh/release-namespace": "team-a",
    }
    assert release_of({"metadata": {"namespace": "team-a", "annotations": annotations}}) == (
        "team-a",
        "shop",
    )
    assert release_of({"metadata": {"namespace": "team-a", "labels": {}}}) is None


def test_the_follower_keeps_summaries_by_release_and_forgets_deleted_workloads() -> None:
    follower = HealthFollower(
        None,  # type: ignore[arg-type]  # no API call is made by observe
        [],
        events=None,  # type: ignore[arg-type]
        sink=None,  # type: ignore[arg-type]
        patch_status=lambda *_: {},
    )
    obj = deployment(available=0)
    obj["metadata"] |= {
        "namespace": "team-a",
        "annotations": {"meta.helm.sh/release-name": "shop"},
    }
    follower.observe("Deployment", obj)
    assert follower.release_health(("team-a", "shop")).state is HealthState.DEGRADED
    follower.observe("Deployment", deployment() | {"metadata": obj["metadata"]})
    assert follower.release_health(("team-a", "shop")).state is HealthState.HEALTHY
    follower.observe("Deployment", obj, deleted=True)
    assert follower.release_health(("team-a", "shop")).message == "no workloads"
