"""The writes a reconcile makes to the bound object itself: its status (conditions
summarised from an Outcome, the release, the target chart), lostromos's finalizer,
and, for an ApplySet binding, the labels and annotations of an ApplySet parent.

Both are merge patches, and both tell the informer's store of the result, so the
next look at the object sees what was written. A 404 means the object is gone:
nothing to write, and nothing to retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException

from controller import status as conditions
from controller.reconcile.observe import FINALIZER, Desired
from controller.reconcile.ports import ObjectApi, ReconcileError, StoreWriter
from controller.reconcile.summarize import Outcome, summarize
from lostromos.config import Binding


class ObjectWriter:
    def __init__(self, binding: Binding, *, api: ObjectApi, store: StoreWriter) -> None:
        self.binding = binding
        self.api = api
        self.store = store

    def status(
        self,
        obj: dict[str, Any],
        outcome: Outcome | None,
        *,
        details: Sequence[conditions.Condition] = (),
        release: dict[str, Any] | None = None,
        desired: Desired | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge-patch status: the outcome's summary conditions and `details` beside
        them; `extra` holds more top-level fields (None deletes one)."""
        updates = [*(summarize(outcome) if outcome is not None else ()), *details]
        return self._write(obj, updates, release=release, desired=desired, extra=extra)

    def _write(
        self,
        obj: dict[str, Any],
        updates: Sequence[conditions.Condition],
        *,
        release: dict[str, Any] | None = None,
        desired: Desired | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge-patch status with these conditions, unless it already says all of it."""
        metadata = obj["metadata"]
        current = obj.get("status") or {}
        generation = metadata.get("generation", 0)
        merged = conditions.merge_conditions(current.get("conditions"), updates, generation)
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": merged}
        if release is not None:
            status["release"] = release
        if desired is not None:  # the target chart, shown even before a release exists
            status["chart"] = {"name": desired.chart_name, "version": desired.chart_version}
        status.update(extra or {})
        if (
            current.get("observedGeneration") == generation
            and release is None
            and (desired is None or current.get("chart") == status["chart"])
            and all(current.get(key) == value for key, value in (extra or {}).items())
            and conditions.same_conditions(current.get("conditions") or [], merged)
        ):
            return obj
        try:
            updated = self.api.patch_namespaced_custom_object_status(
                self.binding.group,
                self.binding.version,
                metadata["namespace"],
                self.binding.plural,
                metadata["name"],
                {"status": status},
            )
        except ApiException as error:
            if error.status == 404:
                return obj
            raise ReconcileError(f"writing status: {error.status} {error.reason}") from error
        self.store.update(updated)
        return dict(updated)

    def ensure_finalizer(self, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = obj["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            return obj
        return self._patch_finalizers(obj, [*finalizers, FINALIZER])

    def remove_finalizer(self, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = obj["metadata"].get("finalizers") or []
        return self._patch_finalizers(obj, [f for f in finalizers if f != FINALIZER])

    def label_parent(
        self, obj: dict[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> dict[str, Any]:
        """Merge-patch the object's own labels and annotations (an ApplySet parent's),
        unless it already carries them."""
        metadata = obj["metadata"]
        if all((metadata.get("labels") or {}).get(k) == v for k, v in labels.items()) and all(
            (metadata.get("annotations") or {}).get(k) == v for k, v in annotations.items()
        ):
            return obj
        body = {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}}
        try:
            return self._patch_object(obj, body)
        except ApiException as error:
            raise ReconcileError(
                f"labelling the ApplySet parent: {error.status} {error.reason}"
            ) from error

    def _patch_object(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the object itself; the informer's store learns the result."""
        metadata = obj["metadata"]
        updated = self.api.patch_namespaced_custom_object(
            self.binding.group,
            self.binding.version,
            metadata["namespace"],
            self.binding.plural,
            metadata["name"],
            body,
        )
        self.store.update(updated)
        return dict(updated)

    def _patch_finalizers(self, obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
        metadata = obj["metadata"]
        # resourceVersion makes this a compare-and-swap: a stale view gets 409 and a retry.
        body = {
            "metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}
        }
        try:
            return self._patch_object(obj, body)
        except ApiException as error:
            if error.status == 404:
                return obj
            raise ReconcileError(f"updating finalizers: {error.status} {error.reason}") from error
