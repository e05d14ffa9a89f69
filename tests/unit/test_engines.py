"""EngineRegistry: compiled once, shared across threads, reloaded when the chart changes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from chartkit import make_chart

from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings, ChartRef
from lostromos.engines import BindingLoadError, EngineRegistry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def binding(path: Path | None, name: str = "site", **kwargs) -> Binding:
    chart = (
        ChartRef(path=path)
        if path
        else ChartRef(repository="https://charts.example", name="x", version="1.0.0")
    )
    return Binding(
        name=name,
        group="hosting.example.com",
        version="v1",
        kind=name.title(),
        plural=f"{name}s",
        chart=chart,
        **kwargs,
    )


def registry_for(*bindings: Binding, clock: FakeClock | None = None) -> EngineRegistry:
    return EngineRegistry(
        Bindings(source=Path("lostromos.yaml"), bindings=bindings), clock=clock or FakeClock()
    )


def test_engine_is_cached(tmp_path: Path) -> None:
    site = binding(make_chart(tmp_path, schema={"type": "object"}))
    registry = registry_for(site)
    assert registry.engine_for(site) is registry.engine_for(site)


def test_reloads_after_chart_changes_on_disk(tmp_path: Path) -> None:
    path = make_chart(tmp_path, schema={"properties": {"a": {"type": "integer"}}})
    clock = FakeClock()
    site = binding(path)
    registry = registry_for(site, clock=clock)
    first = registry.engine_for(site)
    assert first.validate({"a": "x"})
    (path / "values.schema.json").write_text(json.dumps({"properties": {"a": {"type": "string"}}}))
    clock.now = 1.0
    assert registry.engine_for(site) is first  # not re-checked within recheck_seconds
    clock.now = 3.0
    second = registry.engine_for(site)
    assert second is not first and second.validate({"a": "x"}) == []
    clock.now = 6.0
    assert registry.engine_for(site) is second  # unchanged content: same engine


def test_overrides_are_part_of_the_engine(tmp_path: Path) -> None:
    path = make_chart(tmp_path)
    site = binding(path, overrides={"image": "locked"})
    engine = registry_for(site).engine_for(site)
    assert engine.user_values({"image": "mine"}) == {"image": "locked"}


def test_a_broken_binding_breaks_only_itself(tmp_path: Path) -> None:
    good = binding(make_chart(tmp_path, "good"), name="good")
    broken_path = make_chart(tmp_path, "broken")
    (broken_path / "values.schema.json").write_text("{nope")
    broken = binding(broken_path, name="broken")
    registry = registry_for(good, broken)
    errors = registry.check_all()  # does not raise: "good" can still be served
    assert [error.binding for error in errors] == ["broken"]
    assert registry.engine_for(good).validate({}) == []
    with pytest.raises(
        BindingLoadError, match=r"binding 'broken': .*values.schema.json: not valid JSON"
    ):
        registry.engine_for(broken)


def test_check_all_raises_when_no_binding_can_be_served(tmp_path: Path) -> None:
    broken_path = make_chart(tmp_path, "broken")
    (broken_path / "values.schema.json").write_text("{nope")
    registry = registry_for(binding(broken_path, name="broken"))
    with pytest.raises(ChartError, match=r"binding 'broken': .*values.schema.json: not valid JSON"):
        registry.check_all()


def test_a_load_failure_is_remembered_and_retried_after_recheck(tmp_path: Path) -> None:
    path = make_chart(tmp_path, "later")
    (path / "values.schema.json").write_text("{nope")
    clock = FakeClock()
    later = binding(path, name="later")
    registry = registry_for(later, clock=clock)
    with pytest.raises(BindingLoadError):
        registry.engine_for(later)
    (path / "values.schema.json").write_text(json.dumps({"type": "object"}))
    clock.now = 1.0
    with pytest.raises(BindingLoadError):  # not reloaded on every request
        registry.engine_for(later)
    clock.now = 3.0
    assert registry.engine_for(later).validate({}) == []


def test_concurrent_callers_get_one_working_engine(tmp_path: Path) -> None:
    site = binding(make_chart(tmp_path, schema={"required": ["a"]}))
    registry = registry_for(site)
    results: list = []

    def worker() -> None:
        engine = registry.engine_for(site)
        results.append((engine.digest, engine.validate({}) != []))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16 and len({digest for digest, _ in results}) == 1
    assert all(refused for _, refused in results)


def test_a_chart_is_loaded_and_compiled_once_for_every_binding_using_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lostromos.charts

    compiled: list[object] = []
    real_compile = lostromos.charts.compile_schema

    def counting_compile(schema: object) -> object:
        compiled.append(schema)
        return real_compile(schema)

    monkeypatch.setattr(lostromos.charts, "compile_schema", counting_compile)
    path = make_chart(tmp_path, schema={"properties": {"a": {"type": "integer"}}})
    site, blog = binding(path), binding(path, name="blog")
    registry = registry_for(site, blog)
    assert registry.engine_for(site) is registry.engine_for(blog)
    assert registry.engine_for(site).validate({"a": "x"})
    assert len(compiled) == 1
