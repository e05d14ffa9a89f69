"""Follow the health of every release's workloads and write it to the owning object.

Cost is bounded by what releases own, never by the number of objects: one shared
list-and-watch per workload kind for the whole process (Deployments, StatefulSets,
DaemonSets, PersistentVolumeClaims, Jobs), selected by the label Helm puts on every
object it writes (app.kubernetes.io/managed-by=Helm; an ApplySet binding's members
say lostromos), never a LIST per object. The
store keeps no workload, only its summary (controller/health.py: kind, name, state,
a short message), grouped by the release named in Helm's annotations.

A change marks its release dirty; every FLUSH_SECONDS the dirty releases are
summarised, mapped back to the bound object whose release it is (the binding's
release-name template over the objects of this replica's own store, so sharded
replicas each write only their own objects' health), and a changed summary is
written as the `Healthy` condition, with an Event when the state changes. Every
RESYNC_SECONDS all releases are looked at again, which repairs a condition a
concurrent status write dropped.

A flushed release whose object waits for its workloads before it is Ready
(controller/reconcile/readiness.py) is handed back to its binding's work queue (`requeue`), so
Ready follows the workloads within a flush; `confirm` reads one workload once, when
that wait is about to end.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from controller.health import (
    MANAGED_OBJECTS,
    RULES,
    HealthState,
    ObjectHealth,
    ReleaseHealth,
    object_health,
    release_key,
    release_of,
    summarise,
)
from controller.reconcile.readiness import awaiting
from controller.status import HEALTHY, Condition, condition, merge_conditions
from lostromos.config import Binding
from lostromos.kube import watch_timeout
from lostromos.neterrors import brief_error
from lostromos.rawget import get_collection, list_collection

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
RESYNC_SECONDS = 30.0
WATCH_TIMEOUT_SECONDS = 300
PAGE_SIZE = 500

# kind -> the cluster-wide collection path of the API that serves it
WORKLOAD_PATHS = {
    "Deployment": "/apis/apps/v1/deployments",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "PersistentVolumeClaim": "/api/v1/persistentvolumeclaims",
    "Job": "/apis/batch/v1/jobs",
}
assert set(WORKLOAD_PATHS) == set(RULES)

Release = tuple[str, str]  # (namespace, release name)


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def objects(self) -> list[dict[str, Any]]: ...
    def update(self, obj: dict[str, Any]) -> None: ...


class Events(Protocol):
    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None: ...


@dataclass(frozen=True)
class FollowedBinding:
    """One binding's objects, as the follower needs them."""

    binding: Binding
    store: Store


class HealthSink(Protocol):
    def health_changed(self, binding: str, state: str) -> None: ...
    def health_states(self, binding: str, counts: dict[str, int]) -> None: ...


class _Collection:
    """A callable the watch helper can drive: GET on one collection path, as JSON dicts
    (the client's typed models cost several times the memory and time)."""

    def __init__(self, api_client: client.ApiClient, path: str) -> None:
        self.api_client = api_client
        self.path = path

    def __call__(self, **kwargs: Any) -> Any:
        streaming = bool(kwargs.get("watch"))
        return list_collection(self.api_client, self.path, kwargs, streaming=streaming)


class HealthFollower:
    def __init__(
        self,
        api_client: client.ApiClient,
        bindings: Sequence[FollowedBinding],
        *,
        events: Events,
        sink: HealthSink,
        patch_status: Callable[[Binding, dict[str, Any], dict[str, Any]], dict[str, Any]],
        requeue: Callable[[str, str], None] | None = None,
    ) -> None:
        self.api_client = api_client
        self.bindings = list(bindings)
        self.events = events
        self.sink = sink
        self.patch_status = patch_status
        self.requeue = requeue  # (binding name, object key): its Ready waits on its workloads
        self._lock = threading.Lock()
        # release -> {(kind, name): summary}; the only per-workload memory
        self._releases: dict[Release, dict[tuple[str, str], ObjectHealth]] = {}
        self._where: dict[tuple[str, str, str], Release] = {}  # (kind, ns, name) -> release
        self._dirty: set[Release] = set()
        self._owners: dict[Release, tuple[FollowedBinding, str]] = {}
        self._synced = {kind: threading.Event() for kind in WORKLOAD_PATHS}

    @property
    def synced(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

    def start(self, stop: threading.Event) -> None:
        for kind in WORKLOAD_PATHS:
            threading.Thread(
                target=self._follow, args=(kind, stop), name=f"health-{kind}", daemon=True
            ).start()
        threading.Thread(target=self._flush_loop, args=(stop,), name="health", daemon=True).start()

    # -- the store of summaries --------------------------------------------------

    def observe(self, kind: str, obj: dict[str, Any], deleted: bool = False) -> None:
        """Record one workload's new state (or its deletion) and mark its release dirty."""
        metadata = obj.get("metadata") or {}
        where = (kind, str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        release = None if deleted else release_of(obj)
        with self._lock:
            previous = self._where.pop(where, None)
            if previous is not None:
                items = self._releases.get(previous, {})
                items.pop((kind, where[2]), None)
                if not items:
                    self._releases.pop(previous, None)
                self._dirty.add(previous)
            if release is not None:
                self._where[where] = release
                self._releases.setdefault(release, {})[(kind, where[2])] = object_health(kind, obj)
                self._dirty.add(release)

    def release_health(self, release: Release) -> ReleaseHealth:
        return summarise(self.workloads(release))

    def workloads(self, release: Release) -> list[ObjectHealth]:
        with self._lock:
            return list(self._releases.get(release, {}).values())

    def confirm(self, kind: str, namespace: str, name: str) -> ObjectHealth | None:
        """One workload as the API server has it now (None: it does not exist), also
        recorded here: a GET, made only when a wait for it is about to end."""
        group, _, plural = WORKLOAD_PATHS[kind].rpartition("/")
        path = f"{group}/namespaces/{namespace}/{plural}/{name}"
        try:
            obj = get_collection(self.api_client, path, [], streaming=False)
        except ApiException as error:
            if error.status != 404:
                raise
            self.observe(kind, {"metadata": {"namespace": namespace, "name": name}}, deleted=True)
            return None
        self.observe(kind, obj)
        return object_health(kind, obj)

    # -- list and watch ----------------------------------------------------------

    def _follow(self, kind: str, stop: threading.Event) -> None:
        collection = _Collection(self.api_client, WORKLOAD_PATHS[kind])
        failures = 0
        version: str | None = None
        while not stop.is_set():
            try:
                if version is None:
                    version = self._list(kind, collection)
                version = self._watch(kind, collection, version, stop)
                failures = 0
            except _Gone:
                version = None
            except Exception as error:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.5 + random.random() / 2)  # noqa: S311
                log.warning(
                    "health watch failed, retrying in %.1fs: %s",
                    delay,
                    brief_error(error),
                    extra={"kind": kind},
                )
                if isinstance(error, ApiException) and error.status == 410:
                    version = None
                stop.wait(delay)

    def _list(self, kind: str, collection: _Collection) -> str:
        seen: set[tuple[str, str]] = set()
        token = ""
        while True:
            page = collection(
                label_selector=MANAGED_OBJECTS, limit=PAGE_SIZE, _continue=token or None
            )
            for item in page.get("items") or ():
                metadata = item.get("metadata") or {}
                seen.add((str(metadata.get("namespace", "")), str(metadata.get("name", ""))))
                self.observe(kind, item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break
        with self._lock:
            gone = [w for w in self._where if w[0] == kind and (w[1], w[2]) not in seen]
        for _, namespace, name in gone:
            self.observe(kind, {"metadata": {"namespace": namespace, "name": name}}, deleted=True)
        self._synced[kind].set()
        if self.synced:
            # Every kind listed: look at every release once more, which also hands each
            # object whose Ready waits on its workloads back to its queue (a restart).
            with self._lock:
                self._dirty.update(self._releases)
        return str(page["metadata"]["resourceVersion"])

    def _watch(
        self, kind: str, collection: _Collection, version: str, stop: threading.Event
    ) -> str:
        stream = watch.Watch()
        try:
            for event in stream.stream(
                collection,
                label_selector=MANAGED_OBJECTS,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_TIMEOUT_SECONDS,
                _request_timeout=watch_timeout(WATCH_TIMEOUT_SECONDS),
            ):
                if stop.is_set():
                    break
                obj = event.get("raw_object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone
                    raise RuntimeError(f"watch error: {obj.get('message', obj)}")
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") != "BOOKMARK":
                    self.observe(kind, obj, deleted=event.get("type") == "DELETED")
        except ApiException as error:
            if error.status == 410:
                raise _Gone from None
            raise
        finally:
            stream.stop()
        return version

    # -- writing health to the owning objects ------------------------------------

    def _flush_loop(self, stop: threading.Event) -> None:
        waited = 0.0
        while not stop.wait(FLUSH_SECONDS):
            waited += FLUSH_SECONDS
            if waited >= RESYNC_SECONDS:
                waited = 0.0
                with self._lock:
                    self._dirty.update(self._releases)
            try:
                self.flush()
            except (ApiException, urllib3.exceptions.HTTPError) as error:
                # The API server away or refusing: said in one line, tried next flush.
                log.warning("writing health failed, retrying: %s", brief_error(error))
            except Exception:  # a bug here must not stop health for good
                log.exception("writing health failed")

    def flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        retry: set[Release] = set()
        for release in dirty:
            if not self._write(release, self.release_health(release)):
                retry.add(release)
            self._wake(release)
        with self._lock:
            self._dirty |= retry
        self._report()

    def _write(self, release: Release, health: ReleaseHealth) -> bool:
        """Write `health` to the release's object; False when it should be tried again."""
        owner = self._owner(release)
        if owner is None:
            return True  # not a release of ours, or another replica's object
        followed, key = owner
        obj = followed.store.get(key)
        if obj is None:
            return True
        wanted = Condition(
            HEALTHY, health.state is HealthState.HEALTHY, health.state.label, health.message
        )
        status = obj.get("status") or {}
        current = condition(status, HEALTHY) or {}
        if (current.get("reason"), current.get("message")) == (wanted.reason, wanted.message):
            return True
        generation = int((obj.get("metadata") or {}).get("generation") or 0)
        conditions = merge_conditions(status.get("conditions"), [wanted], generation)
        try:
            updated = self.patch_status(followed.binding, obj, {"conditions": conditions})
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            if isinstance(error, ApiException) and error.status == 404:
                return True
            # a conflict with the reconciler's own write, or the API server away: next flush
            log.info("health write deferred: %s", brief_error(error), extra={"object": key})
            return False
        followed.store.update(updated)
        if current.get("reason") != wanted.reason:
            self.sink.health_changed(followed.binding.name, wanted.reason)
            event_type = "Warning" if health.state is HealthState.DEGRADED else "Normal"
            self.events.record(updated, event_type, wanted.reason, health.message)
        return True

    def _wake(self, release: Release) -> None:
        """Hand the release's object to its work queue if its Ready waits on the workloads."""
        # _write just looked the owner up (and refreshed the index if it had to)
        owner = self._owners.get(release)
        if owner is None or self.requeue is None or not self._owns(owner, release):
            return
        followed, key = owner
        if awaiting(followed.store.get(key)):
            self.requeue(followed.binding.name, key)

    def _owner(self, release: Release) -> tuple[FollowedBinding, str] | None:
        owner = self._owners.get(release)
        if owner is not None and self._owns(owner, release):
            return owner
        self._owners = dict(self._index())
        return self._owners.get(release)

    def _owns(self, owner: tuple[FollowedBinding, str], release: Release) -> bool:
        obj = owner[0].store.get(owner[1])
        return obj is not None and release_key(owner[0].binding, obj) == release

    def _index(self) -> Iterable[tuple[Release, tuple[FollowedBinding, str]]]:
        for followed in self.bindings:
            for obj in followed.store.objects():
                metadata = obj.get("metadata") or {}
                key = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
                yield release_key(followed.binding, obj), (followed, key)

    def _report(self) -> None:
        for followed in self.bindings:
            counts = {state.label: 0 for state in HealthState}
            for obj in followed.store.objects():
                reason = (condition(obj.get("status"), HEALTHY) or {}).get("reason")
                if reason in counts:
                    counts[reason] += 1
            self.sink.health_states(followed.binding.name, counts)


class _Gone(Exception):
    """The watch's resourceVersion is too old: relist."""
