"""Loading a Helm chart from disk the way Helm loads it, as far as values matter.

A chart is read into plain data: its metadata, the parsed values.yaml, the
parsed values.schema.json and its subcharts (directories and .tgz archives
under charts/). Loading checks everything that would make Helm refuse the
chart before it ever looks at user values - unreadable YAML, a schema that is
not JSON or not a valid schema for its draft, a dependency listed in
Chart.yaml but missing from charts/ - and reports it as one ChartError line.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lostromos.values.chart import Chart, DependencySpec
from lostromos.values.coalesce import merge_maps
from lostromos.values.schema_compile import CompiledSchema, SchemaProblem, compile_schema
from lostromos.values.semver_range import parse_version
from lostromos.yamltext import yaml_location

if TYPE_CHECKING:
    from lostromos.remote_refs import RemoteResolver

# The chart's data lives with the values engine that reads it; this module loads it.
__all__ = ["Chart", "ChartError", "DependencySpec", "chart_digest", "load_chart"]

_ALIAS = re.compile(r"^[a-zA-Z0-9_-]+$")


class ChartError(Exception):
    """A chart cannot be used: one line naming the file and what is wrong."""


def load_chart(path: str | Path, *, remote: RemoteResolver | None = None) -> Chart:
    """Load a chart directory or .tgz archive. Raises ChartError with one clear line.

    With `remote`, the schemas' http(s) references are fetched through it and embedded
    (lostromos.remote_refs); without, a remote reference is an error.
    """
    chart_path = Path(path)
    if chart_path.is_dir():
        files = _read_directory(chart_path)
    elif chart_path.is_file() and chart_path.name.endswith((".tgz", ".tar.gz")):
        files = _read_archive(chart_path.read_bytes(), str(chart_path))
    elif not chart_path.exists():
        raise ChartError(f"{chart_path}: chart directory not found")
    else:
        raise ChartError(f"{chart_path}: not a chart directory or .tgz archive")
    return _load_files(files, chart_path, chart_path, remote)


def chart_digest(path: str | Path) -> str:
    """sha256 over every file of the chart (sorted relative paths and contents)."""
    chart_path = Path(path)
    if chart_path.is_file():
        return hashlib.sha256(chart_path.read_bytes()).hexdigest()
    if not chart_path.is_dir():
        raise ChartError(f"{chart_path}: chart directory not found")
    return _digest(_read_directory(chart_path))


def _digest(files: dict[str, bytes]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(files):
        encoded = name.encode("utf-8", "surrogateescape")
        hasher.update(len(encoded).to_bytes(8, "big") + encoded)
        hasher.update(len(files[name]).to_bytes(8, "big") + files[name])
    return hasher.hexdigest()


def _read_directory(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        for item in sorted(root.rglob("*")):
            if item.is_file():
                files[item.relative_to(root).as_posix()] = item.read_bytes()
    except OSError as error:
        raise ChartError(f"{root}: cannot read chart: {error.strerror or error}") from None
    return files


def _read_archive(data: bytes, where: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                # archives hold one top directory named after the chart
                parts = posixpath.normpath(member.name).split("/", 1)
                if len(parts) == 2 and not parts[1].startswith(".."):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        files[parts[1]] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ChartError(f"{where}: not a readable chart archive: {error}") from None
    return files


def _load_files(
    files: dict[str, bytes], display: Path, chart_path: Path, remote: RemoteResolver | None = None
) -> Chart:
    if "Chart.yaml" not in files:
        raise ChartError(f"{display}: Chart.yaml is missing")
    metadata = _parse_yaml(files["Chart.yaml"], display / "Chart.yaml")
    if not isinstance(metadata, dict):
        raise ChartError(f"{display / 'Chart.yaml'}: expected a mapping")
    if is_v1(metadata) and "requirements.yaml" in files:
        requirements = _parse_yaml(files["requirements.yaml"], display / "requirements.yaml")
        metadata = with_requirements(metadata, requirements)
    name, version = _check_metadata(metadata, display / "Chart.yaml")
    requirements = _parse_requirements(metadata.get("dependencies"), display / "Chart.yaml")

    values: dict = {}
    if "values.yaml" in files:
        values = _load_values_yaml(files["values.yaml"], display / "values.yaml")
    schema, compiled = None, None
    if "values.schema.json" in files:
        schema, compiled = _load_schema(
            files["values.schema.json"], display / "values.schema.json", remote
        )

    loaded = _load_subcharts(files, display, remote)
    _check_requirements_present(requirements, loaded, display / "Chart.yaml")
    app_version = metadata.get("appVersion")
    return Chart(
        name=name,
        version=version,
        app_version=None if app_version is None else str(app_version),
        path=chart_path,
        values=values,
        schema=schema,
        digest=_digest(files),
        requirements=requirements,
        loaded_subcharts=loaded,
        compiled_schema=compiled,
    )


def _check_metadata(metadata: dict, where: Path) -> tuple[str, str]:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ChartError(f"{where}: chart.metadata.name is required")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ChartError(f"{where}: chart.metadata.name {name!r} is invalid")
    version = metadata.get("version")
    if version is None or version == "":
        raise ChartError(f"{where}: chart.metadata.version is required")
    version = str(version)
    if parse_version(version) is None:
        raise ChartError(f"{where}: chart.metadata.version {version!r} is not a semantic version")
    return name, version


def _parse_requirements(raw: Any, where: Path) -> tuple[DependencySpec, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ChartError(f"{where}: dependencies must be a list")
    specs = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ChartError(f"{where}: dependencies[{index}] must be a mapping with a name")
        alias = str(entry.get("alias") or "")
        if alias and not _ALIAS.match(alias):
            raise ChartError(
                f"{where}: dependency {entry['name']!r} has disallowed characters in the alias"
            )
        tags = entry.get("tags") or []
        specs.append(
            DependencySpec(
                name=str(entry["name"]),
                version=str(entry.get("version") or ""),
                alias=alias,
                condition=str(entry.get("condition") or ""),
                tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
                import_values=tuple(entry.get("import-values") or ()),
            )
        )
    return tuple(specs)


def _load_subcharts(
    files: dict[str, bytes], display: Path, remote: RemoteResolver | None
) -> tuple[Chart, ...]:
    grouped: dict[str, dict[str, bytes]] = {}
    for name, data in files.items():
        if not name.startswith("charts/") or name.endswith(".prov"):
            continue
        first, _, rest = name.removeprefix("charts/").partition("/")
        grouped.setdefault(first, {})[rest] = data
    subcharts = []
    for first in sorted(grouped):
        if first[:1] in ("_", "."):
            continue
        where = display / "charts" / first
        members = grouped[first]
        if first.endswith(".tgz"):
            if "" not in members:
                continue
            sub_files = _read_archive(members[""], str(where))
        else:
            sub_files = {k: v for k, v in members.items() if k}
        try:
            subcharts.append(_load_files(sub_files, where, where, remote))
        except ChartError as error:
            raise ChartError(f"{error} (subchart of {display})") from None
    return tuple(subcharts)


def _check_requirements_present(
    requirements: tuple[DependencySpec, ...] | None, loaded: tuple[Chart, ...], where: Path
) -> None:
    present = {chart.name for chart in loaded}
    missing = [spec.name for spec in requirements or () if spec.name not in present]
    if missing:
        raise ChartError(
            f"{where}: found in Chart.yaml, but missing in charts/ directory: {', '.join(missing)}"
        )


def is_v1(metadata: dict) -> bool:
    """A chart of `apiVersion: v1` (the default), which lists its dependencies in
    requirements.yaml."""
    return str(metadata.get("apiVersion") or "v1") == "v1"


def with_requirements(metadata: dict, requirements: Any) -> dict:
    """A v1 chart's Chart.yaml metadata with the dependencies its requirements.yaml
    document lists, where Helm reads them."""
    if not isinstance(requirements, dict):
        return metadata
    return {**metadata, "dependencies": requirements.get("dependencies")}


class ValuesLoader(yaml.SafeLoader):
    """YAML as Helm's loader reads it: timestamps stay strings (`from: 2024-04-01`), and
    so does `!!binary` (decoded); a `!!set` is a mapping to nulls, `!!omap` and `!!pairs`
    lists of one-key mappings. Python's own types for them have no JSON."""

    def construct_yaml_binary(self, node: yaml.ScalarNode) -> str:  # type: ignore[override]
        return super().construct_yaml_binary(node).decode("utf-8", "replace")

    def construct_yaml_set(self, node: yaml.MappingNode) -> Any:
        value: dict = {}
        yield value
        value.update(self.construct_mapping(node))

    def construct_yaml_omap(self, node: yaml.SequenceNode) -> Any:
        pairs: list = []
        yield pairs
        found = super().construct_yaml_omap(node)
        ordered = next(found)
        for _ in found:  # the base constructor fills `ordered` as it goes on
            pass
        pairs.extend({key: value} for key, value in ordered)


ValuesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _construct in (
    ("binary", ValuesLoader.construct_yaml_binary),
    ("set", ValuesLoader.construct_yaml_set),
    ("omap", ValuesLoader.construct_yaml_omap),
    ("pairs", ValuesLoader.construct_yaml_omap),
):
    ValuesLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct)


def load_as_helm(text: str) -> Any:
    """One YAML document as Helm reads values; yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=ValuesLoader)  # noqa: S506 - a safe loader subclass


def _parse_yaml(data: bytes, where: Path) -> Any:
    try:
        return load_as_helm(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise ChartError(f"{where}: not valid YAML: {yaml_location(error)}") from None


def _load_values_yaml(data: bytes, where: Path) -> dict:
    try:
        return values_of(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise ChartError(f"{where}: not valid YAML: {yaml_location(error)}") from None
    except ValueError as error:
        raise ChartError(f"{where}: {error}") from None


def values_of(text: str) -> dict:
    """A values file as Helm reads it: its documents merged, every key a string.
    yaml.YAMLError when it is not YAML, ValueError when a document is not a mapping."""
    values: dict = {}
    for document in yaml.load_all(text, Loader=ValuesLoader):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValueError(f"expected a mapping at the top, got {type(document).__name__}")
        values = merge_maps(values, _string_keys(document))
    return values


def _string_keys(value: Any) -> Any:
    # Helm converts YAML to JSON, so every mapping key becomes a string
    if isinstance(value, dict):
        return {_key_text(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(item) for item in value]
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _load_schema(
    data: bytes, where: Path, remote: RemoteResolver | None
) -> tuple[dict | bool, CompiledSchema]:
    from lostromos.remote_refs import RemoteRefError, bundle

    try:
        schema = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ChartError(
            f"{where}: not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(schema, dict | bool):
        raise ChartError(f"{where}: a schema must be a JSON object or boolean")
    if remote is not None:
        try:
            schema = bundle(schema, remote)
        except RemoteRefError as error:
            raise ChartError(f"{where}: {error}") from None
    try:
        return schema, compile_schema(schema)
    except SchemaProblem as problem:
        raise ChartError(f"{where}#{problem.pointer}: {problem.message}") from None
