"""Where a YAML document is broken, said the same way in every lostromos message."""

from __future__ import annotations

import yaml


def yaml_location(error: yaml.YAMLError) -> str:
    """'line L, column C: problem' for a YAML error, as every lostromos message says it."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
