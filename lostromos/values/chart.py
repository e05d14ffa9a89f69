"""A Helm chart as the values engine reads it: metadata, values, schema and
subcharts, as plain data. lostromos.charts loads it from disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lostromos.values.schema_compile import CompiledSchema


@dataclass(frozen=True)
class DependencySpec:
    """One entry of Chart.yaml's `dependencies` (requirements.yaml for apiVersion v1)."""

    name: str
    version: str = ""
    alias: str = ""
    condition: str = ""
    tags: tuple[str, ...] = ()
    import_values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    app_version: str | None
    path: Path
    values: dict[str, Any]
    schema: dict[str, Any] | bool | None
    digest: str
    # Chart.yaml dependencies; None when Chart.yaml lists none (Helm treats
    # "none listed" differently from "listed", so the distinction is kept).
    requirements: tuple[DependencySpec, ...] | None = None
    # every loaded chart under charts/, before aliases and conditions apply
    loaded_subcharts: tuple[Chart, ...] = field(default=(), repr=False)
    # the schema compiled once, when the chart is loaded (the values engine uses it)
    compiled_schema: CompiledSchema | None = field(default=None, repr=False, compare=False)
