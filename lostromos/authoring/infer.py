"""`lostromos schema init`: a first values.schema.json inferred from values.yaml.

Types come from the values, descriptions from the comment block right above
each key (the Helm convention), defaults from the values themselves. Objects
with keys are closed (`additionalProperties: false`) so a typo in a spec is
refused; an empty map (`podAnnotations: {}`) stays open because it is meant to
be filled with arbitrary keys. The result is a starting point to refine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lostromos.authoring import AuthoringError, read_text
from lostromos.authoring.convert import json_type
from lostromos.yamltext import yaml_location

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_COMMENT = re.compile(r"^\s*#\s?(.*)$")
# A commented-out key such as "# storageClassName: fast-ssd": documentation of an
# optional value, not prose to put in a description.
COMMENTED_KEY = re.compile(r"^\s*#\s?([A-Za-z_][\w.-]*):(\s|$)")


@dataclass(frozen=True)
class CommentedValues:
    """values.yaml parsed, with the comment above each key by its path."""

    values: dict
    comments: dict[tuple[str, ...], str]
    commented_keys: frozenset[tuple[str, ...]]  # optional keys shown commented out


def read_values(path: Path) -> CommentedValues:
    text = read_text(path, "values.yaml")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AuthoringError(f"{path}: not valid YAML: {yaml_location(error)}") from None
    if values is None:
        return CommentedValues({}, {}, frozenset())
    if not isinstance(values, dict) or not isinstance(node, yaml.MappingNode):
        raise AuthoringError(f"{path}: expected a mapping at the top, got {json_type(values)}")
    lines = text.splitlines()
    comments: dict[tuple[str, ...], str] = {}
    commented: set[tuple[str, ...]] = set()
    _collect(node, (), lines, comments, commented)
    return CommentedValues(values, comments, frozenset(commented))


def _collect(
    node: yaml.MappingNode,
    path: tuple[str, ...],
    lines: list[str],
    comments: dict[tuple[str, ...], str],
    commented: set[tuple[str, ...]],
) -> None:
    indent = None
    for key_node, value_node in node.value:
        key = str(key_node.value)
        here = (*path, key)
        indent = key_node.start_mark.column if indent is None else indent
        block = _comment_block(lines, key_node.start_mark.line)
        if block:
            comments[here] = block
        if isinstance(value_node, yaml.MappingNode):
            _collect(value_node, here, lines, comments, commented)
    if indent is None:
        return
    first = node.start_mark.line
    last = node.end_mark.line
    for number in range(first, min(last + 1, len(lines))):
        match = COMMENTED_KEY.match(lines[number])
        if match and len(lines[number]) - len(lines[number].lstrip()) == indent:
            commented.add((*path, match.group(1)))


def _comment_block(lines: list[str], line: int) -> str:
    """The prose of the contiguous comment lines right above `line`.

    Indented lines ("#   - name: akismet") are examples and stay in
    values.yaml; a commented-out key ends the block (what is above it belongs
    to that key).
    """
    prose: list[str] = []
    index = line - 1
    while index >= 0:
        match = _COMMENT.match(lines[index])
        if not match:
            break
        text = match.group(1).rstrip()
        if COMMENTED_KEY.match("# " + text):
            break
        if text and not text.startswith((" ", "\t")):
            prose.append(text)
        index -= 1
    return " ".join(reversed(prose))


def infer_schema(chart_name: str, chart_description: str | None, values: CommentedValues) -> dict:
    schema: dict[str, Any] = {"$schema": DRAFT, "title": chart_name}
    if chart_description:
        schema["description"] = chart_description
    schema.update(_infer(values.values, (), values.comments, top=True))
    return schema


def _infer(
    value: Any, path: tuple[str, ...], comments: dict[tuple[str, ...], str], *, top: bool = False
) -> dict[str, Any]:
    node: dict[str, Any] = {}
    description = comments.get(path)
    if description and not top:
        node["description"] = description
    kind = json_type(value)
    if kind == "null":
        return node  # nothing to learn from an empty value: any value is allowed
    node["type"] = kind
    if kind == "object":
        if value:
            node["additionalProperties"] = False
            node["properties"] = {
                str(key): _infer(child, (*path, str(key)), comments) for key, child in value.items()
            }
        return node
    if kind == "array":
        items = _items(value)
        if items:
            node["items"] = items
    node["default"] = value
    return node


def _items(values: list) -> dict[str, Any]:
    kinds = {json_type(item) for item in values} - {"null"}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1:
        return {}
    (kind,) = kinds
    if kind != "object":
        return {"type": kind}
    merged: dict = {}
    for item in values:
        if isinstance(item, dict):
            for key, child in item.items():
                merged.setdefault(str(key), child)
    item_schema: dict[str, Any] = {"type": "object"}
    if merged:
        item_schema["additionalProperties"] = False
        item_schema["properties"] = {
            key: {k: v for k, v in _infer(child, (), {}).items() if k != "default"}
            for key, child in merged.items()
        }
    return item_schema


def render_schema(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
