"""Helm's value coalescing, rule for rule (helm v4.3.1).

This follows pkg/chart/common/util/coalesce.go and
pkg/chart/v2/util/dependencies.go closely on purpose, including their odd
corners, because the webhook's verdict must equal Helm's:

- user values win over values.yaml; maps merge, scalars and lists replace;
- a user ``null`` deletes a values.yaml key, while a ``null`` for a key the
  chart does not define stays in the result (and is validated as null);
- nulls inside values.yaml are dropped;
- each subchart gets the values under its name (its alias when it has one),
  coalesced with its own values.yaml, plus the parent's ``global`` map;
- before coalescing, dependencies are processed as ``helm install`` does:
  aliases, ``tags`` and ``condition`` (a disabled subchart is neither
  coalesced nor validated) and ``import-values``.

Python dicts are references like Go maps, so the places where Helm copies a
map (deeply or shallowly) copy here too, and where it shares one we share.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from lostromos.values.semver_range import is_compatible

if TYPE_CHECKING:
    from lostromos.values.chart import Chart, DependencySpec

GLOBAL_KEY = "global"


class CoalesceError(ValueError):
    """Helm itself would stop here (for instance a subchart's values are not a map)."""


@dataclass
class Requirement:
    """A Chart.yaml dependency while it is being processed (Helm mutates these)."""

    name: str
    version: str
    alias: str
    condition: str
    tags: tuple[str, ...]
    import_values: tuple[Any, ...]
    enabled: bool = True

    @classmethod
    def from_spec(cls, spec: DependencySpec) -> Requirement:
        return cls(
            spec.name, spec.version, spec.alias, spec.condition, spec.tags, spec.import_values
        )


@dataclass
class ChartNode:
    """A chart as Helm holds it in memory while installing: names may be aliases."""

    name: str
    chart: Chart
    values: dict[str, Any]
    dependencies: list[ChartNode] = field(default_factory=list)
    requirements: list[Requirement] | None = None

    @classmethod
    def from_chart(cls, chart: Chart, name: str | None = None) -> ChartNode:
        return cls(
            name=name or chart.name,
            chart=chart,
            values=chart.values,
            dependencies=[cls.from_chart(sub) for sub in chart.loaded_subcharts],
            requirements=None
            if chart.requirements is None
            else [Requirement.from_spec(spec) for spec in chart.requirements],
        )

    def copy_as(self, name: str) -> ChartNode:
        # getAliasDependency: copy the chart and its metadata, shallow-copy its dependencies
        return ChartNode(
            name=name,
            chart=self.chart,
            values=self.values,
            dependencies=[copy.copy(dep) for dep in self.dependencies],
            requirements=None
            if self.requirements is None
            else [copy.copy(req) for req in self.requirements],
        )


def is_table(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)


def copy_values(value: Any) -> Any:
    """A copy of values as JSON or YAML loads them, as Helm's copystructure makes:
    maps and lists copied, everything else (scalars, immutable) shared. Several
    times faster than copy.deepcopy, which pays for memo tables values never need."""
    if isinstance(value, dict):
        return {key: copy_values(child) for key, child in value.items()}
    if isinstance(value, list):
        return [copy_values(child) for child in value]
    return value


def coalesce_values(node: ChartNode, values: dict[str, Any]) -> dict[str, Any]:
    """CoalesceValues: user values over the chart (and subchart) defaults."""
    return _coalesce(node, copy_values(values), "", merge=False)


def merge_values(node: ChartNode, values: dict[str, Any] | None) -> dict[str, Any]:
    """MergeValues: like coalesce_values but nulls are kept."""
    return _coalesce(node, copy_values(values or {}), "", merge=True)


def _coalesce(node: ChartNode, dest: dict[str, Any], prefix: str, merge: bool) -> dict[str, Any]:
    _coalesce_chart_values(node, dest, prefix, merge)
    return _coalesce_dependencies(node, dest, prefix, merge)


def _coalesce_dependencies(
    node: ChartNode, dest: dict[str, Any], prefix: str, merge: bool
) -> dict[str, Any]:
    for sub in node.dependencies:
        if sub.name not in dest:
            dest[sub.name] = {}
        elif not is_table(dest[sub.name]):
            raise CoalesceError(
                f"type mismatch on {sub.name}: values for subchart {sub.name!r} must be a map"
            )
        sub_values = dest[sub.name]
        sub_prefix = _concat(prefix, node.name)
        _coalesce_globals(sub_values, dest)
        dest[sub.name] = _coalesce(sub, sub_values, sub_prefix, merge)
    return dest


def _coalesce_globals(dest: dict[str, Any], src: dict[str, Any]) -> None:
    dest_globals = dest.get(GLOBAL_KEY, {}) if GLOBAL_KEY in dest else {}
    src_globals = src.get(GLOBAL_KEY, {}) if GLOBAL_KEY in src else {}
    if not is_table(dest_globals) or not is_table(src_globals):
        return  # Helm warns and skips globals
    for key, value in src_globals.items():
        if is_table(value):
            copied = dict(value)  # shallow, as Helm's copyMap
            if key not in dest_globals:
                dest_globals[key] = copied
            elif is_table(dest_globals[key]):
                _coalesce_tables(copied, dest_globals[key], merge=True)
                dest_globals[key] = copied
            # else: Helm refuses to merge a map onto a non-map and skips
        elif key in dest_globals and is_table(dest_globals[key]):
            continue
        else:
            dest_globals[key] = value
    dest[GLOBAL_KEY] = dest_globals


def _coalesce_chart_values(
    node: ChartNode, values: dict[str, Any], prefix: str, merge: bool
) -> None:
    chart_values = copy_values(node.values)
    for key, default in chart_values.items():
        if key in values:
            given = values[key]
            if given is None and not merge:
                del values[key]
            elif is_table(given) and is_table(default):
                child_merge = merge or any(dep.name == key for dep in node.dependencies)
                if not child_merge:
                    _clean_nils(default)
                _coalesce_tables(given, default, merge=child_merge)
        else:
            if not merge:
                if default is None:
                    continue
                if is_table(default):
                    _clean_nils(default)
            values[key] = default


def merge_maps(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps (how values files and overrides layer): maps merge, the rest
    replaces. Returns a new map; neither argument is changed."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_tables(dest: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    merged = _coalesce_tables(dest, src, merge=True)
    assert merged is not None  # None only comes back for a None dest
    return merged


def _coalesce_tables(
    dest: dict[str, Any] | None, src: dict[str, Any] | None, merge: bool
) -> dict[str, Any] | None:
    """coalesceTablesFullKey: dest (higher precedence) receives src."""
    if src is None:
        return dest
    if dest is None:
        return src
    src_non_nil = {key for key, value in src.items() if value is not None}
    for key, value in dest.items():
        if value is None:
            src[key] = None
    for key, value in src.items():
        present = key in dest
        dest_value = dest.get(key)
        if present and not merge and dest_value is None and key in src_non_nil:
            del dest[key]
        elif not present:
            dest[key] = value
        elif is_table(value) and is_table(dest_value):
            _coalesce_tables(dest_value, value, merge)
    return dest


def _clean_nils(table: dict[str, Any]) -> None:
    for key in [k for k, v in table.items() if v is None]:
        del table[key]
    for value in table.values():
        if is_table(value):
            _clean_nils(value)


def _concat(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# --- dependency processing (ProcessDependencies) ---------------------------------


def process_dependencies(chart: Chart, values: dict[str, Any]) -> ChartNode:
    """The chart tree Helm renders for these user values (conditions, aliases, imports)."""
    root = ChartNode.from_chart(chart)
    _process_enabled(root, values, "")
    _process_import_values_tree(root)
    return root


def _process_enabled(node: ChartNode, values: dict[str, Any], path: str) -> None:
    if node.requirements is None:
        return
    requirements = node.requirements
    kept = [
        existing
        for existing in node.dependencies
        if not any(
            existing.name == req.name and is_compatible(req.version, existing.chart.version)
            for req in requirements
        )
    ]
    for req in requirements:
        aliased = _alias_dependency(node.dependencies, req)
        if aliased is not None:
            kept.append(aliased)
        if req.alias:
            req.name = req.alias
    node.dependencies = kept
    for req in requirements:
        req.enabled = True
    coalesced = coalesce_values(node, values)
    _apply_tags(requirements, coalesced)
    _apply_conditions(requirements, coalesced, path)
    removed = {req.name for req in requirements if not req.enabled}
    enabled_deps = [dep for dep in node.dependencies if dep.name not in removed]
    enabled_reqs = [req for req in requirements if req.name not in removed]
    for dep in enabled_deps:
        _process_enabled(dep, coalesced, f"{path}{dep.name}.")
    node.requirements = enabled_reqs or None
    node.dependencies = enabled_deps


def _alias_dependency(loaded: list[ChartNode], req: Requirement) -> ChartNode | None:
    for candidate in loaded:
        if candidate.chart.name != req.name:
            continue
        if not is_compatible(req.version, candidate.chart.version):
            continue
        return candidate.copy_as(req.alias or candidate.name)
    return None


def _apply_tags(requirements: list[Requirement], values: dict[str, Any]) -> None:
    tags = values.get("tags")
    if not is_table(tags):
        return
    for req in requirements:
        has_true = has_false = False
        for tag in req.tags:
            if tag in tags and isinstance(tags[tag], bool):
                has_true = has_true or tags[tag]
                has_false = has_false or not tags[tag]
        if not has_true and has_false:
            req.enabled = False
        else:
            req.enabled = True


def _apply_conditions(requirements: list[Requirement], values: dict[str, Any], path: str) -> None:
    for req in requirements:
        for condition in req.condition.strip().split(","):
            if not condition:
                continue
            found, value = path_value(values, path + condition)
            if found and isinstance(value, bool):
                req.enabled = value
                break


def path_value(values: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """Values.PathValue: a non-table value at a dotted path."""
    *tables, last = dotted.split(".")
    current: Any = values
    for name in tables:
        current = current.get(name) if is_table(current) else None
        if not is_table(current):
            return False, None
    if last in current and not is_table(current[last]):
        return True, current[last]
    return False, None


def table_at(values: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    current: Any = values
    for name in dotted.split("."):
        if not is_table(current) or not is_table(current.get(name)):
            return None
        current = current[name]
    table: dict[str, Any] = current
    return table


def _process_import_values_tree(node: ChartNode) -> None:
    for dep in node.dependencies:
        _process_import_values_tree(dep)
    _process_import_values(node)


def _process_import_values(node: ChartNode) -> None:
    if node.requirements is None:
        return
    merged = merge_values(node, None)
    imported: dict[str, Any] = {}
    for req in node.requirements:
        for entry in req.import_values:
            if is_table(entry):
                child = _go_text(entry.get("child"))
                parent = _go_text(entry.get("parent"))
                table = table_at(merged, f"{req.name}.{child}")
                if table is None:
                    continue
                imported = merge_tables(imported, _path_to_map(parent, table))
            elif isinstance(entry, str):
                table = table_at(merged, f"{req.name}.exports.{entry}")
                if table is None:
                    continue
                imported = merge_tables(imported, table)
    node.values = merge_tables(copy.deepcopy(merged), imported)


def _path_to_map(path: str, data: dict[str, Any]) -> dict[str, Any]:
    if path == ".":
        return data
    result: dict[str, Any] = data
    for name in reversed(path.split(".")):
        result = {name: result}
    return result


def _go_text(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
