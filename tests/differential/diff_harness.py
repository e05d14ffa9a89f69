"""Run helm template on many values files and compare with the values engine."""

from __future__ import annotations

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from lostromos.helmengine import ChartSource, HelmEngine, HelmError
from lostromos.values.engine import ValuesEngine
from tests.helmvalues import helm_values_document

SUMMARY_KEY = pytest.StashKey[list[str]]()  # what the API-server differential reports


@dataclass
class HelmVerdict:
    accepted: bool
    values: Any  # .Values as rendered by the chart's template (when accepted)
    error: str
    manifest: str = ""  # helm template's stdout, byte for byte


@dataclass
class Disagreement:
    chart: str
    values: Any
    ours: list[str]
    helm: str
    kind: str  # "verdict", "coalesce", or "render" (the Helm engine differs from helm template)

    def __str__(self) -> str:
        return (
            f"[{self.chart}] {self.kind} disagreement for values {json.dumps(self.values)}\n"
            f"  engine: {self.ours or 'accepted'}\n  helm: {self.helm or 'accepted'}"
        )


@dataclass
class DiffStats:
    cases: int = 0
    accepted: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, accepted: bool, disagreement: Disagreement | None) -> None:
        with self._lock:
            self.cases += 1
            self.accepted += accepted
            if disagreement is not None:
                self.disagreements.append(disagreement)

    def summary(self) -> str:
        return (
            f"differential vs helm: {self.cases} cases ({self.accepted} accepted by helm, "
            f"{self.cases - self.accepted} refused), {len(self.disagreements)} disagreements"
        )


def helm_template(helm: Path, chart: Path, values_file: Path) -> HelmVerdict:
    result = subprocess.run(
        [str(helm), "template", "diff", str(chart), "-f", str(values_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return HelmVerdict(False, None, result.stderr.strip())
    rendered = None
    for document in yaml.safe_load_all(result.stdout):
        if isinstance(document, dict) and document.get("metadata", {}).get("name") == "diff":
            rendered = json.loads(document["data"]["values"])
    return HelmVerdict(True, rendered, "", result.stdout)


def engine_render_differs(
    helm_engine: HelmEngine, chart: Path, values: dict, verdict: HelmVerdict
) -> str | None:
    """Why the engine's render is not exactly `helm template`'s, or None when it is."""
    try:
        rendered = helm_engine.render(ChartSource(chart), "diff", "default", values)
    except HelmError as error:
        return None if not verdict.accepted else f"engine refused what helm renders: {error}"
    if not verdict.accepted:
        return "engine rendered what helm refuses"
    return None if rendered.manifest == verdict.manifest else "manifests differ"


def write_values(values: Any, path: Path) -> None:
    path.write_text(helm_values_document(values), encoding="utf-8")


def compare_case(  # noqa: PLR0917
    engine: ValuesEngine,
    helm: Path,
    chart: Path,
    values: dict,
    workdir: Path,
    index: int,
    helm_engine: HelmEngine | None = None,
) -> tuple[bool, Disagreement | None]:
    values_file = workdir / f"values-{index}.json"
    write_values(engine.user_values(values), values_file)
    verdict = helm_template(helm, chart, values_file)
    if helm_engine is not None:
        differs = engine_render_differs(helm_engine, chart, engine.user_values(values), verdict)
        if differs:
            return verdict.accepted, Disagreement(
                chart.name, values, [differs], verdict.error, "render"
            )
    ours = [v.describe() for v in engine.validate(values)]
    if (not ours) != verdict.accepted:
        return verdict.accepted, Disagreement(chart.name, values, ours, verdict.error, "verdict")
    if verdict.accepted and not _same_json(engine.coalesce(values), verdict.values):
        return True, Disagreement(
            chart.name,
            values,
            [json.dumps(engine.coalesce(values))],
            json.dumps(verdict.values),
            "coalesce",
        )
    return verdict.accepted, None


def _same_json(ours: Any, theirs: Any) -> bool:
    # helm holds numbers as float64
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same_json(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_same_json, ours, theirs))
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return float(ours) == float(theirs)
    return ours == theirs


def run_cases(  # noqa: PLR0917
    engine: ValuesEngine,
    helm: Path,
    chart: Path,
    cases: list[dict],
    workdir: Path,
    stats: DiffStats,
    workers: int = 4,
    helm_engine: HelmEngine | None = None,
) -> list[Disagreement]:
    def one(item: tuple[int, dict]) -> Disagreement | None:
        accepted, disagreement = compare_case(
            engine, helm, chart, item[1], workdir, item[0], helm_engine
        )
        stats.record(accepted, disagreement)
        return disagreement

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(one, enumerate(cases)))
    return [d for d in found if d is not None]
