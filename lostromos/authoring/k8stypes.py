"""Kubernetes API types for values that are Kubernetes structures.

Charts pass `resources`, `securityContext`, `affinity`, `tolerations`, probes
and the like straight into a pod spec, so the right schema for them is the
API's own, not one guessed from the example in values.yaml
(`securityContext: {privileged: true}` would otherwise refuse `runAsUser`).
The schemas come from k8s_schemas.json, generated from the pinned Kubernetes
OpenAPI by tools/k8s/gen_k8s_schemas.py, and land in the chart schema's
`$defs` by `$ref`, only those used.

A value is recognised by its name and its shape: the example in values.yaml
must itself be valid for the type, or the chart means something else by the
name (a bitnami-style `livenessProbe: {enabled: true, ...}`); then the
object's own keys are kept beside the type's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

BUNDLE = Path(__file__).with_name("k8s_schemas.json")
CORE = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
INT_OR_STRING: dict[str, Any] = {"type": ["integer", "string"]}
STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

# Object-valued names: lowercased value name -> the types it may be (merged when several).
_OBJECTS: dict[str, tuple[str, ...]] = {
    "resources": (CORE + "ResourceRequirements",),
    "securitycontext": (CORE + "SecurityContext", CORE + "PodSecurityContext"),
    "containersecuritycontext": (CORE + "SecurityContext",),
    "podsecuritycontext": (CORE + "PodSecurityContext",),
    "affinity": (CORE + "Affinity",),
    "lifecycle": (CORE + "Lifecycle",),
    "dnsconfig": (CORE + "PodDNSConfig",),
    "strategy": (APPS + "DeploymentStrategy",),
    "deploymentstrategy": (APPS + "DeploymentStrategy",),
    "updatestrategy": (APPS + "DaemonSetUpdateStrategy", APPS + "StatefulSetUpdateStrategy"),
}
# List-valued names (by suffix of the lowercased name) -> the type of each item.
_LISTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tolerations", (CORE + "Toleration",)),
    ("topologyspreadconstraints", (CORE + "TopologySpreadConstraint",)),
    ("volumemounts", (CORE + "VolumeMount",)),
    ("volumes", (CORE + "Volume",)),
    ("envfrom", (CORE + "EnvFromSource",)),
    ("env", (CORE + "EnvVar",)),
    ("envvars", (CORE + "EnvVar",)),
    ("hostaliases", (CORE + "HostAlias",)),
    ("initcontainers", (CORE + "Container",)),
    ("sidecars", (CORE + "Container",)),
    ("sidecarcontainers", (CORE + "Container",)),
    ("extracontainers", (CORE + "Container",)),
    ("containerports", (CORE + "ContainerPort",)),
    ("resizepolicy", (CORE + "ContainerResizePolicy",)),
    ("ports", (CORE + "ContainerPort", CORE + "ServicePort")),
)
_INT_OR_STRING_NAMES = frozenset({"maxunavailable", "maxsurge", "minavailable", "targetport"})
_STRING_MAPS = re.compile(r"(annotations|labels|nodeselector)$", re.IGNORECASE)


@dataclass
class KubeTypes:
    """The bundle, and the `$defs` a chart schema has used so far."""

    defs: dict[str, Any]
    version: str
    used: set[str] = field(default_factory=set)

    def ref(self, name: str) -> dict[str, Any]:
        self._use(name)
        return {"$ref": f"#/$defs/{name}"}

    def _use(self, name: str) -> None:
        if name in self.used:
            return
        self.used.add(name)
        for child in _references(self.defs[name]):
            self._use(child)

    def used_defs(self) -> dict[str, Any]:
        return {name: self.defs[name] for name in sorted(self.used)}

    def fits(self, value: Any, names: tuple[str, ...]) -> bool:
        return any(_validator(name).is_valid(value) for name in names)

    def schema_for(self, names: tuple[str, ...]) -> dict[str, Any]:
        """One type by `$ref`; several as the union of their properties (each object may
        then hold what any of them holds: a pod's or a container's securityContext)."""
        if len(names) == 1:
            return self.ref(names[0])
        return self._merged([self.defs[name] for name in names])

    def items_schema(self, types: tuple[str, ...]) -> dict[str, Any]:
        """The schema of a list's items that are one of these types."""
        if len(types) == 1:
            return self.ref(types[0])
        return {"anyOf": [self.ref(name) for name in types]}

    def _merged(self, nodes: list[dict[str, Any]]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for node in nodes:
            for key, child in (node.get("properties") or {}).items():
                if key not in properties:
                    properties[key] = child
                elif properties[key] != child:
                    properties[key] = self._merge_two(properties[key], child)
        for child in properties.values():
            for name in _references(child):
                self._use(name)
        return {"type": "object", "additionalProperties": False, "properties": properties}

    def _merge_two(self, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        resolved = [
            self.defs[n["$ref"].rsplit("/", 1)[1]] if "$ref" in n else n for n in (first, second)
        ]
        if all(node.get("type") == "object" for node in resolved):
            return self._merged(resolved)
        return {"anyOf": [first, second]}

    def property_names(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The properties of the types, by name, as `$ref`-able schemas."""
        merged = self.schema_for(names)
        if "$ref" in merged:
            node = self.defs[names[0]]
            for child in (node.get("properties") or {}).values():
                for name in _references(child):
                    self._use(name)
            return dict(node.get("properties") or {})
        return dict(merged["properties"])


def object_types(name: str) -> tuple[str, ...]:
    lowered = name.lower()
    if lowered in _OBJECTS:
        return _OBJECTS[lowered]
    if lowered.endswith("probe"):
        return (CORE + "Probe",)
    if lowered.endswith("securitycontext"):
        return _OBJECTS["podsecuritycontext" if "pod" in lowered else "securitycontext"]
    return ()


def item_types(name: str) -> tuple[str, ...]:
    lowered = name.lower()
    for suffix, types in _LISTS:
        if lowered.endswith(suffix):
            return types
    return ()


def is_int_or_string(name: str) -> bool:
    return name.lower() in _INT_OR_STRING_NAMES


def is_string_map(name: str) -> bool:
    return bool(_STRING_MAPS.search(name))


def _references(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
    return found.union(*(_references(value) for value in node.values()))


@cache
def _bundle() -> tuple[dict[str, Any], str]:
    data = json.loads(BUNDLE.read_text(encoding="utf-8"))
    return data["$defs"], data["kubernetes"]


@cache
def _validator(name: str) -> Draft202012Validator:
    defs, _ = _bundle()
    return Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})


def kube_types() -> KubeTypes:
    defs, version = _bundle()
    return KubeTypes(defs, version)
