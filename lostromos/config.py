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
        release: {name: "{name}", timeout: 300, readyTimeout: 300, adopt: false, retries: 10,
                  maxHistory: 10}
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
        # Optional: how the rendered chart reaches the cluster. helm (default): a Helm
        # release (`helm upgrade --install`, history, rollback). applyset: server-side
        # apply of the rendered objects, tracked as a KEP-3659 ApplySet whose parent is
        # the object itself (no release record; `kubectl` can inspect the set).
        deployer: helm

Everything here is plain data; loading it never touches the cluster or the
chart, so a broken bindings file fails fast. The file is checked against one
JSON schema (lostromos/bindings.schema.json, shared with the operator chart's
values schema), and every problem is reported at once, each with its path.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lostromos.helmengine import Confinement
from lostromos.yamltext import yaml_location

if TYPE_CHECKING:
    from lostromos.sources.spec import SourceBinding

API_VERSION = "lostromos.dev/v1alpha1"
RELEASE_NAME_FIELDS = frozenset({"name", "namespace", "kind", "binding"})


class ConfigError(ValueError):
    """The bindings file is missing, unreadable or describes an impossible binding."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)

    @classmethod
    def listing(cls, source: Path, problems: list[str]) -> ConfigError:
        """One line for one problem; a count and one line each for several."""
        if len(problems) == 1:
            return cls(f"{source}: {problems[0]}", tuple(problems))
        lines = "\n".join(f"  {problem}" for problem in problems)
        return cls(f"{source}: {len(problems)} problems:\n{lines}", tuple(problems))


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
    # Helm itself waits for the workloads inside the action (`--wait=watcher`), holding a
    # worker and leaving the release pending-* meanwhile: for charts whose hooks need them.
    wait: bool = False
    # After an install or upgrade, Ready waits (watch-driven, no worker held) until the
    # release's workloads are current by kstatus rules, at most this long; 0: Ready once
    # Helm has written (controller/reconcile/readiness.py).
    ready_timeout_seconds: int = 300
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
class RenderBudget:
    """What one render of the chart may take, in the webhook and in the controller:
    a render past `seconds` has its render process killed, and a manifest longer
    than `output_bytes` is refused (lostromos.renderpool)."""

    seconds: float = 5.0
    output_bytes: int = 10 * 1024 * 1024


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
    render_budget: RenderBudget = field(default_factory=RenderBudget)
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
    # A kind the API server already serves (Namespace, Service): one generated object of
    # this binding's kind per selected object of it (lostromos.sources).
    source: SourceBinding | None = None
    # How the rendered chart reaches the cluster: "helm" (a release) or "applyset"
    # (server-side apply, tracked as an ApplySet with the object as parent).
    deployer: str = "helm"

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
    """Check `document` against the bindings schema, then read it. Raises ConfigError
    listing every problem, each with its path (one line when there is one)."""
    from lostromos.configschema import binding_name, schema_problems

    problems = schema_problems(document)
    if problems:
        raise ConfigError.listing(source, problems)
    bindings: list[Binding] = []
    for index, entry in enumerate(document["bindings"]):
        where = f"bindings[{index}] ({binding_name(entry)})"
        binding = _parse_binding(entry, where, source.parent, problems)
        if binding is not None:
            bindings.append(binding)
    problems.extend(_duplicates(bindings))
    if problems:
        raise ConfigError.listing(source, problems)
    return Bindings(source=source, bindings=tuple(bindings))


def _parse_binding(entry: dict, where: str, base: Path, problems: list[str]) -> Binding | None:
    """A schema-valid entry as a Binding; what the schema cannot say is checked here."""
    found = len(problems)
    kind: str = entry["kind"]
    release = _parse_release(entry.get("release", {}), where, problems)
    sensitive = tuple(entry.get("sensitivePaths", ()))
    _check_sensitive_paths(sensitive, where, problems)
    source = _parse_source_entry(entry, where, problems)
    if len(problems) > found or release is None:
        return None
    selector = entry.get("selector", {})
    rollout = entry.get("rollout", {})
    return Binding(
        name=entry.get("name", kind.lower()),
        group=entry["group"],
        version=entry["version"],
        kind=kind,
        plural=entry["plural"],
        singular=entry.get("singular", kind.lower()),
        short_names=tuple(entry.get("shortNames", ())),
        categories=tuple(entry.get("categories", ())),
        chart=_parse_chart(entry["chart"], base),
        release=release,
        overrides=entry.get("overrides") or {},
        concurrency=entry.get("concurrency", 4),
        selector=_parse_selector(selector),
        rollout=RolloutPolicy(
            max_in_flight=rollout.get("maxInFlight", 10),
            max_failure_ratio=float(rollout.get("maxFailureRatio", 0.2)),
            min_samples=rollout.get("minSamples", 5),
        ),
        drift_check_seconds=entry.get("driftCheckSeconds", 300),
        admission=AdmissionPolicy(render=entry.get("admission", {}).get("render", True)),
        render_budget=_parse_render_budget(entry.get("renderBudget", {})),
        cluster_scoped_kinds=tuple(entry.get("clusterScopedKinds", ())),
        service_account_name=entry.get("serviceAccountName"),
        sensitive_paths=sensitive,
        remote_schema_hosts=tuple(entry.get("remoteSchemaHosts", ())),
        source=source,
        deployer=entry.get("deployer", "helm"),
    )


def _parse_source_entry(entry: dict, where: str, problems: list[str]) -> SourceBinding | None:
    if "source" not in entry:
        return None
    from lostromos.sources.spec import parse_source  # reads value paths, which read charts

    if "selector" in entry:
        problems.append(
            f"{where}: selector and source exclude each other: a binding with a source "
            "selects with source.selector (its generated objects carry labels of their own)"
        )
    source = entry["source"]
    if (
        source["apiVersion"] == "v1"
        and source["kind"] == "Namespace"
        and ("serviceAccountName" in entry)
    ):
        problems.append(
            f"{where}: serviceAccountName cannot be used with a Namespace source: a "
            "terminating Namespace loses the ServiceAccount before its release is "
            "uninstalled, and its deletion would wait for that forever"
        )
    return parse_source(source, where, problems)


def _parse_render_budget(value: dict[str, Any]) -> RenderBudget:
    """Bounds the schema has checked (seconds in (0, 600], outputBytes >= 1)."""
    return RenderBudget(
        seconds=float(value.get("seconds", RenderBudget.seconds)),
        output_bytes=int(value.get("outputBytes", RenderBudget.output_bytes)),
    )


def _check_sensitive_paths(paths: tuple[str, ...], where: str, problems: list[str]) -> None:
    from lostromos.redact import parse_sensitive_path  # redact reads charts, which read us

    for path in paths:
        try:
            parse_sensitive_path(path)
        except ValueError as error:
            problems.append(f"{where}.sensitivePaths: {error}")


def _parse_chart(value: str | dict[str, Any], base: Path) -> ChartRef:
    if isinstance(value, str):
        value = {"path": value}
    if "path" in value:
        return ChartRef(path=(base / str(value["path"])).resolve())
    digest = value.get("digest")
    return ChartRef(
        repository=value["repository"],
        name=value["name"],
        version=value["version"],
        digest=None if digest is None else digest.removeprefix("sha256:").lower(),
        insecure_skip_digest=value.get("insecureSkipDigest", False),
        access=ChartAccess(
            **{attr: value.get(key, False) for key, attr in ACCESS_FLAGS.items()},
            **{
                attr: (base / value[key]).resolve()
                for key, attr in ACCESS_FILES.items()
                if key in value
            },
        ),
    )


def _parse_release(value: dict[str, Any], where: str, problems: list[str]) -> ReleasePolicy | None:
    template = value.get("name", "{name}")
    try:
        parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template)]
    except ValueError as error:
        problems.append(f"{where}.release.name: {template!r}: {error}")
        return None
    fields = {field for field, _, _ in parts if field is not None}
    # {name} whole is what keeps two objects' release names apart: a format spec or
    # conversion ({name:.5}, {name!s:>60}) could cut or pad two names into one.
    altered = sorted(
        {
            f"{{{f}{'!' + c if c else ''}{':' + s if s else ''}}}"
            for f, s, c in parts
            if f is not None and (s or c)
        }
    )
    if altered:
        problems.append(
            f"{where}.release.name: {template!r}: {', '.join(altered)} formats a field; "
            "use plain fields such as {name}, so that every object gets a release name "
            "of its own"
        )
        return None
    if not fields <= RELEASE_NAME_FIELDS or "name" not in fields:
        problems.append(
            f"{where}.release.name: {template!r} must use {{name}} and only "
            f"{', '.join(sorted('{' + f + '}' for f in RELEASE_NAME_FIELDS))}"
        )
        return None
    return ReleasePolicy(
        name_template=template,
        timeout_seconds=value.get("timeout", 300),
        wait=value.get("wait", False),
        ready_timeout_seconds=value.get("readyTimeout", 300),
        adopt=value.get("adopt", False),
        retries=value.get("retries", 10),
        max_history=value.get("maxHistory", 10),
    )


def _parse_selector(value: dict[str, Any]) -> Selector:
    annotation = value.get("annotation")
    key = annotation_value = None
    if annotation is not None:
        key, _, annotation_value = annotation.partition("=")
        annotation_value = annotation_value if "=" in annotation else None
    return Selector(
        labels=value.get("labels"), annotation_key=key, annotation_value=annotation_value
    )


def _duplicates(bindings: list[Binding]) -> list[str]:
    problems = []
    seen_names: set[str] = set()
    seen_kinds: set[tuple[str, str, str]] = set()
    for binding in bindings:
        if binding.name in seen_names:
            problems.append(f"binding name {binding.name!r} is used twice")
        if binding.gvk in seen_kinds:
            problems.append(f"kind {binding.api_version}/{binding.kind} is bound twice")
        seen_names.add(binding.name)
        seen_kinds.add(binding.gvk)
    return problems
