"""The informer with a shard: only its buckets reach the store, and a restart relists."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from controller.informer import Informer
from controller.sharding import hashring
from controller.sharding.shardlist import ShardWatch
from lostromos.config import Binding, ChartRef

UIDS = [str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128))) for n in range(30)]
BINDING = Binding(
    name="site",
    group="hosting.example.com",
    version="v1",
    kind="Site",
    plural="sites",
    chart=ChartRef(path=Path("charts/site")),
)


def site(n: int, version: str = "10") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"s{n}",
            "namespace": "default",
            "uid": UIDS[n],
            "resourceVersion": version,
        },
        "spec": {},
    }


class Lister(ShardWatch):
    """A ShardWatch whose server ignores shardSelector and holds every object."""

    def __init__(self, buckets: dict[str, frozenset[int]]) -> None:
        super().__init__(None, lambda: buckets["now"], server_side=False)  # type: ignore[arg-type]
        self.lists = 0

    def __call__(self, group: str, version: str, plural: str, **kwargs: Any) -> Any:
        self.lists += 1
        self._watching = self._buckets()
        items = [site(n) for n in range(len(UIDS))]
        return {
            "items": [i for i in items if self.accepts(i)],
            "metadata": {"resourceVersion": "10"},
        }


def mine(buckets: frozenset[int]) -> list[str]:
    return sorted(
        f"default/s{n}" for n, uid in enumerate(UIDS) if hashring.bucket_of(uid) in buckets
    )


def make(buckets: dict[str, frozenset[int]]) -> tuple[Informer, Lister, list[str]]:
    keys: list[str] = []
    lister = Lister(buckets)
    informer = Informer(None, BINDING, keys.append, shard=lister)  # type: ignore[arg-type]
    return informer, lister, keys


HALF = frozenset(range(0, 256, 2))


def test_events_outside_the_buckets_are_counted_and_dropped() -> None:
    informer, lister, keys = make({"now": HALF})
    informer._list()
    keys.clear()
    for n in range(len(UIDS)):
        changed = {**site(n, "20"), "spec": {"replicas": 2}}
        informer._handle({"type": "MODIFIED", "raw_object": changed}, "10")
    assert lister.events == len(UIDS)
    assert sorted(keys) == mine(HALF)
    assert sorted(informer.all_keys()) == mine(HALF)


def test_own_writes_outside_the_buckets_are_not_kept() -> None:
    informer, _, _ = make({"now": HALF})
    informer._list()
    for n in range(len(UIDS)):
        informer.update(site(n, "30"))
    assert sorted(informer.all_keys()) == mine(HALF)


def test_a_restart_relists_with_the_new_buckets() -> None:
    buckets = {"now": HALF}
    informer, lister, _ = make(buckets)
    stop = threading.Event()
    watches: list[str] = []

    def watch_once(resource_version: str, stop_event: threading.Event) -> str:
        watches.append(resource_version)
        if len(watches) > 3:
            stop.set()  # without a restart the informer would only ever watch again
        elif lister.lists == 1:
            buckets["now"] = frozenset(range(256)) - HALF
            lister.buckets_changed()  # what the ring does when the buckets change
        else:
            stop.set()
        return resource_version

    informer._watch_once = watch_once  # type: ignore[method-assign]
    informer.run(stop)
    assert lister.lists == 2
    assert sorted(informer.all_keys()) == mine(frozenset(range(256)) - HALF)
