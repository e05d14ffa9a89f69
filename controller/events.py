"""Kubernetes Events on bound objects: what `kubectl describe` shows a user.

Recorded the way client-go's event recorder does it (its EventCorrelator):

- an event repeating one already written (same object, type, reason, message)
  within AGGREGATION_SECONDS is not written again: the existing Event is
  patched with a higher `count` and a new `lastTimestamp`, so a release
  failing on every retry is one line `x12 over 5m` rather than twelve;
- more than SIMILAR_MESSAGES different messages for one object, type and
  reason within that window are combined into one Event whose message starts
  "(combined from similar events)";
- each object has a token bucket (BURST events, then one every
  REFILL_SECONDS), so one broken object cannot flood the API server.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from controller.status import now_rfc3339
from lostromos.neterrors import brief_error

log = logging.getLogger(__name__)
COMPONENT = "lostromos-controller"
AGGREGATION_SECONDS = 600.0
SIMILAR_MESSAGES = 10
BURST = 25
REFILL_SECONDS = 300.0
CACHE_SIZE = 4096
MESSAGE_LIMIT = 1024
COMBINED = "(combined from similar events): "


@dataclass
class _Written:
    """An Event this recorder wrote, to patch when it repeats."""

    name: str
    namespace: str
    count: int
    first_timestamp: str
    last_seen: float


@dataclass
class _Bucket:
    tokens: float
    updated: float


class _Lru(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class EventRecorder:
    def __init__(
        self,
        core: client.CoreV1Api,
        *,
        dry_run: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.dry_run = dry_run
        self.instance = socket.gethostname()
        self.clock = clock
        self._lock = threading.Lock()
        self._written: _Lru = _Lru(CACHE_SIZE)
        self._messages: _Lru = _Lru(CACHE_SIZE)  # (object, type, reason) -> {message: seen}
        self._buckets: _Lru = _Lru(CACHE_SIZE)

    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """Best effort: an event that cannot be written never fails a reconcile."""
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace", "default")
        involved = (obj.get("kind"), namespace, metadata.get("name"), metadata.get("uid"))
        with self._lock:
            now = self.clock()
            message, same_as = self._aggregate(
                involved, event_type, reason, message[:MESSAGE_LIMIT], now
            )
            allowed = self._allow(involved, now)
            key = (*involved, event_type, reason, same_as)
            previous = self._written.get(key)
        if not allowed:
            log.debug(
                "event %s dropped: too many events for this object",
                reason,
                extra={"object": f"{namespace}/{metadata.get('name')}"},
            )
            return
        if previous is not None and now - previous.last_seen > AGGREGATION_SECONDS:
            previous = None
        if self.dry_run:
            return
        # The API calls run outside the lock: a slow API server must not hold up
        # every worker that wants to record an event.
        try:
            written = self._patch(previous, message, now) if previous is not None else None
            if written is None:
                written = self._create(obj, namespace, (event_type, reason, message), now)
        except (ApiException, HTTPError, OSError) as error:
            log.warning(
                "could not record event %s: %s",
                reason,
                brief_error(error),
                extra={"object": f"{namespace}/{metadata.get('name')}"},
            )
            return
        with self._lock:
            self._written.remember(key, written)

    def _aggregate(
        self, involved: tuple, event_type: str, reason: str, message: str, now: float
    ) -> tuple[str, str]:
        """The message to write, and what makes it the same event as an earlier one."""
        seen: dict[str, float] = self._messages.get((*involved, event_type, reason)) or {}
        seen = {text: when for text, when in seen.items() if now - when <= AGGREGATION_SECONDS}
        seen[message] = now
        self._messages.remember((*involved, event_type, reason), seen)
        if len(seen) > SIMILAR_MESSAGES:
            return (COMBINED + message)[:MESSAGE_LIMIT], COMBINED
        return message, message

    def _allow(self, involved: tuple, now: float) -> bool:
        bucket: _Bucket | None = self._buckets.get(involved)
        if bucket is None:
            bucket = _Bucket(float(BURST), now)
        bucket.tokens = min(float(BURST), bucket.tokens + (now - bucket.updated) / REFILL_SECONDS)
        bucket.updated = now
        self._buckets.remember(involved, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _patch(self, previous: _Written, message: str, now: float) -> _Written | None:
        """Count the repeat on the Event already written; None if it is gone (expired)."""
        count = previous.count + 1
        try:
            self.core.patch_namespaced_event(
                previous.name,
                previous.namespace,
                {"count": count, "lastTimestamp": now_rfc3339(), "message": message},
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _Written(previous.name, previous.namespace, count, previous.first_timestamp, now)

    def _create(
        self, obj: dict[str, Any], namespace: str, what: tuple[str, str, str], now: float
    ) -> _Written:
        event_type, reason, message = what
        metadata = obj.get("metadata") or {}
        timestamp = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{metadata.get('name', 'object')}.",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace", ""),  # "" for a Namespace, a Node
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": "lostromos.dev/controller",
            "reportingInstance": self.instance,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
        }
        # the client sends a dict as it is; its stubs only name the model class
        created = self.core.create_namespaced_event(namespace, body)  # type: ignore[arg-type]
        name = _name_of(created)
        return _Written(name, namespace, 1, timestamp, now)


def _name_of(created: Any) -> str:
    if isinstance(created, dict):
        return str((created.get("metadata") or {}).get("name", ""))
    return str(created.metadata.name)
