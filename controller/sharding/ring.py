"""Wiring of the sharded controller: one ring per process, one share per binding.

Kept apart from controller.main so the single-replica path stays as it was:
main asks for a `Ring` only when sharding is on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kubernetes import client

from controller.metrics import ShardSnapshot
from controller.sharding import hashring
from controller.sharding.membership import MemberConfig, Membership
from controller.sharding.ringrollout import RingRollout
from controller.sharding.shardlist import ShardWatch
from controller.sharding.shards import Coordinator
from lostromos.config import Binding


@dataclass(frozen=True)
class BindingShare:
    """What one binding's informer, workers and rollout use of the ring."""

    coordinator: Coordinator
    watch: ShardWatch
    rollout: RingRollout

    def snapshot(self) -> ShardSnapshot:
        serving = self.coordinator.serving()
        return ShardSnapshot(
            buckets=len(serving),
            ranges=len(hashring.ranges(serving)),
            members=self.coordinator.members,
            watch_events=self.watch.events,
            server_side=bool(self.watch.supported),
            ring_in_flight_max=self.rollout.max_in_flight_seen,
        )


class Ring:
    def __init__(
        self, api_client: client.ApiClient, config: MemberConfig, *, server_side: bool = True
    ) -> None:
        self.api_client = api_client
        self.config = config
        self.server_side = server_side
        self.coordination = client.CoordinationV1Api(api_client)
        self.membership = Membership(self.coordination, config)
        self.coordinator = Coordinator(self.membership)

    def watch(self) -> ShardWatch:
        """A list-and-watch of one kind restricted to this replica's buckets, kept in
        step with the ring (also what a binding's source projector watches with)."""
        watch = ShardWatch(self.api_client, self.coordinator.serving, server_side=self.server_side)
        self.coordinator.on_change(watch.buckets_changed)
        self.coordinator.on_tick(watch.restart_if_stale)
        return watch

    def share(self, binding: Binding) -> BindingShare:
        watch = self.watch()
        rollout = RingRollout(
            binding.name,
            binding.rollout,
            self.coordination,
            namespace=self.config.namespace,
            ring=self.config.ring,
            identity=self.config.identity,
            is_dead=self.membership.is_dead,
        )
        return BindingShare(self.coordinator, watch, rollout)

    def start(self) -> None:
        threading.Thread(target=self.coordinator.run, name="ring", daemon=True).start()

    @property
    def joined(self) -> bool:
        return self.coordinator.joined.is_set()

    def stop_serving(self) -> None:
        self.coordinator.stop_serving()

    def leave(self) -> None:
        self.coordinator.leave()
