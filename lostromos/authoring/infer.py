"""`lostromos schema init`: a first values.schema.json inferred from values.yaml.

The goal is a schema the chart can ship: it must never refuse a setting Helm
renders, and should refuse the mistakes users make (a typo in a key, the wrong
type). So:

- types come from the values; objects with keys are closed (a typo is
  refused), maps by nature (`annotations`, `labels`, `nodeSelector`, keys that
  are not identifiers) and empty maps stay open;
- keys shown commented out in values.yaml (`# tag: v1.2.3`, Helm's way of
  documenting an optional value) are optional properties typed from the example;
- values that are Kubernetes structures get the API's own schema (k8stypes);
- the conventions authors already write in comments are read (annotations):
  descriptions, helm-docs `(type)` hints, `# @schema` keywords;
- the root admits what Helm itself puts there (helmroot): `global`, each
  dependency's values, the dependencies' `condition` keys and a parent's `enabled`;
- what the templates do with the values decides the rest (templatefit): a key they
  read is admitted, an object they render whole or range over stays open.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from lostromos.authoring import AuthoringError, read_text, value_at
from lostromos.authoring.annotations import (
    COMMENT,
    COMMENTED_KEY,
    KeyNotes,
    finish,
    not_key_lines,
    notes_for,
    readme_params,
)
from lostromos.authoring.examplefiles import example_files, new_keys, schema_root
from lostromos.authoring.helmroot import apply_root
from lostromos.authoring.k8stypes import (
    INT_OR_STRING,
    KubeTypes,
    is_int_or_string,
    is_string_map,
    item_types,
    kube_types,
    object_types,
)
from lostromos.authoring.templatefit import fit_to_templates
from lostromos.authoring.templatereads import template_use
from lostromos.charts import ValuesLoader, load_as_helm, values_of
from lostromos.values.jsontype import json_type
from lostromos.yamltext import yaml_location

DRAFT = "https://json-schema.org/draft/2020-12/schema"
Path_ = tuple[str, ...]
UNKNOWN = object()  # a commented-out key whose example does not parse
_NAMES = re.compile(r"^name$|[a-z]Name$")


@dataclass(frozen=True)
class CommentedValues:
    """values.yaml parsed, with what the comments say about each key by its path."""

    values: dict
    comments: dict[Path_, str]
    commented_keys: frozenset[Path_]  # optional keys shown commented out
    notes: dict[Path_, KeyNotes] | None = None
    examples: dict[Path_, Any] | None = None  # commented-out keys' example values


def read_values(path: Path) -> CommentedValues:
    text = read_text(path, "values.yaml")
    try:
        nodes = list(yaml.compose_all(text, Loader=ValuesLoader))
        values = values_of(text)
    except yaml.YAMLError as error:
        raise AuthoringError(f"{path}: not valid YAML: {yaml_location(error)}") from None
    except ValueError as error:
        raise AuthoringError(f"{path}: {error}") from None
    reader = _Reader(text.splitlines())
    for node in nodes:  # Helm merges the documents of a values file
        if isinstance(node, yaml.MappingNode):
            reader.collect(node, (), node.start_mark.line)
    comments = {
        path: notes.description for path, notes in reader.notes.items() if notes.description
    }
    return CommentedValues(
        values, comments, frozenset(reader.examples), reader.notes, reader.examples
    )


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.in_blocks = not_key_lines(lines)
        self.params = readme_params(lines)
        self.notes: dict[Path_, KeyNotes] = {}
        self.examples: dict[Path_, Any] = {}

    def collect(self, node: yaml.MappingNode, path: Path_, first: int) -> None:
        """`first`: the line after the parent key, where comments about the children start."""
        indent = None
        for key_node, value_node in node.value:
            here = (*path, str(key_node.value))
            indent = key_node.start_mark.column if indent is None else indent
            notes = notes_for(self.lines, key_node.start_mark.line, self.in_blocks)
            described = self.params.get(".".join(here))
            if described:
                notes.description = described
            if not notes.is_empty():
                self.notes[here] = notes
            if isinstance(value_node, yaml.MappingNode):
                self.collect(value_node, here, key_node.start_mark.line + 1)
            if isinstance(value_node, yaml.CollectionNode) and not value_node.value:
                sample = self._example_inside(key_node.start_mark.column, value_node)
                if sample is UNKNOWN:
                    sample = self._example_above(key_node)
                if sample is not UNKNOWN:
                    self.examples.setdefault(here, sample)
        if indent is None:
            return
        last = min(node.end_mark.line + 1, len(self.lines))
        for number in range(first, last):
            line = self.lines[number]
            match = COMMENTED_KEY.match(line)
            if (
                match
                and number not in self.in_blocks
                and len(line) - len(line.lstrip()) == indent
                and self._is_key(line)
            ):
                here = (*path, match.group(1))
                self.examples.setdefault(here, self._example(number))
                notes = notes_for(self.lines, number, self.in_blocks)
                if not notes.is_empty():
                    self.notes.setdefault(here, notes)

    @staticmethod
    def _is_key(line: str) -> bool:
        """`# tag: v1.2.3` is a key; `# Note: set this when ...` is prose."""
        rest = line.split(":", 1)[1].strip()
        return not rest or rest.startswith(("#", "[", "{", '"', "'")) or rest.count(" ") < 2

    def _example(self, number: int) -> Any:
        """The commented example value: the key's line and the more indented lines below."""
        column = self.lines[number].index("#")
        body = [self._content(self.lines[number])]
        for line in self.lines[number + 1 :]:
            match = COMMENT.match(line)
            if not match or line.index("#") != column:
                break
            content = self._content(line)
            if not content.startswith((" ", "-")) or not content.strip():
                break
            body.append(content)
        try:
            parsed = load_as_helm("\n".join(body))
        except yaml.YAMLError:
            return UNKNOWN
        return next(iter(parsed.values())) if isinstance(parsed, dict) and parsed else UNKNOWN

    def _example_above(self, key_node: yaml.Node) -> Any:
        """The key itself commented out with an example in the description above it, where
        that is a helm-docs description (`# -- Parent references. Example:` / `#
        parentRefs:` / `#   - name: my-gateway`, then `parentRefs: []`), whose lines are
        otherwise prose."""
        column, number = key_node.start_mark.column, key_node.start_mark.line - 1
        while number >= 0 and COMMENT.match(self.lines[number]):
            match = COMMENTED_KEY.match(self.lines[number])
            if (
                match
                and match.group(1) == key_node.value
                and self.lines[number].index("#") == column
            ):
                return self._example(number)
            number -= 1
        return UNKNOWN

    def _example_inside(self, column: int, node: yaml.CollectionNode) -> Any:
        """The example commented out under an empty value, as `helm create` writes it:
        `tls: []` then `#  - secretName: chart-example-tls` / `#    hosts: [...]`, or
        `resources: {}` then, indented, prose and `# limits:` / `#   cpu: 100m`. A list's
        items may start at the key's own column; a map's keys are deeper (at the key's
        column they are its siblings, commented out), and so is prose about the value."""
        is_list = isinstance(node, yaml.SequenceNode)
        body: list[str] = []
        hash_at = depth = 0
        for number in range(node.end_mark.line + 1, len(self.lines)):
            line = self.lines[number]
            match = COMMENT.match(line)
            if not match or number in self.in_blocks:
                break
            content = match.group(1)
            indent = len(content) - len(content.lstrip())
            opens = content.lstrip().startswith("- ") if is_list else COMMENTED_KEY.match(line)
            if body:
                if line.index("#") != hash_at or not content.strip() or indent < depth:
                    break
                if indent == depth and not opens:
                    break  # prose again, at the example's own indentation
                body.append(content)
            elif opens and line.index("#") >= column + (not is_list):
                body.append(content)
                hash_at, depth = line.index("#"), indent
            elif line.index("#") <= column:
                break  # another key's comment
        prose = any(":" in line and not self._is_key(line) for line in body)
        if not body or prose:  # `# - istio: watches Istio's gateways`: a list of words
            return UNKNOWN
        try:
            parsed = load_as_helm(textwrap.dedent("\n".join(body)))
        except yaml.YAMLError:
            return UNKNOWN
        return parsed if isinstance(parsed, list if is_list else dict) and parsed else UNKNOWN

    @staticmethod
    def _content(line: str) -> str:
        text = line.lstrip()[1:]
        return text[1:] if text.startswith(" ") else text


def infer_chart_schema(chart_dir: Path, metadata: dict) -> dict:
    """The inferred schema for a chart directory with its Chart.yaml already read."""
    values_file = chart_dir / "values.yaml"
    values = (
        read_values(values_file)
        if values_file.is_file()
        else CommentedValues({}, {}, frozenset(), {}, {})
    )
    values = with_example_files(values, chart_dir)
    name = str(metadata.get("name") or chart_dir.name)
    description = metadata.get("description")
    return infer_schema(
        name, str(description) if description else None, values, chart_dir, metadata
    )


def with_example_files(values: CommentedValues, chart_dir: Path) -> CommentedValues:
    """values.yaml with what the author's other values files show (examplefiles): their
    new keys as examples, with their comments. A file that does not parse adds nothing."""
    examples = dict(values.examples or {})
    notes = dict(values.notes or {})
    for file in example_files(chart_dir):
        try:
            extra = read_values(file)
        except AuthoringError:
            continue
        found = {**new_keys(values.values, extra.values), **(extra.examples or {})}
        for path, sample in found.items():
            if path in examples or value_at(values.values, path, UNKNOWN) is not UNKNOWN:
                continue
            examples[path] = sample
            for key, note in (extra.notes or {}).items():
                if key[: len(path)] == path:
                    notes.setdefault(key, note)
    return replace(values, examples=examples, notes=notes)


def infer_schema(
    chart_name: str,
    chart_description: str | None,
    values: CommentedValues,
    chart_dir: Path | None = None,
    metadata: dict | None = None,
) -> dict:
    schema: dict[str, Any] = {"$schema": DRAFT, "title": chart_name}
    if chart_description:
        schema["description"] = chart_description
    use = template_use(chart_dir) if chart_dir is not None else None
    inference = _Inference(values, kube_types(), use.rendered_under if use else {})
    body = inference.node(values.values, (), top=True)
    if chart_dir is not None and use is not None:
        apply_root(body, chart_dir, metadata or {})
        body.setdefault("additionalProperties", False)
        said = schema_root(chart_dir)
        if said.get("additionalProperties") is True:
            del body["additionalProperties"]  # the author keeps the root open
        schema.update(
            {k: said[k] for k in ("title", "description") if isinstance(said.get(k), str)}
        )
        fit_to_templates(body, use)
    schema.update(body)
    used = inference.kube.used_defs()
    if used:
        schema["$defs"] = used
    return schema


class _Inference:
    def __init__(
        self, values: CommentedValues, kube: KubeTypes, rendered_as: dict[Path_, str]
    ) -> None:
        self.notes = values.notes or {}
        self.examples = values.examples or {}
        self.comments = values.comments
        self.kube = kube
        self.rendered_as = rendered_as  # the Kubernetes field a value is rendered whole as

    def _kube_name(self, path: Path_) -> str:
        """The name that says a value's Kubernetes type: its own (`resources`), else the
        field the templates render it whole as (`lifecycle:` then `{{ toYaml
        .Values.lifecycleHooks }}`: the API server takes it as a `Lifecycle`)."""
        own = path[-1] if path else ""
        if object_types(own) or item_types(own) or is_int_or_string(own):
            return own
        return self.rendered_as.get(path, own)

    def node(self, value: Any, path: Path_, *, top: bool = False, example: bool = False) -> dict:
        notes = self.notes.get(path) or KeyNotes(description=self.comments.get(path, ""))
        node: dict[str, Any] = {}
        if notes.description and not top:
            node["description"] = notes.description
        shown = self._example_of_empty(value, path)
        if shown is not None and not example:
            shown["default"] = value
        node.update(shown if shown is not None else self._typed(value, path, example=example))
        if notes.hint and value is None:
            node["type"] = list(dict.fromkeys([*notes.hint, "null"]))
        elif notes.hint and "type" in node:
            node = self._widened(node, notes.hint)
        own = finish(dict(notes.schema))
        if own:
            node = _authored(node, own)
        required = [key for key in node.get("properties", {}) if self._required((*path, key))]
        if required:
            node["required"] = list(dict.fromkeys([*node.get("required", ()), *required]))
        return node

    def _required(self, path: Path_) -> bool:
        notes = self.notes.get(path)
        return notes is not None and notes.required

    @staticmethod
    def _widened(node: dict, hint: tuple[str, ...]) -> dict:
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        extra = [k for k in hint if k not in kinds and not (k == "number" and "integer" in kinds)]
        if "number" in hint and "integer" in kinds:
            kinds = ["number" if k == "integer" else k for k in kinds]
        if extra or kinds != node.get("type"):
            node["type"] = [*kinds, *extra] if len(kinds) + len(extra) > 1 else kinds[0]
        return node

    def _typed(self, value: Any, path: Path_, *, example: bool) -> dict[str, Any]:
        name = path[-1] if path else ""
        kind = json_type(value)
        if kind == "null":
            return self._kube_only(self._kube_name(path), value)
        if name and is_int_or_string(name) and kind in ("integer", "string"):
            return {**INT_OR_STRING, **({} if example else {"default": value})}
        if name == "enabled" and kind == "string":
            # a switch whose default is text is a tri-state (`"-"`: follow a global
            # switch, `"auto"`): true and false are its other settings
            return {"type": ["string", "boolean"], **({} if example else {"default": value})}
        if kind == "object":
            return self._object(value, path, example=example)
        if kind == "array":
            return self._array(value, path, example=example)
        node: dict[str, Any] = {"type": kind}
        if not example:
            node["default"] = value
        return node

    def _example_of_empty(self, value: Any, path: Path_) -> dict[str, Any] | None:
        """An empty value with its example commented out below it (`lifecycleHooks: {}`,
        then `# lifecycleHooks:` / `#   preStop: ...`) is typed by the example, open as
        examples are; may stay empty. A name that says the type (`resources`, `env`,
        `annotations`) says it first."""
        sample = self.examples.get(path, UNKNOWN)
        if sample is UNKNOWN or value not in (None, {}, []) or sample in (None, {}, []):
            return None
        name = self._kube_name(path)
        if name and (
            object_types(name) or item_types(name) or is_int_or_string(name) or is_string_map(name)
        ):
            return None
        if value is not None and json_type(sample) != json_type(value):
            return None
        node = self._typed(sample, path, example=True)
        kind = node.get("type")
        if value is None and isinstance(kind, str):
            node["type"] = [kind, "null"]
        elif value is None:
            return None
        return node

    def _kube_only(self, name: str, value: Any) -> dict[str, Any]:
        """A key with no value (`resources:`): only its Kubernetes type, if it has one."""
        if not name:
            return {}
        if is_int_or_string(name):
            return dict(INT_OR_STRING)
        if object_types(name):
            return {"anyOf": [self.kube.schema_for(object_types(name)), {"type": "null"}]}
        if item_types(name):
            return {"type": ["array", "null"], "items": self.kube.items_schema(item_types(name))}
        return _empty_by_name(name)

    def _object(self, value: dict, path: Path_, *, example: bool) -> dict[str, Any]:
        name = path[-1] if path else ""
        types = object_types(self._kube_name(path)) if name else ()
        if types and self.kube.fits(value, types):
            typed = self.kube.schema_for(types)
            return typed if example else {**typed, "default": value}
        node: dict[str, Any] = {"type": "object"}
        if not example:
            node["default"] = value
        if name and is_string_map(name) and all(isinstance(v, str) for v in value.values()):
            node["additionalProperties"] = {"type": "string"}
            return node
        properties = {
            str(key): self.node(child, (*path, str(key)), example=example)
            for key, child in value.items()
        }
        for key_path, sample in self.examples.items():
            if key_path[:-1] == path and key_path[-1] not in properties:
                properties[key_path[-1]] = self._commented(key_path, sample)
        if types:  # the chart's own shape beside the Kubernetes type's fields
            for key, child in self.kube.property_names(types).items():
                properties.setdefault(key, child)
        if properties:
            node["properties"] = properties
        if value and not example and not _map_like(value):
            node["additionalProperties"] = False
        return node

    def _commented(self, path: Path_, sample: Any) -> dict[str, Any]:
        if sample is UNKNOWN:
            return self._described({}, path)
        return self.node(sample, path, example=True)

    def _described(self, node: dict, path: Path_) -> dict:
        notes = self.notes.get(path)
        if notes and notes.description:
            node["description"] = notes.description
        return node

    def _array(self, value: list, path: Path_, *, example: bool) -> dict[str, Any]:
        name = path[-1] if path else ""
        node: dict[str, Any] = {"type": "array"}
        types = item_types(self._kube_name(path)) if name else ()
        if types and all(self.kube.fits(item, types) for item in value):
            node["items"] = self.kube.items_schema(types)
        else:
            items = _items(value, self, path)
            if items:
                node["items"] = items
        if not example:
            node["default"] = value
        return node


def _empty_by_name(name: str) -> dict[str, Any]:
    """A key with no value whose name says what it holds: `annotations:`, `podLabels:` a
    map (whatever its values), `name:`, `serviceAccountName:` text (Kubernetes names)."""
    if is_string_map(name):
        return {"type": ["object", "null"]}
    if _NAMES.search(name):
        return {"type": ["string", "null"]}
    return {}


def _authored(node: dict, own: dict) -> dict:
    """The author's own keywords over the inferred ones. An author's `type` is the last
    word on the type: what was inferred for another type (a Kubernetes list of ports
    for `allocateLoadBalancerNodePorts`, typed `[null, boolean]`) goes."""
    if "$ref" in node and own.get("additionalProperties") is False:
        # Beside a `$ref`, additionalProperties sees only this node's own properties
        # (none), so it would refuse every key; the Kubernetes types are closed already.
        own = {k: v for k, v in own.items() if k != "additionalProperties"}
    kinds = own.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        for keyword in ("$ref", "anyOf", "oneOf", "allOf", "x-kubernetes-int-or-string"):
            node.pop(keyword, None)
        if "array" not in kinds:
            node.pop("items", None)
        if "object" not in kinds:
            for keyword in ("properties", "additionalProperties", "required"):
                node.pop(keyword, None)
    node.update(own)
    return node


def _map_like(value: dict) -> bool:
    """Keys that are not identifiers (`kubernetes.io/os`, `FOO_BAR`) name entries of a map."""
    return any(not str(key)[:1].islower() or "/" in str(key) for key in value)


def _items(values: list, inference: _Inference, path: Path_) -> dict[str, Any]:
    kinds = {json_type(item) for item in values} - {"null"}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1:
        return {}
    (kind,) = kinds
    if kind != "object":
        return {"type": kind}
    samples: dict[str, list] = {}
    for item in values:
        if isinstance(item, dict):
            for key, child in item.items():
                samples.setdefault(str(key), []).append(child)
    # An item's keys are typed but the item stays open: the examples in a list rarely
    # show every key an item may have.
    item_schema: dict[str, Any] = {"type": "object"}
    if samples:
        item_schema["properties"] = {
            key: _item_property(children, inference, (*path, "[]", key))
            for key, children in samples.items()
        }
    return item_schema


def _item_property(children: list, inference: _Inference, path: Path_) -> dict[str, Any]:
    """A key of the items of a list, typed from every item that has it: items that give
    it values of different types (`regex: true` in one, `regex: "(.+)"` in the next)
    admit each of those types."""
    node = inference.node(children[0], path, example=True)
    kinds = {json_type(child) for child in children} - {"null"}
    if len(kinds) <= 1:
        return node
    if kinds & {"object", "array"}:
        return {k: v for k, v in node.items() if k == "description"}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    return {**_untyped(node), "type": sorted(kinds)}


def _untyped(node: dict) -> dict:
    """A node without its type and what goes with one type only."""
    dropped = ("type", "$ref", "anyOf", "enum", "const", "format", "properties", "items")
    return {k: v for k, v in node.items() if k not in (*dropped, "additionalProperties")}


def render_schema(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
