"""More values files the chart's author keeps beside values.yaml, for `schema init`.

values.yaml shows one example of each setting; authors keep more, in files two tools
read and users never see:

- helm-values-schema-json's config, `.schema.yaml`, lists the values files its schema
  is made from (`values:`, `input:` in its first versions): a chart may keep the keys
  it documents apart, in `schema/values.yaml`, so that values.yaml stays short;
- chart-testing installs the chart once with each `ci/*-values.yaml`: every one is a
  setting the chart's own CI renders;
- `values-production.yaml`, `values.openshift.yaml` beside values.yaml: the variants
  the author ships for users to pass with `-f`.

A key one of them sets that values.yaml does not show is an optional property, typed
from that example, as a key shown commented out is. Where values.yaml shows a key, it
has the last word on the key's type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCHEMA_CONFIG = ".schema.yaml"
_OTHER_VALUES = ("ci/*values.yaml", "ci/*values.yml", "values[-.]*.yaml", "values[-.]*.yml")
Path_ = tuple[str, ...]


def example_files(chart_dir: Path) -> list[Path]:
    """The chart's other values files, in the order the tools read them; values.yaml,
    files outside the chart and files that do not exist are left out."""
    chart = chart_dir.resolve()
    named = [chart_dir / name for name in _config_inputs(chart_dir)]
    for pattern in _OTHER_VALUES:
        named.extend(sorted(chart_dir.glob(pattern)))
    files: list[Path] = []
    for file in named:
        where = file.resolve()
        if where == chart / "values.yaml" or not where.is_relative_to(chart):
            continue
        if where.name.startswith("values.schema."):
            continue
        if where.is_file() and where not in files:
            files.append(where)
    return files


def schema_root(chart_dir: Path) -> dict[str, Any]:
    """`schemaRoot` of helm-values-schema-json's config: what the author says of the root
    (title, description, additionalProperties); {} when there is none."""
    root = _config(chart_dir).get("schemaRoot")
    return root if isinstance(root, dict) else {}


def new_keys(shown: dict, example: Any, path: Path_ = ()) -> dict[Path_, Any]:
    """The keys `example` sets that values.yaml (`shown`) has no place for, by path, each
    with its example value. Only objects values.yaml shows with keys are looked into: an
    empty one (`podAnnotations: {}`) is open already, and a value of another type is not
    an object to add keys to."""
    found: dict[Path_, Any] = {}
    if not isinstance(example, dict) or not shown:
        return found
    for key, value in example.items():  # keys are text, as Helm reads values files
        if key not in shown:
            found[(*path, key)] = value
        elif isinstance(shown[key], dict):
            found.update(new_keys(shown[key], value, (*path, key)))
    return found


def _config_inputs(chart_dir: Path) -> list[str]:
    config = _config(chart_dir)
    listed = config.get("values", config.get("input"))
    if isinstance(listed, str):
        listed = listed.split(",")
    if not isinstance(listed, list):
        return []
    return [str(name).strip() for name in listed if str(name).strip()]


def _config(chart_dir: Path) -> dict:
    try:
        config = yaml.safe_load((chart_dir / SCHEMA_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}
