"""Flags that several commands share, in a module that imports nothing heavy:
every call of `lostromos` (`--help` and completions too) builds the whole parser."""

from __future__ import annotations

import argparse
from pathlib import Path

from lostromos.logs import LOG_FORMATS


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


def add_kubeconfig_flag(parser: argparse.ArgumentParser, *, in_cluster: bool = False) -> None:
    """`--kubeconfig FILE`: for a command a person runs against a cluster, or (with
    `in_cluster`) one that runs in a pod and uses its service account by default."""
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="default: the pod's service account, then $KUBECONFIG"
        if in_cluster
        else "default: $KUBECONFIG, then ~/.kube/config",
    )


def add_log_format_flag(parser: argparse.ArgumentParser) -> None:
    """`--log-format`, the same on every command that logs."""
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text for people, json (one object per line) for log collectors (default: text)",
    )


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """`--log-format` and `--log-level`, the same on every long-running command."""
    add_log_format_flag(parser)
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="least severe level logged (default: info)",
    )


def add_chart_cache_flag(parser: argparse.ArgumentParser) -> None:
    """`--chart-cache DIR`, where charts pulled from repositories are unpacked."""
    parser.add_argument(
        "--chart-cache",
        type=Path,
        default=None,
        help="where pulled charts are unpacked (default: ~/.cache/lostromos/charts)",
    )


def add_state_dir_flag(parser: argparse.ArgumentParser, default: Path) -> None:
    """`--state-dir DIR` of the dev cluster."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default,
        help="where the cluster keeps its state and logs (default: %(default)s)",
    )


def add_secret_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """`--secret NAMESPACE/NAME` of the certs commands: the Secret `what`."""
    parser.add_argument(
        "--secret", required=True, metavar="NAMESPACE/NAME", help=f"the Secret {what}"
    )
