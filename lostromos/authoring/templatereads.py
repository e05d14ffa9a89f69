"""What a chart's templates read from `.Values`, for `schema lint`.

A key the templates read but the schema forbids can never be set: every
object that sets it is refused, and the template's branch for it is dead. The
reads are found in every template file, named templates (`define`, used
through `include` and `template`) included, so `toYaml .Values.x`,
`.Values.x.y`, `$.Values.x` and `index .Values "x" "y"` all count. Reads
through a variable or a `with`/`range` scope are not followed: their paths
are not known without running the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lostromos.authoring.refs import CYCLE, REFS, SchemaDocument

_DOTTED = re.compile(r"\.Values((?:\.[A-Za-z_][\w-]*)+)")
_INDEX = re.compile(r"index\s+\$?\.Values((?:\s+\"[^\"]+\")+)")
_QUOTED = re.compile(r"\"([^\"]+)\"")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")


@dataclass(frozen=True)
class TemplateRead:
    path: tuple[str, ...]
    where: str  # templates/deployment.yaml:12


def template_reads(chart_dir: Path) -> list[TemplateRead]:
    """Every `.Values` path the chart's own templates name, with the first place it is named."""
    templates = chart_dir / "templates"
    if not templates.is_dir():
        return []
    first: dict[tuple[str, ...], str] = {}
    for file in sorted(templates.rglob("*")):
        if not file.is_file() or file.suffix not in TEMPLATE_SUFFIXES:
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{file.relative_to(chart_dir).as_posix()}:{number}"
            for match in _DOTTED.finditer(line):
                first.setdefault(tuple(match.group(1).strip(".").split(".")), where)
            for match in _INDEX.finditer(line):
                first.setdefault(tuple(_QUOTED.findall(match.group(1))), where)
    return [TemplateRead(path, where) for path, where in first.items()]


def forbidden_prefix(document: SchemaDocument, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The shortest prefix of `path` the schema refuses as a key, or None."""
    node: Any = document.root
    active: frozenset[str] = frozenset()
    for depth, key in enumerate(path):
        flat = document.flatten(node, active)
        if CYCLE in flat or not isinstance(flat, dict):
            return None
        active = active | set(flat.get(REFS, ()))
        properties = flat.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        if key in properties:
            node = properties[key]
            continue
        if _pattern_allows(flat, key):
            return None
        extra = flat.get("additionalProperties", True)
        if extra is False and not _open_type(flat):
            return path[: depth + 1]
        if isinstance(extra, dict):
            node = extra
            continue
        return None
    return None


def _pattern_allows(flat: dict, key: str) -> bool:
    patterns = flat.get("patternProperties")
    if not isinstance(patterns, dict):
        return False
    return any(re.search(pattern, key) for pattern in patterns)


def _open_type(flat: dict) -> bool:
    """A node that may be something other than an object holds no keys to forbid."""
    kind = flat.get("type")
    return kind is not None and kind != "object" and "object" not in (kind or [])
