"""The `lostromos` command line. Every command reports a user's mistake (a
missing file, a broken chart, a port in use) as one line and exit code 2,
never as a traceback."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lostromos import toolchain
from lostromos.cliflags import (
    add_chart_cache_flag,
    add_config_flag,
    add_engine_flag,
    add_kubeconfig_flag,
    add_log_flags,
    add_state_dir_flag,
)
from lostromos.dev import CLIENT_TOOLS, CLIENT_TOOLS_FILE

EXIT_USAGE = 2


def _say(line: str) -> None:
    print(f"lostromos: {line}", file=sys.stderr, flush=True)


# -- toolchain -----------------------------------------------------------------


def cmd_toolchain_build(args: argparse.Namespace) -> int:
    paths = toolchain.ensure(args.tools or toolchain.ALL_TOOL_NAMES)
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


def cmd_completion(args: argparse.Namespace) -> int:
    from lostromos.completion import SCRIPTS

    sys.stdout.write(SCRIPTS[args.shell])
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from lostromos.output import emit
    from lostromos.version import build_info

    info = build_info()
    if args.output != "text":
        emit(info.as_dict(), args.output)
        return 0
    for name, value in info.as_dict().items():
        print(f"{name + ':':12} {value}")
    return 0


# -- dev cluster -----------------------------------------------------------------


def cmd_dev_up(args: argparse.Namespace) -> int:
    from lostromos.dev.cluster import DevCluster, DevOptions, run_foreground

    for path, what in ((args.config, "bindings file"), (args.crds, "CRD folder")):
        if not path.exists():
            _say(f"error: {what} {path} not found (run from the lostromos checkout or pass it)")
            return EXIT_USAGE
    names = [
        name
        for name in toolchain.TOOL_NAMES
        if args.nodes > 0 or name not in toolchain.DATA_PLANE_TOOL_NAMES
    ]
    tools = toolchain.ensure(names, progress=_say)
    options = DevOptions(
        state_dir=args.state_dir,
        bindings_path=args.config.resolve(),
        crds_dir=args.crds.resolve(),
        examples_dir=args.examples.resolve() if args.examples else None,
        tools=tools,
        controllers=args.controllers,
        nodes=args.nodes,
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


def shell_env(state_dir: Path, tools: dict[str, Path]) -> list[str]:
    """The exports that make a fresh shell talk to the dev cluster with the pinned
    kubectl and helm, and find `lostromos` itself (it lives in the project's venv,
    which no fresh shell has on PATH)."""
    own_bin = Path(sys.executable).parent
    bin_dirs = dict.fromkeys(
        [str(tools["kubectl"].parent), str(tools["helm"].parent), str(own_bin)]
    )
    path = ":".join(shlex.quote(d) for d in bin_dirs)
    return [
        f"export KUBECONFIG={shlex.quote(str(state_dir.resolve() / 'kubeconfig'))}",
        f'export PATH={path}:"$PATH"',
    ]


def _print_usage(cluster, tools: dict[str, Path], *, detached: bool) -> None:
    state_dir = cluster.state_dir.resolve()
    lines = [
        "",
        "lostromos is up: kube-apiserver, etcd, webhook and controller are running"
        + (
            f", with {cluster.options.nodes} simulated node(s) (kubectl get pods)."
            if cluster.options.nodes > 0
            else "."
        ),
        "In another shell (kubectl, helm and lostromos on PATH):",
        "",
        *(f"  {line}" for line in shell_env(state_dir, tools)),
        "  kubectl get sites",
        "  helm list -A",
        "",
        f"Logs: {state_dir / 'logs'}",
    ]
    if detached:
        lostromos = Path(sys.executable).parent / "lostromos"
        lines.append(
            f"Stop it with: {shlex.quote(str(lostromos))} dev down --state-dir "
            f"{shlex.quote(str(state_dir))}"
        )
    else:
        lines.append("Press Ctrl-C to stop everything.")
    print("\n".join(lines), flush=True)


def cmd_dev_env(args: argparse.Namespace) -> int:
    problem = _no_cluster_in(args.state_dir)
    if problem:
        # Exports for a kubeconfig that is not there, or for an API server that is not
        # running, would only fail later, at the first kubectl, with a vaguer message.
        _say(f"error: {problem}")
        return EXIT_USAGE
    recorded = _client_tools(args.state_dir)
    tools = {}
    for name in CLIENT_TOOLS:
        found = recorded.get(name) or toolchain.find(name)
        if found is None:
            _say(f"error: {name} is not built yet: run `./dev up` first")
            return EXIT_USAGE
        tools[name] = found
    print("\n".join(shell_env(args.state_dir, tools)))
    return 0


def _client_tools(state_dir: Path) -> dict[str, Path]:
    """The kubectl and helm the cluster in `state_dir` was started with, where they
    still are: this shell may lack the LOSTROMOS_* settings `./dev up` had."""
    try:
        recorded = json.loads((state_dir / CLIENT_TOOLS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {
        name: Path(path)
        for name, path in recorded.items()
        if name in CLIENT_TOOLS and isinstance(path, str) and os.access(path, os.X_OK)
    }


def _no_cluster_in(state_dir: Path) -> str | None:
    """Why `state_dir` holds no running dev cluster, or None when it does."""
    from lostromos.dev.processes import Supervisor

    start = f"start one with `./dev up --state-dir {shlex.quote(str(state_dir))}`"
    if not (state_dir / "kubeconfig").is_file():
        return f"no dev cluster in {state_dir} (no kubeconfig there): {start}"
    if not any(c.name == "kube-apiserver" for c in Supervisor(state_dir).running()):
        return f"the dev cluster in {state_dir} is not running: {start}"
    return None


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
    from webhook.options import options_from
    from webhook.server import serve

    return serve(options_from(args))


def cmd_controller(args: argparse.Namespace) -> int:
    from controller.main import ControllerOptions, run

    return run(
        ControllerOptions(
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
            shards=args.shards,
            server_side_shards=args.server_side_shards,
            lease_seconds=args.lease_seconds,
            identity=args.identity,
            dry_run=args.dry_run,
            chart_cache=args.chart_cache,
            require_service_account=args.require_service_account,
            ready_waits=not args.no_ready_wait,
        )
    )


# -- parser ----------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_config_flag(parser)
    add_log_flags(parser)


def _add_shard_flags(ctl: argparse.ArgumentParser) -> None:
    ctl.add_argument(
        "--shards",
        action="store_true",
        help="run as one of several replicas that all work, each on its own "
        "hash ranges of metadata.uid (one Lease per replica)",
    )
    ctl.add_argument(
        "--no-server-side-shards",
        dest="server_side_shards",
        action="store_false",
        help="with --shards, filter by hash in the controller even if the API "
        "server supports shardSelector (default: use it when supported, True)",
    )
    ctl.add_argument(
        "--lease-seconds",
        type=float,
        default=15.0,
        help="with --shards: how long a silent replica keeps its ranges (default: 15)",
    )
    ctl.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME", ""),
        help="this replica's name in Leases (default: $POD_NAME, else host-pid)",
    )


def _add_local_commands(commands: argparse._SubParsersAction) -> None:
    """`toolchain` and `dev`: what a developer runs on their own machine."""
    from lostromos.dev import dataplane, default_state_dir

    tc = commands.add_parser("toolchain", help="the pinned kube-apiserver, etcd, kubectl, helm")
    tc_commands = tc.add_subparsers(dest="toolchain_command", required=True)
    build = tc_commands.add_parser("build", help="build the pinned binaries (skips built ones)")
    build.add_argument(
        "tools",
        nargs="*",
        metavar="TOOL",
        help=f"any of {', '.join(toolchain.ALL_TOOL_NAMES)} (default: all)",
    )
    build.set_defaults(handler=cmd_toolchain_build)
    tc_commands.add_parser("versions", help="print the pinned versions").set_defaults(
        handler=cmd_toolchain_versions
    )
    path = tc_commands.add_parser("path", help="print where a built binary is")
    path.add_argument("tool", choices=toolchain.ALL_TOOL_NAMES, help="the binary to locate")
    path.set_defaults(handler=cmd_toolchain_path)

    dev = commands.add_parser("dev", help="the whole system on a local API server")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    up = dev_commands.add_parser("up", help="start etcd, kube-apiserver, webhook, controller")
    add_state_dir_flag(up, default_state_dir())
    add_config_flag(up)
    up.add_argument(
        "--crds",
        type=Path,
        default=Path("crds"),
        help="folder of CRDs to install (default: ./crds)",
    )
    up.add_argument(
        "--examples",
        type=Path,
        default=Path("examples"),
        help="folder of objects to apply once ready (default: ./examples)",
    )
    up.add_argument(
        "--no-examples",
        dest="examples",
        action="store_const",
        const=None,
        help="apply no example objects",
    )
    up.add_argument(
        "--controllers",
        type=int,
        default=1,
        metavar="N",
        help="controller processes; more than one run sharded (default 1)",
    )
    up.add_argument(
        "--nodes",
        type=int,
        default=dataplane.DEFAULT_NODES,
        metavar="N",
        help="simulated nodes (kwok) with kube-controller-manager and kube-scheduler, "
        "so Deployments get pods (default %(default)s)",
    )
    up.add_argument(
        "--no-nodes",
        dest="nodes",
        action="store_const",
        const=0,
        help="etcd and kube-apiserver only: no scheduler, controller manager or pods",
    )
    up.add_argument(
        "--detach", action="store_true", help="return once everything is ready and leave it running"
    )
    up.set_defaults(handler=cmd_dev_up)
    env = dev_commands.add_parser(
        "env", help='print the exports for a shell: eval "$(lostromos dev env)"'
    )
    add_state_dir_flag(env, default_state_dir())
    env.set_defaults(handler=cmd_dev_env)
    down = dev_commands.add_parser("down", help="stop a detached dev cluster")
    add_state_dir_flag(down, default_state_dir())
    down.set_defaults(handler=cmd_dev_down)


class _VersionAction(argparse.Action):
    """argparse's `version` action, but the version is read only when asked for:
    reading it (package metadata, the pinned tools) costs every other call time."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from lostromos.version import build_info

        print(build_info().short())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from lostromos.output import add_output_flag

    parser = argparse.ArgumentParser(
        prog="lostromos", description="Turn any Helm chart into a Kubernetes API."
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version and the pinned helm and Kubernetes, then exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    version = commands.add_parser(
        "version", help="print the version and the pinned helm, Kubernetes and etcd"
    )
    add_output_flag(version)
    version.set_defaults(handler=cmd_version)
    completion = commands.add_parser(
        "completion", help="print a shell completion script: source <(lostromos completion bash)"
    )
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    completion.set_defaults(handler=cmd_completion)

    _add_local_commands(commands)

    from webhook.options import add_arguments as add_webhook_arguments

    webhook = commands.add_parser("webhook", help="serve the admission webhook over TLS")
    add_webhook_arguments(webhook)
    webhook.set_defaults(handler=cmd_webhook)

    ctl = commands.add_parser("controller", help="converge bound objects into Helm releases")
    _add_common(ctl)
    add_kubeconfig_flag(ctl, in_cluster=True)
    add_engine_flag(ctl, "that runs every Helm action")
    ctl.add_argument(
        "--health-bind",
        default="0.0.0.0:8080",
        help="HOST:PORT for /healthz, /readyz and /metrics (default: 0.0.0.0:8080)",
    )
    ctl.add_argument(
        "--resync-seconds",
        type=float,
        default=600.0,
        help="reconcile every object at least this often (default: 600)",
    )
    ctl.add_argument(
        "--leader-elect",
        action="store_true",
        help="run as one of several replicas: only the Lease holder works",
    )
    ctl.add_argument(
        "--lease-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the leader-election Lease (default: $POD_NAMESPACE, then default)",
    )
    ctl.add_argument(
        "--lease-name",
        default="lostromos-controller",
        help="name of the leader-election Lease (default: lostromos-controller)",
    )
    _add_shard_flags(ctl)
    add_chart_cache_flag(ctl)
    ctl.add_argument(
        "--dry-run",
        action="store_true",
        help="log what would be installed, upgraded or uninstalled; change nothing",
    )
    ctl.add_argument(
        "--require-service-account",
        action="store_true",
        help="run every Helm action as the binding's serviceAccountName in the object's "
        "namespace; objects of a binding naming none are refused (ServiceAccountRequired)",
    )
    ctl.add_argument(
        "--no-ready-wait",
        action="store_true",
        help="Ready once Helm has written, without waiting for the workloads, whatever the "
        "bindings' release.readyTimeout: for a cluster that runs no pods (dev up --no-nodes)",
    )
    ctl.set_defaults(handler=cmd_controller)
    from lostromos.authoring.commands import register as register_authoring

    register_authoring(commands)
    from certs.cli import register as register_certs

    register_certs(commands)
    from lostromos.objectcmds import register as register_object_commands

    register_object_commands(commands)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    """The user's mistakes: each is reported as one line and exit code 2."""
    from certs.commands import CERTS_ERRORS
    from lostromos.authoring.commands import AUTHORING_ERRORS
    from lostromos.charts import ChartError
    from lostromos.config import ConfigError
    from lostromos.dev.cluster import DevError
    from lostromos.kube import KubeConfigError

    return (
        ConfigError,
        KubeConfigError,
        ChartError,
        DevError,
        toolchain.ToolchainError,
        *AUTHORING_ERRORS,
        *CERTS_ERRORS,
    )


def _cluster_errors() -> tuple[type[BaseException], ...]:
    """The API server unreachable or refusing: one line, never urllib3's traceback."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return (HTTPError, ApiException)


def main(argv: Sequence[str] | None = None) -> int:
    from lostromos.completion import COMPLETE, candidates

    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == [COMPLETE]:  # asked by the completion script, not by a person
        print("\n".join(candidates(parser, words[1:])))
        return 0
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _known_errors() as error:
        _say(f"error: {error}")
        return EXIT_USAGE
    except _cluster_errors() as error:
        from lostromos.neterrors import brief_error

        reached = hasattr(error, "status")  # an ApiException: the server answered
        _say(
            f"error: {'the API server answered' if reached else 'cannot reach the cluster:'} "
            f"{brief_error(error)}"
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lostromos check ... | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
