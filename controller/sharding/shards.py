"""Handoff of hash buckets between controller replicas, without double work.

Every tick a replica lists the ring's Leases (controller.sharding.membership), computes
the assignment of buckets to live members (controller.sharding.hashring, the same for
every replica that sees the same members), and moves towards its own share:

- A bucket it is losing leaves `serving` at once (workers take no new key in
  it), and leaves `held`, the set published in its Lease, only once no
  reconcile in it is in flight. Publishing the smaller set is the release.
- A bucket it is gaining is claimed (added to `held` and published) only if
  no live member holds it, i.e. the previous owner released it or its Lease
  expired. The claim is verified by a listing made after the claim was
  written: if another live member holds the bucket by then, the claim is
  withdrawn; otherwise the bucket is served. Two replicas with different
  views of the ring can both claim a bucket, but then the later of the two
  listings sees the other's claim, so at most one of them starts (both may
  withdraw; they agree, and one claims, once their views agree).
- A replica that could not renew its Lease within the renew deadline stops
  serving and forgets its claims; the others take over only once its Lease
  has expired on their own clocks (lease duration > renew deadline).

`step` is that decision as a pure function; `Coordinator` runs it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.sharding import hashring
from controller.sharding.membership import Member, Membership

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardState:
    held: frozenset[int] = frozenset()  # published in the Lease: claimed or in use
    serving: frozenset[int] = frozenset()  # workers may start keys in these
    pending: frozenset[int] = frozenset()  # claimed, not yet verified


def step(
    state: ShardState,
    me: str,
    live: Mapping[str, Member],
    *,
    busy: Callable[[int], bool],
    published: frozenset[int],
) -> ShardState:
    """One move of the handoff protocol from one consistent listing of the ring.

    `published` is what this replica's last successful Lease write carried:
    only claims in it were visible before `live` was listed, so only those
    can be verified now.
    """
    target = hashring.assign({*live, me}).get(me, frozenset())
    others: set[int] = set()
    for identity, member in live.items():
        if identity != me:
            others |= member.held
    held, serving, pending = set(state.held), set(state.serving), set(state.pending)
    for bucket in state.pending & published:
        pending.discard(bucket)
        if bucket in others or bucket not in target:
            held.discard(bucket)  # withdrawn: never started, so nothing to drain
        else:
            serving.add(bucket)
    # A bucket given up while busy and wanted back before it drained was never
    # released: still held, still published, so it resumes without a new claim.
    serving |= (held - pending) & published & target - others
    serving &= target
    for bucket in held - target - pending:
        if not busy(bucket):
            held.discard(bucket)
    claims = target - held - others
    held |= claims
    pending |= claims
    return ShardState(frozenset(held), frozenset(serving), frozenset(pending))


class Coordinator:
    """The replica's side of the ring: runs `step`, gates workers, restarts watches."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership
        self.config = membership.config
        self.state = ShardState()
        self.members = 0
        self.handoffs: Counter[str] = Counter()
        self.joined = threading.Event()
        self._published: frozenset[int] = frozenset()
        self._in_flight: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._tick_listeners: list[Callable[[], None]] = []
        self._stopping = False
        self._left = threading.Event()

    # -- workers ---------------------------------------------------------------

    def begin(self, obj: dict[str, Any]) -> int | None:
        """The object's bucket if this replica may reconcile it now, counted as in flight."""
        uid = (obj.get("metadata") or {}).get("uid")
        if not isinstance(uid, str):
            return None
        bucket = hashring.bucket_of(uid)
        with self._lock:
            if bucket not in self.state.serving:
                return None
            self._in_flight[bucket] += 1
            return bucket

    def end(self, bucket: int) -> None:
        with self._lock:
            self._in_flight[bucket] -= 1
            if self._in_flight[bucket] <= 0:
                del self._in_flight[bucket]

    def serving(self) -> frozenset[int]:
        return self.state.serving

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called (from the ring thread) whenever the served buckets change."""
        self._listeners.append(listener)

    def on_tick(self, listener: Callable[[], None]) -> None:
        """Called (from the ring thread) after every tick."""
        self._tick_listeners.append(listener)

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        """Tick until `leave`: also while the process drains after SIGTERM, so its
        Lease stays fresh and nobody takes its buckets while helm calls finish."""
        while not self._left.is_set():
            try:
                self.tick()
                for listener in self._tick_listeners:
                    listener()
            except Exception:  # a bug here must not silently end membership
                log.exception("ring tick crashed")
            self._left.wait(self.config.retry_period)

    def tick(self) -> None:
        self._check_deadline()
        try:
            view = self.membership.view()
        except Exception as error:
            log.debug("ring listing failed: %s", error)
            self._renew()
            return
        self._advance(view.live)
        if self._renew() and self.state.pending:
            # Verify the claims just written at once instead of a tick later.
            try:
                view = self.membership.view()
            except Exception as error:
                log.debug("ring listing failed: %s", error)
                return
            self._advance(view.live)
            self._renew()

    def stop_serving(self) -> None:
        """Shutdown: no new keys from now on; the caller drains, then calls `leave`."""
        with self._lock:
            self._stopping = True
            self._set(replace(self.state, serving=frozenset()))

    def leave(self) -> None:
        self._left.set()
        self.membership.leave()

    # -- internals -------------------------------------------------------------

    def _advance(self, live: Mapping[str, Member]) -> None:
        with self._lock:
            if self._stopping:
                return
            self.members = len({*live, self.config.identity})
            new = step(
                self.state,
                self.config.identity,
                live,
                busy=lambda bucket: self._in_flight[bucket] > 0,
                published=self._published,
            )
            self._set(new)

    def _set(self, new: ShardState) -> None:
        old, self.state = self.state, new
        gained, lost = new.serving - old.serving, old.serving - new.serving
        self.handoffs["acquired"] += len(gained)
        self.handoffs["released"] += len(old.held - new.held)
        if gained or lost:
            log.info(
                "serving %d of %d hash buckets (%+d, -%d)",
                len(new.serving),
                hashring.BUCKETS,
                len(gained),
                len(lost),
                extra={"ranges": hashring.encode(new.serving)},
            )
            for listener in self._listeners:
                listener()

    def _renew(self) -> bool:
        held = self.state.held
        if not self.membership.renew(held):
            self._check_deadline()  # known now: no need to wait for the next tick
            return False
        self._published = held
        self.joined.set()
        return True

    def _check_deadline(self) -> None:
        """Past the renew deadline the claims are void: serve nothing, and join again
        as a new member (whose requests get a whole renew deadline)."""
        if self._deadline_passed():
            self._forget("could not renew the ring lease within the renew deadline")
            self.membership.lapse()

    def _deadline_passed(self) -> bool:
        last = self.membership.last_renewed
        return (
            last is not None
            and bool(self.state.held)
            and self.membership.clock() - last > self.config.renew_deadline
        )

    def _forget(self, reason: str) -> None:
        log.error("%s: serving nothing until the ring is joined again", reason)
        with self._lock:
            self._published = frozenset()
            self._set(ShardState())
