"""The one values engine: a spec is Helm user values; coalesce, validate, default.

The webhook, the controller and the CLI all call this, so they cannot disagree
with each other, and it follows Helm v4.3.1 (lostromos.values.coalesce,
lostromos.values.schema_compile) so they do not disagree with Helm either: a spec
validate() accepts is one ``helm install``/``upgrade --install``/``template``
accepts with the same values (``user_values(spec)`` written to a file and
passed with ``-f``), and a spec it refuses is one Helm refuses.

Each schema is also compiled into a plain Python predicate
(lostromos.values.schema_fast): plain JSON values it calls valid are valid
without a jsonschema pass; everything else is judged, and its errors named,
by jsonschema as before.

Hostile input (non-string keys, NaN or infinite numbers, numbers beyond what
Helm's float64 can hold, nesting deeper than MAX_NESTING levels) is refused
with a Violation instead of an exception. Helm itself would accept values
nested deeper than MAX_NESTING; nothing real comes close to that.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lostromos.values.chart import Chart
from lostromos.values.coalesce import (
    ChartNode,
    CoalesceError,
    coalesce_values,
    copy_values,
    merge_maps,
    process_dependencies,
)
from lostromos.values.defaults import DefaultFiller, SchemaView, deprecated_paths, escape_pointer
from lostromos.values.plain_json import PlainJson, scan
from lostromos.values.remembered import RememberedVerdicts, spec_digest
from lostromos.values.schema_compile import CompiledSchema
from lostromos.values.schema_errors import violations_from
from lostromos.values.schema_fast import Check, compile_predicate
from lostromos.values.violations import Violation, format_path, short_repr, sorted_unique

__all__ = ["MAX_NESTING", "Defaulted", "SpecVerdict", "ValuesEngine", "Violation"]

MAX_NESTING = 100
_FLOAT64_EXACT = 2**53
# Verdicts remembered per engine: a few hundred bytes each.
VERDICT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Defaulted:
    values: dict[str, Any]
    patch: list[dict[str, Any]]


@dataclass(frozen=True)
class SpecVerdict:
    """Remembered and shared between callers, so it holds tuples."""

    violations: tuple[Violation, ...]
    deprecations: tuple[str, ...]


class ValuesEngine:
    """Compiled once per chart (and overrides); every method is safe to call from many threads."""

    def __init__(
        self,
        chart: Chart,
        overrides: Mapping[str, Any] | None = None,
        *,
        verdict_cache_size: int = VERDICT_CACHE_SIZE,
        predicates: bool = True,
    ) -> None:
        """predicates=False: jsonschema alone judges every spec (to compare the two)."""
        self.chart = chart
        self._use_predicates = predicates
        self.overrides: dict[str, Any] = copy.deepcopy(dict(overrides or {}))
        canonical = canonical_overrides(self.overrides)
        self.digest = hashlib.sha256(f"{chart.digest}\n{canonical}".encode()).hexdigest()
        self._compiled: dict[str, CompiledSchema] = {}
        self._views: dict[str, SchemaView] = {}
        # per schema, "valid or not" in plain Python; None: jsonschema alone judges it
        self._predicates: dict[str, Check | None] = {}
        self._compile_tree(chart)
        # what every spec is coalesced with: the charts' values.yaml and the overrides
        self._supplied = _scan_supplied(chart, self.overrides)
        # what decides a verdict: this engine (chart content and overrides) and the spec
        self.verdicts: RememberedVerdicts[SpecVerdict] = RememberedVerdicts(verdict_cache_size)
        self.defaults: RememberedVerdicts[str] = RememberedVerdicts(verdict_cache_size)

    def _compile_tree(self, chart: Chart) -> None:
        compiled = chart.compiled_schema
        if chart.digest not in self._compiled and compiled is not None:
            self._compiled[chart.digest] = compiled
            self._views[chart.digest] = SchemaView(compiled)
            if self._use_predicates:
                self._predicates[chart.digest] = compile_predicate(compiled)
        for sub in chart.loaded_subcharts:
            self._compile_tree(sub)

    # --- values ---------------------------------------------------------------

    def user_values(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The values to give helm (-f) for this spec: the spec with overrides merged over it."""
        return merge_maps(copy_values(dict(spec)), copy_values(self.overrides))

    def coalesce(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Helm's coalesced values for this spec. Raises ValueError where Helm would fail."""
        user = self.user_values(spec)
        return coalesce_values(process_dependencies(self.chart, user), user)

    # --- validation -------------------------------------------------------------

    def validate(self, spec: Any) -> list[Violation]:
        """Every violation of the spec (no deprecation scan: nobody is warned here)."""
        key = spec_digest(spec, self.digest, "spec")
        known = self.verdicts.get(key) if key is not None else None
        if known is not None:
            return list(known.violations)
        return list(self._judge(spec, "spec", deprecations=False).violations)

    def verdict(self, spec: Any, root: str = "spec") -> SpecVerdict:
        """Every violation of the spec and every deprecated field it uses, from one pass
        over the chart's dependencies; remembered by the spec and this engine's digest."""
        key = spec_digest(spec, self.digest, root)
        if key is None:
            return self._judge(spec, root, deprecations=True)
        known = self.verdicts.get(key)
        if known is None:
            known = self._judge(spec, root, deprecations=True)
            self.verdicts.put(key, known)
        return known

    def _judge(self, spec: Any, root: str, *, deprecations: bool) -> SpecVerdict:
        if not isinstance(spec, Mapping):
            return SpecVerdict((Violation((), "must be an object", short_repr(spec)),), ())
        facts = scan(spec, MAX_NESTING) if type(spec) is dict else PlainJson(plain=False)
        if not facts.plain:
            problems = hostile_input_problems(spec)
            if problems:
                return SpecVerdict(tuple(sorted_unique(problems)), ())
        plain = facts.plain and self._supplied.plain
        try:
            # no copies here: neither reading the dependencies nor coalescing (which
            # copies before it merges) changes the user values
            user = merge_maps(dict(spec), self.overrides)
            tree = process_dependencies(self.chart, user)
            values = coalesce_values(tree, user)
            if not plain or facts.inexact_integers or self._supplied.inexact_integers:
                values = _helm_numbers(values)
            violations: list[Violation] = []
            self._validate_tree(tree, values, (), violations, fast=plain)
            deprecated = self._deprecation_messages(tree, spec, root) if deprecations else []
        except CoalesceError as error:
            return SpecVerdict((Violation((), str(error), ""),), ())
        except RecursionError:
            return SpecVerdict(
                (Violation((), f"values are nested too deeply (more than {MAX_NESTING} levels)"),),
                (),
            )
        return SpecVerdict(tuple(sorted_unique(violations)), tuple(deprecated))

    def _validate_tree(
        self,
        node: ChartNode,
        values: dict[str, Any],
        prefix: tuple[Any, ...],
        out: list[Violation],
        *,
        fast: bool,
    ) -> None:
        # ValidateAgainstSchema: this chart's schema on its values, then each subchart
        compiled = self._compiled.get(node.chart.digest)
        predicate = self._predicates.get(node.chart.digest) if fast else None
        if compiled is not None and not (predicate is not None and _holds(predicate, values)):
            # invalid, or not for the predicate to say: jsonschema names every error
            out.extend(violations_from(compiled.iter_errors(values), prefix, compiled))
        for dep in node.dependencies:
            raw = values.get(dep.name)
            if raw is None:
                continue
            if not isinstance(raw, dict):
                out.append(
                    Violation(
                        (*prefix, dep.name),
                        f"must be an object (the values of subchart {dep.chart.name})",
                        short_repr(raw),
                    )
                )
                continue
            self._validate_tree(dep, raw, (*prefix, dep.name), out, fast=fast)

    # --- defaults and deprecations ------------------------------------------------

    def default(self, spec: Mapping[str, Any]) -> Defaulted:
        """Schema defaults for what neither spec nor values.yaml supplies (values.defaults).

        Remembered like verdicts, as JSON text: every caller gets its own objects."""
        key = spec_digest(spec, self.digest, "defaults")
        if key is not None:
            known = self.defaults.get(key)
            if known is not None:
                values, patch = json.loads(known)
                return Defaulted(values=values, patch=patch)
        defaulted = self._fill_defaults(spec)
        if key is not None:
            self.defaults.put(key, json.dumps([defaulted.values, defaulted.patch]))
        return defaulted

    def _fill_defaults(self, spec: Mapping[str, Any]) -> Defaulted:
        filled = copy_values(dict(spec))
        if hostile_input_problems(spec):
            return Defaulted(values=filled, patch=[])
        operations: list[dict[str, Any]] = []
        try:
            user = self.user_values(spec)
            tree = process_dependencies(self.chart, user)
            effective = coalesce_values(tree, user)
            self._default_tree(tree, filled, effective, "", operations, record=True)
        except (CoalesceError, RecursionError):
            return Defaulted(values=copy_values(dict(spec)), patch=[])
        return Defaulted(values=filled, patch=operations)

    def _default_tree(  # noqa: PLR0917
        self,
        node: ChartNode,
        target: dict[str, Any],
        effective: Any,
        pointer: str,
        operations: list[dict[str, Any]],
        record: bool,
    ) -> None:
        view = self._views.get(node.chart.digest)
        if view is not None:
            DefaultFiller(view, operations).fill_object(
                view.root, target, effective, pointer, record
            )
        for dep in node.dependencies:
            sub_effective = effective.get(dep.name) if isinstance(effective, dict) else None
            here = f"{pointer}/{escape_pointer(dep.name)}"
            if dep.name in target:
                if isinstance(target[dep.name], dict):
                    self._default_tree(
                        dep, target[dep.name], sub_effective, here, operations, record
                    )
                continue
            partial: dict[str, Any] = {}
            self._default_tree(dep, partial, sub_effective, here, operations, record=False)
            if partial:
                target[dep.name] = partial
                if record:
                    operations.append({"op": "add", "path": here, "value": copy_values(partial)})

    def deprecations(self, spec: Mapping[str, Any], root: str = "spec") -> list[str]:
        if not isinstance(spec, Mapping) or hostile_input_problems(spec):
            return []
        try:
            tree = process_dependencies(self.chart, self.user_values(spec))
            return self._deprecation_messages(tree, spec, root)
        except (CoalesceError, RecursionError):
            return []

    def _deprecation_messages(
        self, tree: ChartNode, spec: Mapping[str, Any], root: str
    ) -> list[str]:
        messages = []
        for path, description in self._deprecations_tree(tree, dict(spec), ()):
            where = format_path(path, root)
            why = re.sub(r"^\s*deprecated\s*[:.-]\s*", "", description, flags=re.IGNORECASE)
            messages.append(f"{where} is deprecated: {why}" if why else f"{where} is deprecated")
        return sorted(set(messages))

    def _deprecations_tree(
        self, node: ChartNode, values: Any, prefix: tuple[Any, ...]
    ) -> list[Any]:
        found = []
        view = self._views.get(node.chart.digest)
        if view is not None:
            found += list(deprecated_paths(view, values, prefix))
        for dep in node.dependencies:
            if isinstance(values, dict) and isinstance(values.get(dep.name), dict):
                found += self._deprecations_tree(dep, values[dep.name], (*prefix, dep.name))
        return found


def canonical_overrides(overrides: Mapping[str, Any] | None) -> str:
    """The same text for the same overrides, whatever their key order."""
    return json.dumps(dict(overrides or {}), sort_keys=True, default=str)


def hostile_input_problems(spec: Any) -> list[Violation]:
    """Keys that are not strings, non-finite or out-of-range numbers, absurd nesting."""
    problems: list[Violation] = []
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(spec, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            problems.append(Violation(path, f"nested more than {MAX_NESTING} levels deep"))
            continue
        if isinstance(value, Mapping):
            for key, child in value.items():
                if not isinstance(key, str):
                    problems.append(
                        Violation(path, "property names must be strings", short_repr(str(key)))
                    )
                    continue
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((child, (*path, i), depth + 1) for i, child in enumerate(value))
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                problems.append(
                    Violation(
                        path,
                        "must be valid Unicode text (lone surrogate)",
                        short_repr(value.encode("utf-8", "replace").decode()),
                    )
                )
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(Violation(path, "must be a finite number", short_repr(value)))
        elif _is_int(value) and abs(value) > sys.float_info.max:
            problems.append(Violation(path, "number is too large", short_repr(value)[:40]))
        elif not isinstance(value, str | int | float | bool | type(None)):
            problems.append(Violation(path, "must be JSON data", type(value).__name__))
    return problems


def _holds(predicate: Check, values: dict[str, Any]) -> bool:
    """The predicate's yes; anything it cannot answer (a value nested past the
    interpreter's recursion limit, a format check that raises) is jsonschema's to judge."""
    try:
        return predicate(values)
    except Exception:  # the fallback judges, and reports, exactly as before
        return False


def _scan_supplied(chart: Chart, overrides: dict[str, Any]) -> PlainJson:
    """Whether every chart's values.yaml and the overrides are plain JSON data."""
    facts = [scan(overrides, MAX_NESTING)]
    pending = [chart]
    while pending:
        current = pending.pop()
        facts.append(scan(current.values, MAX_NESTING))
        pending.extend(current.loaded_subcharts)
    return PlainJson(
        plain=all(fact.plain for fact in facts),
        inexact_integers=any(fact.inexact_integers for fact in facts),
    )


def _helm_numbers(value: Any) -> Any:
    """Numbers as Helm holds them: float64, so large integers lose precision like in Go."""
    stack = [value]
    while stack:
        current = stack.pop()
        items = (
            current.items()
            if isinstance(current, dict)
            else (enumerate(current) if isinstance(current, list) else ())
        )
        for key, child in list(items):
            is_int = isinstance(child, int) and not isinstance(child, bool)
            if is_int and abs(child) > _FLOAT64_EXACT:
                current[key] = int(float(child))
            elif isinstance(child, dict | list):
                stack.append(child)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
