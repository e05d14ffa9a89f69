"""`-o json|yaml` for commands that print results, as kubectl and helm offer it:
the same data as the text output, for scripts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

FORMATS = ("text", "json", "yaml")


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=FORMATS, default="text", help="output format (default: text)"
    )


def emit(data: Any, output: str) -> None:
    """Print `data` as JSON or YAML (never called for text)."""
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        import yaml  # not at the top: every command's parser imports this module

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
