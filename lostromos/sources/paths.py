"""The two path syntaxes of a values mapping.

A values path (the mapping's key) is dotted chart value names: `tier`,
`quota.pods`. A source path (`from:`) reads the source object, and only where
its owner writes what it means: `metadata.labels["hosting.example.com/tier"]`,
`metadata.annotations["key"]`, `spec.ports[0].port`, `spec["odd.key"]`.
Paths are data: nothing in a mapping is evaluated.
"""

from __future__ import annotations

import json
import re

from lostromos.values.violations import format_path

ValuesPath = tuple[str, ...]
SourcePath = tuple[str | int, ...]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[(\"(?:[^\"\\]|\\.)*\")\]")
METADATA_MAPS = ("labels", "annotations")


def parse_values_path(text: str) -> ValuesPath:
    parts = tuple(text.split("."))
    if not all(_NAME.fullmatch(part) for part in parts):
        raise ValueError(
            f"{text!r} is not a values path: use value names joined by dots, such as quota.pods"
        )
    return parts


def parse_source_path(text: str) -> SourcePath:
    """`metadata.labels["k"]`, `metadata.annotations["k"]` or `spec...`; ValueError if not."""
    first = _NAME.match(text)
    if first is None:
        raise ValueError(_not_a_source_path(text))
    parts: list[str | int] = [first.group(0)]
    position = first.end()
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if segment is None:
            raise ValueError(_not_a_source_path(text))
        name, index, quoted = segment.groups()
        parts.append(name if name is not None else int(index) if index else json.loads(quoted))
        position = segment.end()
    path = tuple(parts)
    if path[0] == "spec":
        return path
    if (
        len(path) == 3
        and path[0] == "metadata"
        and path[1] in METADATA_MAPS
        and isinstance(path[2], str)
    ):
        return path
    raise ValueError(_not_a_source_path(text))


def _not_a_source_path(text: str) -> str:
    return (
        f'from: {text!r} is not a source path: use metadata.labels["key"], '
        'metadata.annotations["key"] or a path under spec (spec.ports[0].port)'
    )


def source_text(path: SourcePath) -> str:
    """How a person reads a source path: metadata.labels["hosting.example.com/tier"]."""
    if path[:2] in (("metadata", "labels"), ("metadata", "annotations")):
        return f"metadata.{path[1]}[{json.dumps(path[2])}]" + format_path(path[3:], "")
    return format_path(path[1:], str(path[0]))
