"""List-then-watch one custom resource kind into a local store.

Like client-go's reflector: list to get a consistent snapshot and its
resourceVersion, then watch from there with bookmarks so a quiet kind still
advances its resourceVersion. A 410 Gone (the version was compacted away)
means relist; any other error means reconnect with backoff. Every change, and
a periodic resync, hands the object's key to the handler; the handler never
sees an object, only a key, so it always reads the newest state.

A change of status alone is stored but hands over no key, as
controller-runtime's GenerationChangedPredicate does for Flux: the controller
writes status itself, twice per Helm action, and waking on those echoes undid
the per-key backoff (a failing release was tried again at once, about five
times a second). Changes of spec or metadata (labels, annotations,
finalizers, deletion) still count, and so does an event older than the store,
whose content cannot be told apart from a write of someone else.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from controller.sharding.shardlist import ShardWatch
from lostromos.config import Binding
from lostromos.kube import watch_timeout
from lostromos.neterrors import brief_error

log = logging.getLogger(__name__)

Key = str
WATCH_TIMEOUT_SECONDS = 300
PAGE_SIZE = 500


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what the controller never reads and that would dominate memory at
    thousands of objects: managedFields and kubectl's copy of the last applied
    object (client-go's informers offer the same trim as a TransformFunc)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
    return obj


def object_key(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


class Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


class Informer:
    def __init__(
        self,
        api: client.CustomObjectsApi,
        binding: Binding,
        on_key: Callable[[Key], None],
        *,
        resync_seconds: float = 600.0,
        label_selector: str | None = None,
        shard: ShardWatch | None = None,
    ) -> None:
        self.api = api
        self.binding = binding
        self.on_key = on_key
        self.resync_seconds = resync_seconds
        self.label_selector = label_selector
        self._store: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._watch: watch.Watch | None = None
        # Sharded: only this replica's hash buckets, relisted when they change.
        self.shard = shard
        # Both answer the API's list document; the client's stubs type it `object`.
        self._list_fn: Callable[..., Any] = shard or api.list_cluster_custom_object
        self._restart = threading.Event()
        if shard is not None:
            shard.on_restart(self.restart)

    # -- store ----------------------------------------------------------------

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            return self._store.get(key)

    def all_keys(self) -> list[Key]:
        with self._lock:
            return list(self._store)

    def objects(self) -> list[dict[str, Any]]:
        """A snapshot of the store's objects (the objects themselves are never mutated)."""
        with self._lock:
            return list(self._store.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def update(self, obj: dict[str, Any]) -> None:
        """Record an object the controller itself just wrote (newer than the watch may be)."""
        if self.shard is not None and not self.shard.accepts(obj):
            return  # a bucket this replica gave up meanwhile: not its object to keep
        key = object_key(obj)
        with self._lock:
            current = self._store.get(key)
            if current is None or _newer(obj, current):
                self._store[key] = slim(obj)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- loop -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        failures = 0
        resource_version: str | None = None
        last_resync = time.monotonic()
        while not stop.is_set():
            if self._restart.is_set():
                self._restart.clear()
                resource_version = None
            try:
                if resource_version is None:
                    resource_version = self._list()
                    last_resync = time.monotonic()
                    if self._restart.is_set():
                        continue  # the buckets changed during the list
                resource_version = self._watch_once(resource_version, stop)
                failures = 0
                if time.monotonic() - last_resync >= self.resync_seconds:
                    self._resync()
                    last_resync = time.monotonic()
            except Gone:
                log.info("watch expired, relisting", extra={"kind": self.binding.kind})
                resource_version = None
            except Exception as error:
                if self._restart.is_set():
                    continue  # the watch was cut on purpose: relist at once
                if stop.is_set():
                    break  # cut because we are stopping: not a failure to report
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.5 + random.random() / 2)  # noqa: S311
                log.warning(
                    "watch failed, retrying in %.1fs: %s",
                    delay,
                    _brief(error),
                    extra={"kind": self.binding.kind},
                )
                if isinstance(error, ApiException) and error.status == 410:
                    resource_version = None
                stop.wait(delay)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()

    def restart(self) -> None:
        """List and watch again now (the replica's buckets changed)."""
        self._restart.set()
        response = getattr(self._watch, "_resp", None)
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()  # wakes the thread blocked reading the stream

    def _list(self) -> str:
        """One consistent snapshot, page by page: every page of a paged LIST is served
        from the first page's resourceVersion, and no page holds more than PAGE_SIZE
        objects, so thousands of objects never arrive as one huge response."""
        b = self.binding
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        items: dict[Key, dict[str, Any]] = {}
        token = ""
        while True:
            page_kwargs = {**kwargs, "_continue": token} if token else kwargs
            listing = self._list_fn(b.group, b.version, b.plural, **page_kwargs)
            items.update((object_key(item), slim(item)) for item in listing.get("items") or ())
            token = (listing.get("metadata") or {}).get("continue") or ""
            if not token:
                break
        with self._lock:
            vanished = set(self._store) - set(items)
            self._store = items
        self._synced.set()
        for key in [*items, *vanished]:
            self.on_key(key)
        log.debug("listed %d objects", len(items), extra={"kind": b.kind})
        return str(listing["metadata"]["resourceVersion"])

    def _resync(self) -> None:
        for key in self.all_keys():
            self.on_key(key)

    def _watch_once(self, resource_version: str, stop: threading.Event) -> str:
        b = self.binding
        self._watch = watch.Watch()
        seconds = min(WATCH_TIMEOUT_SECONDS, max(1, int(self.resync_seconds)))
        kwargs: dict[str, Any] = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": seconds,
            "_request_timeout": watch_timeout(seconds),  # a dead connection ends too
        }
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        try:
            stream = self._watch.stream(self._list_fn, b.group, b.version, b.plural, **kwargs)
            for event in stream:
                if stop.is_set() or self._restart.is_set():
                    break
                resource_version = self._handle(event, resource_version)
        except ApiException as error:
            if error.status == 410:
                raise Gone from None
            raise
        finally:
            self._watch.stop()
        return resource_version

    def _handle(self, event: dict[str, Any], resource_version: str) -> str:
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        new_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
        if kind == "BOOKMARK":
            return new_version
        if self.shard is not None:
            self.shard.count_event()
            if not self.shard.accepts(obj):
                return new_version
        key = object_key(obj)
        news = True
        with self._lock:
            if kind == "DELETED":
                self._store.pop(key, None)
            else:
                current = self._store.get(key)
                if current is None or not _newer(current, obj):
                    obj = slim(obj)
                    news = current is None or not _same_but_status(current, obj)
                    self._store[key] = obj
        if news:
            self.on_key(key)
        return new_version


def _same_but_status(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Do two versions of an object differ in status (and resourceVersion) only?"""

    def rest(obj: dict[str, Any]) -> dict[str, Any]:
        metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
        return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": metadata}

    return rest(first) == rest(second)


def _newer(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Is `first` a later version of the object than `second`?"""
    try:
        return int(first["metadata"]["resourceVersion"]) > int(
            second["metadata"]["resourceVersion"]
        )
    except (KeyError, TypeError, ValueError):
        return False


def _brief(error: BaseException) -> str:
    return brief_error(error)
