"""`lostromos get` and `lostromos reconcile`: Flux's everyday habits for bound objects.

`get` is `flux get helmreleases` for every bound kind at once: one line per object
across namespaces, read from the objects' status (what the controller wrote), so
it needs only `list` on the bound kinds. `reconcile KIND/NAME` asks the controller
to act now, as `flux reconcile` does, by writing the `lostromos.dev/retry`
annotation: a new value wakes the object and starts a new retry count, so a
Site that gave up (RetriesExhausted) is tried again too (docs/users.md).
Suspend and resume are the `lostromos.dev/suspend` annotation (controller/suspend.py).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built for every command: nothing heavy at import
    from lostromos.config import Binding

RETRY_ANNOTATION = "lostromos.dev/retry"  # controller/retries.py reads it
SUSPEND_ANNOTATION = "lostromos.dev/suspend"  # controller/suspend.py reads it


@dataclass(frozen=True)
class ObjectSummary:
    """One bound object, as `lostromos get` prints it."""

    kind: str
    namespace: str
    name: str
    ready: str
    reason: str
    health: str
    suspended: bool
    chart: str
    revision: int | None
    message: str


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    for condition in status.get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return {}


def summarize(binding: Binding, obj: dict[str, Any]) -> ObjectSummary:
    """What an object's status says, with Unknown for what nobody has written yet."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ready = _condition(status, "Ready")
    healthy = _condition(status, "Healthy")
    chart = status.get("chart") or {}
    release = status.get("release") or {}
    annotations = metadata.get("annotations") or {}
    return ObjectSummary(
        kind=binding.kind,
        namespace=metadata.get("namespace", ""),
        name=metadata.get("name", ""),
        ready=ready.get("status", "Unknown"),
        reason=ready.get("reason", ""),
        health=healthy.get("reason", ""),
        suspended=str(annotations.get(SUSPEND_ANNOTATION, "")).strip().lower() == "true",
        chart=" ".join(str(chart.get(k, "")) for k in ("name", "version")).strip(),
        revision=release.get("revision"),
        message=ready.get("message", ""),
    )


def _bindings_for(config: Path, kind: str | None) -> list[Binding]:
    from lostromos.config import ConfigError, load_bindings

    bindings = list(load_bindings(config).bindings)
    if kind is None:
        return bindings
    wanted = kind.lower()
    chosen = [
        b
        for b in bindings
        if wanted
        in {b.name, b.kind.lower(), b.plural, b.singular, *(s.lower() for s in b.short_names)}
        or wanted in {f"{b.plural}.{b.group}", f"{b.kind.lower()}.{b.group}"}
    ]
    if not chosen:
        known = ", ".join(sorted(b.plural for b in bindings))
        raise ConfigError(f"{config}: no binding serves {kind!r} (bound: {known})")
    return chosen


def _api(kubeconfig: Path | None) -> Any:
    from kubernetes import client

    from lostromos.kube import api_client

    return client.CustomObjectsApi(api_client(kubeconfig))


def cmd_get(args: argparse.Namespace) -> int:
    from lostromos.output import emit

    api = _api(args.kubeconfig)
    rows: list[ObjectSummary] = []
    for binding in _bindings_for(args.config, args.kind):
        if args.namespace:
            listed = api.list_namespaced_custom_object(
                binding.group, binding.version, args.namespace, binding.plural
            )
        else:
            listed = api.list_cluster_custom_object(binding.group, binding.version, binding.plural)
        rows += [summarize(binding, item) for item in listed.get("items", ())]
    rows.sort(key=lambda r: (r.kind, r.namespace, r.name))
    if args.output != "text":
        emit([asdict(row) for row in rows], args.output)
        return 0
    if not rows:
        print("no bound objects found", file=sys.stderr)
        return 0
    table = [
        ("KIND", "NAMESPACE", "NAME", "READY", "HEALTH", "SUSPENDED", "CHART", "REVISION"),
        *(
            (
                r.kind,
                r.namespace,
                r.name,
                r.ready + (f" ({r.reason})" if r.reason and r.ready != "True" else ""),
                r.health or "-",
                "true" if r.suspended else "false",
                r.chart or "-",
                "-" if r.revision is None else str(r.revision),
            )
            for r in rows
        ),
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for r in rows:
        if r.ready != "True" and r.message:
            print(f"{r.kind} {r.namespace}/{r.name}: {r.message}", file=sys.stderr)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from lostromos.config import ConfigError

    kind, _, name = args.object.partition("/")
    if not name:
        raise ConfigError(f"reconcile takes KIND/NAME, such as site/blog; got {args.object!r}")
    (binding,) = _bindings_for(args.config, kind)[:1]
    requested = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    from kubernetes.client.exceptions import ApiException

    where = f"{binding.kind} {args.namespace}/{name}"
    try:
        _api(args.kubeconfig).patch_namespaced_custom_object(
            binding.group,
            binding.version,
            args.namespace,
            binding.plural,
            name,
            {"metadata": {"annotations": {RETRY_ANNOTATION: requested}}},
        )
    except ApiException as error:
        if error.status == 404:
            raise ConfigError(f"{where} not found") from None
        raise
    print(f"{where}: reconcile requested ({RETRY_ANNOTATION}={requested})")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    from lostromos.cliflags import add_config_flag, add_kubeconfig_flag
    from lostromos.output import add_output_flag

    def common(parser: argparse.ArgumentParser) -> None:
        add_config_flag(parser)
        add_kubeconfig_flag(parser)

    get = commands.add_parser(
        "get", help="bound objects across namespaces: ready, health, chart, revision"
    )
    get.add_argument("kind", nargs="?", help="only this bound kind (site, sites, Site, st ...)")
    get.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    common(get)
    add_output_flag(get)
    get.set_defaults(handler=cmd_get)

    reconcile = commands.add_parser(
        "reconcile", help="ask the controller to act on KIND/NAME now (and retry if it gave up)"
    )
    reconcile.add_argument("object", metavar="KIND/NAME", help="such as site/blog")
    reconcile.add_argument("-n", "--namespace", default="default", help="default: default")
    common(reconcile)
    reconcile.set_defaults(handler=cmd_reconcile)
