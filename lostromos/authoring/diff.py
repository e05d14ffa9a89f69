"""`lostromos schema diff OLD NEW`: what a new chart version's schema breaks.

A change is breaking when a spec the old chart accepted can be refused by the
new one: a new required property that the new values.yaml does not supply, a
property removed from a closed object, a narrower type, enum or range, a new
or changed pattern, an object that became closed. Everything else (new
optional properties, wider enums and ranges, new defaults) is compatible.
The comparison follows the property tree through `$ref` and `allOf`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lostromos.authoring import value_at
from lostromos.authoring.convert import path_text
from lostromos.authoring.refs import CYCLE, REFS, SchemaDocument
from lostromos.charts import Chart

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


@dataclass(frozen=True, order=True)
class SchemaChange:
    breaking: bool
    where: str
    message: str

    def describe(self) -> str:
        return f"{'BREAKING' if self.breaking else 'compatible'} {self.where}: {self.message}"


def diff_charts(old: Chart, new: Chart) -> list[SchemaChange]:
    comparer = _Comparer(
        SchemaDocument(old.schema or {}), SchemaDocument(new.schema or {}), new.values
    )
    comparer.compare(old.schema or {}, new.schema or {}, (), frozenset(), frozenset())
    return sorted(
        strongest_per_property(comparer.changes), key=lambda c: (not c.breaking, c.where, c.message)
    )


def strongest_per_property(changes: list[SchemaChange]) -> list[SchemaChange]:
    """One change per property: its breaking findings if it has any (a compatible
    side effect of a breaking change is noise), else its compatible ones, joined."""
    by_where: dict[str, list[SchemaChange]] = {}
    for change in changes:
        by_where.setdefault(change.where, []).append(change)
    merged = []
    for where, found in by_where.items():
        breaking = any(change.breaking for change in found)
        messages = sorted({c.message for c in found if c.breaking == breaking})
        merged.append(SchemaChange(breaking, where, "; ".join(messages)))
    return merged


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Comparer:
    def __init__(self, old: SchemaDocument, new: SchemaDocument, new_values: dict) -> None:
        self.old, self.new, self.new_values = old, new, new_values
        self.changes: list[SchemaChange] = []

    def _add(self, breaking: bool, path: tuple, message: str) -> None:
        self.changes.append(SchemaChange(breaking, path_text(path), message))

    def compare(
        self,
        old_node: Any,
        new_node: Any,
        path: tuple,
        old_active: frozenset[str],
        new_active: frozenset[str],
    ) -> None:
        old = self.old.flatten(old_node, old_active)
        new = self.new.flatten(new_node, new_active)
        if CYCLE in old or CYCLE in new:
            return
        old_active |= set(old.pop(REFS, ()))
        new_active |= set(new.pop(REFS, ()))
        self._types(old, new, path)
        self._enums(old, new, path)
        self._bounds(old, new, path)
        self._strings(old, new, path)
        self._objects(old, new, path, old_active, new_active)
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(new_items, dict) and new_items:
            self.compare(
                old_items if isinstance(old_items, dict) else {},
                new_items,
                (*path, "[]"),
                old_active,
                new_active,
            )

    def _types(self, old: dict, new: dict, path: tuple) -> None:
        old_types, new_types = _types(old), _types(new)
        if old_types is None or new_types == old_types:
            if old_types is None and new_types is not None:
                self._add(True, path, f"now restricted to type {' or '.join(sorted(new_types))}")
            return
        if new_types is None:
            self._add(False, path, "now accepts any type")
            return
        lost = {t for t in old_types if not (t == "integer" and "number" in new_types)}
        lost -= new_types
        if lost:
            self._add(
                True,
                path,
                f"type narrowed from {' or '.join(sorted(old_types))} to "
                f"{' or '.join(sorted(new_types))}",
            )
        else:
            self._add(False, path, f"type widened to {' or '.join(sorted(new_types))}")

    def _enums(self, old: dict, new: dict, path: tuple) -> None:
        old_enum, new_enum = _enum(old), _enum(new)
        if new_enum is None:
            if old_enum is not None:
                self._add(False, path, "no longer limited to a list of values")
            return
        if old_enum is None:
            self._add(True, path, f"now limited to {', '.join(map(_show, new_enum))}")
            return
        removed = [value for value in old_enum if value not in new_enum]
        added = [value for value in new_enum if value not in old_enum]
        if removed:
            self._add(True, path, f"no longer allows {', '.join(map(_show, removed))}")
        if added:
            self._add(False, path, f"now also allows {', '.join(map(_show, added))}")

    def _bounds(self, old: dict, new: dict, path: tuple) -> None:
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = _number(old.get(keyword)), _number(new.get(keyword))
            if before == after:
                continue
            lower = keyword in _LOWER_BOUNDS
            if after is None:
                self._add(False, path, f"{keyword} {before} removed")
            elif before is None or (after > before if lower else after < before):
                self._add(True, path, f"{keyword} narrowed: {_bound_text(before)} -> {after}")
            else:
                self._add(False, path, f"{keyword} relaxed: {before} -> {after}")

    def _strings(self, old: dict, new: dict, path: tuple) -> None:
        before, after = old.get("pattern"), new.get("pattern")
        if after is not None and after != before:
            self._add(
                True,
                path,
                f"pattern {'changed to' if before else 'added:'} {_show(after)}"
                " (values the old one allowed may fail it)",
            )
        elif before is not None and after is None:
            self._add(False, path, "pattern removed")
        if new.get("format") != old.get("format") and new.get("format"):
            self._add(True, path, f"format {_show(new['format'])} added")
        if "default" in new and old.get("default") != new.get("default"):
            self._add(False, path, f"default is now {_show(new['default'])}")

    def _objects(
        self,
        old: dict,
        new: dict,
        path: tuple,
        old_active: frozenset[str],
        new_active: frozenset[str],
    ) -> None:
        old_props, new_props = _properties(old), _properties(new)
        new_closed = new.get("additionalProperties") is False
        if new_closed and old.get("additionalProperties") is not False:
            self._add(True, path, "no longer accepts keys the schema does not list")
        for name in old_props:
            if name not in new_props:
                self._add(
                    new_closed,
                    (*path, name),
                    "property removed"
                    + ("" if new_closed else " (still accepted as an unlisted key)"),
                )
        old_required = set(old.get("required") or ())
        new_required = set(new.get("required") or ())
        for name in new_props:
            if name not in old_props and name not in new_required:
                self._add(False, (*path, name), "new optional property")
        here = value_at(self.new_values, path)
        for name in sorted(new_required - old_required):
            supplied = isinstance(here, dict) and name in here
            self._add(
                not supplied,
                (*path, name),
                "now required" + (" (the new values.yaml supplies it)" if supplied else ""),
            )
        for name in sorted(old_required - new_required):
            self._add(False, (*path, name), "no longer required")
        for name in old_props.keys() & new_props.keys():
            self.compare(old_props[name], new_props[name], (*path, name), old_active, new_active)


def _types(node: dict) -> set[str] | None:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return None


def _enum(node: dict) -> list | None:
    if "const" in node:
        return [node["const"]]
    return node["enum"] if isinstance(node.get("enum"), list) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _bound_text(value: float | None) -> str:
    return "none" if value is None else str(value)


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}
