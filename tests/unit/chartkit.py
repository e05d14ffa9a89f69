"""Writing small charts to disk for tests of the values engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def make_chart(
    root: Path,
    name: str = "demo",
    *,
    values: dict | None = None,
    schema: Any = None,
    dependencies: list[dict] | None = None,
    version: str = "1.0.0",
) -> Path:
    """A chart directory with Chart.yaml, values.yaml and (optionally) values.schema.json."""
    path = root / name
    (path / "templates").mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version}
    if dependencies is not None:
        metadata["dependencies"] = dependencies
    (path / "Chart.yaml").write_text(yaml.safe_dump(metadata))
    (path / "values.yaml").write_text(yaml.safe_dump(values or {}))
    if schema is not None:
        (path / "values.schema.json").write_text(json.dumps(schema, indent=2))
    return path


def add_subchart(parent: Path, name: str, **kwargs: Any) -> Path:
    return make_chart(parent / "charts", name, **kwargs)


def apply_patch(document: Any, patch: list[dict]) -> Any:
    """Apply RFC 6902 'add' operations (all the engine emits)."""
    for operation in patch:
        assert operation["op"] == "add"
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in operation["path"].split("/")[1:]]
        target = document
        for token in tokens[:-1]:
            target = target[int(token)] if isinstance(target, list) else target[token]
        last = tokens[-1]
        if isinstance(target, list):
            target.insert(len(target) if last == "-" else int(last), operation["value"])
        else:
            target[last] = operation["value"]
    return document
