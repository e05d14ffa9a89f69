"""Status conditions follow the Kubernetes API conventions."""

from __future__ import annotations

from controller import status


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = status.merge_conditions(None, [status.Condition("Ready", False, "Pending")], 1)
    first[0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    same = status.merge_conditions(first, [status.Condition("Ready", False, "StillPending")], 2)
    assert same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert same[0]["reason"] == "StillPending"
    assert same[0]["observedGeneration"] == 2
    flipped = status.merge_conditions(same, [status.Condition("Ready", True, "Deployed")], 2)
    assert flipped[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert flipped[0]["status"] == "True"


def test_unrelated_conditions_are_kept_and_order_is_stable() -> None:
    existing = [{"type": "Custom", "status": "True", "reason": "X", "message": ""}]
    merged = status.merge_conditions(
        existing,
        [
            status.Condition("Invalid", False, "Valid"),
            status.Condition("Ready", True, "Deployed"),
        ],
        3,
    )
    assert [c["type"] for c in merged] == ["Ready", "Invalid", "Custom"]


def test_same_conditions_ignores_timestamps_only() -> None:
    a = status.merge_conditions(None, [status.Condition("Ready", True, "Deployed")], 1)
    b = [dict(a[0], lastTransitionTime="1999-01-01T00:00:00Z")]
    assert status.same_conditions(a, b)
    c = [dict(a[0], message="other")]
    assert not status.same_conditions(a, c)
    assert status.condition({"conditions": a}, "Ready") == a[0]
    assert status.condition({}, "Ready") is None
