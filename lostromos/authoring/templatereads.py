"""What a chart's templates read from `.Values`, for `schema lint` and `schema init`.

A key the templates read but the schema forbids can never be set: every
object that sets it is refused, and the template's branch for it is dead. The
reads are found in every template file, named templates (`define`, used
through `include` and `template`) included, so `toYaml .Values.x`,
`.Values.x.y`, `$.Values.x` and `index .Values "x" "y"` all count, and so do
reads through a `with`/`range` scope, a variable or a named template's dot
(templatescopes).
"""

from __future__ import annotations

import contextlib
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lostromos.authoring.refs import CYCLE, REFS, SchemaDocument
from lostromos.authoring.templatescopes import read_files, scanned

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")
_LARGEST = 4 << 20  # a file of a library's archive read into memory, at most


@dataclass(frozen=True)
class TemplateRead:
    path: tuple[str, ...]
    where: str  # templates/deployment.yaml:12


@dataclass(frozen=True)
class TemplateUse:
    """How the templates use `.Values`: keys they read, objects they render whole
    (`toYaml`: every key lands in the output; () for all of `.Values`), objects whose
    keys they range over and values they pass to `tpl` (a string there is template text
    that renders to the value) and values whose text they compare with a word
    (`eq (X | toString) "-"`: strings are among their values)."""

    reads: list[TemplateRead]
    rendered: frozenset[tuple[str, ...]]
    iterated: frozenset[tuple[str, ...]]
    templated: frozenset[tuple[str, ...]] = frozenset()
    stringified: frozenset[tuple[str, ...]] = frozenset()
    texts: frozenset[tuple[str, ...]] = frozenset()  # given to a function taking text
    quoted: frozenset[tuple[str, ...]] = frozenset()  # ("env", "*", "value"): quoted
    rendered_under: dict[tuple[str, ...], str] = field(default_factory=dict)  # by the key
    # defaults all of `.Values` is merged over: their keys are root keys
    merged_under: frozenset[tuple[str, ...]] = frozenset()


def template_use(chart_dir: Path) -> TemplateUse:
    templates = chart_dir / "templates"
    if not templates.is_dir():
        return TemplateUse([], frozenset(), frozenset())
    scan = scanned(read_files(templates, chart_dir, TEMPLATE_SUFFIXES))
    scan.absorb(scanned(library_templates(chart_dir)))
    reads = [TemplateRead(path, where) for path, where in sorted(scan.values_reads().items())]
    return TemplateUse(
        reads,
        frozenset(scan.values_rendered()),  # () when all of `.Values` is
        frozenset(scan.values_iterated()) - {()},
        frozenset(scan.values_templated()) - {()},
        frozenset(scan.values_stringified()) - {()},
        frozenset(scan.values_texts()) - {()},
        frozenset(scan.values_quoted()),
        scan.values_rendered_under(),
        frozenset(scan.values_merged_under()) - {()},
    )


def library_templates(chart_dir: Path) -> list[tuple[str, str]]:
    """The template files of the library charts under charts/ (`type: library`, as
    folders or as the .tgz archives `helm dependency build` leaves). A library's named
    templates run with what the chart passes them, so what they do with their dot is
    done with the chart's values (bitnami's charts render nearly every value through
    their `common` library's `common.tplvalues.render`); what they read of `.Values`
    themselves is not counted (ScopeScan.absorb). Another subchart's templates read its
    own `.Values`, not the chart's: they are left out."""
    found: list[tuple[str, str]] = []
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return found
    for entry in sorted(charts.iterdir()):
        if entry.is_dir() and _is_library(entry / "Chart.yaml"):
            found += read_files(entry / "templates", chart_dir, TEMPLATE_SUFFIXES)
        elif entry.is_file() and entry.name.endswith(".tgz"):
            found += _archived_library_templates(entry, chart_dir)
    return found


def _is_library(chart_yaml: Path | bytes) -> bool:
    try:
        text = chart_yaml.read_bytes() if isinstance(chart_yaml, Path) else chart_yaml
        metadata = yaml.safe_load(text.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(metadata, dict) and metadata.get("type") == "library"


def _archived_library_templates(archive: Path, chart_dir: Path) -> list[tuple[str, str]]:
    """A .tgz's library charts' template files, named `charts/lib-1.0.0.tgz/lib/templates/...`.
    Only a library's templates are read into memory, each up to a size."""
    where = archive.relative_to(chart_dir).as_posix()
    found = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> bytes:
                member = members.get(name)
                file = tar.extractfile(member) if member and member.size <= _LARGEST else None
                return file.read() if file is not None else b""

            for chart in sorted({name.split("/", 1)[0] for name in members}):
                if not _is_library(read(f"{chart}/Chart.yaml")):
                    continue
                for name in sorted(members):
                    if name.startswith(f"{chart}/templates/") and name.endswith(TEMPLATE_SUFFIXES):
                        with contextlib.suppress(UnicodeDecodeError):
                            found.append((f"{where}/{name}", read(name).decode()))
    except (OSError, tarfile.TarError, EOFError, zlib.error):
        return []
    return found


def template_reads(chart_dir: Path) -> list[TemplateRead]:
    """Every `.Values` path the chart's own templates read, with the first place it is read."""
    return template_use(chart_dir).reads


def forbidden_prefix(document: SchemaDocument, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The shortest prefix of `path` the schema refuses as a key, or None."""
    node: Any = document.root
    active: frozenset[str] = frozenset()
    for depth, key in enumerate(path):
        flat = document.flatten(node, active)
        if CYCLE in flat or not isinstance(flat, dict):
            return None
        active = active | set(flat.get(REFS, ()))
        properties = flat.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        if key in properties:
            node = properties[key]
            continue
        if _pattern_allows(flat, key):
            return None
        extra = flat.get("additionalProperties", True)
        if extra is False and not _open_type(flat):
            return path[: depth + 1]
        if isinstance(extra, dict):
            node = extra
            continue
        return None
    return None


def _pattern_allows(flat: dict, key: str) -> bool:
    patterns = flat.get("patternProperties")
    if not isinstance(patterns, dict):
        return False
    return any(re.search(pattern, key) for pattern in patterns)


def _open_type(flat: dict) -> bool:
    """A node that may be something other than an object holds no keys to forbid."""
    kind = flat.get("type")
    return kind is not None and kind != "object" and "object" not in (kind or [])
