"""Keep one generated object per selected source object (lostromos.sources).

A label-selected informer watches the binding's source kind (the same
Informer as for custom resources, listing the kind's own collection path);
its keys feed a work queue; `sync(key)` is level-based like reconcile:

    source selected, values map  -> create or update the generated object
    values do not map            -> Warning event on the source, nothing changed
    source gone, deselected or being deleted -> delete the generated object
                                    (its own finalizer uninstalls the release)
    a same-named object we did not generate -> Warning event, touched never

The projector adds no finalizer to a source object, ever: the generated object's
ownerReference lets the garbage collector delete it with its source, so a
Namespace deletion never waits on lostromos. A periodic sweep lists the
generated objects and queues those whose source the store no longer holds, so
a label removed while the controller was down is still acted on.

Sharded (`controller --shards`), the projector takes the replica's share of the
ring exactly as a custom-resource controller does (controller.sharding): its
informer lists and watches only the source objects whose uid hashes into the
buckets this replica serves, and a key is synced only while its bucket is served,
counted in flight so that a handoff waits for it. A key whose source is not in
the store is judged by the generated object's source-uid label, so an object
handed to another replica (it vanishes from this store) is never mistaken for a
deleted one, and each source object is projected by exactly one replica.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.events import EventRecorder
from controller.informer import Informer
from controller.queue import WorkQueue
from controller.sharding import hashring
from controller.sharding.ring import Ring
from controller.sharding.shards import Coordinator
from lostromos.config import Binding
from lostromos.neterrors import brief_error
from lostromos.rawget import list_collection
from lostromos.sources.generated import (
    SOURCE_BINDING_LABEL,
    SOURCE_KEY_ANNOTATION,
    SOURCE_UID_LABEL,
    NoNamespace,
    generated_object,
    is_generated_for,
    location_for_key,
    source_uid,
)
from lostromos.sources.spec import SourceBinding

log = logging.getLogger("lostromos.controller.sources")
SpecDefaults = Callable[[dict[str, Any]], Any]


class SourceCollection:
    """List and watch of the source kind's collection, with the signature of
    `list_cluster_custom_object` that the Informer and the watch helper call."""

    def __init__(self, api_client: client.ApiClient, source: SourceBinding) -> None:
        self.api_client = api_client
        prefix = f"/apis/{source.group}" if source.group else "/api"
        self.path = f"{prefix}/{source.version}/{source.resource}"

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, **kwargs: Any
    ) -> Any:
        streaming = kwargs.pop("_preload_content", True) is False
        return list_collection(self.api_client, self.path, kwargs, streaming=streaming)


class SourceProjector:
    def __init__(
        self,
        binding: Binding,
        api_client: client.ApiClient,
        *,
        events: EventRecorder,
        defaults: SpecDefaults,
        resync_seconds: float,
        dry_run: bool = False,
        ring: Ring | None = None,
    ) -> None:
        assert binding.source is not None
        self.binding = binding
        self.source: SourceBinding = binding.source
        self.custom = client.CustomObjectsApi(api_client)
        self.events = events
        self.defaults = defaults
        self.dry_run = dry_run
        self.resync_seconds = resync_seconds
        self.queue = WorkQueue()
        self.coordinator: Coordinator | None = ring.coordinator if ring else None
        # The Informer reads group/version/plural/kind from a binding: the source's.
        watched = replace(
            binding,
            group=self.source.group,
            version=self.source.version,
            plural=self.source.resource,
            kind=self.source.kind,
        )
        self.informer = Informer(
            SourceCollection(api_client, self.source),  # type: ignore[arg-type]
            watched,
            self.queue.add,
            resync_seconds=resync_seconds,
            label_selector=self.source.selector.as_query(),
            shard=ring.watch() if ring else None,
        )
        self._threads: list[threading.Thread] = []

    # -- running --------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        name = self.binding.name
        for target, label in (
            (self.informer.run, "source-informer"),
            (self._sweep_loop, "source-sweep"),
        ):
            threading.Thread(
                target=target, args=(stop,), name=f"{label}-{name}", daemon=True
            ).start()
        worker = threading.Thread(target=self._work, name=f"source-worker-{name}", daemon=True)
        worker.start()
        self._threads.append(worker)

    def drain(self, timeout: float) -> bool:
        self.informer.stop()
        self.queue.shutdown()
        finished = self.queue.wait_idle(timeout)
        for thread in self._threads:
            thread.join(timeout=1)
        return finished

    def _work(self) -> None:
        for key in self.queue.taken():
            try:
                self.sync(key)
            except (ApiException, OSError) as error:
                delay = self.queue.add_rate_limited(key)
                log.warning(
                    "source %s: %s; retrying in %.1fs",
                    key,
                    brief_error(error),
                    delay,
                    extra={"binding": self.binding.name},
                )
            except Exception:  # a bug: logged, retried, and the worker lives on
                log.exception("source %s: sync failed", key, extra={"binding": self.binding.name})
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    def _sweep_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.informer.wait_synced(1.0):
                try:
                    self.sweep()
                except (ApiException, OSError) as error:
                    log.warning("sweep of generated objects failed: %s", brief_error(error))
                stop.wait(self.resync_seconds)

    def sweep(self) -> None:
        """Queue every generated object's source key the store does not hold."""
        b = self.binding
        listing: dict[str, Any] = self.custom.list_cluster_custom_object(  # type: ignore[assignment]
            b.group, b.version, b.plural, label_selector=f"{SOURCE_BINDING_LABEL}={b.name}"
        )
        for item in listing.get("items") or ():
            key = ((item.get("metadata") or {}).get("annotations") or {}).get(SOURCE_KEY_ANNOTATION)
            if key and self.informer.get(key) is None and self._serves(_labels(item)):
                self.queue.add(key)

    def _serves(self, generated_labels: dict[str, str]) -> bool:
        """Is the source of a generated object in this replica's share of the ring?"""
        if self.coordinator is None:
            return True
        uid = generated_labels.get(SOURCE_UID_LABEL, "")
        return hashring.bucket_of(uid) in self.coordinator.serving()

    # -- one key --------------------------------------------------------------

    def sync(self, key: str) -> None:
        obj = self.informer.get(key)
        if self.coordinator is None:
            self._sync(key, obj)
            return
        # The source's uid picks the replica; with the source gone from this store
        # (deleted, or handed over), the uid its generated object was made for does.
        uid = source_uid(obj) if obj is not None else self._generated_source_uid(key)
        if uid is None:
            return  # nothing of this binding's exists for the key: nothing to do
        bucket = self.coordinator.begin({"metadata": {"uid": uid}})
        if bucket is None:
            return  # another replica's bucket, or one being handed over
        try:
            self._sync(key, obj)
        finally:
            self.coordinator.end(bucket)

    def _generated_source_uid(self, key: str) -> str | None:
        try:
            namespace, name = location_for_key(self.source, key)
        except NoNamespace:
            return None
        current = self._get(namespace, name)
        if current is None or not is_generated_for(self.binding, current):
            return None
        return _labels(current).get(SOURCE_UID_LABEL)

    def _sync(self, key: str, obj: dict[str, Any] | None) -> None:
        if obj is not None:
            obj = {**obj, "apiVersion": self.source.api_version, "kind": self.source.kind}
        selected = (
            obj is not None
            and self.source.selects(obj)
            and not obj["metadata"].get("deletionTimestamp")
        )
        try:
            namespace, name = location_for_key(self.source, key)
        except NoNamespace as error:
            if obj is not None:
                self.events.record(obj, "Warning", "NoNamespace", str(error))
            return
        current = self._get(namespace, name)
        if not selected:
            self._remove(obj, current)
            return
        assert obj is not None
        wanted = generated_object(self.binding, obj)
        if wanted.mapped.problems:
            self.events.record(obj, "Warning", "ValuesInvalid", "; ".join(wanted.mapped.problems))
            return
        if current is None:
            self._create(obj, wanted.body)
        elif not is_generated_for(self.binding, current):
            self.events.record(
                obj,
                "Warning",
                "NameTaken",
                f"{self.binding.kind} {namespace}/{name} exists and was not generated for "
                "this object: it is left alone, and this object gets no release",
            )
        elif _labels(current).get(SOURCE_UID_LABEL) != source_uid(obj):
            # Generated for an earlier object of the same name: that one is gone.
            self._delete(current)
            self.queue.add_after(key, 1.0)
        elif self._differs(current, wanted.body):
            self._update(obj, current, wanted.body)

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        b = self.binding
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                b.group, b.version, namespace, b.plural, name
            )
            return found
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _differs(self, current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        spec = current.get("spec") or {}
        if spec != wanted["spec"]:
            try:
                defaulted = self.defaults(wanted["spec"])
            except Exception:  # the chart cannot be loaded: compare the values as mapped
                defaulted = None
            if spec != defaulted:
                return True
        metadata, want = current.get("metadata") or {}, wanted["metadata"]
        return metadata.get("ownerReferences") != want["ownerReferences"] or any(
            (metadata.get(part) or {}).get(k) != v
            for part in ("labels", "annotations")
            for k, v in want[part].items()
        )

    def _create(self, obj: dict[str, Any], body: dict[str, Any]) -> None:
        b = self.binding
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        if self.dry_run:
            return
        try:
            self.custom.create_namespaced_custom_object(
                b.group, b.version, namespace, b.plural, body
            )
        except ApiException as error:
            if error.status in (400, 403, 422):  # refused (webhook, terminating namespace)
                self.events.record(obj, "Warning", "GenerateFailed", _reason(error))
                return
            raise
        self.events.record(
            obj, "Normal", "Generated", f"{b.kind} {namespace}/{name} keeps this object's release"
        )
        log.info("generated %s %s/%s", b.kind, namespace, name, extra={"binding": b.name})

    def _update(self, obj: dict[str, Any], current: dict[str, Any], body: dict[str, Any]) -> None:
        b = self.binding
        metadata = current["metadata"]
        updated = {
            **current,
            "metadata": {
                **metadata,
                "labels": {**(metadata.get("labels") or {}), **body["metadata"]["labels"]},
                "annotations": {
                    **(metadata.get("annotations") or {}),
                    **body["metadata"]["annotations"],
                },
                "ownerReferences": body["metadata"]["ownerReferences"],
            },
            "spec": body["spec"],
        }
        if self.dry_run:
            return
        try:
            self.custom.replace_namespaced_custom_object(
                b.group, b.version, metadata["namespace"], b.plural, metadata["name"], updated
            )
        except ApiException as error:
            if error.status in (400, 403, 422):
                self.events.record(obj, "Warning", "GenerateFailed", _reason(error))
                return
            raise
        self.events.record(obj, "Normal", "Updated", f"{b.kind} values follow this object")

    def _remove(self, obj: dict[str, Any] | None, current: dict[str, Any] | None) -> None:
        if current is None or not is_generated_for(self.binding, current):
            return
        if obj is not None and _labels(current).get(SOURCE_UID_LABEL) != source_uid(obj):
            return  # generated for another object of this name; the sweep decides it
        if (current.get("metadata") or {}).get("deletionTimestamp"):
            return
        self._delete(current)
        if obj is not None and not obj["metadata"].get("deletionTimestamp"):
            self.events.record(
                obj,
                "Normal",
                "Released",
                f"no longer selected: {self.binding.kind} deleted, its release is uninstalled",
            )

    def _delete(self, current: dict[str, Any]) -> None:
        b = self.binding
        metadata = current["metadata"]
        if self.dry_run:
            return
        try:
            self.custom.delete_namespaced_custom_object(
                b.group,
                b.version,
                metadata["namespace"],
                b.plural,
                metadata["name"],
                body=client.V1DeleteOptions(
                    preconditions=client.V1Preconditions(uid=metadata.get("uid"))
                ),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                raise
        log.info(
            "deleted %s %s/%s",
            b.kind,
            metadata["namespace"],
            metadata["name"],
            extra={"binding": b.name},
        )


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _reason(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


def projectors(
    bindings: tuple[Binding, ...],
    api_client: client.ApiClient,
    *,
    defaults_for: Callable[[Binding], SpecDefaults],
    resync_seconds: float,
    dry_run: bool,
    ring: Ring | None = None,
) -> list[SourceProjector]:
    """One projector per binding with a source; with a `ring`, each takes this
    replica's share of the source objects, as the bound kinds' controllers do."""
    return [
        SourceProjector(
            binding,
            api_client,
            events=EventRecorder(client.CoreV1Api(api_client), dry_run=dry_run),
            defaults=defaults_for(binding),
            resync_seconds=resync_seconds,
            dry_run=dry_run,
            ring=ring,
        )
        for binding in bindings
        if binding.source is not None
    ]
