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


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`, the bindings file, the same on every command that reads it."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("lostromos.yaml"),
        help="bindings file (default: ./lostromos.yaml)",
    )


def add_kubeconfig_flag(parser: argparse.ArgumentParser) -> None:
    """`--kubeconfig FILE` for a command a person runs against a cluster."""
    parser.add_argument(
        "--kubeconfig", type=Path, default=None, help="default: $KUBECONFIG, then ~/.kube/config"
    )
