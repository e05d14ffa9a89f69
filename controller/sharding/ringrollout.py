"""The rollout gate of controller.rollout, held by the whole ring instead of one process.

With sharding, the replicas upgrade their own shares in parallel, but
`maxInFlight` and `maxFailureRatio` are promises about the binding, not
about a replica. The count lives in one Lease per binding in the operator's
namespace (`<ring>-rollout-<binding>`), in an annotation: the rollout's
target chart digest, upgrades done and failed, whether it halted, and each
replica's in-flight slots. Every begin and finish is a read-modify-write
with the Lease's resourceVersion (optimistic concurrency: of two replicas
racing for the last slot, one gets 409 Conflict, re-reads, and finds the
gate full), so the ring-wide in-flight count can never pass the limit.

A replica always writes its own slot from its local count, so a failed
write heals on the next one. Slots of members the ring knows to be dead
(Lease expired or gone) are dropped: a replica killed mid-upgrade does not
hold its slots for ever. Any API failure answers "not now": an upgrade is
postponed, never started without a slot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.rollout import RolloutProgress
from lostromos.config import RolloutPolicy

log = logging.getLogger(__name__)

STATE_ANNOTATION = "lostromos.dev/rollout"
RING_LABEL = "lostromos.dev/ring"
ATTEMPTS = 8
# A full or halted gate is believed this long before it is read again: keys
# waiting for a slot come back every few seconds, thousands of them in a big
# rollout, and each would otherwise cost a read.
FULL_GATE_SECONDS = 1.0
TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)


@dataclass
class RingRolloutState:
    target: str = ""
    upgraded: int = 0
    failed: int = 0
    halted: bool = False
    slots: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> RingRolloutState:
        try:
            raw = json.loads(text or "{}")
            return cls(
                str(raw.get("target", "")),
                int(raw.get("upgraded", 0)),
                int(raw.get("failed", 0)),
                bool(raw.get("halted", False)),
                {str(k): int(v) for k, v in (raw.get("slots") or {}).items()},
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        slots = {k: v for k, v in sorted(self.slots.items()) if v > 0}
        return json.dumps(
            {
                "target": self.target,
                "upgraded": self.upgraded,
                "failed": self.failed,
                "halted": self.halted,
                "slots": slots,
            },
            separators=(",", ":"),
        )

    @property
    def in_flight(self) -> int:
        return sum(max(0, count) for count in self.slots.values())


class RingRollout:
    """Same interface as controller.rollout.Rollout (begin, finish, halted, progress)."""

    def __init__(
        self,
        binding: str,
        policy: RolloutPolicy,
        api: client.CoordinationV1Api,
        *,
        namespace: str,
        ring: str,
        identity: str,
        is_dead: Callable[[str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.binding = binding
        self.policy = policy
        self.api = api
        self.namespace = namespace
        self.name = f"{ring}-rollout-{binding}"[:253].lower()
        self.ring = ring
        self.identity = identity
        self.is_dead = is_dead
        self._lock = threading.Lock()
        self._mine = 0  # this replica's upgrades in flight
        # Results not yet written to the record (its write failed), for one target.
        self._unsent = RingRolloutState()
        self._last = RingRolloutState()
        self.max_in_flight_seen = 0  # the ring-wide count right after each slot taken
        self.clock = clock
        self._read_at = float("-inf")

    # -- the Rollout interface --------------------------------------------------

    def begin(self, target: str) -> bool:
        with self._lock:
            last = self._last
            if (
                last.target == target
                and self.clock() - self._read_at < FULL_GATE_SECONDS
                and (last.halted or last.in_flight >= self.policy.max_in_flight)
            ):
                return False

            def take(state: RingRolloutState) -> bool:
                if state.halted or state.in_flight >= self.policy.max_in_flight:
                    return False
                self._mine += 1
                return True

            taken = self._update(target, take)
            if taken is None:
                return False
            if taken:
                self.max_in_flight_seen = max(self.max_in_flight_seen, self._last.in_flight)
            return taken

    def would_admit(self, target: str) -> bool:
        """Would `begin(target)` succeed? A look at the last read of the shared record,
        trusted only while fresh: otherwise yes, and `begin` asks the record itself."""
        with self._lock:
            last = self._last
            fresh = self.clock() - self._read_at < FULL_GATE_SECONDS
            full = last.halted or last.in_flight >= self.policy.max_in_flight
            return not (last.target == target and fresh and full)

    def finish(self, target: str, *, succeeded: bool) -> None:
        with self._lock:
            self._mine = max(0, self._mine - 1)
            if self._unsent.target != target:
                self._unsent = RingRolloutState(target=target)
            if succeeded:
                self._unsent.upgraded += 1
            else:
                self._unsent.failed += 1
            self._update(target, lambda state: True)

    def halted(self, target: str) -> bool:
        with self._lock:
            return self._last.halted and self._last.target == target

    def progress(self) -> RolloutProgress:
        with self._lock:
            last = self._last
            return RolloutProgress(
                last.target, last.upgraded, last.failed, last.in_flight, last.halted
            )

    # -- the shared record --------------------------------------------------------

    def _update(self, target: str, change: Callable[[RingRolloutState], bool]) -> bool | None:
        """Read, apply `change`, write with the resourceVersion; retry on conflict.

        Returns what `change` returned, or None if the record could not be
        written (the caller treats that as "not now").
        """
        for _ in range(ATTEMPTS):
            mine_before = self._mine
            try:
                lease = self._read()
                # a Lease the API server answered always has metadata; the stubs allow None
                metadata = lease.metadata = lease.metadata or client.V1ObjectMeta()
                state = RingRolloutState.parse((metadata.annotations or {}).get(STATE_ANNOTATION))
                if state.target != target:
                    # A new chart: a new rollout. Results for an older target are dropped.
                    state = RingRolloutState(target=target)
                state.slots = {
                    who: n
                    for who, n in state.slots.items()
                    if who != self.identity and not self.is_dead(who)
                }
                state.slots[self.identity] = self._mine
                self._apply_unsent(state, target)
                answer = change(state)
                state.slots[self.identity] = self._mine
                self._judge(state)
                written = (metadata.annotations or {}).get(STATE_ANNOTATION)
                if state.dump() != written:  # a refused slot changes nothing: no write
                    metadata.annotations = {
                        **(metadata.annotations or {}),
                        STATE_ANNOTATION: state.dump(),
                    }
                    self.api.replace_namespaced_lease(self.name, self.namespace, lease)
            except ApiException as error:
                self._mine = mine_before
                if error.status == 409:
                    continue
                log.warning("rollout record not updated: %s %s", error.status, error.reason)
                return None
            except TRANSIENT as error:
                self._mine = mine_before
                log.warning("rollout record not updated: %s", error)
                return None
            self._unsent = RingRolloutState(target=target)
            self._last = state
            self._read_at = self.clock()
            return answer
        return None

    def _apply_unsent(self, state: RingRolloutState, target: str) -> None:
        if self._unsent.target == target:
            state.upgraded += self._unsent.upgraded
            state.failed += self._unsent.failed

    def _judge(self, state: RingRolloutState) -> None:
        done = state.upgraded + state.failed
        if (
            not state.halted
            and done >= self.policy.min_samples
            and state.failed / done > self.policy.max_failure_ratio
        ):
            state.halted = True
            log.error(
                "rollout halted: %d of %d upgrades failed across the ring",
                state.failed,
                done,
                extra={"binding": self.binding, "chart_digest": state.target},
            )

    def _read(self) -> client.V1Lease:
        try:
            return self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={RING_LABEL + "-rollout": self.ring},
                annotations={STATE_ANNOTATION: RingRolloutState().dump()},
            )
        )
        try:
            return self.api.create_namespaced_lease(self.namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
        return self.api.read_namespaced_lease(self.name, self.namespace)
