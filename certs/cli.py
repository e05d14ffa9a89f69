"""`lostromos certs ...` on the command line: the arguments of each command.

The handlers live in certs.commands and are imported only when a certs command
runs (it brings the Kubernetes client and cryptography, which `--help` and
completions must not wait for).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lostromos.cliflags import add_kubeconfig_flag, add_log_format_flag, add_secret_flag
from lostromos.lazycommand import lazy_handler

_COMMANDS = "certs.commands"


def register(commands: argparse._SubParsersAction) -> None:
    certs = commands.add_parser("certs", help="the webhook's CA and serving certificate")
    sub = certs.add_subparsers(dest="certs_command", required=True)

    ensure = sub.add_parser("ensure", help="create or load certificates, inject the caBundle")
    _keeper_arguments(ensure)
    ensure.add_argument(
        "--watch",
        action="store_true",
        help="keep running: re-check every --check-interval, renew before "
        "expiry, answer /healthz and /readyz on --health-bind",
    )
    ensure.add_argument(
        "--check-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --watch: seconds between checks (default: 60)",
    )
    ensure.add_argument(
        "--health-bind",
        default=None,
        metavar="HOST:PORT",
        help="with --watch: serve /healthz and /readyz here",
    )
    ensure.set_defaults(handler=lazy_handler(_COMMANDS, "cmd_ensure"))

    rotate = sub.add_parser("rotate", help="issue a new serving certificate now")
    _keeper_arguments(rotate)
    rotate.add_argument(
        "--ca", action="store_true", help="also replace the CA; the old one stays trusted meanwhile"
    )
    rotate.set_defaults(handler=lazy_handler(_COMMANDS, "cmd_rotate"))

    reset = sub.add_parser("reset", help="empty the Secret: new certificates on the next check")
    add_secret_flag(reset, "to empty")
    add_kubeconfig_flag(reset, in_cluster=True)
    reset.set_defaults(handler=lazy_handler(_COMMANDS, "cmd_reset"))

    status = sub.add_parser("status", help="print the CAs and serving certificate of a Secret")
    add_secret_flag(status, "to read")
    add_kubeconfig_flag(status, in_cluster=True)
    status.set_defaults(handler=lazy_handler(_COMMANDS, "cmd_status"))


def _keeper_arguments(parser: argparse.ArgumentParser) -> None:
    add_secret_flag(parser, "holding ca.crt, ca.key, tls.crt, tls.key")
    parser.add_argument(
        "--service",
        default=None,
        help="the webhook's Service: its DNS names go into the certificate",
    )
    parser.add_argument(
        "--namespace", default=None, help="the Service's namespace (default: the Secret's)"
    )
    parser.add_argument(
        "--cluster-domain",
        default="cluster.local",
        help="the cluster's DNS domain, for the Service's names (default: cluster.local)",
    )
    parser.add_argument(
        "--dns-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name for the certificate (repeatable)",
    )
    parser.add_argument(
        "--ip-address",
        action="append",
        default=[],
        metavar="IP",
        help="an IP address for the certificate (repeatable)",
    )
    parser.add_argument(
        "--mutating",
        action="append",
        default=[],
        metavar="NAME",
        help="a MutatingWebhookConfiguration to give the caBundle (repeatable)",
    )
    parser.add_argument(
        "--validating",
        action="append",
        default=[],
        metavar="NAME",
        help="a ValidatingWebhookConfiguration to give the caBundle",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=None,
        help="write ca.crt, tls.crt and tls.key here for the webhook",
    )
    parser.add_argument(
        "--serving-days",
        type=int,
        default=365,
        help="validity of a new serving certificate (default: 365)",
    )
    parser.add_argument(
        "--ca-days", type=int, default=3650, help="validity of a new CA (default: 3650)"
    )
    parser.add_argument(
        "--renew-before-days",
        type=int,
        default=30,
        help="renew a certificate this long before it expires (default: 30)",
    )
    parser.add_argument(
        "--propagation-seconds",
        type=float,
        default=5.0,
        help="wait after a caBundle change before serving a certificate from a new CA (default: 5)",
    )
    add_kubeconfig_flag(parser, in_cluster=True)
    add_log_format_flag(parser)
