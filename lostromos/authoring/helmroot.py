"""The root keys Helm itself puts into a chart's values, for `schema init`.

Helm validates the values it coalesced, not only what the user wrote, and it
adds keys there: `global` (shared with every subchart), each subchart's values
under its name or alias (the subchart's own defaults merged in), and the keys
named by the dependencies' `condition`s. A chart that is itself a subchart
sees its parent's `condition` key too, by convention `enabled`. A closed root
that leaves these out refuses every install of an umbrella chart.

A subchart's values are judged by Helm against the subchart's own
values.schema.json where it has one (Helm validates each chart with its own
schema), so the parent's schema leaves them open rather than judge them
twice, differently: the subchart's values.yaml is merged in under that key
before validation, and Helm's `global` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lostromos.charts import ChartError, is_v1, load_as_helm, load_chart, with_requirements

GLOBAL_DESCRIPTION = "Values shared with every subchart (Helm's global values)."
ENABLED_DESCRIPTION = "Set by a parent chart's dependency condition: whether this chart is enabled."


def dependency_keys(chart_dir: Path, metadata: dict) -> dict[str, bool]:
    """Each subchart's key in the values -> whether the subchart ships a schema."""
    keys: dict[str, bool] = {}
    try:
        chart = load_chart(chart_dir)
    except ChartError:
        chart = None
    subcharts = (
        {sub.name: sub.schema is not None for sub in chart.loaded_subcharts} if chart else {}
    )
    listed = metadata.get("dependencies")
    named = set()
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("name"):
            name = str(entry["name"])
            named.add(name)
            keys[str(entry.get("alias") or name)] = subcharts.get(name, False)
    for name, has_schema in subcharts.items():
        if name not in named:  # a listed one's values are under its alias
            keys.setdefault(name, has_schema)
    return keys


def condition_paths(metadata: dict) -> list[tuple[str, ...]]:
    listed = metadata.get("dependencies")
    paths = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("condition"):
            for condition in str(entry["condition"]).split(","):
                parts = tuple(part for part in condition.strip().split(".") if part)
                if parts:
                    paths.append(parts)
    return paths


def has_tags(metadata: dict) -> bool:
    listed = metadata.get("dependencies")
    return any(isinstance(e, dict) and e.get("tags") for e in (listed or []))


def open_tree(node: Any) -> Any:
    """The node with every object in it open: merged values may hold more keys."""
    if isinstance(node, list):
        return [open_tree(item) for item in node]
    if not isinstance(node, dict):
        return node
    opened = {key: open_tree(value) for key, value in node.items()}
    if opened.get("additionalProperties") is False:
        del opened["additionalProperties"]
    return opened


def _listing_dependencies(chart_dir: Path, metadata: dict) -> dict:
    """The metadata with a v1 chart's requirements.yaml dependencies (datadog's chart);
    a file that cannot be read adds none."""
    if not is_v1(metadata):
        return metadata
    try:
        text = (chart_dir / "requirements.yaml").read_text(encoding="utf-8")
        return with_requirements(metadata, load_as_helm(text))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return metadata


def apply_root(body: dict[str, Any], chart_dir: Path, metadata: dict) -> None:
    """Admit in the inferred root what Helm adds there (the module docstring)."""
    metadata = _listing_dependencies(chart_dir, metadata)
    properties: dict[str, Any] = body.setdefault("properties", {})
    properties["global"] = {
        **open_tree(properties.get("global") or {}),
        "type": "object",
        "description": (properties.get("global") or {}).get("description") or GLOBAL_DESCRIPTION,
    }
    for key, has_schema in dependency_keys(chart_dir, metadata).items():
        judged = (
            f"Values of the {key} subchart, judged by its own values.schema.json."
            if has_schema
            else f"Values of the {key} subchart."
        )
        existing = open_tree(properties.get(key) or {})
        existing.pop("default", None)
        kind = existing.get("type")
        if kind not in (None, "object"):
            existing.pop("type", None)
        properties[key] = {
            **existing,
            "type": "object",
            "description": existing.get("description") or judged,
        }
    for path in condition_paths(metadata):
        _allow_boolean(properties, path)
    properties.setdefault("enabled", {"type": "boolean", "description": ENABLED_DESCRIPTION})
    if has_tags(metadata):
        properties.setdefault(
            "tags",
            {
                "type": "object",
                "description": "Dependency tags: enable or disable subcharts by tag.",
                "additionalProperties": {"type": "boolean"},
            },
        )


def _allow_boolean(properties: dict[str, Any], path: tuple[str, ...]) -> None:
    node: dict[str, Any] = {"properties": properties}
    for part in path[:-1]:
        children = node.setdefault("properties", {})
        child = children.get(part)
        if not isinstance(child, dict) or "$ref" in child:
            child = children[part] = {"type": "object"} if child is None else child
        if "$ref" in child:
            return
        node = child
    last = path[-1]
    children = node.setdefault("properties", {})
    if last not in children:
        children[last] = {"type": "boolean", "description": "A dependency's condition."}
