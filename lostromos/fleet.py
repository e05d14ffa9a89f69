"""`lostromos get` and `lostromos reconcile`: Flux's `flux get helmreleases` and
`flux reconcile` for bound objects.

    lostromos get [KIND] [-n NS | -A] [-o json|yaml]   read-only summary
    lostromos reconcile KIND/NAME [-n NS]              ask for a reconcile now

`reconcile` sets the `lostromos.dev/retry` annotation to the current time: a
change of metadata wakes the controller (a change of status alone does not),
and a new value also starts a new retry budget for an object Stalled with
RetriesExhausted (controller.retries). This module's top imports nothing
heavy: the CLI builds its parser on every call.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lostromos.lazycommand import lazy_handler
from lostromos.output import add_output_flag

if TYPE_CHECKING:
    from lostromos.config import Binding, Bindings

# as controller.retries.RETRY_ANNOTATION (the controller's package is not imported here)
RETRY_ANNOTATION = "lostromos.dev/retry"
SUSPEND_ANNOTATION = "lostromos.dev/suspend"
COLUMNS = ("KIND", "NAMESPACE", "NAME", "READY", "HEALTH", "CHART", "REVISION", "SUSPENDED")


class FleetError(Exception):
    """Bad input to `get` or `reconcile`: one line naming what was asked for."""


def register(commands: argparse._SubParsersAction) -> None:
    get = commands.add_parser(
        "get", help="summarize bound objects: ready, health, chart, revision, message"
    )
    get.add_argument(
        "kind",
        nargs="?",
        metavar="KIND",
        help="a bound kind, plural, short name or binding name (default: every binding)",
    )
    _common(get)
    get.add_argument(
        "-A", "--all-namespaces", action="store_true", help="every namespace (default: -n's)"
    )
    add_output_flag(get)
    get.set_defaults(handler=lazy_handler(__name__, "cmd_get"))

    reconcile = commands.add_parser(
        "reconcile", help=f"ask the controller to reconcile KIND/NAME now ({RETRY_ANNOTATION})"
    )
    reconcile.add_argument("target", metavar="KIND/NAME", help="for example site/blog")
    _common(reconcile)
    reconcile.set_defaults(handler=lazy_handler(__name__, "cmd_reconcile"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("lostromos.yaml"),
        help="bindings file (default: ./lostromos.yaml)",
    )
    parser.add_argument(
        "-n", "--namespace", default="default", help="the objects' namespace (default: default)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG, then ~/.kube/config")


def find_binding(bindings: Bindings, word: str) -> Binding:
    """The binding a KIND argument names, as kubectl resolves resource names."""
    wanted = word.lower().split(".", 1)[0]
    for binding in bindings.bindings:
        names = {binding.kind.lower(), binding.plural, binding.singular, binding.name}
        if wanted in names | {s.lower() for s in binding.short_names}:
            return binding
    known = ", ".join(b.plural for b in bindings.bindings)
    raise FleetError(f"{word!r} is not a bound kind (bound: {known})")


def summary(binding: Binding, obj: dict[str, Any]) -> dict[str, Any]:
    """One object's line of `get`: what `kubectl get` shows, for every bound kind."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready") or {}
    health = status.get("health")
    release = status.get("release") or {}
    chart = status.get("chart") or {}
    return {
        "kind": binding.kind,
        "namespace": metadata.get("namespace", ""),
        "name": metadata.get("name", ""),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "health": (health.get("status", "") if isinstance(health, dict) else str(health or "")),
        "chart": f"{chart['name']}-{chart['version']}" if chart.get("name") else "",
        "revision": release.get("revision"),
        "suspended": str((metadata.get("annotations") or {}).get(SUSPEND_ANNOTATION, ""))
        .strip()
        .lower()
        == "true",
        "message": ready.get("message", ""),
    }


def cmd_get(args: argparse.Namespace) -> int:
    from lostromos.config import load_bindings

    bindings = load_bindings(args.config)
    chosen = [find_binding(bindings, args.kind)] if args.kind else list(bindings.bindings)
    namespace = None if args.all_namespaces else args.namespace
    rows = []
    with _client(args.kubeconfig) as api:
        for binding in chosen:
            rows += [summary(binding, obj) for obj in _list(api, binding, namespace)]
    rows.sort(key=lambda r: (r["kind"], r["namespace"], r["name"]))
    if args.output != "text":
        from lostromos.output import emit

        emit({"items": rows}, args.output)
        return 0
    if not rows:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No bound objects found in {where}.")
        return 0
    table = [(*COLUMNS, "MESSAGE"), *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  "
            + line[-1]
        )
    return 0


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    ready = row["ready"] if not row["reason"] else f"{row['ready']} ({row['reason']})"
    revision = "" if row["revision"] is None else str(row["revision"])
    return (
        row["kind"],
        row["namespace"],
        row["name"],
        ready,
        row["health"],
        row["chart"],
        revision,
        "true" if row["suspended"] else "false",
        row["message"],
    )


def cmd_reconcile(args: argparse.Namespace) -> int:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from lostromos.config import load_bindings

    kind, slash, name = args.target.partition("/")
    if not slash or not kind or not name:
        raise FleetError(f"{args.target!r}: name the object as KIND/NAME, such as site/blog")
    binding = find_binding(load_bindings(args.config), kind)
    requested = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch = {"metadata": {"annotations": {RETRY_ANNOTATION: requested}}}
    with _client(args.kubeconfig) as api_client:
        try:
            client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
                binding.group, binding.version, args.namespace, binding.plural, name, patch
            )
        except ApiException as error:
            if error.status == 404:
                raise FleetError(f"{binding.kind} {args.namespace}/{name} not found") from None
            raise
    print(
        f"reconcile requested for {binding.kind} {args.namespace}/{name} "
        f"({RETRY_ANNOTATION}={requested})"
    )
    return 0


class _client:
    """The kube client for the duration of a command, closed after it."""

    def __init__(self, kubeconfig: Path | None) -> None:
        from lostromos.kube import KubeConfigError, api_client

        try:
            self.api = api_client(kubeconfig)
        except KubeConfigError as error:
            raise FleetError(str(error)) from None

    def __enter__(self) -> Any:
        return self.api

    def __exit__(self, *exc: object) -> None:
        self.api.close()


def _list(api_client: Any, binding: Binding, namespace: str | None) -> list[dict[str, Any]]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(api_client)
    items: list[dict[str, Any]] = []
    token = None
    try:
        while True:
            options: dict[str, Any] = {"limit": 500, **({"_continue": token} if token else {})}
            page: dict[str, Any]  # the client declares `object`: it is decoded JSON
            if namespace is None:
                page = api.list_cluster_custom_object(  # type: ignore[assignment]
                    binding.group, binding.version, binding.plural, **options
                )
            else:
                page = api.list_namespaced_custom_object(  # type: ignore[assignment]
                    binding.group, binding.version, namespace, binding.plural, **options
                )
            items += page.get("items", [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
    except ApiException as error:
        if error.status == 404:
            raise FleetError(
                f"the cluster does not serve {binding.crd_name} "
                f"({binding.api_version} {binding.kind}): is its CRD installed?"
            ) from None
        raise
