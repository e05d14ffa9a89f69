"""A chart on the command line: a directory, or a chart Helm's pull fetches.

    charts/site                                   a chart directory
    oci://registry.example.com/charts/site:1.4.0  an OCI chart, by tag
    oci://…/site:1.4.0@sha256:…                   and pinned manifest digest
    site:1.4.0 --repo https://charts.example.com  a chart repository's chart

The same rules hold as for a binding's chart (lostromos.chartrepo): a digest
must vouch for it (the repository index's, or the one after `@`), unless
`--insecure-skip-digest`; it is pulled once into the chart cache.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lostromos.cliflags import add_chart_cache_flag, add_engine_flag

if TYPE_CHECKING:
    from lostromos.config import ChartRef

_REFERENCE = re.compile(
    r"^(?P<name>[^:@/\s]+):(?P<version>[^:@/\s]+)(?:@sha256:(?P<digest>[0-9a-f]{64}))?$"
)


def add_chart_source_flags(parser: argparse.ArgumentParser, *, engine_flag: bool = True) -> None:
    """Where chart arguments that are not directories come from (Helm's flag names)."""
    parser.add_argument(
        "--repo",
        metavar="URL",
        help="the chart repository of NAME:VERSION chart arguments (default: none; "
        "oci:// arguments name their registry themselves)",
    )
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="reach an OCI registry over plain HTTP (default: HTTPS)",
    )
    parser.add_argument(
        "--insecure-skip-digest",
        action="store_true",
        help="accept a pulled chart that no digest vouches for (default: refuse it)",
    )
    add_chart_cache_flag(parser)
    if engine_flag:  # commands that render have theirs already
        add_engine_flag(parser, "that pulls repository and OCI charts")


def chart_ref(argument: str, args: argparse.Namespace) -> ChartRef:
    """The ChartRef a chart argument names. Raises ChartError for a malformed one."""
    # Imported here: every command's parser takes add_chart_source_flags from this module.
    from lostromos.charts import ChartError
    from lostromos.config import ChartAccess, ChartRef

    if argument.startswith("oci://"):
        repository, _, reference = argument.rpartition("/")
        match = _REFERENCE.match(reference)
        if repository == "oci:/" or match is None:
            raise ChartError(
                f"{argument}: an OCI chart is oci://HOST/PATH/NAME:VERSION, "
                "optionally followed by @sha256:DIGEST"
            )
    else:
        repository, match = args.repo, _REFERENCE.match(argument)
        if not repository or match is None:
            return ChartRef(path=Path(argument))
    return ChartRef(
        repository=repository,
        name=match["name"],
        version=match["version"],
        digest=match["digest"],
        insecure_skip_digest=args.insecure_skip_digest,
        access=ChartAccess(plain_http=args.plain_http),
    )


def chart_dir(argument: str, args: argparse.Namespace) -> Path:
    """The chart directory a chart argument names; a pulled chart is unpacked first."""
    return ref_dir(chart_ref(argument, args), args)


def ref_dir(ref: ChartRef, args: argparse.Namespace) -> Path:
    """A chart reference's directory (a binding's chart, or an argument's)."""
    if ref.path is not None:
        return ref.path
    from lostromos.chartrepo import default_cache_dir, engine_puller, fetch_chart

    return fetch_chart(
        ref, args.chart_cache or default_cache_dir(), engine_puller(args.helm_engine)
    )
