"""The generated object for one selected source object: where it lives, its name,
its labels back to the source, its ownerReference and its spec.

- Name: the source object's own name (deterministic; one source, one object).
- Namespace: a namespaced source's own namespace; a Namespace's generated
  object lives in that Namespace itself, so the release, confined to its
  object's namespace, lands in the tenant's namespace without any change to
  confinement; any other cluster-scoped kind uses the binding's
  `source.namespace`.
- ownerReference to the source (blockOwnerDeletion false): deleting the source
  garbage-collects the generated object, and nothing waits on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lostromos.config import Binding
from lostromos.sources.mapping import MappedValues, map_values
from lostromos.sources.spec import SourceBinding

SOURCE_BINDING_LABEL = "lostromos.dev/source-binding"
SOURCE_UID_LABEL = "lostromos.dev/source-uid"
SOURCE_ANNOTATION = "lostromos.dev/source"
# The source's store key ("namespace/name", "/name" for a cluster-scoped kind), for the sweep
SOURCE_KEY_ANNOTATION = "lostromos.dev/source-key"


class NoNamespace(ValueError):
    """A cluster-scoped source other than a Namespace, and the binding names no namespace."""


@dataclass(frozen=True)
class GeneratedObject:
    namespace: str
    name: str
    body: dict[str, Any]
    mapped: MappedValues

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def source_uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def generated_namespace(source: SourceBinding, obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    if metadata.get("namespace"):
        return str(metadata["namespace"])
    if source.group == "" and source.kind == "Namespace":
        return str(metadata.get("name", ""))
    if source.namespace:
        return source.namespace
    raise NoNamespace(
        f"{source.kind} is cluster-scoped: the binding's source.namespace must name the "
        "namespace its releases go to"
    )


def source_key(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '') or ''}/{metadata.get('name', '')}"


def location_for_key(source: SourceBinding, key: str) -> tuple[str, str]:
    """(namespace, name) of the generated object for a source key, the source unseen
    (it is gone). Raises NoNamespace."""
    namespace, _, name = key.partition("/")
    return generated_namespace(source, {"metadata": {"name": name, "namespace": namespace}}), name


def generated_object(binding: Binding, obj: Mapping[str, Any]) -> GeneratedObject:
    """The object the controller keeps for `obj`. Raises NoNamespace."""
    source = binding.source
    assert source is not None
    metadata = obj.get("metadata") or {}
    namespace = generated_namespace(source, obj)
    name = str(metadata.get("name", ""))
    mapped = map_values(source, obj)
    location = f"{namespace}/" if metadata.get("namespace") else ""
    body = {
        "apiVersion": binding.api_version,
        "kind": binding.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                SOURCE_BINDING_LABEL: binding.name,
                SOURCE_UID_LABEL: source_uid(obj),
            },
            "annotations": {
                SOURCE_ANNOTATION: f"{source.api_version} {source.kind} {location}{name}",
                SOURCE_KEY_ANNOTATION: source_key(obj),
            },
            "ownerReferences": [
                {
                    "apiVersion": source.api_version,
                    "kind": source.kind,
                    "name": name,
                    "uid": source_uid(obj),
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": mapped.values,
    }
    return GeneratedObject(namespace, name, body, mapped)


def is_generated_for(binding: Binding, obj: Mapping[str, Any] | None) -> bool:
    """Is `obj` a generated object of this binding (and not one a person made)?"""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(SOURCE_BINDING_LABEL) == binding.name and bool(labels.get(SOURCE_UID_LABEL))
