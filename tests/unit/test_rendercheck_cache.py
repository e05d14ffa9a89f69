"""The render check remembers verdicts by what decides them, and only verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lostromos.admission import CheckUnavailable
from lostromos.config import Binding, ChartRef
from lostromos.helmengine import ChartSource, ErrorCode, HelmError
from lostromos.redact import redactor_for
from lostromos.rendercheck import RenderCheck, RenderRequest

BINDING = Binding(
    name="site",
    group="example.com",
    version="v1",
    kind="Site",
    plural="sites",
    chart=ChartRef(path=Path("/charts/site")),
)


class CountingEngine:
    """Renders by rule: `fail` in the values fails the template, `down` is an outage."""

    def __init__(self) -> None:
        self.renders = 0

    def verdict(self, chart: ChartSource, release: str, namespace: str, values: Any, **_: Any):
        self.renders += 1
        if values.get("down"):
            raise HelmError("render", "engine gone", code=ErrorCode.UNAVAILABLE, retryable=True)
        if values.get("fail"):
            raise HelmError(
                "render",
                "execution error at (site/templates/a.yaml:1:1): no",
                code=ErrorCode.RENDER,
            )


def request(values: dict[str, Any], *, digest: str = "d1", namespace: str = "team-a"):
    return RenderRequest(
        binding=BINDING,
        chart=ChartSource(Path("/charts/site"), digest),
        chart_name="site",
        release="web",
        namespace=namespace,
        values=values,
    )


def test_an_unchanged_object_is_judged_without_another_render() -> None:
    engine = CountingEngine()
    check = RenderCheck(engine)  # type: ignore[arg-type]
    assert check.problems(request({"a": 1})) == []
    assert check.problems(request({"a": 1})) == []
    denied = check.problems(request({"fail": True}))
    assert check.problems(request({"fail": True})) == denied
    assert denied == ["spec: the chart cannot render these values: templates/a.yaml: no"]
    assert (engine.renders, check.hits, check.misses) == (2, 2, 2)


@pytest.mark.parametrize(
    "changed",
    [
        request({"a": 2}),
        request({"a": 1}, digest="d2"),
        request({"a": 1}, namespace="team-b"),
        request({"a": 1}, digest=""),  # no digest: never remembered
    ],
)
def test_anything_that_decides_the_verdict_renders_again(changed: RenderRequest) -> None:
    engine = CountingEngine()
    check = RenderCheck(engine)  # type: ignore[arg-type]
    check.problems(request({"a": 1}))
    check.problems(changed)
    check.problems(changed)
    assert engine.renders == (3 if not changed.chart.digest else 2)


def test_an_outage_is_not_remembered_and_the_cache_is_bounded() -> None:
    engine = CountingEngine()
    check = RenderCheck(engine, cache_size=2)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(CheckUnavailable):
            check.problems(request({"down": True}))
    assert engine.renders == 2
    for n in range(3):
        check.problems(request({"n": n}))
    check.problems(request({"n": 0}))  # the oldest was dropped
    assert engine.renders == 2 + 4


class QuotingEngine:
    """A template that prints a value in its `fail` message, as a chart may."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def verdict(self, chart: ChartSource, release: str, namespace: str, values: Any, **kw: Any):
        self.secrets = list(kw.get("secrets") or ())
        raise HelmError(
            "render",
            f"execution error at (site/templates/a.yaml:1:1): bad token {values['db']['password']}",
            code=ErrorCode.RENDER,
        )


def test_a_sensitive_value_quoted_by_the_template_is_redacted_and_sent_to_the_engine() -> None:
    engine = QuotingEngine()
    values = {"db": {"password": "hunter2-secret"}}
    plain = RenderRequest(**{**request(values).__dict__, "redactor": redactor_for(None, [])})
    sensitive = RenderRequest(
        **{**request(values).__dict__, "redactor": redactor_for(None, ["db.password"])}
    )
    assert RenderCheck(engine).problems(plain) == [  # type: ignore[arg-type]
        "spec: the chart cannot render these values: templates/a.yaml: bad token hunter2-secret"
    ]
    assert RenderCheck(engine).problems(sensitive) == [  # type: ignore[arg-type]
        "spec: the chart cannot render these values: templates/a.yaml: bad token <redacted>"
    ]
    assert engine.secrets == ["hunter2-secret"]  # the engine scrubs its own logs with them
