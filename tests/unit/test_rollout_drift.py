"""Pure logic of the chart rollout gate and of drift detection from managedFields."""

from __future__ import annotations

from controller.drift import changed_by_others, release_resources
from controller.rollout import Rollout
from lostromos.config import RolloutPolicy


def test_rollout_admits_at_most_max_in_flight() -> None:
    rollout = Rollout("site", RolloutPolicy(max_in_flight=2, max_failure_ratio=0.5, min_samples=2))
    assert rollout.begin("v2") and rollout.begin("v2")
    assert not rollout.begin("v2")
    rollout.finish("v2", succeeded=True)
    assert rollout.begin("v2")
    assert rollout.progress().in_flight == 2


def test_rollout_halts_past_the_failure_ratio_and_restarts_on_a_new_chart() -> None:
    rollout = Rollout("site", RolloutPolicy(max_in_flight=5, max_failure_ratio=0.3, min_samples=3))
    for succeeded in (True, False):
        assert rollout.begin("v2")
        rollout.finish("v2", succeeded=succeeded)
    assert not rollout.halted("v2")  # 1 of 2 failed, but fewer than min_samples finished
    assert rollout.begin("v2")
    rollout.finish("v2", succeeded=False)
    assert rollout.halted("v2")  # 2 of 3 > 0.3
    assert not rollout.begin("v2")
    assert rollout.begin("v3")  # a new chart starts a new rollout
    assert rollout.progress().failed == 0
    rollout.finish("v2", succeeded=False)  # a late result of the old rollout is ignored
    assert rollout.progress().failed == 0


def entry(manager: str, time: str, subresource: str = "") -> dict[str, str]:
    return {"manager": manager, "time": time, "subresource": subresource}


def test_drift_is_a_write_by_someone_else_after_helm() -> None:
    assert changed_by_others(
        [entry("helm", "2026-01-01T00:00:00Z"), entry("kubectl-edit", "2026-01-01T00:05:00Z")]
    )
    assert not changed_by_others(
        [entry("kubectl-edit", "2026-01-01T00:00:00Z"), entry("helm", "2026-01-01T00:05:00Z")]
    )
    # managedFields keep whole seconds: a write in helm's own second is a write after it
    assert changed_by_others(
        [entry("helm", "2026-01-01T00:00:00Z"), entry("kubectl-patch", "2026-01-01T00:00:00Z")]
    )


def test_status_writes_and_control_plane_managers_are_not_drift() -> None:
    assert not changed_by_others(
        [
            entry("helm", "2026-01-01T00:00:00Z"),
            entry("kubelet", "2026-01-01T00:09:00Z", subresource="status"),
            entry("kube-controller-manager", "2026-01-01T00:09:00Z"),
            entry("kwok-f01951b8e641", "2026-01-01T00:09:00Z"),
        ]
    )
    assert changed_by_others(
        [entry("helm", "2026-01-01T00:00:00Z"), entry("kwokctl-edit", "2026-01-01T00:09:00Z")]
    )
    assert not changed_by_others([])  # never written by helm: not ours to judge


def test_release_resources_read_from_status() -> None:
    status = {
        "release": {
            "resources": [
                {"apiVersion": "v1", "kind": "Service", "namespace": "a", "name": "blog"},
                "junk",
            ]
        }
    }
    assert release_resources(status) == [("v1", "Service", "a", "blog")]
    assert release_resources(None) == []
