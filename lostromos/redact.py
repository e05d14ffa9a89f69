"""Values are private: what a person or a log may see of a violation.

Two audiences, two texts:

- logs never carry values: `log_text` is the path and the rule only;
- the person who wrote the object sees the value they gave, except where the
  chart marks it secret: a schema property with `writeOnly: true` (JSON
  Schema's own keyword), or a path the binding lists under `sensitivePaths`.
  There `describe` shows `<redacted>` instead.

A violation is redacted when its path and a sensitive path are one inside the
other, either way: a violation on `spec.db` would otherwise show the object
holding `spec.db.password`. This is the one place that decides; the webhook,
`lostromos check` and the controller's status and Events all call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lostromos.charts import Chart
from lostromos.values.violations import Violation, format_path

REDACTED = "<redacted>"
ANY = "*"  # one key or one list index
_MAX_REF_DEPTH = 32
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMAS = ("not", "if", "then", "else")
# Shorter values (a port, "yes") would blank out unrelated words of a message.
_MIN_SCRUBBED = 4
_INDEX = re.compile(r"\[(\*|[0-9]+)\]")

Pattern = tuple[str, ...]


def parse_sensitive_path(text: str) -> Pattern:
    """'db.password', 'users[*].token', 'tokens.*' -> ('db', 'password'), ..."""
    dotted = _INDEX.sub(lambda found: "." + found.group(1), text.strip())
    parts = tuple(part for part in dotted.split("."))
    if not text.strip() or any(not part for part in parts):
        raise ValueError(f"{text!r} is not a values path such as db.password or users[*].token")
    return parts


def write_only_paths(chart: Chart) -> set[Pattern]:
    """Values paths of every schema property marked writeOnly, subcharts included."""
    found: set[Pattern] = set()
    _chart_paths(chart, (), found, depth=0)
    return found


def _chart_paths(chart: Chart, prefix: Pattern, found: set[Pattern], depth: int) -> None:
    if isinstance(chart.schema, dict):
        _walk(chart.schema, chart.schema, prefix, found, depth=0)
    if depth > _MAX_REF_DEPTH:
        return
    for sub in chart.loaded_subcharts:
        # A subchart's values live under its name, and under each alias it is listed with.
        scopes = {
            spec.alias or spec.name for spec in chart.requirements or () if spec.name == sub.name
        } or {sub.name}
        for scope in scopes:
            _chart_paths(sub, (*prefix, scope), found, depth + 1)


def _walk(
    node: Any, root: Mapping[str, Any], path: Pattern, found: set[Pattern], depth: int
) -> None:
    if not isinstance(node, Mapping) or depth > _MAX_REF_DEPTH:
        return
    if node.get("writeOnly") is True:
        found.add(path)
        return
    for name, sub in _mapping(node.get("properties")).items():
        _walk(sub, root, (*path, str(name)), found, depth + 1)
    for sub in _mapping(node.get("patternProperties")).values():
        _walk(sub, root, (*path, ANY), found, depth + 1)
    for key in (
        "additionalProperties",
        "additionalItems",
        "contains",
        "unevaluatedItems",
        "unevaluatedProperties",
    ):
        _walk(node.get(key), root, (*path, ANY), found, depth + 1)
    items = node.get("items")
    for sub in items if isinstance(items, list) else [items]:
        _walk(sub, root, (*path, ANY), found, depth + 1)
    for sub in node.get("prefixItems") or []:
        _walk(sub, root, (*path, ANY), found, depth + 1)
    for key in _SUBSCHEMA_LISTS:
        for sub in node.get(key) or []:
            _walk(sub, root, path, found, depth + 1)
    for key in _SUBSCHEMAS:
        _walk(node.get(key), root, path, found, depth + 1)
    for sub in _mapping(node.get("dependentSchemas")).values():
        _walk(sub, root, path, found, depth + 1)
    # $defs and definitions apply where a $ref points at them, so only $ref leads there.
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        _walk(_resolve(root, ref), root, path, found, depth + 1)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for escaped in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        token = escaped.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


@dataclass(frozen=True)
class Redactor:
    """Knows which values paths of one binding's chart are secret."""

    patterns: frozenset[Pattern] = frozenset()

    def is_sensitive(self, path: Sequence[str | int]) -> bool:
        return any(_related(pattern, path) for pattern in self.patterns)

    def redact(self, violation: Violation) -> Violation:
        """The violation as its author may see it: a secret given value is `<redacted>`."""
        if violation.given and self.is_sensitive(violation.path):
            return Violation(violation.path, violation.message, REDACTED)
        return violation

    def describe(self, violation: Violation, root: str = "spec") -> str:
        return self.redact(violation).describe(root)

    def describe_all(self, violations: Iterable[Violation], root: str = "spec") -> list[str]:
        return [self.describe(violation, root) for violation in violations]

    def sensitive_values(self, spec: Any) -> list[str]:
        """The text of every scalar of `spec` at or under a sensitive path, longest first.

        Walks only where a pattern leads (every render sends these to the engine):
        the rest of the spec is never visited."""
        found: set[str] = set()
        for pattern in self.patterns:
            stack: list[tuple[int, Any]] = [(0, spec)]
            while stack:
                depth, value = stack.pop()
                if depth < len(pattern):
                    stack.extend((depth + 1, child) for child in _children(value, pattern[depth]))
                elif isinstance(value, Mapping):
                    stack.extend((depth, child) for child in value.values())
                elif isinstance(value, list):
                    stack.extend((depth, child) for child in value)
                elif value is not None and not isinstance(value, bool):
                    text = str(value)
                    if len(text) >= _MIN_SCRUBBED:
                        found.add(text)
        return sorted(found, key=len, reverse=True)

    def scrub(self, text: str, spec: Any) -> str:
        """`text` (a Helm error, say) with every sensitive value of `spec` in it `<redacted>`.

        For messages lostromos does not build itself: a chart's `fail` or Helm's own
        schema error may quote a value.
        """
        for value in self.sensitive_values(spec):
            text = text.replace(value, REDACTED)
        return text


def _children(value: Any, want: str) -> Iterator[Any]:
    """The members of a map or list that one part of a pattern names (`*`: all)."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            if want == ANY or str(key) == want:
                yield child
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if want == ANY or str(index) == want:
                yield child


def _related(pattern: Pattern, path: Sequence[str | int]) -> bool:
    return all(want == ANY or want == str(part) for want, part in zip(pattern, path, strict=False))


def log_text(violation: Violation, root: str = "spec") -> str:
    """A violation for a log line: where and which rule, never the value given."""
    return f"{format_path(violation.path, root)}: {violation.message}"


def log_texts(violations: Iterable[Violation], root: str = "spec") -> Iterator[str]:
    return (log_text(violation, root) for violation in violations)


_BUILT: dict[tuple[str, tuple[str, ...]], Redactor] = {}
_BUILT_MAX = 256


def redactor_for(chart: Chart | None, sensitive_paths: Sequence[str] = ()) -> Redactor:
    """The redactor of a chart (writeOnly) and a binding's `sensitivePaths`.

    Built once per chart content: the key is the chart's digest, so a cached
    redactor is never stale. Without a chart, only `sensitive_paths` count.
    """
    key = (chart.digest if chart is not None else "", tuple(sensitive_paths))
    built = _BUILT.get(key)
    if built is None:
        patterns = write_only_paths(chart) if chart is not None else set()
        patterns.update(parse_sensitive_path(text) for text in sensitive_paths)
        built = Redactor(frozenset(patterns))
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[key] = built
    return built
