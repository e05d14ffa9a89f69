"""Charts fetched from a repository served on loopback: index, digest, unpacking, errors."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from chartkit import make_chart

from lostromos.chartrepo import fetch_chart
from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings, ChartRef
from lostromos.engines import EngineRegistry
from tests.support import serve_repository


def package(chart_dir: Path, name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(chart_dir, arcname=name)
    return buffer.getvalue()


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "repo"
    served.mkdir()
    chart = make_chart(tmp_path / "src", "web", schema={"required": ["domain"]})
    archive = package(chart, "web")
    (served / "web-1.2.3.tgz").write_bytes(archive)
    index = {"apiVersion": "v1", "entries": {"web": [{
        "name": "web", "version": "1.2.3", "urls": ["web-1.2.3.tgz"],
        "digest": hashlib.sha256(archive).hexdigest()}]}}
    (served / "index.yaml").write_text(yaml.safe_dump(index))
    with serve_repository(served) as url:
        yield url + "/", served


def test_fetches_unpacks_and_caches(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, served = repository
    cache = tmp_path / "cache"
    path = fetch_chart(url, "web", "1.2.3", cache)
    assert (path / "Chart.yaml").is_file()
    (served / "web-1.2.3.tgz").unlink()  # a cached version never goes back to the repository
    assert fetch_chart(url, "web", "1.2.3", cache) == path


def test_the_registry_validates_with_a_repository_chart(
        repository: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = repository
    binding = Binding(name="web", group="example.com", version="v1", kind="Web",
                      plural="webs", chart=ChartRef(repository=url, name="web", version="1.2.3"))
    registry = EngineRegistry(Bindings(Path("b.yaml"), (binding,)), chart_cache=tmp_path / "c")
    engine = registry.engine_for(binding)
    assert [v.describe() for v in engine.validate({})] == [
        "spec.domain: required property is missing"]
    assert registry.chart_path(binding).parent == tmp_path / "c"


@pytest.mark.parametrize(("name", "version", "expected"), [
    ("web", "9.9.9", "no such version (versions: 1.2.3)"),
    ("nope", "1.0.0", "no such version (versions: none)"),
])
def test_unknown_chart_or_version(repository: tuple[str, Path], tmp_path: Path, name: str,
                                  version: str, expected: str) -> None:
    url, _ = repository
    with pytest.raises(ChartError, match=re.escape(expected)):
        fetch_chart(url, name, version, tmp_path)


def test_tampered_archive_is_refused(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, served = repository
    (served / "web-1.2.3.tgz").write_bytes(b"not the archive the index promised")
    with pytest.raises(ChartError, match="sha256 does not match"):
        fetch_chart(url, "web", "1.2.3", tmp_path)
    assert list(tmp_path.iterdir()) == [] or not any(tmp_path.glob("web-*"))


def test_unreachable_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match=re.escape("cannot fetch http://127.0.0.1:9/index.yaml")):
        fetch_chart("http://127.0.0.1:9", "web", "1.0.0", tmp_path)
