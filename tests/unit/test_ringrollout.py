"""The ring-wide rollout gate: one shared record, optimistic concurrency, dead slots."""

from __future__ import annotations

import copy
import threading

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.sharding.ringrollout import RingRollout, RingRolloutState
from lostromos.config import RolloutPolicy


class FakeLeases:
    """Leases with the API server's resourceVersion check on replace."""

    def __init__(self) -> None:
        self.leases: dict[str, client.V1Lease] = {}
        self.version = 0
        self.lock = threading.Lock()
        self.conflicts = 0
        self.fail = False
        self.reads = self.writes = 0

    def _bump(self, lease: client.V1Lease) -> client.V1Lease:
        self.version += 1
        lease.metadata.resource_version = str(self.version)
        self.leases[lease.metadata.name] = copy.deepcopy(lease)
        return copy.deepcopy(lease)

    def read_namespaced_lease(self, name: str, namespace: str) -> client.V1Lease:
        with self.lock:
            self.reads += 1
            if self.fail:
                raise ApiException(status=503, reason="Unavailable")
            if name not in self.leases:
                raise ApiException(status=404, reason="Not Found")
            return copy.deepcopy(self.leases[name])

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease) -> client.V1Lease:
        with self.lock:
            if body.metadata.name in self.leases:
                raise ApiException(status=409, reason="AlreadyExists")
            return self._bump(body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease
    ) -> client.V1Lease:
        with self.lock:
            self.writes += 1
            if self.leases[name].metadata.resource_version != body.metadata.resource_version:
                self.conflicts += 1
                raise ApiException(status=409, reason="Conflict")
            return self._bump(body)

    def state(self, name: str) -> RingRolloutState:
        annotations = self.leases[name].metadata.annotations or {}
        return RingRolloutState.parse(annotations.get("lostromos.dev/rollout"))


POLICY = RolloutPolicy(max_in_flight=3, max_failure_ratio=0.5, min_samples=4)


def replica(
    api: FakeLeases, identity: str, dead: set[str] | None = None, clock: list[float] | None = None
) -> RingRollout:
    now = clock if clock is not None else [0.0]

    # The clock moves on by itself, so the full-gate shortcut stays out of the way
    # unless a test holds it still.
    def tick() -> float:
        if clock is None:
            now[0] += 10
        return now[0]

    return RingRollout(
        "site",
        POLICY,
        api,
        namespace="ops",
        ring="ring",  # type: ignore[arg-type]
        identity=identity,
        is_dead=lambda who: who in (dead or set()),
        clock=tick,
    )


def test_the_limit_holds_across_replicas() -> None:
    api = FakeLeases()
    a, b = replica(api, "a"), replica(api, "b")
    assert a.begin("v2") and b.begin("v2") and a.begin("v2")
    assert not b.begin("v2")  # three in flight across the ring: the fourth waits
    assert not a.begin("v2")
    a.finish("v2", succeeded=True)
    assert b.begin("v2")
    state = api.state("ring-rollout-site")
    assert state.slots == {"a": 1, "b": 2} and state.upgraded == 1


def test_racing_replicas_never_pass_the_limit() -> None:
    api = FakeLeases()
    replicas = [replica(api, f"r{n}") for n in range(6)]
    taken: list[bool] = []
    barrier = threading.Barrier(len(replicas) * 2)

    def race(rollout: RingRollout) -> None:
        barrier.wait()
        taken.append(rollout.begin("v2"))

    threads = [threading.Thread(target=race, args=(r,)) for r in replicas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 3
    assert api.state("ring-rollout-site").in_flight == 3
    assert max(r.max_in_flight_seen for r in replicas) == 3


def test_failures_from_every_replica_halt_the_rollout_for_all() -> None:
    api = FakeLeases()
    a, b = replica(api, "a"), replica(api, "b")
    for rollout, ok in ((a, False), (b, False), (a, True), (b, False)):
        assert rollout.begin("v2")
        rollout.finish("v2", succeeded=ok)
    assert api.state("ring-rollout-site").halted
    assert not a.begin("v2")
    assert a.halted("v2") and b.progress().failed == 3
    # A new chart is a new rollout.
    assert b.begin("v3")
    assert not api.state("ring-rollout-site").halted


def test_a_dead_replicas_slots_are_dropped() -> None:
    api = FakeLeases()
    dead: set[str] = set()
    a, b = replica(api, "a"), replica(api, "b", dead)
    for _ in range(3):
        assert a.begin("v2")
    assert not b.begin("v2")
    dead.add("a")  # a was killed with three upgrades in flight; its Lease expired
    assert b.begin("v2")
    assert api.state("ring-rollout-site").slots == {"b": 1}


def test_an_unreachable_record_means_not_now_and_heals_on_the_next_write() -> None:
    api = FakeLeases()
    a = replica(api, "a")
    assert a.begin("v2")
    api.fail = True
    assert not a.begin("v2")  # no slot without the record
    a.finish("v2", succeeded=True)  # not written...
    api.fail = False
    assert a.begin("v2")  # ...until the next write carries it
    state = api.state("ring-rollout-site")
    assert state.slots == {"a": 1} and state.upgraded == 1


def test_a_full_gate_costs_no_write_and_is_not_reread_at_once() -> None:
    api = FakeLeases()
    clock = [0.0]
    a, b = replica(api, "a"), replica(api, "b", clock=clock)
    for _ in range(3):
        assert a.begin("v2")
    writes = api.writes
    assert not b.begin("v2")
    assert api.writes == writes  # refused: nothing to write
    reads = api.reads
    for _ in range(50):
        assert not b.begin("v2")
    assert api.reads == reads  # believed full for a second
    a.finish("v2", succeeded=True)
    clock[0] += 1.5
    assert b.begin("v2")


def test_would_admit_is_a_look_that_trusts_only_a_fresh_full_gate() -> None:
    """The reconciler asks before it starts an upgrade; a stale view must not hold it."""
    api = FakeLeases()
    clock = [0.0]
    a, b = replica(api, "a"), replica(api, "b", clock=clock)
    for _ in range(3):
        assert a.begin("v2")
    assert not b.begin("v2")  # b has read the record: full
    reads = api.reads
    assert not b.would_admit("v2")  # full, and just read: no API call to say so
    assert b.would_admit("v3")  # another chart: a new rollout
    assert api.reads == reads
    clock[0] += 1.5
    assert b.would_admit("v2")  # stale: begin() reads the record itself
