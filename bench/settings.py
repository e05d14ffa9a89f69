"""Candidate settings for bench/schema_init.py, built from a chart author's schema.

Each setting sets one property (a nested dict of user values). Right-kind
values and mistakes are both made for every property the author describes;
which are valid and which are mistakes is decided afterwards, by the author's
schema and Helm, never here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 5


@dataclass(frozen=True)
class Setting:
    label: str
    values: dict
    mistake: bool  # made as a user's mistake; the author's schema still decides


# Values a user gives Kubernetes fields, by the property's name (lowercased).
KUBE_GOOD: dict[str, list[Any]] = {
    "securitycontext": [
        {"runAsUser": 1000, "runAsNonRoot": True},
        {"readOnlyRootFilesystem": True},
    ],
    "podsecuritycontext": [{"fsGroup": 2000, "runAsUser": 1000}],
    "containersecuritycontext": [{"runAsUser": 1000, "allowPrivilegeEscalation": False}],
    "resources": [
        {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1, "memory": "64Mi"}},
        {"requests": {"cpu": 1}},
    ],
    "affinity": [
        {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        }
    ],
    "tolerations": [[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]],
    "nodeselector": [{"kubernetes.io/os": "linux"}],
    "topologyspreadconstraints": [
        [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]
    ],
    "strategy": [
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}
    ],
    "updatestrategy": [{"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}],
    "env": [[{"name": "LOG_LEVEL", "value": "debug"}]],
    "volumes": [[{"name": "data", "emptyDir": {}}]],
    "volumemounts": [[{"name": "data", "mountPath": "/data"}]],
    "maxunavailable": ["25%", 1],
    "maxsurge": ["50%", 2],
    "minavailable": ["50%", 1],
}
KUBE_BAD: dict[str, list[Any]] = {
    "securitycontext": [{"runAsUser": "root"}, {"runAsUsr": 1000}],
    "resources": [{"limits": {"cpu": True}}, {"limit": {"cpu": "1"}}],
    "tolerations": [[{"key": "a", "operater": "Exists"}]],
    "nodeselector": [{"zone": 1}],
    "affinity": [{"nodeAffinty": {}}],
}


def settings_for(schema: Any, values: dict, rng: random.Random) -> list[Setting]:
    maker = _Maker(schema if isinstance(schema, dict) else {}, rng)
    maker.walk(schema, (), values, 0)
    return maker.found


class _Maker:
    def __init__(self, root: dict, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.found: list[Setting] = []

    def resolve(self, node: Any, depth: int = 0) -> dict:
        if not isinstance(node, dict) or depth > 20:
            return {}
        if "$ref" in node and str(node["$ref"]).startswith("#"):
            target: Any = self.root
            for part in str(node["$ref"])[2:].split("/"):
                if part:
                    target = (
                        target.get(part.replace("~1", "/").replace("~0", "~"), {})
                        if isinstance(target, dict)
                        else {}
                    )
            merged = {
                **self.resolve(target, depth + 1),
                **{k: v for k, v in node.items() if k != "$ref"},
            }
            return merged
        out = dict(node)
        for branch in node.get("allOf") or []:
            resolved = self.resolve(branch, depth + 1)
            for key, value in resolved.items():
                if key == "properties":
                    out["properties"] = {**value, **(out.get("properties") or {})}
                else:
                    out.setdefault(key, value)
        return out

    def add(self, path: tuple, value: Any, mistake: bool = False) -> None:
        values: Any = value
        for part in reversed(path):
            values = [values] if part == "[]" else {part: values}
        label = ".".join(path) + " = " + repr(value)[:80]
        self.found.append(Setting(label, values, mistake))

    def walk(self, node: Any, path: tuple, here: Any, depth: int) -> None:  # noqa: PLR0912
        flat = self.resolve(node)
        if depth > MAX_DEPTH or not flat:
            return
        name = next((p for p in reversed(path) if p != "[]"), "").lower()
        # an invented key is no valid setting of a Kubernetes structure
        kube = name in KUBE_GOOD or name.endswith(("probe", "dnsconfig", "affinity"))
        for sample in KUBE_GOOD.get(name, []):
            self.add(path, sample)
        for sample in KUBE_BAD.get(name, []):
            self.add(path, sample, mistake=True)
        kinds = _kinds(flat, here)
        if path:
            good, bad = self._samples(flat, kinds, here)
            for sample in good:
                self.add(path, sample)
            for sample in bad:
                self.add(path, sample, mistake=True)
        properties = flat.get("properties")
        if isinstance(properties, dict) and "object" in kinds | {"object"}:
            names = list(properties)
            for key in names:
                child_here = here.get(key) if isinstance(here, dict) else None
                self.walk(properties[key], (*path, key), child_here, depth + 1)
            if names and path:
                typo = (*path, _typo(self.rng.choice(names)))
                self.add(typo, _some_value(here, names), mistake=True)
            elif names:
                self.add((_typo(self.rng.choice(names)),), "x", mistake=True)
        extra = flat.get("additionalProperties")
        if isinstance(extra, dict) and path:
            self.walk(extra, (*path, "example.com/entry"), None, depth + 1)
        elif path and "object" in kinds and not properties and not kube:
            self.add((*path, "example"), "value")
        items = flat.get("items")
        if isinstance(items, dict) and "array" in kinds and not kube:
            first = here[0] if isinstance(here, list) and here else None
            self.walk(items, (*path, "[]"), first, depth + 1)

    def _samples(self, flat: dict, kinds: set[str], here: Any) -> tuple[list[Any], list[Any]]:
        """Values of the kind the property documents, and mistakes."""
        good: list[Any] = []
        bad: list[Any] = []
        enum = flat.get("enum")
        if isinstance(enum, list):
            good += enum[:4]
            bad.append("not-an-option")
        if "const" in flat:
            good.append(flat["const"])
            bad.append("not-the-constant")
        for kind in kinds:
            # a fraction only where values.yaml shows one: ports and counts are whole
            whole = kind == "number" and not isinstance(here, float)
            good += [2, 0] if whole else _GOOD.get(kind, [])
            bad += _BAD.get(kind, [])
        if isinstance(here, int) and not isinstance(here, bool):
            good.append(here + 1)
        for bound in ("minimum", "maximum"):
            if isinstance(flat.get(bound), int | float):
                good.append(flat[bound])
                bad.append(flat[bound] + (-1 if bound == "minimum" else 1))
        return good, bad


_GOOD = {
    "string": ["example", ""],
    "integer": [3, 0],
    "number": [0.5, 2],
    "boolean": [True, False],
    "array": [[]],
    "object": [{}],
}
_BAD = {
    "string": [42, {"value": "x"}],
    "integer": ["three", 1.5],
    "number": ["fast"],
    "boolean": ["yes"],
    "array": ["a,b"],
    "object": ["text", ["a"]],
}


def _kinds(flat: dict, here: Any) -> set[str]:  # noqa: PLR0911
    declared = flat.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {k for k in declared if isinstance(k, str) and k != "null"}
    if here is None:
        return set()
    if isinstance(here, bool):
        return {"boolean"}
    if isinstance(here, int):
        return {"integer"}
    if isinstance(here, float):
        return {"number"}
    if isinstance(here, str):
        return {"string"}
    return {"array"} if isinstance(here, list) else {"object"} if isinstance(here, dict) else set()


def _typo(name: str) -> str:
    """A misspelling users make: a letter dropped, or a wrong case."""
    if len(name) > 3:
        return name[:-2] + name[-1]
    return name.upper() if name.islower() else name.lower() + "s"


def _some_value(here: Any, names: list[str]) -> Any:
    if isinstance(here, dict):
        for name in names:
            if name in here and not isinstance(here[name], dict | list):
                return here[name]
    return "x"
