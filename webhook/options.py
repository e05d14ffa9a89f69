"""The webhook's options and its one command line (`lostromos webhook`).

`python -m webhook` is the same parser under another name, so the command the
tests run is the command the chart ships. This module imports neither Flask
nor gunicorn: building the `lostromos` parser stays cheap.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from lostromos.cliflags import add_config_flag, add_engine_flag, add_log_flags
from lostromos.logs import LogFormat

# The API server refuses request bodies over 3 MiB itself, so no real review is larger.
DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024
# The webhook configurations give the API server's call 10 s (webhookconfig.py and
# the chart's webhook.timeoutSeconds): a review must be answered well before that.
DEFAULT_REVIEW_SECONDS = 7.0
# 60,000 list items took 7-18 s of CPU; a real Site has a few dozen values.
DEFAULT_MAX_SPEC_VALUES = 10_000
# Idle connections wait in each worker's poller, not in a thread: holding
# thousands of them costs a file descriptor and a few kilobytes each.
DEFAULT_MAX_CONNECTIONS = 4096
# The TLS handshake and each request (head and body) must arrive within this.
# The API server sends a review in one go; a peer slower than this is not it.
DEFAULT_IO_TIMEOUT_SECONDS = 5.0


@dataclass(kw_only=True)
class ServeOptions:
    bindings_path: Path
    bind: str = "127.0.0.1:8443"
    certfile: Path
    keyfile: Path
    workers: int = 2
    threads: int = 4
    log_format: LogFormat = "text"
    log_level: str = "info"
    access_log: bool = False  # one line per request is too chatty at hundreds per second
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    graceful_timeout: int = 20  # in-flight reviews finish; the API server waits 10 s at most
    keepalive: int = 30  # the API server reuses connections to webhooks
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # per worker process
    io_timeout: float = DEFAULT_IO_TIMEOUT_SECONDS
    review_seconds: float = DEFAULT_REVIEW_SECONDS
    max_spec_values: int = DEFAULT_MAX_SPEC_VALUES
    helm_engine: Path | None = None  # for render checks; default: the toolchain build, then PATH
    # /metrics also over plain HTTP here (the admission port may be closed to Prometheus)
    metrics_bind: str | None = None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of the webhook command, with the defaults ServeOptions has."""
    add_config_flag(parser)
    parser.add_argument(
        "--bind",
        default="127.0.0.1:8443",
        help="address:port to listen on (default: 127.0.0.1:8443; in a pod, 0.0.0.0:PORT)",
    )
    parser.add_argument(
        "--metrics-bind",
        default=None,
        metavar="HOST:PORT",
        help="also serve /metrics (all workers) over plain HTTP here, so a NetworkPolicy "
        "can keep the admission port to the API server and still let Prometheus scrape",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        required=True,
        help="serving certificate (PEM), reloaded when it changes",
    )
    parser.add_argument(
        "--tls-key", type=Path, required=True, help="the certificate's private key (PEM)"
    )
    parser.add_argument(
        "--workers", type=_positive_int, default=2, help="gunicorn worker processes (default: 2)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=4,
        help="threads per worker that compute reviews (default: 4)",
    )
    add_log_flags(parser)
    parser.add_argument(
        "--access-log", action="store_true", help="log one line per request (off by default)"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=_positive_int,
        default=20,
        help="seconds in-flight reviews get after SIGTERM (default: 20)",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive_int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="open connections per worker, idle ones included "
        f"(default: {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--io-timeout",
        type=_positive_float,
        default=DEFAULT_IO_TIMEOUT_SECONDS,
        help="seconds for a TLS handshake, and for each request to arrive "
        f"(default: {DEFAULT_IO_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--review-seconds",
        type=_positive_float,
        default=DEFAULT_REVIEW_SECONDS,
        help="time and CPU budget of one review; keep it under the "
        "webhook configurations' timeoutSeconds "
        f"(default: {DEFAULT_REVIEW_SECONDS:g})",
    )
    parser.add_argument(
        "--max-spec-values",
        type=_positive_int,
        default=DEFAULT_MAX_SPEC_VALUES,
        help="values (scalars, lists and maps) a spec may hold "
        f"(default: {DEFAULT_MAX_SPEC_VALUES})",
    )
    add_engine_flag(parser, "for render checks")


def options_from(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        bindings_path=args.config,
        bind=args.bind,
        certfile=args.tls_cert,
        keyfile=args.tls_key,
        workers=args.workers,
        threads=args.threads,
        log_format=args.log_format,
        log_level=args.log_level,
        access_log=args.access_log,
        max_body_bytes=args.max_body_bytes,
        graceful_timeout=args.graceful_timeout,
        max_connections=args.max_connections,
        io_timeout=args.io_timeout,
        review_seconds=args.review_seconds,
        max_spec_values=args.max_spec_values,
        helm_engine=args.helm_engine,
        metrics_bind=args.metrics_bind,
    )
