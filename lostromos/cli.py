"""The `lostromos` command line. Every command reports a user's mistake (a
missing file, a broken chart, a port in use) as one line and exit code 2,
never as a traceback."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lostromos import toolchain

EXIT_USAGE = 2


def _say(line: str) -> None:
    print(f"lostromos: {line}", file=sys.stderr, flush=True)


# -- toolchain -----------------------------------------------------------------


def cmd_toolchain_build(args: argparse.Namespace) -> int:
    paths = toolchain.ensure(args.tools or toolchain.TOOL_NAMES)
    versions = toolchain.tool_versions()
    for name, path in paths.items():
        print(f"{name:15} {versions[name]:9} {path}")
    return 0


def cmd_toolchain_versions(args: argparse.Namespace) -> int:
    for name, version in toolchain.tool_versions().items():
        print(f"{name:15} {version}")
    return 0


def cmd_toolchain_path(args: argparse.Namespace) -> int:
    path = toolchain.find(args.tool)
    if path is None:
        _say(f"{args.tool} is not built yet: run `lostromos toolchain build`")
        return 1
    print(path)
    return 0


# -- dev cluster -----------------------------------------------------------------


def cmd_dev_up(args: argparse.Namespace) -> int:
    from lostromos.dev.cluster import DevCluster, DevOptions, run_foreground

    for path, what in ((args.config, "bindings file"), (args.crds, "CRD folder")):
        if not path.exists():
            _say(f"error: {what} {path} not found (run from the lostromos checkout or pass it)")
            return EXIT_USAGE
    tools = toolchain.ensure(toolchain.TOOL_NAMES, progress=_say)
    options = DevOptions(
        state_dir=args.state_dir,
        bindings_path=args.config.resolve(),
        crds_dir=args.crds.resolve(),
        examples_dir=args.examples.resolve() if args.examples else None,
        tools=tools,
    )
    cluster = DevCluster(options, _say)
    # Until run_foreground takes over, SIGTERM is handled like Ctrl-C: whatever
    # has started is stopped again, and nothing is left running behind us.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster.up()
    try:
        _print_usage(cluster, tools, detached=args.detach)
        if args.detach:
            return 0
        return run_foreground(cluster, _say)
    except KeyboardInterrupt:
        _say("stopping")
        cluster.stop()
        return 0


def _print_usage(cluster, tools: dict[str, Path], *, detached: bool) -> None:
    bin_dir = tools["kubectl"].parent
    lines = [
        "",
        "lostromos is up: kube-apiserver, etcd, webhook and controller are running.",
        "In another shell:",
        "",
        f"  export KUBECONFIG={cluster.kubeconfig}",
        f'  export PATH="{bin_dir}:$PATH"   # the pinned kubectl and helm',
        "  kubectl get sites",
        "  helm list -A",
        "",
        f"Logs: {cluster.state_dir / 'logs'}",
    ]
    if detached:
        lines.append(f"Stop it with: lostromos dev down --state-dir {cluster.state_dir}")
    else:
        lines.append("Press Ctrl-C to stop everything.")
    print("\n".join(lines), flush=True)


def cmd_dev_down(args: argparse.Namespace) -> int:
    from lostromos.dev.processes import Supervisor

    supervisor = Supervisor(args.state_dir.resolve())
    running = supervisor.running()
    supervisor.stop_all()  # also clears a stale record of children that already died
    if running:
        _say(f"stopped the dev cluster in {args.state_dir}")
    else:
        _say(f"no dev cluster is running in {args.state_dir}")
    return 0


# -- components ------------------------------------------------------------------


def cmd_webhook(args: argparse.Namespace) -> int:
    from webhook.server import ServeOptions, serve

    return serve(ServeOptions(
        bindings_path=args.config, bind=args.bind, certfile=args.tls_cert,
        keyfile=args.tls_key, workers=args.workers, threads=args.threads,
        log_format=args.log_format, log_level=args.log_level, helm_engine=args.helm_engine,
    ))


def cmd_controller(args: argparse.Namespace) -> int:
    from controller.main import ControllerOptions, run

    return run(ControllerOptions(
        bindings_path=args.config,
        kubeconfig=args.kubeconfig,
        helm_engine=args.helm_engine,
        health_bind=args.health_bind,
        log_format=args.log_format,
        log_level=args.log_level,
        resync_seconds=args.resync_seconds,
        leader_elect=args.leader_elect,
        lease_namespace=args.lease_namespace,
        lease_name=args.lease_name,
        dry_run=args.dry_run,
        chart_cache=args.chart_cache,
    ))


# -- parser ----------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=Path("lostromos.yaml"),
                        help="bindings file (default: ./lostromos.yaml)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default="info")


def build_parser() -> argparse.ArgumentParser:
    from lostromos.dev.cluster import default_state_dir

    parser = argparse.ArgumentParser(
        prog="lostromos", description="Turn any Helm chart into a Kubernetes API.")
    commands = parser.add_subparsers(dest="command", required=True)

    tc = commands.add_parser("toolchain", help="the pinned kube-apiserver, etcd, kubectl, helm")
    tc_commands = tc.add_subparsers(dest="toolchain_command", required=True)
    build = tc_commands.add_parser("build", help="build the pinned binaries (skips built ones)")
    build.add_argument("tools", nargs="*", metavar="TOOL",
                       help=f"any of {', '.join(toolchain.TOOL_NAMES)} (default: all)")
    build.set_defaults(handler=cmd_toolchain_build)
    tc_commands.add_parser("versions", help="print the pinned versions").set_defaults(
        handler=cmd_toolchain_versions)
    path = tc_commands.add_parser("path", help="print where a built binary is")
    path.add_argument("tool", choices=toolchain.TOOL_NAMES)
    path.set_defaults(handler=cmd_toolchain_path)

    dev = commands.add_parser("dev", help="the whole system on a local API server")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    up = dev_commands.add_parser("up", help="start etcd, kube-apiserver, webhook, controller")
    up.add_argument("--state-dir", type=Path, default=default_state_dir())
    up.add_argument("--config", type=Path, default=Path("lostromos.yaml"))
    up.add_argument("--crds", type=Path, default=Path("crds"))
    up.add_argument("--examples", type=Path, default=Path("examples"))
    up.add_argument("--no-examples", dest="examples", action="store_const", const=None)
    up.add_argument("--detach", action="store_true",
                    help="return once everything is ready and leave it running")
    up.set_defaults(handler=cmd_dev_up)
    down = dev_commands.add_parser("down", help="stop a detached dev cluster")
    down.add_argument("--state-dir", type=Path, default=default_state_dir())
    down.set_defaults(handler=cmd_dev_down)

    webhook = commands.add_parser("webhook", help="serve the admission webhook over TLS")
    _add_common(webhook)
    webhook.add_argument("--bind", default="0.0.0.0:8443")
    webhook.add_argument("--tls-cert", type=Path, required=True)
    webhook.add_argument("--tls-key", type=Path, required=True)
    webhook.add_argument("--workers", type=int, default=2)
    webhook.add_argument("--threads", type=int, default=4)
    webhook.add_argument("--helm-engine", type=Path, default=None,
                         help="Helm engine binary for render checks (default: the toolchain "
                              "build, then lostromos-helm-engine on PATH)")
    webhook.set_defaults(handler=cmd_webhook)

    ctl = commands.add_parser("controller", help="converge bound objects into Helm releases")
    _add_common(ctl)
    ctl.add_argument("--kubeconfig", type=Path, default=None,
                     help="default: in-cluster config, then $KUBECONFIG")
    ctl.add_argument("--helm-engine", type=Path, default=None,
                     help="Helm engine binary (default: the toolchain build, then "
                          "lostromos-helm-engine on PATH)")
    ctl.add_argument("--health-bind", default="0.0.0.0:8080")
    ctl.add_argument("--resync-seconds", type=float, default=600.0)
    ctl.add_argument("--leader-elect", action="store_true",
                     help="run as one of several replicas: only the Lease holder works")
    ctl.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    ctl.add_argument("--lease-name", default="lostromos-controller")
    ctl.add_argument("--chart-cache", type=Path, default=None,
                     help="where repository charts are unpacked (default: ~/.cache/lostromos)")
    ctl.add_argument("--dry-run", action="store_true",
                     help="log what would be installed, upgraded or uninstalled; change nothing")
    ctl.set_defaults(handler=cmd_controller)
    from lostromos.authoring.commands import register as register_authoring
    register_authoring(commands)
    from certs.commands import register as register_certs
    register_certs(commands)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    """The user's mistakes: each is reported as one line and exit code 2."""
    from certs.commands import CERTS_ERRORS
    from lostromos.authoring.commands import AUTHORING_ERRORS
    from lostromos.charts import ChartError
    from lostromos.config import ConfigError
    from lostromos.dev.cluster import DevError

    return (ConfigError, ChartError, DevError, toolchain.ToolchainError, *AUTHORING_ERRORS,
            *CERTS_ERRORS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _known_errors() as error:
        _say(f"error: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lostromos check ... | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
