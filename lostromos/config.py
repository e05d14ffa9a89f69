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
        release: {name: "{name}", timeout: 300, adopt: false, retries: 10, maxHistory: 10}
        overrides: {}
        concurrency: 4
        # Optional: which objects this controller serves (Lostromos's filter).
        selector: {labels: "tier=gold", annotation: lostromos.dev/controller=eu}
        # Optional: how a new chart version reaches existing releases.
        rollout: {maxInFlight: 10, maxFailureRatio: 0.2, minSamples: 5}
        # Optional: how often release objects are checked for drift (0: never).
        driftCheckSeconds: 300
        # Optional: values shown as <redacted> in denials, status, Events, `check`.
        sensitivePaths: [db.password, users[*].token]

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

from lostromos.helmengine import Confinement
from lostromos.yamltext import yaml_location

API_VERSION = "lostromos.dev/v1alpha1"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_VERSION = re.compile(r"^v[0-9]+((alpha|beta)[0-9]+)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
RELEASE_NAME_FIELDS = frozenset({"name", "namespace", "kind", "binding"})


class ConfigError(ValueError):
    """The bindings file is missing, unreadable or describes an impossible binding."""


@dataclass(frozen=True)
class ChartAccess:
    """How Helm reaches a chart repository or OCI registry: Helm's own options.

    Secrets are named by file (a mounted Secret), never written in the bindings.
    """

    plain_http: bool = False  # an OCI registry served over plain HTTP
    insecure_skip_tls_verify: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username_file: Path | None = None
    password_file: Path | None = None
    registry_config: Path | None = None  # `helm registry login --registry-config`
    keyring: Path | None = None  # set: the chart's provenance must verify against it


# binding key -> ChartAccess field, for the file paths
ACCESS_FILES = {
    "caFile": "ca_file",
    "certFile": "cert_file",
    "keyFile": "key_file",
    "usernameFile": "username_file",
    "passwordFile": "password_file",
    "registryConfig": "registry_config",
    "keyring": "keyring",
}
ACCESS_FLAGS = {"plainHTTP": "plain_http", "insecureSkipTLSVerify": "insecure_skip_tls_verify"}

# The bindings file's keys, level by level (the operator chart's values schema
# accepts exactly these: tests/unit/test_config.py holds the two together).
BINDING_KEYS = frozenset(
    {
        "name",
        "group",
        "version",
        "kind",
        "plural",
        "singular",
        "shortNames",
        "categories",
        "chart",
        "release",
        "overrides",
        "concurrency",
        "selector",
        "rollout",
        "driftCheckSeconds",
        "admission",
        "clusterScopedKinds",
        "serviceAccountName",
        "sensitivePaths",
        "remoteSchemaHosts",
    }
)
CHART_KEYS = frozenset(
    {"path", "repository", "name", "version", "digest", "insecureSkipDigest"}
    | set(ACCESS_FILES)
    | set(ACCESS_FLAGS)
)
RELEASE_KEYS = frozenset({"name", "timeout", "wait", "adopt", "retries", "maxHistory"})
SELECTOR_KEYS = frozenset({"labels", "annotation"})
ROLLOUT_KEYS = frozenset({"maxInFlight", "maxFailureRatio", "minSamples"})
ADMISSION_KEYS = frozenset({"render"})


@dataclass(frozen=True)
class ChartRef:
    """Where a binding's chart comes from: a local directory, a chart repository
    (https://...) or an OCI registry (oci://...)."""

    path: Path | None = None
    repository: str | None = None
    name: str | None = None
    version: str | None = None
    # A repository chart's sha256 (hex), checked against the archive and the index.
    digest: str | None = None
    # Accept a repository chart no digest vouches for (neither the index nor `digest`).
    insecure_skip_digest: bool = False
    access: ChartAccess = ChartAccess()

    @property
    def is_oci(self) -> bool:
        return bool(self.repository and self.repository.startswith("oci://"))

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
    # Take over an existing release that records no owner (installed by hand or
    # by another tool). Off: such a release is refused as someone else's.
    adopt: bool = False
    # Failed Helm actions retried (with backoff) for one desired state before the
    # object is Stalled (RetriesExhausted); -1: retry forever. As Flux's
    # remediation.retries: `retries` retries make retries + 1 attempts.
    retries: int = 10
    # Release revisions (Secrets) kept after each upgrade, repair or rollback; 0 keeps
    # every one. Helm's library keeps every one; `helm upgrade` keeps 10.
    max_history: int = 10

    def release_name(self, *, name: str, namespace: str, kind: str, binding: str) -> str:
        return self.name_template.format(
            name=name, namespace=namespace, kind=kind.lower(), binding=binding
        )


@dataclass(frozen=True)
class Selector:
    """Which objects of the kind this binding serves: a label selector for the
    watch, and an opt-in annotation (``key=value``, or ``key`` for any value)."""

    labels: str | None = None
    annotation_key: str | None = None
    annotation_value: str | None = None

    def matches(self, metadata: dict[str, Any]) -> bool:
        if self.annotation_key is None:
            return True
        annotations = metadata.get("annotations") or {}
        if self.annotation_key not in annotations:
            return False
        return self.annotation_value is None or annotations[self.annotation_key] == (
            self.annotation_value
        )


@dataclass(frozen=True)
class RolloutPolicy:
    """A new chart version is rolled out to existing releases at most
    `max_in_flight` at a time, and halted once more than `max_failure_ratio` of
    at least `min_samples` upgrades failed."""

    max_in_flight: int = 10
    max_failure_ratio: float = 0.2
    min_samples: int = 5


@dataclass(frozen=True)
class AdmissionPolicy:
    """What the webhook checks beyond the values: `render` renders the chart with
    the admitted values (as `helm template` does) and refuses what cannot render
    or would write outside the object's namespace."""

    render: bool = True


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
    selector: Selector = field(default_factory=Selector)
    rollout: RolloutPolicy = field(default_factory=RolloutPolicy)
    drift_check_seconds: int = 300
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    # Kinds of cluster-scoped objects this chart may create; anything else a
    # release renders must live in its object's namespace.
    cluster_scoped_kinds: tuple[str, ...] = ()
    # Helm actions run as this ServiceAccount of the object's namespace, so that
    # namespace's RBAC bounds what the chart (and `lookup`) can touch.
    service_account_name: str | None = None
    # Values paths (db.password, users[*].token) shown as <redacted> to people, like
    # schema properties marked writeOnly; logs never show any value.
    sensitive_paths: tuple[str, ...] = ()
    # hosts whose schemas the chart's $refs may be fetched from, at load (lostromos.remote_refs)
    remote_schema_hosts: tuple[str, ...] = ()

    def confinement(self, namespace: str) -> Confinement:
        """What a release of an object in `namespace` may write (checked by the engine)."""
        return Confinement(namespace=namespace, cluster_scoped_kinds=self.cluster_scoped_kinds)

    def helm_user(self, namespace: str) -> str | None:
        """Whom Helm actions for an object in `namespace` impersonate (None: ourselves)."""
        if self.service_account_name is None:
            return None
        return f"system:serviceaccount:{namespace}:{self.service_account_name}"

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
        raise ConfigError(f"{source}: not valid YAML: {yaml_location(error)}") from None
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
    unknown = sorted(set(entry) - BINDING_KEYS)
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
        singular=_check(
            entry.get("singular", kind.lower()),
            "singular",
            where,
            _DNS_LABEL,
            "a lowercase DNS label",
        ),
        short_names=_str_list(entry, "shortNames", where),
        categories=_str_list(entry, "categories", where),
        chart=_parse_chart(entry.get("chart"), where, base),
        release=_parse_release(entry.get("release", {}), where),
        overrides=_mapping(entry, "overrides", where),
        concurrency=_positive_int(entry.get("concurrency", 4), "concurrency", where),
        selector=_parse_selector(entry.get("selector", {}), where),
        rollout=_parse_rollout(entry.get("rollout", {}), where),
        drift_check_seconds=_non_negative_int(
            entry.get("driftCheckSeconds", 300), "driftCheckSeconds", where
        ),
        admission=_parse_admission(entry.get("admission", {}), where),
        cluster_scoped_kinds=tuple(
            _check(kind, "clusterScopedKinds", where, _KIND, "a CamelCase kind such as Namespace")
            for kind in _str_list(entry, "clusterScopedKinds", where)
        ),
        service_account_name=(
            None
            if entry.get("serviceAccountName") is None
            else _check(
                entry["serviceAccountName"],
                "serviceAccountName",
                where,
                _DNS_SUBDOMAIN,
                "a ServiceAccount name",
            )
        ),
        sensitive_paths=_sensitive_paths(entry, where),
        remote_schema_hosts=_str_list(entry, "remoteSchemaHosts", where),
    )
    return binding


def _parse_admission(value: Any, where: str) -> AdmissionPolicy:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: admission must be a mapping")
    unknown = sorted(set(value) - ADMISSION_KEYS)
    if unknown:
        raise ConfigError(f"{where}: admission: unknown field(s) {', '.join(unknown)}")
    render = value.get("render", True)
    if not isinstance(render, bool):
        raise ConfigError(f"{where}: admission.render must be true or false")
    return AdmissionPolicy(render=render)


def _sensitive_paths(entry: dict, where: str) -> tuple[str, ...]:
    from lostromos.redact import parse_sensitive_path  # redact reads charts, which read us

    paths = _str_list(entry, "sensitivePaths", where)
    for path in paths:
        try:
            parse_sensitive_path(path)
        except ValueError as error:
            raise ConfigError(f"{where}: sensitivePaths: {error}") from None
    return paths


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
    unknown = sorted(set(value) - CHART_KEYS)
    if unknown:
        raise ConfigError(f"{where}: chart: unknown field(s) {', '.join(unknown)}")
    digest = value.get("digest")
    if digest is not None:
        digest = str(digest).removeprefix("sha256:").lower()
        if not _SHA256.match(digest):
            raise ConfigError(
                f"{where}: chart.digest {value['digest']!r} is not a sha256 "
                "digest (64 hex digits, optionally prefixed sha256:)"
            )
    skip = value.get("insecureSkipDigest", False)
    if not isinstance(skip, bool):
        raise ConfigError(f"{where}: chart.insecureSkipDigest must be true or false")
    repository = str(value["repository"])
    if not repository.startswith(("http://", "https://", "oci://")):
        raise ConfigError(
            f"{where}: chart.repository {repository!r} must be an http(s):// chart "
            "repository or an oci:// registry"
        )
    return ChartRef(
        repository=repository,
        name=str(value["name"]),
        version=str(value["version"]),
        digest=digest,
        insecure_skip_digest=skip,
        access=_parse_access(value, where, base),
    )


def _parse_access(value: dict[str, Any], where: str, base: Path) -> ChartAccess:
    fields: dict[str, Any] = {}
    for key, attr in ACCESS_FLAGS.items():
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise ConfigError(f"{where}: chart.{key} must be true or false")
        fields[attr] = flag
    for key, attr in ACCESS_FILES.items():
        path = value.get(key)
        if path is not None:
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{where}: chart.{key} must be a file path")
            fields[attr] = (base / path).resolve()
    return ChartAccess(**fields)


def _parse_release(value: Any, where: str) -> ReleasePolicy:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'release' must be a mapping")
    unknown = sorted(set(value) - RELEASE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) release.{', release.'.join(unknown)}")
    adopt = value.get("adopt", False)
    if not isinstance(adopt, bool):
        raise ConfigError(f"{where}: release.adopt {adopt!r} must be true or false")
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
        adopt=adopt,
        retries=_retries(value.get("retries", 10), where),
        max_history=_max_history(value.get("maxHistory", 10), where),
    )


def _max_history(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{where}: release.maxHistory {value!r} must be 0 (keep every revision) "
            "or a positive integer"
        )
    return value


def _retries(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ConfigError(
            f"{where}: release.retries {value!r} must be -1 (retry forever), "
            "0 or a positive integer"
        )
    return value


def _parse_selector(value: Any, where: str) -> Selector:
    if not isinstance(value, dict) or set(value) - SELECTOR_KEYS:
        raise ConfigError(
            f"{where}: 'selector' must be a mapping with 'labels' and/or 'annotation'"
        )
    labels = value.get("labels")
    if labels is not None and (not isinstance(labels, str) or not labels.strip()):
        raise ConfigError(f"{where}: selector.labels must be a label selector such as 'tier=gold'")
    annotation = value.get("annotation")
    key = annotation_value = None
    if annotation is not None:
        if not isinstance(annotation, str) or not annotation.strip():
            raise ConfigError(f"{where}: selector.annotation must be 'key' or 'key=value'")
        key, _, annotation_value = annotation.partition("=")
        annotation_value = annotation_value if "=" in annotation else None
    return Selector(labels=labels, annotation_key=key, annotation_value=annotation_value)


def _parse_rollout(value: Any, where: str) -> RolloutPolicy:
    if not isinstance(value, dict) or set(value) - ROLLOUT_KEYS:
        raise ConfigError(f"{where}: 'rollout' takes maxInFlight, maxFailureRatio, minSamples")
    ratio = value.get("maxFailureRatio", 0.2)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ConfigError(f"{where}: rollout.maxFailureRatio {ratio!r} must be between 0 and 1")
    return RolloutPolicy(
        max_in_flight=_positive_int(value.get("maxInFlight", 10), "rollout.maxInFlight", where),
        max_failure_ratio=float(ratio),
        min_samples=_positive_int(value.get("minSamples", 5), "rollout.minSamples", where),
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


def _non_negative_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key} {value!r} must be zero or a positive integer")
    return value
