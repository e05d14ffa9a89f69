"""The chart author's commands: `schema init|lint|diff`, `crd generate` and `check`.

`register()` adds them to the `lostromos` parser. Handlers return the exit
code: 0 when all is well, 1 when the command found problems (lint findings,
breaking changes, refused objects, CRDs that differ from the files), and the
CLI turns AUTHORING_ERRORS (bad input) into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lostromos.engines import EngineRegistry
    from lostromos.renderpool import BudgetedRenderer

from lostromos.authoring import MODES, AuthoringError
from lostromos.authoring.chartargs import add_chart_source_flags, chart_dir, ref_dir
from lostromos.cliflags import add_config_flag, add_engine_flag, add_kubeconfig_flag
from lostromos.output import add_output_flag, emit

AUTHORING_ERRORS: tuple[type[BaseException], ...] = (AuthoringError,)


CHART_HELP = (
    "a chart directory, oci://HOST/PATH/NAME:VERSION[@sha256:DIGEST], "
    "or NAME:VERSION with --repo URL"
)


def register(commands: argparse._SubParsersAction) -> None:
    _register_schema(commands)
    _register_crd(commands)
    _register_check(commands)


def _register_schema(commands: argparse._SubParsersAction) -> None:
    schema = commands.add_parser("schema", help="write, lint and compare a chart's values schema")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True)

    init = schema_commands.add_parser(
        "init", help="write values.schema.json inferred from values.yaml and its comments"
    )
    init.add_argument("chart", type=Path, metavar="CHART", help="chart directory")
    init.add_argument("--force", action="store_true", help="overwrite an existing schema")
    init.add_argument("--stdout", action="store_true", help="print the schema, write nothing")
    init.set_defaults(handler=cmd_schema_init)

    lint = schema_commands.add_parser(
        "lint", help="check the schema against values.yaml and what a CRD can express"
    )
    lint.add_argument("chart", metavar="CHART", help=CHART_HELP)
    add_chart_source_flags(lint)
    lint.add_argument(
        "--strict",
        action="store_true",
        help="fail on warnings too (default: only errors fail, as `helm lint`)",
    )
    add_output_flag(lint)
    lint.set_defaults(handler=cmd_schema_lint)

    diff = schema_commands.add_parser(
        "diff", help="list the breaking and compatible changes between two chart versions"
    )
    diff.add_argument("old", metavar="OLD_CHART", help="the chart version in use: " + CHART_HELP)
    diff.add_argument("new", metavar="NEW_CHART", help="the chart version to compare")
    add_chart_source_flags(diff)
    add_output_flag(diff)
    diff.set_defaults(handler=cmd_schema_diff)

    bundled = schema_commands.add_parser(
        "bundle", help="print the chart's schema with its remote $refs fetched and inlined"
    )
    bundled.add_argument("chart", type=Path, metavar="CHART", help="chart directory")
    bundled.add_argument(
        "--allow-host",
        action="append",
        default=[],
        dest="hosts",
        metavar="HOST",
        help="fetch only from these hosts (repeatable; default: every host the schema refers to)",
    )
    bundled.set_defaults(handler=cmd_schema_bundle)


def _register_crd(commands: argparse._SubParsersAction) -> None:
    crd = commands.add_parser("crd", help="CustomResourceDefinitions for bound kinds")
    crd_commands = crd.add_subparsers(dest="crd_command", required=True)
    generate = crd_commands.add_parser(
        "generate", help="a CRD per binding (or for --chart/--group/--kind/--version)"
    )
    add_config_flag(generate)
    generate.add_argument(
        "--binding",
        action="append",
        default=[],
        metavar="NAME",
        help="only this binding (repeatable; default: all)",
    )
    generate.add_argument("--chart", help="instead of bindings: " + CHART_HELP)
    generate.add_argument("--group", help="API group, with --chart")
    generate.add_argument("--kind", help="CamelCase kind, with --chart")
    generate.add_argument("--version", default="v1", help="API version, with --chart (default: v1)")
    generate.add_argument(
        "--plural",
        help="with --chart (default: the English plural of the "
        "kind, in lowercase; required when that is ambiguous)",
    )
    generate.add_argument(
        "--short-name",
        action="append",
        default=[],
        dest="short_names",
        help="with --chart: a short name for kubectl (repeatable; default: none)",
    )
    generate.add_argument(
        "--category",
        action="append",
        default=[],
        dest="categories",
        help="with --chart: a category such as `all` (repeatable; default: none)",
    )
    generate.add_argument(
        "--validation",
        choices=MODES,
        default="webhook",
        help="webhook: the API server keeps the spec as given and the webhook judges it "
        "(default); full: the API server also enforces what OpenAPI can express",
    )
    generate.add_argument(
        "--output-dir", type=Path, help="write GROUP_PLURAL.yaml files here (default: print)"
    )
    generate.add_argument(
        "--check",
        action="store_true",
        help="with --output-dir: exit 1 if the files differ, write nothing",
    )
    add_chart_source_flags(generate)
    generate.set_defaults(handler=cmd_crd_generate)


def _register_check(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check", help="judge objects as the webhook would, or stored objects under a new chart"
    )
    check.add_argument(
        "objects",
        type=Path,
        nargs="*",
        metavar="OBJECT.yaml",
        help="files of objects (multi-document YAML or Lists); - reads stdin",
    )
    add_config_flag(check)
    check.add_argument(
        "--render",
        action="store_true",
        help="also print the manifests helm would produce for admitted objects",
    )
    add_engine_flag(check, "that renders each admitted object, as the webhook does")
    check.add_argument(
        "--against-cluster",
        action="store_true",
        help="check the objects stored in the cluster against --chart",
    )
    check.add_argument("--chart", help="the new chart, with --against-cluster: " + CHART_HELP)
    add_chart_source_flags(check, engine_flag=False)
    check.add_argument("--binding", help="the binding whose objects to check")
    add_kubeconfig_flag(check)
    add_output_flag(check)
    check.add_argument(
        "--skip-unbound",
        action="store_true",
        help="skip objects of kinds no binding serves, with a note on stderr (for "
        "`helm template ... | lostromos check -`; default: such an object is an error)",
    )
    check.add_argument(
        "--summary",
        action="store_true",
        help="print only the counts (and with -o json|yaml no objects list)",
    )
    check.add_argument(
        "--crd",
        choices=(*MODES, "none"),
        default="webhook",
        help="the CRD mode the cluster runs (crd generate --validation): its "
        "pruning, nulls and schema are applied as the API server applies "
        "them, so check answers what kubectl apply answers; none: the "
        "webhook's review alone (default: %(default)s)",
    )
    check.set_defaults(handler=cmd_check)


# --- schema -------------------------------------------------------------------------


def cmd_schema_init(args: argparse.Namespace) -> int:
    from lostromos.authoring.infer import infer_chart_schema, render_schema
    from lostromos.values.schema_compile import SchemaProblem, compile_schema

    chart_dir: Path = args.chart
    target = chart_dir / "values.schema.json"
    if not (chart_dir / "Chart.yaml").is_file():
        raise AuthoringError(f"{chart_dir}: not a chart directory (no Chart.yaml)")
    if target.exists() and not (args.force or args.stdout):
        raise AuthoringError(f"{target} already exists; pass --force to overwrite it")
    schema = infer_chart_schema(chart_dir, _chart_metadata(chart_dir))
    try:
        compile_schema(schema)
    except SchemaProblem as problem:
        # only an author's own annotation can make it so (`# @schema type: strin`)
        raise AuthoringError(
            f"{chart_dir}: the inferred schema would not load, at #{problem.pointer}: "
            f"{problem.message}; check the comment annotations of that key in values.yaml"
        ) from None
    text = render_schema(schema)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    target.write_text(text, encoding="utf-8")
    print(
        f"wrote {target}: review the types, then add enums, patterns and ranges, and "
        f"`lostromos schema lint {chart_dir}`"
    )
    return 0


def _chart_metadata(chart_dir: Path) -> dict:
    import yaml

    try:
        metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise AuthoringError(f"{chart_dir / 'Chart.yaml'}: not valid YAML: {error}") from None
    return metadata if isinstance(metadata, dict) else {}


def cmd_schema_lint(args: argparse.Namespace) -> int:
    from lostromos.authoring.lint import has_errors, lint_chart
    from lostromos.charts import load_chart

    chart = load_chart(chart_dir(args.chart, args))
    findings = lint_chart(chart)
    failed = has_errors(findings, strict=args.strict)
    counts = {
        severity: sum(f.severity == severity for f in findings)
        for severity in ("error", "warning", "info")
    }
    if args.output != "text":
        emit(
            {
                "chart": chart.name,
                "version": chart.version,
                "passed": not failed,
                "findings": [asdict(f) for f in findings],
            },
            args.output,
        )
        return 1 if failed else 0
    for finding in findings:
        print(finding.describe())
    print(
        f"{chart.name} {chart.version}: {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} note(s)"
    )
    return 1 if failed else 0


def cmd_schema_diff(args: argparse.Namespace) -> int:
    from lostromos.authoring.diff import diff_charts
    from lostromos.charts import load_chart

    old, new = load_chart(chart_dir(args.old, args)), load_chart(chart_dir(args.new, args))
    changes = diff_charts(old, new)
    breaking = sum(change.breaking for change in changes)
    if args.output != "text":
        emit(
            {
                "old": {"chart": old.name, "version": old.version},
                "new": {"chart": new.name, "version": new.version},
                "changes": [asdict(c) for c in changes],
            },
            args.output,
        )
        return 1 if breaking else 0
    for change in changes:
        print(change.describe())
    print(
        f"{old.name} {old.version} -> {new.name} {new.version}: {breaking} breaking, "
        f"{len(changes) - breaking} compatible change(s)"
    )
    return 1 if breaking else 0


# --- crd ------------------------------------------------------------------------------


def cmd_schema_bundle(args: argparse.Namespace) -> int:
    from lostromos.authoring.bundle import bundled_schema

    print(bundled_schema(args.chart, tuple(args.hosts)))
    return 0


def cmd_crd_generate(args: argparse.Namespace) -> int:
    from lostromos.authoring.crdgen import generate_crd

    targets = _crd_targets(args)
    generated = [generate_crd(target, args.validation) for target in targets]
    for crd in generated:
        for note in crd.notes:
            print(f"note: {crd.target.kind}: {note.describe()}", file=sys.stderr)
    if args.output_dir is None:
        if args.check:
            raise AuthoringError("--check needs --output-dir (the files to compare with)")
        sys.stdout.write("---\n".join(crd.render() for crd in generated))
        return 0
    differing = []
    for crd in generated:
        path = args.output_dir / crd.target.filename
        text = crd.render()
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if args.check:
            if current != text:
                differing.append(path)
            continue
        if current != text:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        else:
            print(f"unchanged {path}")
    for path in differing:
        print(f"{path} differs from what `lostromos crd generate` makes", file=sys.stderr)
    return 1 if differing else 0


def _crd_targets(args: argparse.Namespace) -> list:
    from lostromos.authoring.crdgen import CrdTarget
    from lostromos.authoring.plurals import plural_of_kind
    from lostromos.charts import load_chart
    from lostromos.config import load_bindings
    from lostromos.remote_refs import resolver_for

    if args.chart is not None:
        missing = [
            flag for flag, value in (("--group", args.group), ("--kind", args.kind)) if not value
        ]
        if missing:
            raise AuthoringError(f"--chart needs {' and '.join(missing)}")
        plural = args.plural or plural_of_kind(args.kind)
        if plural is None:
            raise AuthoringError(
                f"cannot tell the English plural of {args.kind!r}: "
                "pass --plural (a CRD's plural can never change)"
            )
        chart = load_chart(chart_dir(args.chart, args))
        return [
            CrdTarget(
                group=args.group,
                version=args.version,
                kind=args.kind,
                plural=plural,
                singular=args.kind.lower(),
                short_names=tuple(args.short_names),
                categories=tuple(args.categories),
                chart=chart,
            )
        ]
    bindings = load_bindings(args.config)
    chosen = (
        [bindings.by_name(name) for name in args.binding]
        if args.binding
        else list(bindings.bindings)
    )
    targets = []
    for binding in chosen:
        chart = load_chart(
            ref_dir(binding.chart, args), remote=resolver_for(binding.remote_schema_hosts)
        )
        targets.append(CrdTarget.for_binding(binding, chart))
    return targets


# --- check ----------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    if args.against_cluster:
        return _check_cluster(args)
    if not args.objects:
        raise AuthoringError("check needs OBJECT.yaml files, or --against-cluster")
    from lostromos.chartrepo import engine_puller
    from lostromos.config import load_bindings
    from lostromos.engines import EngineRegistry

    registry = EngineRegistry(
        load_bindings(args.config),
        chart_cache=args.chart_cache,
        puller=engine_puller(args.helm_engine),
    )
    for error in registry.load_all():  # its objects are denied with it; the rest are judged
        print(f"lostromos check: {error}", file=sys.stderr)
    renders = args.render or any(b.admission.render for b in registry.bindings.bindings)
    if not renders:
        return _check(args, registry, None)
    # The webhook renders each admitted object in a render process with the
    # binding's budget; so does check.
    from lostromos.helmengine import EngineMissing, HelmError, find_engine
    from lostromos.renderpool import BudgetedRenderer, RenderProcesses

    try:
        processes = RenderProcesses(find_engine(args.helm_engine), count=1)
        processes.start()
    except (EngineMissing, HelmError) as error:
        raise AuthoringError(f"check renders as the webhook does: {error.message}") from None
    try:
        return _check(args, registry, BudgetedRenderer(processes.socket_paths))
    finally:
        processes.stop()


def _check(
    args: argparse.Namespace, registry: EngineRegistry, helm: BudgetedRenderer | None
) -> int:
    from lostromos.authoring.check import (
        Unbound,
        format_verdict,
        iter_verdicts,
        read_objects,
        render_manifests,
        verdict_data,
    )
    from lostromos.authoring.checkreport import CheckReport, Progress, note_skipped
    from lostromos.rendercheck import RenderCheck

    checks = [RenderCheck(helm)] if helm is not None else []
    objects = read_objects(args.objects)
    report = CheckReport(summary_only=args.summary)
    progress = Progress(len(objects))
    text = args.output == "text"
    for verdict in iter_verdicts(
        registry,
        objects,
        None if args.crd == "none" else args.crd,
        checks,
        skip_unbound=args.skip_unbound,
    ):
        progress.tick()
        if isinstance(verdict, Unbound):
            report.skipped.append(verdict.data())
            continue
        manifests = None
        if args.render and helm is not None and verdict.allowed and not args.summary:
            manifests = render_manifests(verdict, registry.engine_for(verdict.binding), helm)
        report.add(verdict_data(verdict, manifests))
        if text and not args.summary:
            # printed as it is known: a long input shows its first verdicts at once
            print(format_verdict(verdict), flush=progress.shown)
            if manifests is not None:
                print(manifests, end="")
    note_skipped(report.skipped, lambda line: print(f"lostromos check: {line}", file=sys.stderr))
    if not text:
        emit(report.data(), args.output)
        return report.exit_code
    print(f"{report.allowed} allowed, {report.denied} denied")
    return report.exit_code


def _check_cluster(args: argparse.Namespace) -> int:
    from lostromos.authoring.check import invalid_under, list_stored_objects, stored_data
    from lostromos.authoring.checkreport import CheckReport
    from lostromos.charts import load_chart
    from lostromos.config import load_bindings

    if args.chart is None or args.binding is None:
        raise AuthoringError("--against-cluster needs --chart NEW_CHART and --binding NAME")
    if args.objects:
        raise AuthoringError("--against-cluster checks stored objects; give no OBJECT.yaml")
    binding = load_bindings(args.config).by_name(args.binding)
    chart = load_chart(chart_dir(args.chart, args))
    kubeconfig = args.kubeconfig or (
        Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None
    )
    if binding.source is not None:  # the selected Namespaces, Services, ... (lostromos.sources)
        from lostromos.sources.stored import invalid_sources, list_selected_sources

        stored = list_selected_sources(binding, kubeconfig)
        problems = invalid_sources(chart, binding, stored)
    else:
        stored = list_stored_objects(binding, kubeconfig)
        problems = invalid_under(chart, binding, stored)
    kind = binding.kind if binding.source is None else binding.source.kind
    if args.output != "text":
        report = CheckReport(
            summary_only=args.summary,
            against={"binding": binding.name, "chart": chart.name, "version": chart.version},
        )
        by_key = {(p.namespace, p.name): p for p in problems}
        for obj in stored:
            metadata = obj.get("metadata") or {}
            key = (metadata.get("namespace", ""), metadata.get("name", ""))
            report.add(stored_data(binding, obj, by_key.get(key)))
        emit(report.data(), args.output)
        return report.exit_code
    if not args.summary:
        for problem in problems:
            print(f"{problem.description} would become invalid:")
            for reason in problem.reasons:
                print(f"  {reason}")
    print(
        f"{len(problems)} of {len(stored)} {kind} object(s) would become invalid "
        f"under {chart.name} {chart.version}"
    )
    return 1 if problems else 0
