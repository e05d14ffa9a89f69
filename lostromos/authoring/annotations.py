"""What chart authors already write in values.yaml comments, read for `schema init`.

Four conventions, all common in public charts:

- helm-schema: a YAML block of JSON Schema between two `# @schema` lines
  (`required: true` makes the key required in its parent);
- helm-values-schema-json: one-line `# @schema type:[string, null]; enum:[a, b]`
  annotations, above the key or after its value on the same line;
- helm-docs: `# -- description` (with continuation lines), an optional
  `(type)` hint right after `--`, and `# @default -- text`, which documents a
  default for readers and says nothing about values;
- bitnami's readme-generator: `## @param path [modifiers] description`, which
  describes the key it names wherever the line stands.

None of the markup lands in a description: `--`, `(type)`, `@default` and
every other `@word` line are taken out, and examples (indented lines) stay in
values.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

COMMENT = re.compile(r"^\s*#(?: ?)(.*)$")
# A comment's text for a description: `## text` (bitnami's) and `#####` banners are marks too
PROSE = re.compile(r"^\s*#+ ?(.*)$")
# helm-schema toggles a block at any line that starts with "# @schema" and has no
# keywords after it: `# @schema@` (as cilium writes it) marks a block too.
BLOCK_MARK = re.compile(r"^\s*#\s*@schema[^\s\w]*\s*$")
ONE_LINE = re.compile(r"#\s*@schema\s+(\S.*)$")
HELM_DOCS = re.compile(r"^--(?!-)\s?(?:\((?P<type>[\w/ ]+)\)\s*)?(?P<text>.*)$")
# bitnami's readme-generator: `## @param image.registry [default: REGISTRY_NAME] text`
# describes the key it names, wherever the line is; the [modifiers] are markup.
README_PARAM = re.compile(r"^@param\s+(?P<path>\S+)\s*(?:\[[^\]]*\]\s*)*(?P<text>.*)$")
# A commented-out key such as "# storageClassName: fast-ssd": documentation of an
# optional value, not prose to put in a description.
COMMENTED_KEY = re.compile(r"^\s*#\s?([A-Za-z_][\w.-]*):(\s|$)")
HINT_TYPES = {
    "string": "string",
    "str": "string",
    "tpl": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "object": "object",
    "dict": "object",
    "map": "object",
    "null": "null",
}
# helm-values-schema-json keys that are directions to that tool, not schema.
_TOOL_ONLY = frozenset({"hidden", "skipProperties", "mergeProperties", "skipRequired"})
_ITEM_KEYS = {"itemType": "type", "itemEnum": "enum", "itemRef": "$ref", "item": "type"}
_KEYWORD = re.compile(r"^\$?[A-Za-z][\w-]*$")
_RAW_TEXT = frozenset({"pattern", "title", "description", "$ref", "format", "$comment"})


@dataclass
class KeyNotes:
    """What the comments say about one key."""

    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)  # the author's own keywords
    required: bool = False
    hint: tuple[str, ...] = ()  # a helm-docs (type) or +docs:type=, as JSON types

    def is_empty(self) -> bool:
        return not (self.description or self.schema or self.required or self.hint)


def not_key_lines(lines: list[str]) -> frozenset[int]:
    """Comment lines that look like `# key: value` but are not commented-out keys: inside
    helm-schema blocks, and helm-docs descriptions continued down to their key."""
    return schema_block_lines(lines) | helm_docs_lines(lines)


def readme_params(lines: list[str]) -> dict[str, str]:
    """The descriptions readme-generator's `@param` lines give, by the dotted path they
    name (`master.affinity`)."""
    found: dict[str, str] = {}
    for line in lines:
        param = README_PARAM.match((PROSE.match(line) or _NO_MATCH).group(1).strip())
        if param and param.group("text"):
            found.setdefault(param.group("path"), param.group("text").strip())
    return found


def helm_docs_lines(lines: list[str]) -> frozenset[int]:
    """The lines after a `# --` line down to the key it describes, which helm-docs reads as
    the description (`# ref: https://...` there is prose, not a commented-out key)."""
    found: set[int] = set()
    number = 0
    while number < len(lines):
        text = (COMMENT.match(lines[number]) or _NO_MATCH).group(1).strip()
        if not HELM_DOCS.match(text):
            number += 1
            continue
        end = number + 1
        while end < len(lines) and COMMENT.match(lines[end]):
            end += 1
        if end < len(lines) and lines[end].strip():  # the run ends at a key, not a gap
            found.update(range(number + 1, end))
        number = end
    return frozenset(found)


def schema_block_lines(lines: list[str]) -> frozenset[int]:
    """Line numbers inside (or marking) helm-schema `# @schema` blocks: not commented keys."""
    inside = False
    found: set[int] = set()
    for number, line in enumerate(lines):
        if BLOCK_MARK.match(line):
            found.add(number)
            inside = not inside
        elif inside:
            if not COMMENT.match(line):
                inside = False  # an unclosed block ends where the comments do
            else:
                found.add(number)
    return frozenset(found)


def notes_for(lines: list[str], line: int, in_blocks: frozenset[int]) -> KeyNotes:
    """The notes in the comment lines right above `line` and on `line` itself."""
    start = line
    while start > 0 and COMMENT.match(lines[start - 1]):
        start -= 1
    notes = _read_block(lines[start:line], start, in_blocks)
    inline = ONE_LINE.search(_after_value(lines[line])) if line < len(lines) else None
    if inline:
        _one_line(inline.group(1), notes)
    return notes


def _after_value(line: str) -> str:
    """The comment after a key's value (`replicas: 1 # @schema minimum:1`)."""
    stripped = line.lstrip()
    return "" if stripped.startswith("#") else stripped


def _read_block(  # noqa: PLR0912 (one pass over the lines, one branch per convention)
    block: list[str], first: int, in_blocks: frozenset[int]
) -> KeyNotes:
    notes = KeyNotes()
    prose: list[str] = []
    docs: list[str] | None = None  # helm-docs text, once a `# --` line is seen
    schema_yaml: list[str] | None = None
    for offset, raw in enumerate(block):
        text = (PROSE.match(raw) or _NO_MATCH).group(1).rstrip()
        if BLOCK_MARK.match(raw):
            if schema_yaml is None:
                schema_yaml = []
            else:
                _schema_block("\n".join(schema_yaml), notes)
                schema_yaml = None
            continue
        if schema_yaml is not None:
            schema_yaml.append(text)
            continue
        if first + offset not in in_blocks and COMMENTED_KEY.match(raw):
            # what is above a commented-out key belongs to that key
            notes, prose, docs = KeyNotes(), [], None
            continue
        stripped = text.strip()
        if stripped.startswith("@schema"):
            _one_line(stripped.removeprefix("@schema"), notes)
            continue
        helm_docs = HELM_DOCS.match(stripped)
        if helm_docs:
            docs = [helm_docs.group("text")] if helm_docs.group("text") else []
            if helm_docs.group("type"):
                notes.hint = _hint(helm_docs.group("type").split("/"))
            continue
        if stripped.startswith("+docs:"):
            # helm-tool (cert-manager's charts): +docs:type=number,string,null, +docs:property
            if stripped.startswith("+docs:type="):
                notes.hint = _hint(stripped.removeprefix("+docs:type=").split(","))
            continue
        if stripped.startswith("@"):
            continue  # @default -- ..., @section, @raw, @notationType: markup for readers
        if not stripped or text.startswith((" ", "\t")):
            continue  # an indented example stays in values.yaml
        (docs if docs is not None else prose).append(stripped)
    if notes.schema.get("description"):
        notes.description = str(notes.schema.pop("description"))
    else:
        notes.description = " ".join(docs if docs else prose)
    return notes


def _hint(names: list[str]) -> tuple[str, ...]:
    kinds = [HINT_TYPES.get(name.strip().lower()) for name in names]
    if not all(kinds):
        return ()  # a hint we cannot read (yaml, tpl/array): the value decides
    return tuple(dict.fromkeys(k for k in kinds if k))


class _NoMatch:
    @staticmethod
    def group(_: int) -> str:
        return ""


_NO_MATCH = _NoMatch()


def _schema_block(text: str, notes: KeyNotes) -> None:
    try:
        block = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # a block the author's tool would refuse too; nothing to learn from it
    if not isinstance(block, dict):
        return
    for key, value in block.items():
        _keyword(str(key), value, notes)


def _one_line(text: str, notes: KeyNotes) -> None:
    for part in text.split(";"):
        key, sep, raw = part.strip().partition(":")
        key = key.strip()
        if not _KEYWORD.match(key):
            continue  # not a keyword (`@`, prose): nothing the author's tool reads either
        raw = raw.strip()
        if not sep:
            value: Any = True  # a bare flag: `required`, `nullable`
        elif key in _RAW_TEXT:
            value = raw
        else:
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                continue
        if key in _ITEM_KEYS:
            items = notes.schema.setdefault("items", {})
            if isinstance(items, dict):
                items[_ITEM_KEYS[key]] = value
            continue
        _keyword(key, value, notes)


def _keyword(key: str, value: Any, notes: KeyNotes) -> None:
    if key in _TOOL_ONLY:
        return
    if key == "required":
        if isinstance(value, list):  # the keys of this object that must be set
            notes.schema["required"] = value
        notes.required = value is True
        return
    if key == "nullable":
        if value is True:
            kinds = notes.schema.get("type")
            kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
            if kinds and "null" not in kinds:
                notes.schema["type"] = [*kinds, "null"]
            notes.schema["x-nullable"] = True
        return
    if key == "$ref" and not str(value).startswith("#"):
        return  # another file or a URL: not carried by the chart's schema
    if key == "type" and isinstance(value, str) and "," in value:
        value = [part.strip() for part in value.split(",")]
    notes.schema[key] = value


def _json_schema(node: Any) -> Any:
    """An author's block as JSON Schema: YAML reads `type: [null, string]` as None, which
    JSON Schema spells "null"; and `required: true` on a property inside the block
    (nginx-gateway-fabric's list items) is not JSON Schema, whose `required` lists keys:
    helm-schema reads the boolean only on the annotated key itself and drops it inside, so
    the schema it generates does not require the property, and neither does this one."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("enum", "const", "default", "examples"):
            out[key] = value
        elif key == "type" and isinstance(value, list):
            out[key] = ["null" if kind is None else kind for kind in value]
        elif key == "type" and value is None:
            out[key] = "null"
        elif key == "required" and not isinstance(value, list):
            continue
        else:
            out[key] = _json_schema(value)
    return out


def finish(schema: dict[str, Any]) -> dict[str, Any]:
    """The author's keywords ready to merge: `nullable` given before `type` applied."""
    schema = _json_schema(schema)
    if schema.pop("x-nullable", None):
        kinds = schema.get("type")
        if isinstance(kinds, str):
            schema["type"] = [kinds, "null"]
        elif isinstance(kinds, list) and "null" not in kinds:
            schema["type"] = [*kinds, "null"]
    return schema
