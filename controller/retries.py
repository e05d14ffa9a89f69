"""The retry budget of a desired state: how many Helm actions failed for it, and
whether the controller has stopped trying.

A failed install, upgrade, repair or recovery is retried with the work queue's
backoff. After the binding's `release.retries` retries (retries + 1 attempts,
as Flux's `remediation.retries`), retrying the same thing again is not going to
help: the object is Stalled (reason RetriesExhausted) and nothing retries it
until something changes. What counts as "the same thing" is the attempt's
identity, kept with the count in `status.failures`:

- `metadata.generation`: a spec edit starts a new count;
- the desired digest (chart content, overrides, values, release name): a new
  chart, or new overrides, start a new count;
- the `lostromos.dev/retry` annotation: any new value starts a new count, for a
  cause outside the object (a missing RBAC rule, a quota) fixed meanwhile.

The count lives in status, not in the controller's memory, so a restart or a
replica taking the object over neither forgets it nor starts the budget anew.
Only failures that say something about the release are counted: Helm could not
be reached, or the status write failed, and nothing is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RETRY_ANNOTATION = "lostromos.dev/retry"
RETRIES_EXHAUSTED = "RetriesExhausted"


@dataclass(frozen=True)
class Failures:
    """`status.failures`: consecutive failed Helm actions for one attempt identity."""

    count: int
    generation: int
    digest: str
    retry: str = ""  # the lostromos.dev/retry annotation's value when they were counted

    def to_status(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "generation": self.generation,
            "digest": self.digest,
            "retry": self.retry,
        }


def _identity(obj: Mapping[str, Any], digest: str) -> tuple[int, str, str]:
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    return (
        int(metadata.get("generation") or 0),
        digest,
        str(annotations.get(RETRY_ANNOTATION, "")),
    )


def failures_so_far(obj: Mapping[str, Any], digest: str) -> int:
    """The failures status records for this object's current attempt identity (0: none)."""
    recorded = (obj.get("status") or {}).get("failures")
    if not isinstance(recorded, Mapping):
        return 0
    count = recorded.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return 0
    seen = (recorded.get("generation"), recorded.get("digest"), recorded.get("retry") or "")
    return count if seen == _identity(obj, digest) else 0


def after_failure(obj: Mapping[str, Any], digest: str) -> Failures:
    """The record to write once one more Helm action failed for this attempt identity."""
    generation, _, retry = _identity(obj, digest)
    return Failures(failures_so_far(obj, digest) + 1, generation, digest, retry)


def exhausted(failures: int, retries: int) -> bool:
    """Have `failures` failed attempts used up `retries` retries (-1: never)?"""
    return retries >= 0 and failures > retries


def exhausted_message(failures: int, release: str, last_error: str) -> str:
    return (
        f"Gave up on release {release} after {failures} failed "
        f"attempt{'s' if failures != 1 else ''}; nothing is retried until the spec or "
        f"the chart changes, or the {RETRY_ANNOTATION} annotation gets a new value. "
        f"Last error: {last_error}"
    )
