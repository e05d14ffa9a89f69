"""Writing small charts to disk for tests of the values engine."""

from __future__ import annotations

import copy
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


def _pointer(path: str) -> list[str]:
    assert path == "" or path.startswith("/"), path
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def apply_patch(document: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 add/replace/remove (what a defaulting webhook sends) to a copy."""
    document = copy.deepcopy(document)
    for op in ops:
        *parents, last = _pointer(op["path"])
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if op["op"] == "add":
            if isinstance(target, list):
                target.insert(len(target) if last == "-" else int(last), op["value"])
            else:
                target[last] = copy.deepcopy(op["value"])
        elif op["op"] == "replace":
            assert (int(last) < len(target)) if isinstance(target, list) else last in target
            target[int(last) if isinstance(target, list) else last] = op["value"]
        elif op["op"] == "remove":
            del target[int(last) if isinstance(target, list) else last]
        else:
            raise AssertionError(f"unexpected op {op}")
    return document
