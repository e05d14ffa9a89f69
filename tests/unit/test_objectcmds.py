"""What `lostromos get` reads from an object's status (lostromos/objectcmds.py)."""

from __future__ import annotations

from lostromos.objectcmds import summarize
from tests.unit.reconcilekit import binding, site


def test_an_object_nobody_has_looked_at_is_unknown() -> None:
    row = summarize(binding(), site(finalizer=False))
    assert (row.ready, row.reason, row.health, row.revision, row.chart) == (
        "Unknown", "", "", None, ""
    )  # fmt: skip
    assert row.suspended is False


def test_status_and_annotations_are_summarised() -> None:
    obj = site(annotations={"lostromos.dev/suspend": "true"})
    obj["status"] = {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ReleaseFailed", "message": "boom"},
            {"type": "Healthy", "status": "False", "reason": "Degraded"},
        ],
        "chart": {"name": "site", "version": "1.2.0"},
        "release": {"revision": 3},
    }
    row = summarize(binding(), obj)
    assert (row.ready, row.reason, row.message) == ("False", "ReleaseFailed", "boom")
    assert (row.health, row.chart, row.revision, row.suspended) == (
        "Degraded",
        "site 1.2.0",
        3,
        True,
    )
