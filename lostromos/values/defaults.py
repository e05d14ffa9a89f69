"""Filling schema defaults into a spec, and finding deprecated properties a spec sets.

The defaulting rule (what wins when values.yaml and the schema disagree)
-----------------------------------------------------------------------
Helm never applies a schema's ``default``; it renders with the user values
coalesced over values.yaml. The stored object should show what the release
really gets, and filling it must never make the object render differently
from plain ``helm`` with the same spec. So every property the spec omits and
the schema gives a ``default`` for is filled, and the value filled is:

- the value values.yaml (or a binding override, a parent chart's values for a
  subchart, a global) supplies at that path, when it supplies one: that is the
  value helm renders with, so values.yaml wins over the schema's ``default``;
- otherwise the schema's ``default``, which only adds what helm would have
  left unset.

Example: values.yaml sets ``php.version: "8.2"`` and the schema says
``default: "8.3"``: the spec gets ``php.version: "8.2"`` and the release
renders 8.2, as helm would. Like Kubernetes' own defaulting, the filled value
is persisted: a later chart version that changes values.yaml does not silently
change existing objects; their owners (or a rollout) change the spec. A value
the user gave, ``null`` included, is never overwritten.

Defaults are filled recursively: inside objects the spec has, inside
defaulted objects, and inside array items that are objects (``items``,
``prefixItems``). Defaults are found through ``$ref`` and in ``allOf``
branches (the first default wins, the property's own schema first). ``oneOf``,
``anyOf``, ``if``/``then``/``else`` and ``dependentSchemas`` are not
consulted: which branch applies is ambiguous before validation. Disabled
subcharts are not defaulted (Helm ignores their schema too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import referencing
import referencing.exceptions

from lostromos.values import go_regex
from lostromos.values.coalesce import copy_values
from lostromos.values.schema_compile import CompiledSchema, Resolver

MAX_DEPTH = 200
_MAX_EXPANSION = 32
_MAX_STEPS = 4096  # remembered property and item steps per schema view

Scope = tuple[dict[str, Any], Resolver]


def escape_pointer(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


class SchemaView:
    """Navigates a compiled schema alongside a value, following $ref and allOf.

    The scopes of a property or an item depend on the scopes they are reached from
    and the name or index alone (the schema does not change), so they are
    remembered: a spec's every default or deprecation pass walks the same schema,
    and following its $refs through the resolver each time was most of the walk.
    The scopes handed out are shared: callers only read them."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self._legacy_ref = compiled.draft < 2019
        self._draft = compiled.draft
        # (id of the scopes, name or index, loose) -> (those scopes, what they lead to);
        # the scopes are held, so their id is not reused while remembered
        self._steps: dict[tuple[int, str | int, bool], tuple[list[Scope], list[Scope]]] = {}
        self.root: list[Scope] = self.expand(compiled.schema, compiled.resolver())

    def expand(self, node: Any, resolver: Resolver, depth: int = 0) -> list[Scope]:
        if not isinstance(node, dict) or depth > _MAX_EXPANSION:
            return []
        scopes: list[Scope] = []
        reference = node.get("$ref")
        if isinstance(reference, str):
            try:
                resolved = resolver.lookup(reference)
            except referencing.exceptions.Unresolvable:
                resolved = None
            if resolved is not None:
                scopes += self.expand(resolved.contents, resolved.resolver, depth + 1)
            if self._legacy_ref:
                return scopes
        scopes.append((node, resolver))
        for branch in node.get("allOf") or ():
            scopes += self.expand(branch, resolver, depth + 1)
        return scopes

    def property_names(self, scopes: list[Scope]) -> list[str]:
        names: dict[str, None] = {}
        for node, _ in scopes:
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(dict.fromkeys(properties))
        return list(names)

    def property(self, scopes: list[Scope], name: str, *, loose: bool = False) -> list[Scope]:
        """Schemas for property `name`; loose also follows pattern/additionalProperties."""
        return self._step(scopes, name, loose, lambda: self._property(scopes, name, loose))

    def item(self, scopes: list[Scope], index: int) -> list[Scope]:
        return self._step(scopes, index, False, lambda: self._item(scopes, index))

    def _step(
        self,
        scopes: list[Scope],
        step: str | int,
        loose: bool,
        find: Callable[[], list[Scope]],
    ) -> list[Scope]:
        """Where `step` leads from `scopes`: remembered, or found and remembered."""
        key = (id(scopes), step, loose)
        known = self._steps.get(key)
        if known is not None and known[0] is scopes:
            return known[1]
        found = find()
        if len(self._steps) >= _MAX_STEPS:  # names and indexes come from specs: bounded
            self._steps.clear()
        self._steps[key] = (scopes, found)
        return found

    def _property(self, scopes: list[Scope], name: str, loose: bool) -> list[Scope]:
        found: list[Scope] = []
        for node, resolver in scopes:
            properties = node.get("properties")
            matched = isinstance(properties, dict) and name in properties
            if matched and isinstance(properties, dict):
                found += self.expand(properties[name], resolver)
            if not loose:
                continue
            for pattern, sub in (node.get("patternProperties") or {}).items():
                if go_regex.search(pattern, name):
                    matched = True
                    found += self.expand(sub, resolver)
            if not matched and isinstance(node.get("additionalProperties"), dict):
                found += self.expand(node["additionalProperties"], resolver)
        return found

    def _item(self, scopes: list[Scope], index: int) -> list[Scope]:
        found: list[Scope] = []
        for node, resolver in scopes:
            items = node.get("items")
            prefix = node.get("prefixItems") if self._draft >= 2020 else None
            if isinstance(items, list) and self._draft < 2020:
                prefix, items = items, node.get("additionalItems")
            if isinstance(prefix, list) and index < len(prefix):
                found += self.expand(prefix[index], resolver)
            elif isinstance(items, dict):
                found += self.expand(items, resolver)
        return found

    @staticmethod
    def default(scopes: list[Scope]) -> tuple[bool, Any]:
        for node, _ in scopes:
            if "default" in node:
                return True, node["default"]
        return False, None


@dataclass
class DefaultFiller:
    """Fills defaults into `spec` in place and records the minimal JSON Patch."""

    view: SchemaView
    operations: list[dict[str, Any]]

    def fill_object(  # noqa: PLR0917
        self,
        scopes: list[Scope],
        target: dict[str, Any],
        effective: Any,
        pointer: str,
        record: bool,
        depth: int = 0,
    ) -> None:
        if depth > MAX_DEPTH:
            return
        for name in self.view.property_names(scopes):
            sub = self.view.property(scopes, name)
            here = f"{pointer}/{escape_pointer(name)}"
            has_effective = isinstance(effective, dict) and name in effective
            effective_value = effective.get(name) if has_effective else None
            if name in target:
                self.fill_value(sub, target[name], effective_value, here, record, depth + 1)
                continue
            found, default = SchemaView.default(sub)
            if has_effective and found:
                # values.yaml (or an override) supplies it: that is the value helm will
                # render with, so that is the value the stored object shows.
                value = copy_values(effective_value)
            elif has_effective:
                # No default of its own: fill only what has a default inside it.
                if isinstance(effective_value, dict):
                    partial: dict[str, Any] = {}
                    self.fill_object(sub, partial, effective_value, here, False, depth + 1)
                    if partial:
                        self._add(target, name, partial, here, record)
                continue
            elif found:
                value = copy_values(default)
            else:
                continue
            self.fill_value(sub, value, effective_value, here, False, depth + 1)
            self._add(target, name, value, here, record)

    def fill_value(  # noqa: PLR0917
        self,
        scopes: list[Scope],
        value: Any,
        effective: Any,
        pointer: str,
        record: bool,
        depth: int,
    ) -> None:
        if isinstance(value, dict):
            self.fill_object(scopes, value, effective, pointer, record, depth)
        elif isinstance(value, list) and depth <= MAX_DEPTH:
            for index, item in enumerate(value):
                item_effective = (
                    effective[index]
                    if isinstance(effective, list) and index < len(effective)
                    else None
                )
                self.fill_value(
                    self.view.item(scopes, index),
                    item,
                    item_effective,
                    f"{pointer}/{index}",
                    record,
                    depth + 1,
                )

    def _add(
        self, target: dict[str, Any], name: str, value: Any, pointer: str, record: bool
    ) -> None:
        target[name] = value
        if record:
            self.operations.append({"op": "add", "path": pointer, "value": copy_values(value)})


def deprecated_paths(
    view: SchemaView,
    value: Any,
    path: tuple[str | int, ...],
    scopes: list[Scope] | None = None,
    depth: int = 0,
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, description) for every property the value sets that its schema marks deprecated."""
    scopes = view.root if scopes is None else scopes
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        for name, child in value.items():
            if not isinstance(name, str):
                continue
            sub = view.property(scopes, name, loose=True)
            marked = [node for node, _ in sub if node.get("deprecated") is True]
            # A flag turned off (or left at its default) uses nothing deprecated.
            if (
                marked
                and child is not None
                and child is not False
                and not any("default" in node and node["default"] == child for node, _ in sub)
            ):
                described = [n.get("description") for n, _ in sub if n.get("description")]
                yield (*path, name), str(described[0]) if described else ""
            yield from deprecated_paths(view, child, (*path, name), sub, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from deprecated_paths(
                view, item, (*path, index), view.item(scopes, index), depth + 1
            )
