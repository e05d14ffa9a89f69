"""The handoff state machine: claims, verification, drains, releases, expiry.

The safety property throughout: no bucket is worked on (served, or with a
reconcile still in flight) by two replicas at the same moment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from controller.sharding import hashring
from controller.sharding.membership import Member, MemberConfig, RingView
from controller.sharding.shards import Coordinator, ShardState, step


def live(**held: frozenset[int]) -> dict[str, Member]:
    return {name: Member(name, buckets) for name, buckets in held.items()}


def test_a_lone_replica_claims_everything_then_serves_it_after_verifying() -> None:
    claimed = step(ShardState(), "a", live(), busy=lambda b: False, published=frozenset())
    assert claimed.serving == frozenset()  # claimed, not yet verified: nothing starts
    assert claimed.held == claimed.pending == frozenset(range(hashring.BUCKETS))
    # Verification needs a listing made after the claim was written.
    unpublished = step(
        claimed, "a", live(a=claimed.held), busy=lambda b: False, published=frozenset()
    )
    assert unpublished.serving == frozenset()
    served = step(claimed, "a", live(a=claimed.held), busy=lambda b: False, published=claimed.held)
    assert served.serving == frozenset(range(hashring.BUCKETS))
    assert served.pending == frozenset()


def test_buckets_held_by_a_live_member_are_not_claimed_until_released() -> None:
    everything = frozenset(range(hashring.BUCKETS))
    mine = hashring.assign(["a", "b"])["b"]
    waiting = step(
        ShardState(), "b", live(a=everything), busy=lambda b: False, published=frozenset()
    )
    assert waiting.held == frozenset()
    released = everything - mine
    claimed = step(waiting, "b", live(a=released), busy=lambda b: False, published=frozenset())
    assert claimed.pending == mine


def test_a_dead_members_claims_do_not_count() -> None:
    # "a" is absent from the live members: its Lease expired, its held set is void.
    claimed = step(ShardState(), "b", live(), busy=lambda b: False, published=frozenset())
    assert claimed.pending == frozenset(range(hashring.BUCKETS))


def test_a_losing_bucket_stops_at_once_and_is_released_only_when_drained() -> None:
    everything = frozenset(range(hashring.BUCKETS))
    state = ShardState(held=everything, serving=everything)
    theirs = hashring.assign(["a", "b"])["b"]
    busy_bucket = min(theirs)
    draining = step(
        state,
        "a",
        live(a=everything, b=frozenset()),
        busy=lambda b: b == busy_bucket,
        published=everything,
    )
    assert draining.serving == everything - theirs  # no new work in any of them
    assert draining.held == (everything - theirs) | {busy_bucket}  # still in flight
    drained = step(
        draining,
        "a",
        live(a=draining.held, b=frozenset()),
        busy=lambda b: False,
        published=draining.held,
    )
    assert drained.held == everything - theirs


def test_two_claims_from_different_views_never_both_start() -> None:
    # b and c both think they are the bucket's owner (each has not seen the other).
    bucket = 7
    b_claim = ShardState(held=frozenset({bucket}), pending=frozenset({bucket}))
    c_claim = ShardState(held=frozenset({bucket}), pending=frozenset({bucket}))
    # Both claims were written before either listed: both see a rival and withdraw.
    b_after = step(
        b_claim,
        "b",
        live(b=b_claim.held, c=c_claim.held),
        busy=lambda _: False,
        published=b_claim.held,
    )
    c_after = step(
        c_claim,
        "c",
        live(b=b_claim.held, c=c_claim.held),
        busy=lambda _: False,
        published=c_claim.held,
    )
    assert bucket not in b_after.serving and bucket not in c_after.serving


@dataclass
class Replica:
    name: str
    state: ShardState = field(default_factory=ShardState)
    published: frozenset[int] = frozenset()
    in_flight: set[int] = field(default_factory=set)
    view: dict[str, Member] = field(default_factory=dict)
    alive: bool = True


@pytest.mark.parametrize("seed", range(25))
def test_random_interleavings_joins_and_crashes_never_double_work(seed: int) -> None:
    rng = random.Random(seed)
    table: dict[str, frozenset[int]] = {}  # what the API server stores: name -> held
    expired: set[str] = set()  # crashed replicas whose Lease expired
    replicas = [Replica(f"r{n}") for n in range(3)]
    for replica in replicas:
        table[replica.name] = frozenset()
    for tick in range(400):
        if tick in (100, 180):
            joiner = Replica(f"r{len(replicas)}")
            replicas.append(joiner)
            table[joiner.name] = frozenset()
        if tick == 250:
            victim = rng.choice([r for r in replicas if r.alive])
            victim.alive = False  # kill -9: its in-flight work dies with it
            victim.in_flight.clear()
            victim.state = ShardState()
        if tick == 290:
            expired.update(r.name for r in replicas if not r.alive)
        replica = rng.choice([r for r in replicas if r.alive])
        _operate(replica, rng.choice(["list", "write", "work", "finish"]), table, expired, rng)
        _assert_no_double_work(replicas)
    # And it converges: with quiet views, every live replica ends up on its share.
    alive = [r for r in replicas if r.alive]
    for _ in range(6):
        for replica in alive:
            replica.in_flight.clear()
            replica.view = {n: Member(n, h) for n, h in table.items() if n not in expired}
            replica.state = step(
                replica.state,
                replica.name,
                replica.view,
                busy=lambda b: False,
                published=replica.published,
            )
            table[replica.name] = replica.published = replica.state.held
    target = hashring.assign(r.name for r in alive)
    for replica in alive:
        assert replica.state.serving == target[replica.name]


def _operate(
    replica: Replica,
    operation: str,
    table: dict[str, frozenset[int]],
    expired: set[str],
    rng: random.Random,
) -> None:
    if operation == "list":
        replica.view = {
            name: Member(name, held) for name, held in table.items() if name not in expired
        }
        replica.state = step(
            replica.state,
            replica.name,
            replica.view,
            busy=lambda b: b in replica.in_flight,
            published=replica.published,
        )
    elif operation == "write":
        table[replica.name] = replica.published = replica.state.held
    elif operation == "work" and replica.state.serving:
        replica.in_flight.add(rng.choice(sorted(replica.state.serving)))
    elif operation == "finish" and replica.in_flight:
        replica.in_flight.discard(rng.choice(sorted(replica.in_flight)))


def _assert_no_double_work(replicas: list[Replica]) -> None:
    working: dict[int, str] = {}
    for other in replicas:
        for bucket in other.state.serving | other.in_flight:
            assert bucket not in working, (
                f"bucket {bucket} worked on by {working[bucket]} and {other.name}"
            )
            working[bucket] = other.name


class FakeMembership:
    def __init__(self, identity: str, table: dict[str, frozenset[int]]) -> None:
        self.config = MemberConfig(
            namespace="ns",
            ring="ring",
            identity=identity,
            lease_seconds=15,
            renew_deadline=10,
            retry_period=2,
        )
        self.table = table
        self.now = 0.0
        self.last_renewed: float | None = None
        self.writable = True
        self.failing_takes = 0.0  # how long a failing renewal holds the tick

    def clock(self) -> float:
        return self.now

    def view(self) -> RingView:
        return RingView(live={n: Member(n, h) for n, h in self.table.items()})

    def renew(self, held: frozenset[int]) -> bool:
        if not self.writable:
            self.now += self.failing_takes
            return False
        self.table[self.config.identity] = held
        self.last_renewed = self.now
        return True

    def leave(self) -> None:
        self.table.pop(self.config.identity, None)

    def lapse(self) -> None:
        self.last_renewed = None

    def is_dead(self, identity: str) -> bool:
        return False


def test_the_coordinator_gates_workers_and_restarts_watches_on_change() -> None:
    table: dict[str, frozenset[int]] = {}
    membership = FakeMembership("a", table)
    coordinator = Coordinator(membership)  # type: ignore[arg-type]
    changes: list[frozenset[int]] = []
    coordinator.on_change(lambda: changes.append(coordinator.serving()))
    coordinator.tick()  # claims, writes, lists again, verifies: serving at once
    assert coordinator.serving() == frozenset(range(hashring.BUCKETS))
    assert changes == [coordinator.serving()]
    assert coordinator.joined.is_set()
    obj = {"metadata": {"uid": "0b1c7a52-5d0e-4a36-9a4e-9f7f61a0d7a1"}}
    bucket = coordinator.begin(obj)
    assert bucket == hashring.bucket_of(obj["metadata"]["uid"])
    # A second member joins: this one stops taking its buckets, drains the busy one.
    table["b"] = frozenset()
    coordinator.tick()
    theirs = hashring.assign(["a", "b"])["b"]
    assert coordinator.serving() == frozenset(range(hashring.BUCKETS)) - theirs
    if bucket in theirs:
        assert bucket in table["a"]  # still in flight: not released yet
        assert coordinator.begin(obj) is None
        coordinator.end(bucket)
        coordinator.tick()
    assert table["a"] == frozenset(range(hashring.BUCKETS)) - theirs


def test_a_replica_that_cannot_renew_stops_serving_before_its_lease_expires() -> None:
    table: dict[str, frozenset[int]] = {}
    membership = FakeMembership("a", table)
    coordinator = Coordinator(membership)  # type: ignore[arg-type]
    coordinator.tick()
    assert coordinator.serving()
    membership.writable = False
    membership.now = 9.0
    coordinator.tick()
    assert coordinator.serving()  # within the renew deadline: keeps working
    membership.now = 10.5  # past the deadline, before the 15 s expiry
    coordinator.tick()
    assert coordinator.serving() == frozenset()
    # Its old claims are forgotten; new ones wait for a write and a verifying listing.
    assert coordinator.state.pending == coordinator.state.held
    membership.writable = True
    coordinator.tick()
    assert coordinator.serving() == frozenset(range(hashring.BUCKETS))


def test_a_renewal_that_fails_past_the_deadline_stops_serving_in_the_same_tick() -> None:
    """A renewal held until the deadline by an API server that does not answer: the
    replica knows then that its claims lapse, and does not serve one tick longer."""
    table: dict[str, frozenset[int]] = {}
    membership = FakeMembership("a", table)
    coordinator = Coordinator(membership)  # type: ignore[arg-type]
    coordinator.tick()
    membership.writable, membership.failing_takes = False, 1.5
    membership.now = 9.0  # within the deadline when the tick starts; past it when it fails
    coordinator.tick()
    assert membership.now > membership.config.renew_deadline
    assert coordinator.serving() == frozenset()


def test_stop_serving_refuses_new_keys_and_leave_deletes_the_lease() -> None:
    table: dict[str, frozenset[int]] = {}
    membership = FakeMembership("a", table)
    coordinator = Coordinator(membership)  # type: ignore[arg-type]
    coordinator.tick()
    held = coordinator.state.held
    coordinator.stop_serving()
    assert coordinator.begin({"metadata": {"uid": "x"}}) is None
    membership.now = 8.0
    coordinator.tick()
    assert coordinator.serving() == frozenset()
    # Draining: the Lease is still renewed with every bucket held, so nobody
    # starts on them while in-flight helm calls finish.
    assert membership.last_renewed == 8.0 and table["a"] == held
    coordinator.leave()
    assert "a" not in table
    coordinator.run()  # returns at once once left
