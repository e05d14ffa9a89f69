"""The bindings file: which custom resource kind is served by which Helm chart.

A bindings file looks like this (paths are relative to the file itself)::

    apiVersion: lostromos.dev/v1alpha1
    kind: Bindings
    bindings:
      - name: site
        group: hosting.example.com
        version: v1
        kind: Site
        plural: sites
        chart: {path: charts/site}
        release: {name: "{name}", timeout: 300}
        overrides: {}
        concurrency: 4

Everything here is plain data; loading it never touches the cluster or the
chart, so a broken bindings file fails fast with one clear message.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "lostromos.dev/v1alpha1"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")
RELEASE_NAME_FIELDS = frozenset({"name", "namespace", "kind", "binding"})


class ConfigError(ValueError):
    """The bindings file is missing, unreadable or describes an impossible binding."""


@dataclass(frozen=True)
class ChartRef:
    """Where a binding's chart comes from: a local directory, or a repository."""

    path: Path | None = None
    repository: str | None = None
    name: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"{self.name}@{self.version} from {self.repository}"


@dataclass(frozen=True)
class ReleasePolicy:
    """How a bound object becomes a Helm release."""

    name_template: str = "{name}"
    timeout_seconds: int = 300
    wait: bool = False

    def release_name(self, *, name: str, namespace: str, kind: str, binding: str) -> str:
        return self.name_template.format(
            name=name, namespace=namespace, kind=kind.lower(), binding=binding
        )


@dataclass(frozen=True)
class Binding:
    """One custom resource kind served by one chart."""

    name: str
    group: str
    version: str
    kind: str
    plural: str
    chart: ChartRef
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    release: ReleasePolicy = field(default_factory=ReleasePolicy)
    overrides: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 4

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def gvk(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.kind)


@dataclass(frozen=True)
class Bindings:
    """All bindings of one file, looked up by group/version/kind."""

    source: Path
    bindings: tuple[Binding, ...]

    def find(self, group: str, version: str, kind: str) -> Binding | None:
        for binding in self.bindings:
            if binding.gvk == (group, version, kind):
                return binding
        return None

    def by_name(self, name: str) -> Binding:
        for binding in self.bindings:
            if binding.name == name:
                return binding
        known = ", ".join(b.name for b in self.bindings) or "none"
        raise ConfigError(f"{self.source}: no binding named {name!r} (known: {known})")


def load_bindings(path: str | Path) -> Bindings:
    """Read and check a bindings file. Raises ConfigError with one clear line."""
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: bindings file not found") from None
    except OSError as error:
        raise ConfigError(f"{source}: cannot read bindings file: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_location(error)}") from None
    return parse_bindings(document, source)


def parse_bindings(document: Any, source: Path) -> Bindings:
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'bindings' list")
    api_version = document.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise ConfigError(f"{source}: apiVersion {api_version!r} is not {API_VERSION!r}")
    entries = document.get("bindings")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: 'bindings' must be a non-empty list")
    bindings = tuple(
        _parse_binding(entry, f"{source}: bindings[{index}]", source.parent)
        for index, entry in enumerate(entries)
    )
    _check_unique(bindings, source)
    return Bindings(source=source, bindings=bindings)


def _parse_binding(entry: Any, where: str, base: Path) -> Binding:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    known = {
        "name", "group", "version", "kind", "plural", "singular", "shortNames",
        "categories", "chart", "release", "overrides", "concurrency",
    }
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind = _required_str(entry, "kind", where, _KIND, "a CamelCase kind such as Site")
    name = entry.get("name", kind.lower())
    where = f"{where} ({name})"
    binding = Binding(
        name=_check(name, "name", where, _DNS_LABEL, "a lowercase DNS label"),
        group=_required_str(entry, "group", where, _DNS_SUBDOMAIN, "a DNS subdomain"),
        version=_required_str(entry, "version", where, _VERSION, "a version such as v1"),
        kind=kind,
        plural=_required_str(entry, "plural", where, _DNS_LABEL, "a lowercase DNS label"),
        singular=_check(entry.get("singular", kind.lower()), "singular", where, _DNS_LABEL,
                        "a lowercase DNS label"),
        short_names=_str_list(entry, "shortNames", where),
        categories=_str_list(entry, "categories", where),
        chart=_parse_chart(entry.get("chart"), where, base),
        release=_parse_release(entry.get("release", {}), where),
        overrides=_mapping(entry, "overrides", where),
        concurrency=_positive_int(entry.get("concurrency", 4), "concurrency", where),
    )
    return binding


def _parse_chart(value: Any, where: str, base: Path) -> ChartRef:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'chart' must be a path or a mapping with 'path'")
    if "path" in value:
        return ChartRef(path=(base / str(value["path"])).resolve())
    missing = [key for key in ("repository", "name", "version") if not value.get(key)]
    if missing:
        raise ConfigError(
            f"{where}: 'chart' needs 'path', or 'repository', 'name' and 'version' "
            f"(missing {', '.join(missing)})"
        )
    return ChartRef(
        repository=str(value["repository"]), name=str(value["name"]),
        version=str(value["version"]),
    )


def _parse_release(value: Any, where: str) -> ReleasePolicy:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'release' must be a mapping")
    template = str(value.get("name", "{name}"))
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as error:
        raise ConfigError(f"{where}: release.name {template!r}: {error}") from None
    if not fields <= RELEASE_NAME_FIELDS or "name" not in fields:
        raise ConfigError(
            f"{where}: release.name {template!r} must use {{name}} and only "
            f"{', '.join(sorted('{' + f + '}' for f in RELEASE_NAME_FIELDS))}"
        )
    return ReleasePolicy(
        name_template=template,
        timeout_seconds=_positive_int(value.get("timeout", 300), "release.timeout", where),
        wait=bool(value.get("wait", False)),
    )


def _check_unique(bindings: tuple[Binding, ...], source: Path) -> None:
    seen_names: set[str] = set()
    seen_kinds: set[tuple[str, str, str]] = set()
    for binding in bindings:
        if binding.name in seen_names:
            raise ConfigError(f"{source}: binding name {binding.name!r} is used twice")
        if binding.gvk in seen_kinds:
            raise ConfigError(f"{source}: kind {binding.api_version}/{binding.kind} is bound twice")
        seen_names.add(binding.name)
        seen_kinds.add(binding.gvk)


def _required_str(entry: dict, key: str, where: str, pattern: re.Pattern, what: str) -> str:
    if key not in entry:
        raise ConfigError(f"{where}: missing required field {key!r}")
    return _check(entry[key], key, where, pattern, what)


def _check(value: Any, key: str, where: str, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"{where}: {key} {value!r} is not {what}")
    return value


def _str_list(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings")
    return tuple(value)


def _mapping(entry: dict, key: str, where: str) -> dict[str, Any]:
    value = entry.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key!r} must be a mapping")
    return value


def _positive_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {key} {value!r} must be a positive integer")
    return value


def _yaml_location(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
