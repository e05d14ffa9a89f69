"""Leader election on a coordination.k8s.io/v1 Lease, as client-go does it.

Only the holder of the Lease reconciles; the others wait. Expiry is judged on
this process's own monotonic clock (when did the record last change?), never
by comparing timestamps written by other machines, so clock skew between
replicas cannot produce two leaders. A leader that cannot renew within the
renew deadline stops leading (the caller exits), and a leader shutting down
releases the Lease so a standby takes over at once instead of after expiry.

Every attempt's requests end by the renew deadline, as client-go bounds each
renewal by its context: a request held by an API server that stopped answering
would otherwise keep this process leading past the Lease's expiry, beside the
standby that took it over.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lostromos.kube import timeout_until

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_seconds: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _now_micro() -> str:
    # The Lease's MicroTime as text: the client's models declare datetime, but send a
    # string as it is, and this keeps the microseconds exactly as client-go writes them.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: client.CoordinationV1Api,
        config: LeaseConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.config = config
        self.clock = clock
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self.leading = threading.Event()

    # -- public ---------------------------------------------------------------

    def run(self, stop: threading.Event, on_started: Callable[[], None]) -> bool:
        """Acquire, call `on_started`, renew until `stop` or loss.

        Returns True when stopped on request, False when leadership was lost
        (the caller must stop working at once). On True the Lease is still held:
        the caller drains its in-flight work first, then calls `release`, so a
        standby never starts while this process is still reconciling.
        """
        while not stop.is_set():
            if self._try_acquire_or_renew(self.clock() + self.config.renew_deadline):
                break
            stop.wait(self.config.retry_period)
        else:
            return True
        self.leading.set()
        log.info(
            "became leader", extra={"lease": self.config.name, "identity": self.config.identity}
        )
        on_started()
        last_renewed = self.clock()
        while not stop.wait(self.config.retry_period):
            if self._try_acquire_or_renew(last_renewed + self.config.renew_deadline):
                last_renewed = self.clock()
            elif self.clock() - last_renewed >= self.config.renew_deadline:
                self.leading.clear()
                log.error(
                    "lost leadership: could not renew the lease in time",
                    extra={"lease": self.config.name},
                )
                return False
        return True

    def release(self) -> None:
        """Give the Lease up so a standby does not wait for it to expire."""
        self.leading.clear()
        try:
            lease = self._get()
            if (
                lease is None
                or lease.spec is None
                or (lease.spec.holder_identity != self.config.identity)
            ):
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now_micro()  # type: ignore[assignment]  # see _now_micro
            self.api.replace_namespaced_lease(self.config.name, self.config.namespace, lease)
            log.info("released leadership", extra={"lease": self.config.name})
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.warning("could not release the lease: %s", error)

    # -- internals ------------------------------------------------------------

    def _get(self, deadline: float | None = None) -> client.V1Lease | None:
        try:
            return self.api.read_namespaced_lease(
                self.config.name, self.config.namespace, _request_timeout=self._left(deadline)
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _left(self, deadline: float | None) -> float | None:
        """A request's timeout that ends it by `deadline` (on self.clock); None: the
        client's default."""
        return None if deadline is None else timeout_until(deadline, self.clock())

    def _try_acquire_or_renew(self, deadline: float) -> bool:
        """One attempt, its requests ended by `deadline` (a failure, if they were)."""
        cfg = self.config
        now = _now_micro()
        if self.clock() >= deadline:
            return False
        try:
            lease = self._get(deadline)
            if lease is None:
                self.api.create_namespaced_lease(
                    cfg.namespace,
                    client.V1Lease(
                        metadata=client.V1ObjectMeta(name=cfg.name, namespace=cfg.namespace),
                        spec=client.V1LeaseSpec(
                            holder_identity=cfg.identity,
                            lease_duration_seconds=int(cfg.lease_seconds),
                            acquire_time=now,  # type: ignore[arg-type]  # see _now_micro
                            renew_time=now,  # type: ignore[arg-type]
                            lease_transitions=0,
                        ),
                    ),
                    _request_timeout=self._left(deadline),
                )
                self._remember(None)
                return True
            spec = lease.spec or client.V1LeaseSpec()
            lease.spec = spec
            record = {
                "holder": spec.holder_identity,
                "renew": str(spec.renew_time),
                "duration": spec.lease_duration_seconds,
            }
            if record != self._observed:
                self._remember(record)
            holder = spec.holder_identity
            expired = not holder or self.clock() - self._observed_at > (
                spec.lease_duration_seconds or 0
            )
            if holder != cfg.identity and not expired:
                return False
            if holder != cfg.identity:
                spec.acquire_time = now  # type: ignore[assignment]
                spec.lease_transitions = (spec.lease_transitions or 0) + 1
            spec.holder_identity = cfg.identity
            spec.lease_duration_seconds = int(cfg.lease_seconds)
            spec.renew_time = now  # type: ignore[assignment]
            # replace carries resourceVersion: of two racing candidates, one gets 409.
            self.api.replace_namespaced_lease(
                cfg.name, cfg.namespace, lease, _request_timeout=self._left(deadline)
            )
            self._remember(
                {"holder": cfg.identity, "renew": now, "duration": int(cfg.lease_seconds)}
            )
            return True
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            log.debug("lease attempt failed: %s", error)
            return False

    def _remember(self, record: dict[str, Any] | None) -> None:
        self._observed = record
        self._observed_at = self.clock()
