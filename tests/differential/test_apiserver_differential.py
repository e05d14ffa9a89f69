"""The path a user takes - `kubectl apply` through the real API server, its CRD and the
webhook - must give Helm's verdict, and `lostromos check` must give the API server's.

Every test chart, plus charts shaped like the cases where the two used to disagree
(tests/differential/charts: a required key values.yaml supplies, enums with null,
list items with defaults; tests/differential/remote: a schema whose $refs point at
a local web server, allow-listed in the binding), is bound twice: once with a
webhook-mode CRD and once with a full-mode CRD. Each values case becomes one
object of each kind, created with `kubectl create --dry-run=server` (one call per
chart and mode, so nothing is stored), and its verdict is compared with
`helm template -f` on the same values (false admits: the API server admits what
Helm refuses; false denies: the reverse) and with `lostromos check --crd MODE` on
the same object. Default run: the edge cases plus about 15 generated cases per
chart; LOSTROMOS_DIFF_EXAMPLES raises the number. The counts are printed at the
end of the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from diff_harness import SUMMARY_KEY, helm_template, write_values
from hypothesis import HealthCheck, given, settings
from test_helm_differential import EDGE_CASES, STRATEGIES

from lostromos import toolchain
from lostromos.authoring.check import SourceObject, check_objects
from lostromos.authoring.crdgen import CrdTarget, generate_crd
from lostromos.charts import load_chart
from lostromos.config import load_bindings
from lostromos.engines import EngineRegistry
from lostromos.remote_refs import resolver_for
from tests.support import Cluster, serve_repository

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TEST_CHARTS = ROOT / "tests" / "charts"
OWN_CHARTS = Path(__file__).resolve().parent / "charts"
REMOTE = Path(__file__).resolve().parent / "remote"
MODES = ("webhook", "full")
EXAMPLES = int(os.environ.get("LOSTROMOS_DIFF_EXAMPLES", "15"))

OWN_CASES: dict[str, list[dict]] = {
    "supplied": [
        {"name": "a"},
        {},
        {"name": "a", "apiVersion": None},
        {"name": "a", "apiVersion": "v2"},
        {"name": "a", "apiVersion": "v3"},
        {"name": "a", "config": {}},
        {"name": "a", "config": {"mode": None}},
        {"name": "a", "config": {"mode": "safe"}},
        {"name": "a", "config": {"retries": -1}},
        {"name": "a", "config": None},
        {"name": None},
        {"name": ""},
        {"name": "a", "config": {"mode": "slow"}},
    ],
    "nullenum": [
        {},
        {"level": None},
        {"level": "low"},
        {"level": "mid"},
        {"color": None},
        {"color": "blue"},
        {"color": "green"},
        {"size": None},
        {"size": 4},
        {"shape": None},
        {"shape": "round"},
        {"note": None},
        {"note": 3},
        {"level": None, "color": None},
    ],
    "remoteref": [
        {},
        {"endpoint": {"host": "a"}},
        {"endpoint": {"host": ""}},
        {"port": 0},
        {"port": None},
        {"endpoint": {"scheme": "ftp", "host": "a"}},
        {"endpoint": None},
        {"endpoint": {"scheme": None, "host": "a"}},
        {"port": 65535, "endpoint": {"host": "b"}},
    ],
    "listdefault": [
        {},
        {"endpoints": [{"port": 1}]},
        {"endpoints": [{}]},
        {"endpoints": [{"port": "x"}]},
        {"endpoints": [{"port": 1, "path": None}]},
        {"endpoints": [None]},
        {"endpoints": None},
        {"sidecars": []},
        {"sidecars": [{"name": "x"}]},
        {"sidecars": [{}]},
        {"sidecars": None},
        {"endpoints": [{"port": 70000}]},
    ],
}


@dataclass(frozen=True)
class DiffChart:
    name: str
    path: Path
    cases: list[dict]


def _generated(chart: str) -> list[Any]:
    if chart not in STRATEGIES or EXAMPLES <= 0:
        return []
    found: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(STRATEGIES[chart]())
    def collect(values: Any) -> None:
        found.append(values)

    collect()
    return found


def _charts() -> list[DiffChart]:
    charts = []
    for path in [
        *sorted(p for p in TEST_CHARTS.iterdir() if (p / "Chart.yaml").is_file()),
        *sorted(p for p in OWN_CHARTS.iterdir() if (p / "Chart.yaml").is_file()),
        REMOTE / "chart",
    ]:
        seen: set[str] = set()
        cases = []
        for values in [
            *EDGE_CASES.get(path.name, []),
            *OWN_CASES.get(path.parent.name + "ref" if path.name == "chart" else path.name, []),
            *_generated(path.name),
        ]:
            key = json.dumps(values, sort_keys=True)
            if isinstance(values, dict) and key not in seen:
                seen.add(key)
                cases.append(values)
        name = path.parent.name + "ref" if path.name == "chart" else path.name
        charts.append(DiffChart(name, path, cases))
    return charts


CHARTS = _charts()


def _group(chart: str, mode: str) -> str:
    return f"{chart}-{mode}.diff.example.com"


@dataclass
class Tally:
    cases: int = 0
    false_admits: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MODES})
    false_denies: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MODES})
    check_mismatches: dict[str, list[str]] = field(default_factory=lambda: {m: [] for m in MODES})

    def summary(self) -> str:
        lines = [f"API server with webhook vs helm: {self.cases} cases per mode"]
        for mode in MODES:
            lines.append(
                f"  {mode} CRDs: {len(self.false_admits[mode])} false admits, "
                f"{len(self.false_denies[mode])} false denies; check vs kubectl: "
                f"{len(self.check_mismatches[mode])} different verdicts"
            )
        return "\n".join(lines)


TALLY = Tally()


@pytest.fixture(scope="module")
def diff_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Cluster, Path, dict[str, Path]]]:
    """A control plane serving every chart twice: webhook-mode and full-mode CRDs."""
    state = tmp_path_factory.mktemp("diffcluster")
    with serve_repository(REMOTE / "served") as url:
        paths = {chart.name: chart.path for chart in CHARTS}
        remote_copy = state / "remoteref"
        shutil.copytree(REMOTE / "chart", remote_copy)
        schema = remote_copy / "values.schema.json"
        schema.write_text(schema.read_text().replace("SERVED", url))
        paths["remoteref"] = remote_copy
        yield from _serve(state, paths, request)


def _serve(
    state: Path, paths: dict[str, Path], request: pytest.FixtureRequest
) -> Iterator[tuple[Cluster, Path, dict[str, Path]]]:
    from lostromos.dev.cluster import DevCluster, DevError, DevOptions

    bindings = [
        {
            "name": f"{chart.name}-{mode}",
            "group": _group(chart.name, mode),
            "version": "v1",
            "kind": "Thing",
            "plural": "things",
            "chart": {"path": str(paths[chart.name])},
            "remoteSchemaHosts": ["127.0.0.1"],
        }
        for chart in CHARTS
        for mode in MODES
    ]
    bindings_path = state / "lostromos.yaml"
    bindings_path.write_text(
        yaml.safe_dump(
            {"apiVersion": "lostromos.dev/v1alpha1", "kind": "Bindings", "bindings": bindings}
        )
    )
    crds = state / "crds"
    crds.mkdir()
    for binding in load_bindings(bindings_path).bindings:
        mode = binding.name.rpartition("-")[2]
        target = CrdTarget.for_binding(
            binding,
            load_chart(
                binding.chart.path,
                remote=resolver_for(binding.remote_schema_hosts, state / "schemas"),
            ),
        )
        generated = generate_crd(target, mode)  # type: ignore[arg-type]
        (crds / target.filename).write_text(generated.render())
    tools = {name: toolchain.ensure([name])[name] for name in toolchain.TOOL_NAMES}
    options = DevOptions(
        state_dir=state,
        bindings_path=bindings_path,
        crds_dir=crds,
        examples_dir=None,
        tools=tools,
        controller_args=(),
    )
    dev = DevCluster(options, say=lambda line: print(f"[diff cluster] {line}", flush=True))
    try:
        dev.up()
    except DevError as error:
        pytest.fail(f"the control plane with full-mode CRDs did not come up: {error}")
    try:
        yield Cluster.of(dev, tools), bindings_path, paths
    finally:
        dev.stop()
        shutil.rmtree(state / "etcd", ignore_errors=True)
        request.config.stash.setdefault(SUMMARY_KEY, []).append(TALLY.summary())


def _object(chart: str, mode: str, index: int, spec: dict) -> dict:
    return {
        "apiVersion": f"{_group(chart, mode)}/v1",
        "kind": "Thing",
        "metadata": {"name": f"case-{index}", "namespace": "default"},
        "spec": spec,
    }


_CREATED = re.compile(r"^thing\.[^/]+/(case-\d+)$")


def apiserver_verdicts(cluster: Cluster, objects: list[dict]) -> tuple[dict[str, bool], str]:
    """Which objects a server-side dry-run create admits (JSON: exact for every value), and
    kubectl's error output."""
    stream = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    result = cluster.kubectl(
        "create",
        "--dry-run=server",
        "-o",
        "name",
        "-f",
        "-",
        stdin=stream,
        check=False,
        timeout=600,
    )
    if "error validating" in result.stderr and len(objects) > 1:
        # kubectl's own schema check refuses the whole file for one object's unknown
        # field, as it would refuse that object alone: ask for each object on its own.
        verdicts: dict[str, bool] = {}
        said = []
        for obj in objects:
            one, stderr = apiserver_verdicts(cluster, [obj])
            verdicts.update(one)
            said.append(stderr)
        return verdicts, "".join(said)
    created = {
        m.group(1) for line in result.stdout.splitlines() if (m := _CREATED.match(line.strip()))
    }
    assert "failed calling webhook" not in result.stderr, result.stderr[-2000:]
    verdicts = {obj["metadata"]["name"]: obj["metadata"]["name"] in created for obj in objects}
    return verdicts, result.stderr


def helm_verdicts(helm: Path, chart: DiffChart, path: Path, workdir: Path) -> list[bool]:
    def one(item: tuple[int, dict]) -> bool:
        values_file = workdir / f"values-{item[0]}.json"
        write_values(item[1], values_file)  # no overrides in these bindings
        return helm_template(helm, path, values_file).accepted

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, enumerate(chart.cases)))


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_the_api_server_gives_helms_verdict_and_check_gives_the_api_servers(
    chart: DiffChart,
    diff_cluster: tuple[Cluster, Path, dict[str, Path]],
    helm_binary: Path,
    tmp_path: Path,
) -> None:
    cluster, bindings_path, paths = diff_cluster
    helm = helm_verdicts(helm_binary, chart, paths[chart.name], tmp_path)
    assert any(helm) and not all(helm), f"{chart.name}: the cases must exercise both verdicts"
    registry = EngineRegistry(load_bindings(bindings_path))
    TALLY.cases += len(chart.cases)
    problems: list[str] = []
    outputs: dict[str, str] = {}
    for mode in MODES:
        objects = [_object(chart.name, mode, i, spec) for i, spec in enumerate(chart.cases)]
        server, errors = apiserver_verdicts(cluster, objects)
        outputs[mode] = errors[-1500:]
        sources = [SourceObject(f"case {i}", obj) for i, obj in enumerate(objects)]
        checked = check_objects(registry, sources, mode)
        for index, (spec, obj) in enumerate(zip(chart.cases, objects, strict=True)):
            admitted = server[obj["metadata"]["name"]]
            label = f"{chart.name} {mode} {json.dumps(spec, sort_keys=True)}"
            named = [line for line in errors.splitlines() if f'"case-{index}"' in line][:1]
            label += f" ({named[0][-300:]})" if named and not admitted else ""
            if admitted and not helm[index]:
                TALLY.false_admits[mode].append(label)
                problems.append(f"false admit: {label}")
            elif helm[index] and not admitted:
                TALLY.false_denies[mode].append(label)
                problems.append(f"false deny: {label}")
            if checked[index].allowed != admitted:
                TALLY.check_mismatches[mode].append(label)
                problems.append(
                    f"check says {'allowed' if checked[index].allowed else 'denied'}"
                    f", kubectl the opposite: {label}: {checked[index].message}"
                )
    assert not problems, "\n".join([*problems[:20], f"kubectl said: {outputs}"])
