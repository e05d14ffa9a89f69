"""Remote $refs: fetched at load from allow-listed hosts only, embedded, cached by URL and
digest, one clear line when they cannot be had; `schema bundle` inlines them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chartkit import make_chart

from lostromos.charts import ChartError, load_chart
from lostromos.cli import main
from lostromos.config import Binding, Bindings, ChartRef
from lostromos.engines import BindingLoadError, EngineRegistry
from lostromos.remote_refs import (
    RemoteRefError,
    RemoteRefPolicy,
    RemoteResolver,
    bundle,
    resolver_for,
)
from tests.support import serve_repository

PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    (root / "common.json").write_text(json.dumps({"definitions": {"port": PORT}}))
    (root / "endpoint.json").write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["port"],
                "properties": {"port": {"$ref": "common.json#/definitions/port"}},
            }
        )
    )
    return root


def chart_referring_to(tmp_path: Path, url: str) -> Path:
    return make_chart(
        tmp_path,
        "remote",
        schema={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"endpoint": {"$ref": f"{url}/endpoint.json"}},
        },
    )


def test_an_allowed_host_is_fetched_embedded_and_cached(tmp_path: Path) -> None:
    with serve_repository(served(tmp_path)) as url:
        path = chart_referring_to(tmp_path, url)
        chart = load_chart(path, remote=resolver_for(("127.0.0.1",), tmp_path / "cache"))
    # served no more: the embedded copies resolve, and the cache serves a reload
    from lostromos.values.engine import ValuesEngine

    engine = ValuesEngine(chart)
    assert engine.validate({"endpoint": {"port": 80}}) == []
    assert [v.describe() for v in engine.validate({"endpoint": {"port": 0}})] == [
        "spec.endpoint.port: 0 is not allowed: must be >= 1"
    ]
    again = load_chart(path, remote=resolver_for(("127.0.0.1",), tmp_path / "cache"))
    assert again.schema == chart.schema


def test_offline_without_a_cache_is_one_line(tmp_path: Path) -> None:
    with serve_repository(served(tmp_path)) as url:
        path = chart_referring_to(tmp_path, url)
    with pytest.raises(ChartError) as raised:
        load_chart(path, remote=resolver_for(("127.0.0.1",), tmp_path / "empty"))
    message = str(raised.value)
    assert "\n" not in message
    assert f"cannot fetch {url}/endpoint.json" in message and "no cached copy" in message


def test_a_host_not_allow_listed_is_never_fetched(tmp_path: Path) -> None:
    asked: list[str] = []

    def fetch(url: str, timeout: float, limit: int) -> bytes:
        asked.append(url)
        return b"{}"

    resolver = RemoteResolver(RemoteRefPolicy(allowed_hosts=("schemas.example.com",)), fetch)
    with pytest.raises(
        RemoteRefError,
        match=r"evil\.example\.com is not in the binding's "
        "remoteSchemaHosts",
    ):
        bundle({"$ref": "https://evil.example.com/x.json"}, resolver)
    assert asked == []


def test_a_damaged_cache_copy_is_not_used(tmp_path: Path) -> None:
    def fetch(url: str, timeout: float, limit: int) -> bytes:
        return json.dumps(PORT).encode()

    policy = RemoteRefPolicy(allowed_hosts=("h.example",), cache_dir=tmp_path)
    bundle({"$ref": "https://h.example/p.json"}, RemoteResolver(policy, fetch))
    (cached,) = tmp_path.glob("*.json")
    cached.write_text('{"type": "string"}')

    def offline(url: str, timeout: float, limit: int) -> bytes:
        raise OSError("network is unreachable")

    with pytest.raises(RemoteRefError, match="no cached copy"):
        bundle({"$ref": "https://h.example/p.json"}, RemoteResolver(policy, offline))


def test_the_size_limit_holds(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text(json.dumps({"description": "x" * 5000}))
    with serve_repository(tmp_path) as url:
        resolver = RemoteResolver(RemoteRefPolicy(allowed_hosts=("127.0.0.1",), max_bytes=1000))
        with pytest.raises(RemoteRefError, match="larger than 1000 bytes"):
            bundle({"$ref": f"{url}/big.json"}, resolver)


def test_a_binding_with_a_remote_ref_breaks_only_itself(tmp_path: Path) -> None:
    good = Binding(
        name="good",
        group="a.example.com",
        version="v1",
        kind="Good",
        plural="goods",
        chart=ChartRef(path=make_chart(tmp_path, "good")),
    )
    remote = Binding(
        name="remote",
        group="b.example.com",
        version="v1",
        kind="Remote",
        plural="remotes",
        chart=ChartRef(path=chart_referring_to(tmp_path, "https://schemas.example.com")),
    )
    registry = EngineRegistry(
        Bindings(source=tmp_path / "lostromos.yaml", bindings=(good, remote)),
        chart_cache=tmp_path / "c",
    )
    assert [error.binding for error in registry.check_all()] == ["remote"]
    with pytest.raises(
        BindingLoadError,
        match=r"schemas\.example\.com is not in the binding's "
        "remoteSchemaHosts",
    ):
        registry.engine_for(remote)


def test_schema_bundle_prints_a_schema_that_loads_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_repository(served(tmp_path)) as url:
        path = chart_referring_to(tmp_path, url)
        assert main(["schema", "bundle", str(path)]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert set(bundled["definitions"]) == {f"{url}/endpoint.json", f"{url}/common.json"}
    (path / "values.schema.json").write_text(json.dumps(bundled))
    chart = load_chart(path)  # no resolver: nothing remote is left to fetch
    from lostromos.values.engine import ValuesEngine

    assert ValuesEngine(chart).validate({"endpoint": {}})
