"""How good is `lostromos schema init` on public charts that ship their own schema?

    uv run python bench/schema_init.py [--chart NAME]... [--per-chart 250] [--check-set]
        [--generator path/to/helm-values-schema-json] [--generator path/to/helm-schema]
        [--open-objects]

Each chart of CORPUS (or, with `--check-set`, of CHECK_SET: charts the corpus work was
not tuned on) is fetched at its pinned version from the Go module proxy
(`go mod download`: these projects ship their Helm chart inside their Go
module) and cached under .cache/schema-bench/. Settings (one user value each)
are built from the author's values.schema.json: values of the right kind for
each property (Kubernetes-shaped ones for Kubernetes fields, keys the chart
only shows commented out, enum members, map entries) and the mistakes users
make (a misspelt key, a value of the wrong type, a value outside an enum or a
range). The author's schema and Helm decide which is which: a setting is
valid when the values engine (Helm-exact) accepts it under the author's
schema and the pinned `helm template` renders it; it is a mistake when the
author's schema refuses it. Then the author's schema is hidden,
`schema init` infers one, and the values engine judges every setting again.

A chart whose defaults do not render (a required choice, such as
opentelemetry-collector's `mode`) has each valid setting judged on top of the
smallest of its own CI values files that renders.

A setting made as a mistake that the author's schema accepts (say `replicaCount:
"three"` where the author left the type open) is counted nowhere: the author did
not rule it out, and no user means it.

Printed: per chart, valid settings the inferred schema refuses (and how many of
those change what Helm renders: a key no template reads renders the same with or
without it) and mistakes it catches. Beside them, the same count with Helm 4's install
as the judge: of the valid settings, those whose render the API server accepts too (a
server-side dry-run apply with strict field validation, as Helm 4 installs, against a
local kube-apiserver, in a network namespace with only loopback once the charts are
fetched), and how many of those the inferred schema refuses. Then the
chart's own CI and example values files (`ci/*.yaml`, `examples/**/*values*.yaml`)
the author's schema accepts, and how many the inferred schema refuses. A chart
Chart.yaml lists a dependency for that is not in the module (fetched from a chart
repository at release time) loses that dependency, as `helm template` cannot render
it otherwise.

With `--generator`, the schemas another tool writes (helm-values-schema-json, the helm
plugin, or helm-schema: the two the issue compares with, run in the chart's folder with
their defaults) are scored the same way on the same settings, one table each. A chart the
tool makes no schema for counts as having none: it refuses nothing and catches nothing.
Build each from its repository at the tag measured (`go build` in
losisin/helm-values-schema-json at v2.5.0, `go build ./cmd/helm-schema` in
dadav/helm-schema at 0.23.4); the binary's name says which it is. With
`--open-objects`, `schema init`'s schema is scored a second time with every object below
the root left open (its Kubernetes types as they are): what admitting keys the chart does
not name would cost in mistakes caught.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.settings import Setting, settings_for  # noqa: E402
from lostromos.authoring.infer import infer_chart_schema, render_schema  # noqa: E402
from lostromos.charts import load_chart, values_of  # noqa: E402
from lostromos.dev import isolation  # noqa: E402
from lostromos.dev.cluster import DevCluster, DevOptions  # noqa: E402
from lostromos.toolchain import ensure  # noqa: E402
from lostromos.values.chart import Chart  # noqa: E402
from lostromos.values.engine import ValuesEngine  # noqa: E402

CACHE = ROOT / ".cache" / "schema-bench"


@dataclass(frozen=True)
class CorpusChart:
    name: str
    module: str
    version: str
    path: str  # the chart directory inside the module
    # Dependencies that live beside the chart in the same module, vendored into its
    # charts/ directory as `helm dependency build` would (paths inside the module).
    vendored: tuple[str, ...] = ()


CORPUS = (
    CorpusChart(
        "cert-manager",
        "github.com/cert-manager/cert-manager",
        "v1.21.2",
        "deploy/charts/cert-manager",
    ),
    CorpusChart(
        "trust-manager",
        "github.com/cert-manager/trust-manager",
        "v0.25.0",
        "deploy/charts/trust-manager",
    ),
    CorpusChart(
        "approver-policy",
        "github.com/cert-manager/approver-policy",
        "v0.28.0",
        "deploy/charts/approver-policy",
    ),
    CorpusChart(
        "external-secrets",
        "github.com/external-secrets/external-secrets",
        "v1.3.2",
        "deploy/charts/external-secrets",
    ),
    CorpusChart("metallb", "go.universe.tf/metallb", "v0.16.2", "charts/metallb"),
    CorpusChart("cilium", "github.com/cilium/cilium", "v1.20.2", "install/kubernetes/cilium"),
    CorpusChart(
        "aws-ebs-csi-driver",
        "github.com/kubernetes-sigs/aws-ebs-csi-driver",
        "v1.44.0",
        "charts/aws-ebs-csi-driver",
    ),
    CorpusChart("external-dns", "sigs.k8s.io/external-dns", "v0.20.0", "charts/external-dns"),
    CorpusChart(
        "traefik",
        "github.com/traefik/traefik-helm-chart",
        "v41.6.0+incompatible",
        "traefik",
    ),
    CorpusChart(
        "velero",
        "github.com/vmware-tanzu/helm-charts",
        "v0.0.0-20260916040517-6b2197350079",
        "charts/velero",
    ),
    CorpusChart("vault", "github.com/hashicorp/vault-helm", "v0.34.1", "."),
    CorpusChart(
        "reloader",
        "github.com/stakater/Reloader",
        "v1.4.22",
        "deployments/kubernetes/chart/reloader",
    ),
    CorpusChart("vcluster", "github.com/loft-sh/vcluster", "v0.26.0", "chart"),
    CorpusChart(
        "prometheus",
        "github.com/prometheus-community/helm-charts",
        "v0.0.0-20260828105119-ed5d7d9b5933",
        "charts/prometheus",
        vendored=(
            "charts/alertmanager",
            "charts/kube-state-metrics",
            "charts/prometheus-node-exporter",
            "charts/prometheus-pushgateway",
        ),
    ),
)


def fetch(chart: CorpusChart) -> Path:
    """The chart, unpacked once into the cache (writable, missing dependencies dropped)."""
    target = CACHE / chart.name / chart.version / "author"
    if (target / "Chart.yaml").is_file():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["go", "mod", "init", "bench"], cwd=scratch, capture_output=True, check=True)
        found = subprocess.run(
            ["go", "mod", "download", "-json", f"{chart.module}@{chart.version}"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
        )
    info = json.loads(found.stdout or "{}")
    if "Dir" not in info:
        raise SystemExit(f"{chart.module}@{chart.version}: {info.get('Error') or found.stderr}")
    source = Path(info["Dir"]) / chart.path
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for dependency in chart.vendored:
        vendored = Path(info["Dir"]) / dependency
        shutil.copytree(vendored, target / "charts" / vendored.name, dirs_exist_ok=True)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    _drop_missing_dependencies(target)
    return target


def _drop_missing_dependencies(chart_dir: Path) -> None:
    metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    listed = metadata.get("dependencies") or []
    present = (
        {p.name for p in (chart_dir / "charts").iterdir()}
        if (chart_dir / "charts").is_dir()
        else set()
    )
    kept = [
        d
        for d in listed
        if d["name"] in present or any(name.startswith(d["name"] + "-") for name in present)
    ]
    if len(kept) != len(listed):
        metadata["dependencies"] = kept
        (chart_dir / "Chart.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))


class Generator:
    """What writes a chart's values.schema.json, the author's hidden: `lostromos schema
    init`, or another tool (`--generator`), run as it runs with its defaults."""

    name = "lostromos schema init"
    folder = "inferred"

    def schema_copy(self, author: Path) -> tuple[Path, str | None]:
        """A copy of the chart with the author's schema replaced by this generator's, and
        why the generator made none (the copy then has no schema), or None."""
        target = author.parent / self.folder
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(author, target)
        (target / "values.schema.json").unlink()
        failure = self.write(target)
        if failure is not None:
            (target / "values.schema.json").unlink(missing_ok=True)
        return target, failure

    def described(self) -> str:
        return self.name

    def write(self, chart_dir: Path) -> str | None:
        (chart_dir / "values.schema.json").write_text(render_schema(self.inferred(chart_dir)))
        return None

    def inferred(self, chart_dir: Path) -> dict:
        metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        return infer_chart_schema(chart_dir, metadata)


class OpenObjectsGenerator(Generator):
    """`schema init`'s schema with every object below the root left open to keys the
    chart does not name (Kubernetes types stay as they are): the other side of the trade
    between refusing no valid setting and catching misspelt keys."""

    name = "lostromos schema init, objects below the root open"
    folder = "inferred-open"

    def inferred(self, chart_dir: Path) -> dict:
        schema = super().inferred(chart_dir)
        for child in (schema.get("properties") or {}).values():
            _open_objects(child)
        return schema


def _open_objects(node: object) -> None:
    if isinstance(node, list):
        for entry in node:
            _open_objects(entry)
    if not isinstance(node, dict):
        return
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    _open_objects(
        [node.get(k) for k in ("items", "anyOf", "oneOf", "allOf", "additionalProperties")]
    )
    _open_objects(list((node.get("properties") or {}).values()))


# The other generators the issue compares with, each run in the chart's folder with its
# defaults: helm-values-schema-json (the helm plugin) and helm-schema.
OTHER_GENERATORS = {
    "helm-values-schema-json": ("-f", "values.yaml", "-o", "values.schema.json"),
    "helm-schema": ("-c", ".", "-l", "error"),
}


class ExternalGenerator(Generator):
    def __init__(self, binary: Path) -> None:
        if binary.name not in OTHER_GENERATORS:
            raise SystemExit(
                f"--generator {binary}: the binary must be named one of "
                f"{', '.join(OTHER_GENERATORS)} (its arguments depend on which)"
            )
        self.binary = binary.resolve()
        self.name = self.folder = binary.name

    def described(self) -> str:
        return f"{self.name} ({self.binary})"

    def write(self, chart_dir: Path) -> str | None:
        argv = [str(self.binary), *OTHER_GENERATORS[self.name]]
        done = subprocess.run(
            argv, cwd=chart_dir, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0 or not (chart_dir / "values.schema.json").is_file():
            said = " / ".join((done.stderr or done.stdout).split("\n")[:3]).strip()
            return said[:300] or f"exit status {done.returncode}"
        return None


def memo_key(values: dict) -> str:
    """The name a setting's verdicts are remembered by."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


class HelmJudge:
    """`helm template` with the author's schema in place, remembered by setting."""

    def __init__(self, chart_dir: Path, memo: Path) -> None:
        self.helm = str(ensure(["helm"])["helm"])  # the pinned helm, built when missing
        self.chart_dir = chart_dir
        self.memo_path = memo
        self.memo: dict[str, bool] = json.loads(memo.read_text()) if memo.is_file() else {}
        self._defaults: frozenset[str] | None = None
        self._noise: frozenset[str] | None = None

    def renders(self, values: dict) -> bool:
        key = memo_key(values)
        if key not in self.memo:
            self.memo[key] = self._template(values).returncode == 0
        return self.memo[key]

    def changes_render(self, values: dict, base: dict) -> bool:
        """Does Helm's output with these values differ from its output with the base
        alone? Lines that differ between two renders of the base (generated passwords
        and certificates, random names) are left out of the comparison by their key: a
        third render draws a third random value under the same key."""
        if self._noise is None:
            first, second = self._lines(base), self._lines(base)
            self._defaults, self._noise = first, frozenset(map(_line_key, first ^ second))
        assert self._defaults is not None
        changed = self._lines(values) ^ self._defaults
        return any(_line_key(line) not in self._noise for line in changed)

    def _lines(self, values: dict) -> frozenset[str]:
        return frozenset(self.manifests(values).splitlines())

    def manifests(self, values: dict) -> str:
        """What `helm template` renders with these values (in namespace default)."""
        return self._template(values).stdout

    def _template(self, values: dict) -> subprocess.CompletedProcess[str]:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
            handle.write(json.dumps(values))
            handle.flush()
            return subprocess.run(
                [self.helm, "template", "bench", str(self.chart_dir), "-f", handle.name,
                 "--namespace", "default"],
                capture_output=True,
                text=True,
                check=False,
            )  # fmt: skip

    def save(self) -> None:
        self.memo_path.write_text(json.dumps(self.memo))


# kubectl's words for an object it cannot judge here: its kind's CRD, or its namespace,
# is not in the cluster
_UNJUDGED = (
    "no matches for kind",
    "resource mapping not found",
    "ensure CRDs are installed first",
    "could not find the requested resource",
    'namespaces "',
)


# Charts the corpus work was not tuned on, scored with `--check-set` once the work was
# done, chosen before any was measured: every chart found in a Go module the proxy serves
# whose values.schema.json is over 3 KB and describes at least half of values.yaml's
# top-level keys and whose defaults render, at most two per organisation (bitnami has
# more; its first two found).
CHECK_SET = (
    CorpusChart(
        "istio-gateway",
        "istio.io/istio",
        "v0.0.0-20260827124520-eed52ebb66ad",
        "manifests/charts/gateway",
    ),
    CorpusChart(
        "chaos-mesh",
        "github.com/chaos-mesh/chaos-mesh",
        "v0.9.1-0.20260902003049-47411975a8cb",
        "helm/chaos-mesh",
    ),
    CorpusChart(
        "ack-s3-controller", "github.com/aws-controllers-k8s/s3-controller", "v1.14.0", "helm"
    ),
    CorpusChart(
        "bitnami-redis",
        "github.com/bitnami/charts",
        "v0.0.0-20260907150927-c0703daaf78e",
        "bitnami/redis",
        vendored=("bitnami/common",),
    ),
    CorpusChart(
        "bitnami-mariadb",
        "github.com/bitnami/charts",
        "v0.0.0-20260907150927-c0703daaf78e",
        "bitnami/mariadb",
        vendored=("bitnami/common",),
    ),
)


class KubeJudge:
    """Does the API server accept what Helm renders with a setting? A local kube-apiserver
    and etcd (the pinned ones, as `lostromos dev up` runs them) answer a server-side
    dry-run apply with strict field validation, the way Helm 4 installs. Only errors the
    setting adds to those of the base count; an object of a kind the cluster does not know
    (a custom resource without its CRD) or in a namespace it does not have is not judged,
    so a setting is never counted as failing for want of a CRD. Remembered by setting,
    beside the helm verdicts."""

    def __init__(self, workdir: Path) -> None:
        tools = ensure(["etcd", "kube-apiserver", "kubectl"])
        self.dev = DevCluster(
            DevOptions(
                state_dir=workdir,
                bindings_path=workdir / "bindings.yaml",
                crds_dir=workdir,
                examples_dir=None,
                tools=tools,
            ),
            say=lambda line: None,
        )
        self.dev.start_control_plane()
        self._defaults: dict[str, frozenset[str]] = {}

    def refuses(self, helm: HelmJudge, values: dict, base: dict) -> bool:
        key = "api:" + memo_key(values)
        if key not in helm.memo:
            chart = str(helm.chart_dir)
            if chart not in self._defaults:
                self._defaults[chart] = self._errors(helm.manifests(base))
            added = self._errors(helm.manifests(values)) - self._defaults[chart]
            helm.memo[key] = bool(added)
        return helm.memo[key]

    def _errors(self, manifests: str) -> frozenset[str]:
        result = self.dev.kubectl(
            "apply", "--server-side", "--dry-run=server", "--validate=strict",
            "--force-conflicts", "--field-manager=helm", "--namespace=default", "-f", "-",
            stdin=manifests, check=False,
        )  # fmt: skip
        return frozenset(
            line
            for line in result.stderr.splitlines()
            if line.strip() and not any(word in line for word in _UNJUDGED)
        )

    def stop(self) -> None:
        self.dev.stop()


@dataclass
class Score:
    chart: str
    valid: int = 0
    refused: int = 0
    refused_inert: int = 0  # refused, and Helm renders the same with or without them
    installs: int = 0  # valid settings whose render the API server accepts too
    refused_installs: int = 0  # refused, though Helm renders it and the API server accepts
    mistakes: int = 0
    caught: int = 0
    refused_examples: list[str] = field(default_factory=list)
    missed_examples: list[str] = field(default_factory=list)
    own_files: int = 0  # the chart's own CI and example values files the author accepts
    own_refused: list[str] = field(default_factory=list)
    failed: str | None = None  # the generator made no schema: it refuses and catches nothing


def score(
    chart: CorpusChart, per_chart: int, kube: KubeJudge, generators: list[Generator]
) -> list[Score]:
    """Each generator's score on one chart, on the same settings and verdicts."""
    author_dir = fetch(chart)
    author = load_chart(author_dir)
    judge = HelmJudge(author_dir, author_dir.parent / "helm-verdicts.json")
    by_author = ValuesEngine(author)
    results, engines = [], []
    for generator in generators:
        copied, failure = generator.schema_copy(author_dir)
        results.append(Score(chart.name, failed=failure))
        engines.append(ValuesEngine(load_chart(copied)))
    good, bad = _valid_and_mistakes(author, by_author, per_chart, chart.name)
    own_files = own_values_files(author_dir)
    base = render_base(judge, own_files)
    for setting in good:
        values = _merged(base, setting.values)
        if not judge.renders(values):
            continue  # the templates refuse it: neither valid nor a schema mistake
        installs = not kube.refuses(judge, values, base)
        refusing = []
        for result, engine in zip(results, engines, strict=True):
            result.valid += 1
            result.installs += installs
            if engine.validate(copy.deepcopy(values)):
                refusing.append(result)
        if not refusing:
            continue
        inert = not judge.changes_render(values, base)  # one render, however many refuse
        note = " (Helm renders the same without it)" if inert else ""
        note += "" if installs else " (the API server refuses it too)"
        for result in refusing:
            result.refused += 1
            result.refused_inert += inert
            result.refused_examples.append(setting.label + note)
            result.refused_installs += installs
    judge.save()
    own_current = [
        (file.relative_to(author_dir), values)
        for file, values in own_files
        if not by_author.validate(copy.deepcopy(values))  # else stale: the author refuses it
    ]
    for result, engine in zip(results, engines, strict=True):
        _score_mistakes_and_files(result, engine, bad, own_current)
    return results


def _score_mistakes_and_files(
    result: Score, engine: ValuesEngine, bad: list[Setting], own: list[tuple[Path, dict]]
) -> None:
    """The mistakes one generator's schema catches, and the chart's own values files it
    refuses."""
    for setting in bad:
        result.mistakes += 1
        if engine.validate(copy.deepcopy(setting.values)):
            result.caught += 1
        else:
            result.missed_examples.append(setting.label)
    for name, values in own:
        result.own_files += 1
        refused = engine.validate(copy.deepcopy(values))
        if refused:
            keys = ", ".join(".".join(map(str, v.path)) for v in refused)
            result.own_refused.append(f"{name}: {keys}")


def _valid_and_mistakes(
    author: Chart, by_author: ValuesEngine, per_chart: int, seed: str
) -> tuple[list[Setting], list[Setting]]:
    """The sampled settings of a documented kind the author's schema accepts, and the
    sampled ones it refuses (the mistakes)."""
    good: list[Setting] = []
    bad: list[Setting] = []
    for setting in settings_for(author.schema, author.values, random.Random(seed)):
        if by_author.validate(setting.values):
            bad.append(setting)
        elif not setting.mistake:
            good.append(setting)
    return _sample(good, per_chart, seed), _sample(bad, per_chart, seed)


def _line_key(line: str) -> str:
    """A rendered line up to its value (`  admin-password: "SVVp..."` -> `  admin-password:`);
    a line with no key is its own key."""
    key, colon, _ = line.partition(": ")
    return key + colon if colon else line


def render_base(judge: HelmJudge, own_files: list[tuple[Path, dict]]) -> dict:
    """What each valid setting is given on top of: nothing, or, for a chart whose
    defaults do not render (opentelemetry-collector's `mode` must be set), the smallest
    of its own CI values files that renders, so its settings can be judged at all."""
    if judge.renders({}):
        return {}
    files = sorted(own_files, key=lambda found: len(json.dumps(found[1])))
    return next((values for _, values in files if judge.renders(values)), {})


def _merged(base: dict, values: dict) -> dict:
    """`values` over `base`, maps merged key by key, as Helm merges values files."""
    merged = copy.deepcopy(base)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def own_values_files(chart_dir: Path) -> list[tuple[Path, dict]]:
    """The values files the chart's authors test and document it with: chart-testing's
    `ci/*.yaml` and `examples/**/*values*.yaml`."""
    files = sorted(chart_dir.glob("ci/*.y*ml")) + sorted(
        chart_dir.glob("examples/**/*values*.y*ml")
    )
    found = []
    for file in files:
        try:
            values = values_of(file.read_text(encoding="utf-8"))
        except (ValueError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(values, dict) and values:
            found.append((file, values))
    return found


def _sample(settings: list[Setting], size: int, seed: str) -> list[Setting]:
    unique = {json.dumps(s.values, sort_keys=True): s for s in settings}
    ordered = [unique[k] for k in sorted(unique)]
    return random.Random(seed).sample(ordered, min(size, len(ordered)))


def table(scores: list[Score]) -> str:
    lines = [
        "| chart | valid settings | refused | of which change the render "
        "| of those, the API server accepts | refused of those | mistakes | caught |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        lines.append(
            f"| {s.chart} | {s.valid} | {s.refused} ({_pct(s.refused, s.valid)}) | "
            f"{s.refused - s.refused_inert} | {s.installs} | "
            f"{s.refused_installs} ({_pct(s.refused_installs, s.installs)}) | "
            f"{s.mistakes} | {s.caught} ({_pct(s.caught, s.mistakes)}) |"
        )
    valid = sum(s.valid for s in scores)
    refused = sum(s.refused for s in scores)
    effective = refused - sum(s.refused_inert for s in scores)
    installs = sum(s.installs for s in scores)
    refused_installs = sum(s.refused_installs for s in scores)
    mistakes = sum(s.mistakes for s in scores)
    caught = sum(s.caught for s in scores)
    lines.append(
        f"| **all {len(scores)}** | {valid} | **{refused} ({_pct(refused, valid, 2)})** | "
        f"{effective} ({_pct(effective, valid, 2)}) | {installs} | "
        f"**{refused_installs} ({_pct(refused_installs, installs, 2)})** | "
        f"{mistakes} | **{caught} ({_pct(caught, mistakes)})** |"
    )
    return "\n".join(lines)


def own_files_table(scores: list[Score]) -> str:
    lines = ["| chart | own CI and example values files | refused |", "|---|---|---|"]
    lines += [
        f"| {s.chart} | {s.own_files} | {len(s.own_refused)} |" for s in scores if s.own_files
    ]
    files = sum(s.own_files for s in scores)
    refused = sum(len(s.own_refused) for s in scores)
    lines.append(f"| **all** | {files} | **{refused} ({_pct(refused, files)})** |")
    return "\n".join(lines)


def _pct(part: int, whole: int, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f}%" if whole else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", action="append", default=[], help="only these charts")
    parser.add_argument("--per-chart", type=int, default=250, help="settings of each kind")
    parser.add_argument("--show", action="store_true", help="list refused and missed settings")
    parser.add_argument(
        "--generator",
        action="append",
        type=Path,
        default=[],
        metavar="BINARY",
        help="also score another generator's schemas (a helm-values-schema-json or "
        "helm-schema binary), on the same settings",
    )
    parser.add_argument(
        "--open-objects",
        action="store_true",
        help="also score schema init's schema with every object below the root open",
    )
    parser.add_argument(
        "--check-set",
        action="store_true",
        help="score the charts the corpus work was not tuned on (CHECK_SET) instead",
    )
    args = parser.parse_args()
    charts = CHECK_SET if args.check_set else CORPUS
    chosen = [c for c in charts if not args.chart or c.name in args.chart]
    generators = [
        Generator(),
        *([OpenObjectsGenerator()] if args.open_objects else []),
        *(ExternalGenerator(binary) for binary in args.generator),
    ]
    # What needs the module proxy comes first: the pinned binaries and the charts. Then
    # the script runs again where only loopback exists, for the local API server.
    ensure(["etcd", "kube-apiserver", "kubectl", "helm"])
    for chart in chosen:
        fetch(chart)
    isolation.ensure_isolated(lambda line: print(line, file=sys.stderr, flush=True))
    # Stopped by SIGTERM as by Ctrl-C: the local API server and etcd are stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="schema-bench-") as workdir:
        kube = KubeJudge(Path(workdir))
        try:
            by_chart = [score(chart, args.per_chart, kube, generators) for chart in chosen]
        finally:
            kube.stop()
    for index, generator in enumerate(generators):
        scores = [results[index] for results in by_chart]
        if index:
            print(f"\n{generator.described()}, on the same settings:\n")
        print(table(scores))
        if index == 0:
            print()
            print(own_files_table(scores))
        for s in scores:
            if s.failed:
                print(f"{generator.name} made no schema for {s.chart}: {s.failed}")
    if args.show:
        for generator, scores in zip(generators, zip(*by_chart, strict=True), strict=True):
            _show(scores, "" if generator is generators[0] else f"{generator.name}: ")
    return 0


def _show(scores: tuple[Score, ...], prefix: str) -> None:
    """Each refused and missed setting, and each of the chart's own files refused."""
    for s in scores:
        for label in s.refused_examples:
            print(f"{prefix}refused {s.chart}: {label}")
        for label in s.missed_examples:
            print(f"{prefix}missed {s.chart}: {label}")
        for label in s.own_refused:
            print(f"{prefix}refused own file {s.chart}: {label}")


if __name__ == "__main__":
    raise SystemExit(main())
