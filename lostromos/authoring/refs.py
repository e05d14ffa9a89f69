"""Following local `$ref`s and `allOf` in a chart schema, for tools that read its shape.

Validation itself never goes through here (the values engine does that with
the real resolver); these helpers only need the property tree a chart author
wrote, so they follow references inside the schema document (`#/...`
pointers, `$defs`/`definitions`, `$id`/`$anchor` names) and stop at a cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lostromos.authoring import AuthoringError

MAX_REF_DEPTH = 32
CYCLE = "x-lostromos-cycle"  # marks a recursive reference in a flattened node
REFS = "x-lostromos-refs"  # the references a flattened node expanded


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class SchemaDocument:
    """One schema document whose local references can be looked up by pointer or anchor."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self._anchors: dict[str, Any] = {}
        self._index(root)

    def _index(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._index(item)
        elif isinstance(node, dict):
            for key in ("$anchor", "$id", "id"):
                name = node.get(key)
                if isinstance(name, str) and node is not self.root:
                    self._anchors[name.lstrip("#")] = node
            for key, value in node.items():
                if key not in ("enum", "const", "default", "examples"):
                    self._index(value)

    def lookup(self, reference: str) -> Any:
        """The node `reference` points at; AuthoringError when it is not inside this document."""
        base, _, fragment = reference.partition("#")
        if base:
            if base not in self._anchors:
                raise AuthoringError(f"reference {reference!r} points outside the schema")
            # an embedded resource (a bundled remote document): the pointer is inside it
            return SchemaDocument(self._anchors[base]).lookup(f"#{fragment}")
        if fragment and not fragment.startswith("/"):
            if fragment in self._anchors:
                return self._anchors[fragment]
            raise AuthoringError(f"reference {reference!r}: no such anchor")
        node = self.root
        for escaped in fragment.split("/")[1:]:
            token = unescape(escaped)
            if isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                raise AuthoringError(f"reference {reference!r} cannot be resolved")
        return node

    def flatten(self, node: Any, active: frozenset[str] = frozenset()) -> dict:  # noqa: PLR0911
        """`node` with its `$ref` target and `allOf` branches merged in (the node's own keys win).

        Properties merge recursively by name; `required` lists are united.
        `active` holds the references being expanded further up the tree: meeting
        one again is a recursive schema, returned as {CYCLE: reference}. The
        references this node expanded are listed under REFS so a caller walking
        into its properties can pass them on.
        """
        if node is True or node is None:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            return {}
        if len(active) > MAX_REF_DEPTH:
            return {CYCLE: "too deep"}
        merged: dict = {}
        used: set[str] = set()
        reference = node.get("$ref")
        if isinstance(reference, str):
            if reference in active:
                return {CYCLE: reference}
            target = self.flatten(self.lookup(reference), active | {reference})
            if CYCLE in target:
                return target
            used |= {reference, *target.pop(REFS, ())}
            merged = merge(merged, target)
        own = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
        merged = merge(merged, own, own_wins=True)
        for branch in node.get("allOf") or ():
            flat = self.flatten(branch, active | used)
            if CYCLE in flat:
                continue
            used |= set(flat.pop(REFS, ()))
            merged = merge(merged, flat)
        if used:
            merged[REFS] = tuple(sorted(used))
        return merged


def merge(base: dict, extra: dict, *, own_wins: bool = False) -> dict:
    """Combine two schema nodes that must both hold (as allOf means)."""
    result = dict(base)
    for key, value in extra.items():
        if key not in result:
            result[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(result[key], dict):
            properties = dict(result[key])
            for name, child in value.items():
                properties[name] = (
                    {"allOf": [properties[name], child]} if name in properties else child
                )
            result[key] = properties
        elif key == "required" and isinstance(value, list) and isinstance(result[key], list):
            result[key] = list(dict.fromkeys([*result[key], *value]))
        elif own_wins:
            result[key] = value
    return result


def walk_properties(
    document: SchemaDocument, node: Any, path: tuple = (), active: frozenset[str] = frozenset()
) -> Iterator[tuple[tuple, dict]]:
    """Every (path, flattened node) of the property tree; array items appear as "[]"."""
    flat = document.flatten(node, active)
    yield path, flat
    if CYCLE in flat:
        return
    active = active | set(flat.get(REFS, ()))
    for name, child in (flat.get("properties") or {}).items():
        yield from walk_properties(document, child, (*path, name), active)
    items = flat.get("items")
    if isinstance(items, dict):
        yield from walk_properties(document, items, (*path, "[]"), active)
