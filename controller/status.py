"""Standard status conditions (metav1.Condition) for bound objects.

lastTransitionTime changes only when a condition's status flips, as the
Kubernetes API conventions ask, so `kubectl wait` and dashboards can trust it.

The kstatus conventions (what `kubectl wait`, helm's watcher, Flux and Argo CD
read): `Reconciling` is True while a Helm action runs; `Stalled` is True when
the controller will not get further without a change (an invalid spec, a
release that belongs to someone else, a halted rollout, retries used up);
`Ready` sums it up, and is Unknown while the outcome is not yet known. The
reconciler derives all three from an action's outcome in one place
(controller/reconcile/summarize.py). Before
the controller's first write the CRD's default status (observedGeneration 0)
makes kstatus read the object as InProgress, not Current.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
RELEASED = "Released"
INVALID = "Invalid"
RELEASE_FAILED = "ReleaseFailed"
# The release's workloads, followed after the release (controller/health.py): True when
# Healthy, False when Progressing or Degraded (the reason says which).
HEALTHY = "Healthy"
CONDITION_TYPES = (READY, RECONCILING, STALLED, HEALTHY, RELEASED, INVALID, RELEASE_FAILED)


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool | None  # None: Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else "True" if self.status else "False"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded_revision(status: dict[str, Any] | None) -> int:
    """The release revision an object's status records (0 before the first)."""
    revision = ((status or {}).get("release") or {}).get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else 0


def merge_conditions(
    existing: Sequence[dict[str, Any]] | None,
    updates: Sequence[Condition],
    generation: int,
) -> list[dict[str, Any]]:
    """The full condition list after applying `updates`, keeping unrelated ones."""
    by_type = {c.get("type"): dict(c) for c in existing or () if isinstance(c, dict)}
    for update in updates:
        status = update.status_text
        previous = by_type.get(update.type)
        transition = (
            previous.get("lastTransitionTime")
            if previous and previous.get("status") == status and previous.get("lastTransitionTime")
            else now_rfc3339()
        )
        by_type[update.type] = {
            "type": update.type,
            "status": status,
            "reason": update.reason,
            "message": update.message,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
        }
    order = {name: index for index, name in enumerate(CONDITION_TYPES)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], 99), str(c["type"])))


def condition(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in (status or {}).get("conditions") or ():
        if isinstance(item, dict) and item.get("type") == type_:
            return item
    return None


def same_conditions(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]]) -> bool:
    """Equal apart from timestamps: no status write is needed."""

    def strip(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in items]

    return strip(first) == strip(second)
