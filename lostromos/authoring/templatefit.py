"""Fit an inferred schema to what the chart's templates do with the values.

values.yaml shows one example; the templates say what the chart accepts. A key
they read is admitted even where values.yaml does not show it; an object they
render whole (`toYaml`) or range over holds keys the user chooses, so it stays
open (a Kubernetes type, where one was given, still says what it holds; a new entry
of a map ranged over is typed like the entries shown), and so does every object of a
chart that renders all of `.Values` (a program's config file); a value
they pass to `tpl` may also be a string, the template text that renders to it, and
a boolean or number whose text they compare with a word (`eq (X | toString) "-"`)
may be a string as well.
"""

from __future__ import annotations

import copy

from lostromos.authoring.k8stypes import item_types, kube_types
from lostromos.authoring.templatereads import TemplateUse
from lostromos.authoring.templatescopes import ELEMENT


def fit_to_templates(body: dict, use: TemplateUse) -> None:
    for path in sorted(use.merged_under):
        hoist(body, path)
    for read in use.reads:
        admit(body, read.path)
    for path in use.rendered:
        open_object(body, path, deep=True)
    for path in use.iterated:
        open_object(body, path, deep=False)
    for path in use.templated:
        admit_string(body, path, rendered=path in use.rendered)
    for path in use.stringified:
        admit_spelling(body, path)
    for path in use.texts - use.rendered - use.iterated - use.templated:
        type_as_text(body, path)
    quoted: dict[tuple[str, ...], set[str]] = {}
    for path in use.quoted:
        if path.count(ELEMENT) == 1 and path[-2:-1] == (ELEMENT,):
            quoted.setdefault(path[:-2], set()).add(path[-1])
    for path, fields in quoted.items():
        admit_scalars(body, path, fields)


def hoist(body: dict, path: tuple[str, ...]) -> None:
    """Defaults the templates merge all of `.Values` over (istio's
    `mustMergeOverwrite $.Values._internal_defaults_do_not_set $.Values`) are set at the
    root: each of their keys is a root key of the same type, with no default of its own
    (the templates' merge fills it in)."""
    found = _at(body, path)
    properties = found.get("properties") if found is not None else None
    if not isinstance(properties, dict):
        return
    root = body.setdefault("properties", {})
    for key, node in properties.items():
        if key not in root and isinstance(node, dict):
            root[key] = {k: v for k, v in copy.deepcopy(node).items() if k != "default"}


def admit(node: dict, path: tuple[str, ...]) -> None:
    """Make room for a key the templates read: no setting of it may be refused (a key
    only the templates know, say `.Values.nameOverride`, is any value)."""
    for key in path:
        if "$ref" in node or "anyOf" in node:
            return  # a Kubernetes type: it says itself what it holds
        properties = node.get("properties")
        if isinstance(properties, dict) and key in properties:
            node = properties[key]
            continue
        if node.get("additionalProperties") is False:
            node.setdefault("properties", {})[key] = {
                "description": "Read by the chart's templates; not in values.yaml."
            }
        return


def open_object(node: dict, path: tuple[str, ...], *, deep: bool) -> None:
    """Open the object at `path`: the templates render it whole or range over its keys,
    so its keys are the user's to choose (values.yaml shows `socketDirVolume: {emptyDir:
    {}}`; `hostPath` is as good). Rendered whole, so is everything inside it. A Kubernetes
    type says itself what it holds and stays."""
    for key in path:
        properties = node.get("properties")
        if "$ref" in node or "anyOf" in node or not isinstance(properties, dict):
            return
        if key not in properties:
            return
        node = properties[key]
    _open_here(node, deep=deep)


def _open_here(node: dict, *, deep: bool) -> None:
    if "$ref" in node or "anyOf" in node:
        return
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if not deep:
        shape = _entry_shape(node)
        if shape:
            node["additionalProperties"] = shape
        return
    for child in (node.get("properties") or {}).values():
        if isinstance(child, dict):
            _open_here(child, deep=True)
    if isinstance(node.get("items"), dict):
        _open_here(node["items"], deep=True)


# What a new entry of a map takes from the entries values.yaml shows: their structure,
# none of their closures or constraints (another entry may need another port, enum, key).
_SHAPE = ("type", "$ref", "anyOf", "description", "x-kubernetes-int-or-string")


def _entry_shape(node: dict) -> dict | None:
    """A map of named entries (`ports: {web: {port: 80, expose: true}, ...}`, ranged over
    by the templates) admits new entries; each is typed as the entries shown type their
    keys (`expose: "yes"` refused), and stays open. A key the entries type differently
    is any value."""
    entries = list((node.get("properties") or {}).values())
    if not entries or not all(_is_object(entry) for entry in entries):
        return None
    merged: dict[str, dict] = {}
    for entry in entries:
        for key, child in (entry.get("properties") or {}).items():
            shape = _shape(child) if isinstance(child, dict) else {}
            if key not in merged:
                merged[key] = shape
            elif any(merged[key].get(k) != shape.get(k) for k in ("type", "$ref")):
                merged[key] = {}
    return {"type": "object", "properties": merged} if merged else None


def _is_object(node: object) -> bool:
    kind = node.get("type") if isinstance(node, dict) else None
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _shape(node: dict) -> dict:
    shape = {k: v for k, v in node.items() if k in _SHAPE}
    if isinstance(node.get("properties"), dict):
        shape["properties"] = {
            k: _shape(v) for k, v in node["properties"].items() if isinstance(v, dict)
        }
    if isinstance(node.get("items"), dict):
        shape["items"] = _shape(node["items"])
    return shape


def _at(node: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        properties = node.get("properties")
        if not isinstance(properties, dict) or key not in properties:
            return None
        node = properties[key]
    return node


def admit_string(node: dict, path: tuple[str, ...], *, rendered: bool = False) -> None:
    """A value the templates pass to `tpl` may be a string even where values.yaml shows
    an object or a list (`tolerations: []`, rendered from `tpl .Values.tolerations .` when
    the user gives it as text). One they also render whole (`toYaml`) is "YAML or template
    text" both ways: shown as text (`annotations: |`), it may be given as YAML too."""
    found = _at(node, path)
    if found is None:
        return
    node = found
    kind = node.get("type")
    if rendered and kind == "string" and not any(k in node for k in ("enum", "const")):
        # as YAML, a list where the name says so (`tolerations: |`), else a mapping
        node["type"] = ["string", "array" if path and item_types(path[-1]) else "object"]
        return
    if kind is None and not any(k in node for k in ("$ref", "anyOf", "oneOf", "enum", "const")):
        return  # any value already
    if kind is not None and "$ref" not in node and "anyOf" not in node:
        kinds = kind if isinstance(kind, list) else [kind]
        if "string" not in kinds:
            node["type"] = [*kinds, "string"]
        return
    typed = {k: node.pop(k) for k in list(node) if k not in ("description", "default")}
    node["anyOf"] = [typed, {"type": "string"}]


def admit_spelling(node: dict, path: tuple[str, ...]) -> None:
    """A boolean or number whose text the templates compare with a word no boolean or
    number spells (vault's `eq (.Values.csi.enabled | toString) "-"`: "as
    global.enabled says") has strings among its designed values, and the user may
    spell `true` as `"true"` there too. Compared only with `"true"` (`server.ha.enabled`),
    a number's spelling or `"<nil>"` (the text of an unset value), it keeps its type:
    `"yes"` would quietly mean false."""
    found = _at(node, path)
    if found is None or any(k in found for k in ("$ref", "anyOf", "enum", "const")):
        return
    kind = found.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if all(k in ("boolean", "integer", "number") for k in kinds):
        found["type"] = [*kinds, "string"]


def type_as_text(node: dict, path: tuple[str, ...]) -> None:
    """A value values.yaml leaves empty (`nameOverride:`), or does not show, that the
    templates give a function taking text (`default .Chart.Name .Values.nameOverride |
    trunc 63`) is text: anything else fails the render. It may stay empty."""
    found = _at(node, path)
    if found is None or any(k in found for k in ("type", "$ref", "anyOf", "enum", "const")):
        return
    found["type"] = ["string", "null"]


def admit_scalars(node: dict, path: tuple[str, ...], fields: set[str]) -> None:
    """Fields of a list's entries that the templates quote as they build each entry
    (datadog: `- name: {{ .name }}` / `value: {{ .value | quote }}`) are text whatever
    the user gives: `value: 7500` works where the entries' Kubernetes type (`EnvVar`,
    from the list's name) says text. The type is copied into the list's items with those
    fields widened to any scalar."""
    found = _at(node, path)
    items = found.get("items") if found is not None else None
    if not isinstance(items, dict) or "$ref" not in items:
        return
    own = copy.deepcopy(kube_types().defs[items["$ref"].rsplit("/", 1)[1]])
    properties = own.get("properties", {})
    for name in fields & set(properties):
        properties[name] = {"type": ["string", "number", "boolean", "null"]}
    found["items"] = own  # type: ignore[index]
