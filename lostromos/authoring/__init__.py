"""Tools for chart authors: infer, lint and diff a chart's values.schema.json,
generate the CRD it implies, and check objects against a chart offline or
against what a cluster already stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

# How much of a values schema a generated CRD carries (lostromos.authoring.convert);
# here so that the CLI's parser can offer the choices without the converter's imports.
Mode = Literal["webhook", "full"]
MODES: tuple[Mode, ...] = ("webhook", "full")


class AuthoringError(Exception):
    """Bad input to an authoring command: one line naming the file or object and the problem."""


def read_text(path: Path, what: str = "file") -> str:
    """A user's file as text, or AuthoringError in one line."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthoringError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuthoringError(f"{path}: cannot read: {error}") from None


def value_at(values: dict, path: tuple, missing: Any = None) -> Any:
    """The value at `path` in nested mappings of values; `missing` where there is none."""
    current: Any = values
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return missing
        current = current[part]
    return current
