"""Controlled rollout of a new chart version to existing releases.

When a binding's chart changes, every release of it needs an upgrade. Doing
all of them at once turns one bad chart into thousands of failed releases, so
upgrades that exist only because the chart changed go through a gate: at most
`max_in_flight` at a time, and once more than `max_failure_ratio` of at least
`min_samples` finished upgrades failed, the rollout halts and no further
release is touched until the chart changes again. New installs and spec
changes are not gated: they are what a user asked for, one object at a time.

Where Ready waits for the release's workloads (controller/reconcile/readiness.py), an
upgrade is in flight until that wait ends, not when Helm returns: its slot is
given back once the workloads are current (an upgrade that succeeded) or past
the ready timeout (one that failed). So at most `max_in_flight` releases are
rolling out at any moment, and a chart whose pods never become ready halts the
rollout as a chart that cannot render does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from lostromos.config import RolloutPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutProgress:
    target: str
    upgraded: int
    failed: int
    in_flight: int
    halted: bool


class Rollout:
    """Thread-safe gate for one binding; restarts whenever the target chart changes."""

    def __init__(self, binding: str, policy: RolloutPolicy) -> None:
        self.binding = binding
        self.policy = policy
        self._lock = threading.Lock()
        self._target = ""
        self._upgraded = self._failed = self._in_flight = 0
        self._halted = False

    def _retarget(self, target: str) -> None:
        if target != self._target:
            self._target = target
            self._upgraded = self._failed = self._in_flight = 0
            self._halted = False

    def begin(self, target: str) -> bool:
        """May one more release be upgraded to `target` now?"""
        with self._lock:
            self._retarget(target)
            if self._halted or self._in_flight >= self.policy.max_in_flight:
                return False
            self._in_flight += 1
            return True

    def would_admit(self, target: str) -> bool:
        """Would `begin(target)` succeed now? A look only: nothing is taken."""
        with self._lock:
            if target != self._target:
                return True  # a new chart starts a new rollout with every slot free
            return not self._halted and self._in_flight < self.policy.max_in_flight

    def finish(self, target: str, *, succeeded: bool) -> None:
        with self._lock:
            if target != self._target:
                return  # a newer chart took over; this result belongs to the old rollout
            self._in_flight -= 1
            if succeeded:
                self._upgraded += 1
            else:
                self._failed += 1
            done = self._upgraded + self._failed
            ratio = self._failed / done
            if (
                not self._halted
                and done >= self.policy.min_samples
                and ratio > self.policy.max_failure_ratio
            ):
                self._halted = True
                log.error(
                    "rollout halted: %d of %d upgrades failed",
                    self._failed,
                    done,
                    extra={"binding": self.binding, "chart_digest": target},
                )

    def halted(self, target: str) -> bool:
        with self._lock:
            return self._halted and target == self._target

    def progress(self) -> RolloutProgress:
        with self._lock:
            return RolloutProgress(
                self._target, self._upgraded, self._failed, self._in_flight, self._halted
            )
