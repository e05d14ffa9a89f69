"""A source object's chart values, by its binding's values mapping.

A mapped value that is absent takes the mapping's `default`, or is left out so
the chart's values.yaml decides. `as` converts a label or annotation (always a
string) into the type the chart's schema asks for; a string that does not
convert is a problem at the source path, reported like a schema violation.
What the mapping produced is remembered per values path, so a violation the
values engine finds at `spec.tier` of the generated object can be told to the
user at `metadata.labels["hosting.example.com/tier"]` of the object they wrote.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lostromos.sources.paths import SourcePath, ValuesPath, source_text
from lostromos.sources.spec import Conversion, SourceBinding, ValueMapping
from lostromos.values.violations import format_path, short_repr

_ABSENT: Any = object()
TRUE_WORDS = {"true": True, "false": False}


@dataclass(frozen=True)
class MappedValues:
    values: dict[str, Any]
    # values path -> where in the source object its value came from
    origins: dict[ValuesPath, SourcePath] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def source_line(self, line: str) -> str:
        """A problem line about the generated object's spec (`spec.tier: ...`), told at
        the source path the value came from; an unmapped value as `values.<path>`."""
        best: tuple[ValuesPath, SourcePath] | None = None
        for target, origin in self.origins.items():
            prefix = format_path(target)
            follows = line[len(prefix) : len(prefix) + 1]
            longer = best is None or len(target) > len(best[0])
            if line.startswith(prefix) and follows in (":", ".", "[") and longer:
                best = (target, origin)
        if best is not None:
            return source_text(best[1]) + line[len(format_path(best[0])) :]
        if line.startswith("spec") and line[4:5] in (":", ".", "["):
            return "values" + line[4:]
        return line


def map_values(source: SourceBinding, obj: Mapping[str, Any]) -> MappedValues:
    values: dict[str, Any] = {}
    origins: dict[ValuesPath, SourcePath] = {}
    problems: list[str] = []
    for mapping in source.values:
        found = _read(obj, mapping.source)
        if found is _ABSENT:
            if not mapping.has_default:
                continue
            value = copy.deepcopy(mapping.default)
        else:
            value, problem = _convert(found, mapping)
            if problem is not None:
                problems.append(problem)
                continue
        _put(values, mapping.target, value)
        origins[mapping.target] = mapping.source
    return MappedValues(values, origins, tuple(problems))


def _read(obj: Mapping[str, Any], path: SourcePath) -> Any:
    current: Any = obj
    for part in path:
        if isinstance(part, int):
            if not isinstance(current, list) or not 0 <= part < len(current):
                return _ABSENT
            current = current[part]
        else:
            if not isinstance(current, dict) or part not in current:
                return _ABSENT
            current = current[part]
    return _ABSENT if current is None and path[0] == "metadata" else copy.deepcopy(current)


def _convert(value: Any, mapping: ValueMapping) -> tuple[Any, str | None]:
    conversion: Conversion | None = mapping.conversion
    if conversion is None or not isinstance(value, str):
        return value, None
    text = value.strip()
    try:
        if conversion == "integer":
            return int(text), None
        if conversion == "number":
            number = float(text)
            return (int(number) if number.is_integer() and "." not in text else number), None
        if conversion == "boolean":
            return TRUE_WORDS[text.lower()], None
    except (ValueError, KeyError):
        article = "an" if conversion == "integer" else "a"
        return None, (
            f"{source_text(mapping.source)}: {short_repr(value)} is not allowed: "
            f"must be {article} {conversion}"
        )
    return value, None


def _put(values: dict[str, Any], target: ValuesPath, value: Any) -> None:
    current = values
    for part in target[:-1]:
        current = current.setdefault(part, {})
    current[target[-1]] = value
