"""Ring membership: one coordination.k8s.io/v1 Lease per controller replica.

Each replica keeps a Lease named `<ring>-<identity>` in the operator's
namespace, labelled `lostromos.dev/ring=<ring>`, renewed every tick, with the
buckets it currently holds in an annotation. A member is live while its Lease
keeps changing: expiry is judged on this process's own monotonic clock (how
long since this process last saw the Lease's resourceVersion change?), never
by comparing the renewTime another machine wrote with this machine's clock,
so clock skew between replicas cannot make a live member look dead.

Every request of the ring ends by the renew deadline (`_timeout`): one held by an
API server that stopped answering would otherwise keep this replica serving its
buckets past its Lease's expiry, beside the replicas that took them over.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.sharding import hashring
from lostromos.kube import timeout_until

log = logging.getLogger(__name__)

RING_LABEL = "lostromos.dev/ring"
HELD_ANNOTATION = "lostromos.dev/held-buckets"
# A Lease dead this many lease durations is deleted, so the namespace does not
# collect one Lease per pod that ever ran.
COLLECT_AFTER_DURATIONS = 4
TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class MemberConfig:
    namespace: str
    ring: str
    identity: str
    lease_seconds: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @property
    def lease_name(self) -> str:
        # Identities are host names and pids; a Lease name must be a DNS subdomain.
        name = re.sub(r"[^a-z0-9.-]+", "-", f"{self.ring}-{self.identity}".lower())
        return name[:253].strip("-.")


@dataclass(frozen=True)
class Member:
    identity: str
    held: frozenset[int]


@dataclass
class _Seen:
    version: str
    at: float
    duration: float
    name: str


@dataclass
class RingView:
    """What one listing of the ring's Leases said, judged on the local clock."""

    live: dict[str, Member] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)


def _brief(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"


def _now_micro() -> str:
    # The Lease's MicroTime as text: the client's models declare datetime, but send a
    # string as it is, and this keeps the microseconds exactly as client-go writes them.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Membership:
    def __init__(
        self,
        api: client.CoordinationV1Api,
        config: MemberConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.config = config
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._dead: set[str] = set()
        self.last_renewed: float | None = None

    def renew(self, held: frozenset[int]) -> bool:
        """Write this replica's Lease (creating it on first use) with `held`.

        Returns False if the write failed; the caller decides, by the renew
        deadline, when the claims it published must be treated as lost.
        """
        cfg = self.config
        started = self.clock()
        now = _now_micro()
        labels = {RING_LABEL: cfg.ring}
        annotations = {HELD_ANNOTATION: hashring.encode(held)}
        spec = {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": int(cfg.lease_seconds),
            "renewTime": now,
        }
        try:
            try:
                # The Lease is this replica's alone: a patch needs no resourceVersion.
                self.api.patch_namespaced_lease(
                    cfg.lease_name,
                    cfg.namespace,
                    {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec},
                    _request_timeout=self._timeout(),
                )
            except ApiException as error:
                if error.status != 404:
                    raise
                self.api.create_namespaced_lease(
                    cfg.namespace,
                    client.V1Lease(
                        metadata=client.V1ObjectMeta(
                            name=cfg.lease_name,
                            namespace=cfg.namespace,
                            labels=labels,
                            annotations=annotations,
                        ),
                        spec=client.V1LeaseSpec(
                            holder_identity=cfg.identity,
                            lease_duration_seconds=int(cfg.lease_seconds),
                            acquire_time=now,  # type: ignore[arg-type]  # see _now_micro
                            renew_time=now,  # type: ignore[arg-type]
                        ),
                    ),
                    _request_timeout=self._timeout(),
                )
        except TRANSIENT as error:
            log.warning("ring lease renewal failed: %s", _brief(error))
            return False
        # Measured from before the request: the earliest moment anyone can
        # have seen this renewal, so the renew deadline is never overstated.
        self.last_renewed = started
        return True

    def view(self) -> RingView:
        """List the ring's Leases; raises on API errors (the caller skips the tick)."""
        cfg = self.config
        listing = self.api.list_namespaced_lease(
            cfg.namespace,
            label_selector=f"{RING_LABEL}={cfg.ring}",
            _request_timeout=self._timeout(),
        )
        now = self.clock()
        view = RingView()
        present: set[str] = set()
        for lease in listing.items or ():
            spec, metadata = lease.spec, lease.metadata
            identity = (spec.holder_identity if spec else None) or ""
            if spec is None or metadata is None or not identity:
                continue  # released by a replica that shut down cleanly
            present.add(identity)
            version = str(metadata.resource_version)
            duration = float(spec.lease_duration_seconds or cfg.lease_seconds)
            seen = self._seen.get(identity)
            if seen is None or seen.version != version:
                seen = self._seen[identity] = _Seen(version, now, duration, str(metadata.name))
                self._dead.discard(identity)
            if identity == cfg.identity or now - seen.at <= seen.duration:
                held = hashring.decode((metadata.annotations or {}).get(HELD_ANNOTATION))
                view.live[identity] = Member(identity, held)
            else:
                self._dead.add(identity)
                if now - seen.at > COLLECT_AFTER_DURATIONS * seen.duration:
                    self._collect(seen, version)
        for identity in set(self._seen) - present:
            # A Lease that vanished belonged to a replica that shut down (it
            # deletes its Lease after draining) or was collected: dead either way.
            self._dead.add(identity)
            del self._seen[identity]
        view.dead = set(self._dead)
        return view

    def _timeout(self) -> float:
        """What a request may take: until the renew deadline of the last renewal (a
        whole deadline before the first, or after the claims lapsed: `lapse`)."""
        start = self.clock() if self.last_renewed is None else self.last_renewed
        return timeout_until(start + self.config.renew_deadline, self.clock())

    def lapse(self) -> None:
        """The last renewal's claims are void (its deadline passed and they were
        forgotten): from now on this replica joins as a new member would."""
        self.last_renewed = None

    def is_dead(self, identity: str) -> bool:
        """Known dead (seen expired or gone). A member never seen counts as live:
        it may have joined since the last listing."""
        return identity in self._dead

    def leave(self) -> None:
        """Delete this replica's Lease: called after draining, it releases every bucket."""
        cfg = self.config
        try:
            self.api.delete_namespaced_lease(cfg.lease_name, cfg.namespace)
        except TRANSIENT as error:
            log.warning("could not delete the ring lease (it expires on its own): %s", error)

    def _collect(self, seen: _Seen, version: str) -> None:
        try:
            # The precondition keeps a Lease that was renewed meanwhile.
            self.api.delete_namespaced_lease(
                seen.name,
                self.config.namespace,
                body=client.V1DeleteOptions(
                    preconditions=client.V1Preconditions(resource_version=version)
                ),
                _request_timeout=self._timeout(),
            )
            log.info("deleted the expired ring lease %s", seen.name)
        except TRANSIENT as error:
            log.debug("could not delete expired lease %s: %s", seen.name, error)
