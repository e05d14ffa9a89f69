"""Flags that several commands share, in a module that imports nothing heavy:
every call of `lostromos` (`--help` and completions too) builds the whole parser."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_engine_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """`--helm-engine PATH`, the same on every command that runs the engine."""
    parser.add_argument(
        "--helm-engine",
        type=Path,
        default=None,
        help=f"Helm engine binary {what} (default: the toolchain build, then "
        "lostromos-helm-engine on PATH)",
    )
