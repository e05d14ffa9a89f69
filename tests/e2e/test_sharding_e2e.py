"""Sharded controller replicas on the real API server: shares, handoffs, the ring-wide
rollout gate, and the API server's own hash-range filtering (ShardedListAndWatch)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from controller.sharding import hashring
from tests.e2e.controllerkit import (
    ROOT,
    BoundKind,
    Ring,
    all_releases,
    count_ready,
    create_many,
    list_objects,
)
from tests.e2e.silentproxy import SilentProxy, logged_at
from tests.support import Cluster, eventually

pytestmark = pytest.mark.e2e
PLAIN = ROOT / "tests/charts/plain"  # one ConfigMap per release: the ring's work, not helm's


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "shard-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    return cluster.namespace(name)


@pytest.fixture
def rings():
    started: list[Ring] = []
    yield started
    for ring in started:
        ring.stop_all()


def new_ring(
    rings: list[Ring],
    cluster: Cluster,
    kind: BoundKind,
    tmp_path: Path,
    namespace: str,
    *extra: str,
) -> Ring:
    ring = Ring(cluster, kind, tmp_path, namespace, *extra)
    rings.append(ring)
    return ring


def helm_installs(ring: Ring) -> dict[str, float]:
    return {
        r.identity: r.metric("lostromos_helm_calls_total", action="upgrade") for r in ring.running()
    }


def another_operation_events(cluster: Cluster, namespace: str) -> list[str]:
    events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    return [
        e.get("message", "") for e in events["items"] if "another operation" in e.get("message", "")
    ]


def test_three_replicas_share_600_sites_and_never_repeat_a_release(
    cluster: Cluster, namespace: str, tmp_path: Path, rings
) -> None:
    kind = BoundKind(cluster, tmp_path, source=PLAIN, concurrency=6)
    ring = new_ring(rings, cluster, kind, tmp_path, namespace)
    ring.add(3)
    eventually(ring.settled, timeout=60, message="three replicas share the hash space")
    names = [f"s{i:03d}" for i in range(600)]
    create_many(kind, names, namespace)
    eventually(
        lambda: count_ready(kind, namespace) == len(names),
        timeout=900,
        interval=3,
        message="600 Sites Ready",
    )

    installs = helm_installs(ring)
    shares = {who: count / len(names) for who, count in installs.items()}
    print("share of installs per replica:", shares)
    assert all(0.20 <= share <= 0.47 for share in shares.values()), shares
    # One helm action per object in all: no replica repeated another's release.
    assert sum(installs.values()) == len(names)
    releases = all_releases(cluster, namespace)
    assert sorted(releases) == names
    assert {r["revision"] for r in releases.values()} == {"1"}
    assert {r["status"] for r in releases.values()} == {"deployed"}
    # Each replica's store holds exactly the objects of the buckets it serves.
    held = ring.held()
    by_replica = {who: 0 for who in held}
    for obj in list_objects(kind, namespace):
        bucket = hashring.bucket_of(obj["metadata"]["uid"])
        by_replica[next(who for who, buckets in held.items() if bucket in buckets)] += 1
    binding = kind.plural[:-1]
    assert {
        r.identity: int(r.metric("lostromos_objects", binding=binding)) for r in ring.running()
    } == by_replica


def test_kill9_of_a_replica_mid_burst_moves_its_share(
    cluster: Cluster, namespace: str, tmp_path: Path, rings
) -> None:
    kind = BoundKind(cluster, tmp_path, concurrency=4)
    ring = new_ring(rings, cluster, kind, tmp_path, namespace)
    ring.add(3)
    eventually(ring.settled, timeout=60, message="three replicas share the hash space")
    names = [f"k{i:02d}" for i in range(60)]
    create_many(kind, names, namespace)
    victim = ring.replicas[0]
    eventually(
        lambda: victim.metric("lostromos_helm_calls_total", action="upgrade") >= 2,
        timeout=180,
        interval=0.2,
        message="the victim is installing",
    )
    victims_buckets = ring.held()[victim.identity]
    victim.kill()  # SIGKILL mid-burst: its helm processes die with it
    killed_at = time.monotonic()
    assert count_ready(kind, namespace) < len(names), "burst finished before the kill"

    eventually(
        lambda: ring.settled() and len(ring.buckets()) == 2,
        timeout=120,
        message="the survivors took the dead replica's buckets",
    )
    print(f"handoff after kill -9: {time.monotonic() - killed_at:.1f}s (lease 6s, resync 30s)")
    held = ring.held()
    assert victims_buckets <= held[ring.replicas[1].identity] | held[ring.replicas[2].identity]
    eventually(
        lambda: count_ready(kind, namespace) == len(names),
        timeout=300,
        interval=2,
        message="all Ready after the kill",
    )
    releases = all_releases(cluster, namespace)
    assert sorted(releases) == names
    assert {r["status"] for r in releases.values()} == {"deployed"}
    assert all_releases(cluster, namespace, "--pending") == {}
    assert another_operation_events(cluster, namespace) == []


def test_scaling_3_5_2_during_a_chart_rollout_keeps_the_ring_wide_limit(
    cluster: Cluster, namespace: str, tmp_path: Path, rings
) -> None:
    from tests.e2e.test_controller import bump_chart_version

    limit = 3
    kind = BoundKind(
        cluster,
        tmp_path,
        source=PLAIN,
        concurrency=4,
        rollout={"maxInFlight": limit, "maxFailureRatio": 0.5, "minSamples": 5},
    )
    ring = new_ring(rings, cluster, kind, tmp_path, namespace)
    ring.add(3)
    eventually(ring.settled, timeout=60)
    names = [f"r{i:02d}" for i in range(60)]
    create_many(kind, names, namespace)
    eventually(lambda: count_ready(kind, namespace) == len(names), timeout=300, interval=2)

    record = f"ring-{kind.plural}-rollout-{kind.plural[:-1]}"
    peak = {"in_flight": 0}

    def sample() -> int:
        result = cluster.kubectl("get", "lease", record, "-n", namespace, "-o", "json", check=False)
        if result.returncode == 0:
            text = json.loads(result.stdout)["metadata"]["annotations"]["lostromos.dev/rollout"]
            peak["in_flight"] = max(peak["in_flight"], sum(json.loads(text)["slots"].values()))
        return count_ready(kind, namespace, chart_version="2.1.0")

    bump_chart_version(kind.chart, "2.1.0")
    eventually(lambda: sample() >= 5, timeout=120, interval=0.5, message="rollout started")
    ring.add(2)  # 3 -> 5 in the middle of the rollout
    eventually(lambda: ring.settled() and len(ring.buckets()) == 5, timeout=90, interval=0.5)
    eventually(lambda: sample() >= 20, timeout=180, interval=0.5)
    peaks = [r.metric("lostromos_rollout_ring_in_flight_max") for r in ring.running()]
    for leaving in ring.running()[:3]:  # 5 -> 2: graceful stops, one after the other
        peaks.append(leaving.metric("lostromos_rollout_ring_in_flight_max"))
        assert leaving.terminate() == 0
    eventually(
        lambda: sample() == len(names),
        timeout=300,
        interval=0.5,
        message="every release on chart 2.1.0",
    )
    peaks += [r.metric("lostromos_rollout_ring_in_flight_max") for r in ring.running()]
    print(
        f"ring-wide upgrades in flight: metric max {max(peaks):.0f}, "
        f"sampled max {peak['in_flight']}, limit {limit}"
    )
    assert 1 <= max(peaks) <= limit
    assert peak["in_flight"] <= limit
    releases = all_releases(cluster, namespace)
    assert {r["revision"] for r in releases.values()} == {"2"}  # one upgrade each
    assert all_releases(cluster, namespace, "--pending") == {}


def _events_per_replica(
    ring: Ring, kind: BoundKind, namespace: str, names: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Touch every object once; return (events each replica's watch got, its share)."""
    binding = kind.plural[:-1]
    before = {
        r.identity: r.metric("lostromos_shard_watch_events", binding=binding)
        for r in ring.running()
    }
    ring.cluster.kubectl("annotate", kind.resource, "-n", namespace, "--all", "touched=yes")
    held = ring.held()
    share = {who: 0 for who in held}
    for obj in list_objects(kind, namespace):
        bucket = hashring.bucket_of(obj["metadata"]["uid"])
        share[next(who for who, buckets in held.items() if bucket in buckets)] += 1

    def received() -> dict[str, int] | None:
        got = {
            r.identity: int(
                r.metric("lostromos_shard_watch_events", binding=binding) - before[r.identity]
            )
            for r in ring.running()
        }
        return got if sum(got.values()) >= len(names) else None

    got = eventually(received, timeout=60, message="annotation events received")
    time.sleep(2)  # late events would only add to the counts; let them land
    return {who: int(n) for who, n in (received() or got).items()}, share


@pytest.mark.parametrize("server_side", [True, False], ids=["gate-on", "gate-off"])
def test_each_watch_receives_only_its_share_with_the_gate_and_all_without(
    server_side: bool, tmp_path: Path, rings
) -> None:
    """A control plane of its own, with ShardedListAndWatch on or off."""
    from lostromos import toolchain
    from lostromos.dev.cluster import DevCluster, DevOptions

    tools = toolchain.ensure()
    dev = DevCluster(
        DevOptions(
            state_dir=tmp_path / "plane",
            bindings_path=ROOT / "lostromos.yaml",
            crds_dir=ROOT / "crds",
            examples_dir=None,
            tools=tools,
            sharded_list_watch=server_side,
        ),
        say=lambda line: None,
    )
    dev.start_control_plane()
    try:
        own = Cluster.of(dev, tools)
        kind = BoundKind(own, tmp_path, source=PLAIN)
        ring = new_ring(rings, own, kind, tmp_path, "default")
        ring.add(3)
        eventually(ring.settled, timeout=60)
        names = [f"w{i:02d}" for i in range(45)]
        create_many(kind, names, "default")
        eventually(lambda: count_ready(kind, "default") == len(names), timeout=300, interval=2)
        binding = kind.plural[:-1]
        expected_side = 1.0 if server_side else 0.0
        assert [
            r.metric("lostromos_shard_server_side", binding=binding) for r in ring.running()
        ] == [expected_side] * 3

        got, share = _events_per_replica(ring, kind, "default", names)
        print(f"server-side={server_side}: events per replica {got}, shares {share}")
        if server_side:
            assert got == share  # each watch carried exactly its own objects' events
        else:
            assert got == {who: len(names) for who in share}  # every event, filtered here
        # The results are the same either way: each store holds exactly its share,
        # and every object was installed once, by its owner.
        assert {
            r.identity: int(r.metric("lostromos_objects", binding=binding)) for r in ring.running()
        } == share
        assert {
            r.identity: int(r.metric("lostromos_helm_calls_total", action="upgrade"))
            for r in ring.running()
        } == share
    finally:
        for r in rings:
            r.stop_all()
        dev.stop()


def test_a_replica_whose_api_server_goes_silent_gives_its_buckets_up_before_they_move(
    cluster: Cluster, namespace: str, tmp_path: Path, rings
) -> None:
    """One replica reaches the API server through a relay that goes silent. Its ring
    requests end by the renew deadline, so it serves nothing before its Lease expires
    and the other replica takes the whole ring; without a deadline it would wait on
    the silent server for good, still serving its buckets beside their new owner."""
    kind = BoundKind(cluster, tmp_path, source=PLAIN)
    # the production Lease (15 s, renew deadline 10 s): seconds between the two events
    ring = Ring(cluster, kind, tmp_path, namespace, lease_seconds=15)
    rings.append(ring)
    relay = SilentProxy(cluster.kubeconfig)
    try:
        through = relay.kubeconfig(tmp_path / "through-relay.kubeconfig")
        (cut_off,) = ring.add(1, "--kubeconfig", str(through))
        (other,) = ring.add(1)
        eventually(ring.settled, timeout=60, message="two replicas share the hash space")

        relay.silent.set()
        took_all = f"serving {hashring.BUCKETS} of {hashring.BUCKETS} hash buckets"
        eventually(
            lambda: logged_at(other.log(), took_all),
            timeout=90,
            message="the other replica serves the whole ring",
        )
        gave_up = logged_at(cut_off.log(), "could not renew the ring lease")
        assert gave_up is not None, "the cut-off replica still serves its buckets"
        assert gave_up < (logged_at(other.log(), took_all, last=True) or "")
    finally:
        relay.close()
