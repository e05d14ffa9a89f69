"""Charts pulled by the Helm engine from a repository served on loopback: index,
digest, unpacking, errors."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from chartkit import make_chart

from lostromos.chartrepo import fetch_chart, pull_with
from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings, ChartRef
from lostromos.engines import EngineRegistry
from lostromos.helmengine import HelmEngine
from tests.support import serve_repository

Fetch = Callable[..., Path]


@pytest.fixture
def fetch(helm_engine: HelmEngine) -> Fetch:
    """fetch_chart of a repository chart, pulled by the real engine."""

    def fetch(
        url: str,
        name: str,
        version: str,
        cache: Path,
        *,
        digest: str | None = None,
        insecure_skip_digest: bool = False,
    ) -> Path:
        ref = ChartRef(
            repository=url,
            name=name,
            version=version,
            digest=digest,
            insecure_skip_digest=insecure_skip_digest,
        )
        return fetch_chart(ref, cache, pull_with(helm_engine))

    return fetch


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
    index = {
        "apiVersion": "v1",
        "entries": {
            "web": [
                {
                    "name": "web",
                    "version": "1.2.3",
                    "urls": ["web-1.2.3.tgz"],
                    "digest": hashlib.sha256(archive).hexdigest(),
                }
            ]
        },
    }
    (served / "index.yaml").write_text(yaml.safe_dump(index))
    with serve_repository(served) as url:
        yield url + "/", served


def test_fetches_unpacks_and_caches(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    cache = tmp_path / "cache"
    path = fetch(url, "web", "1.2.3", cache)
    assert (path / "Chart.yaml").is_file()
    (served / "web-1.2.3.tgz").unlink()  # a cached version never goes back to the repository
    assert fetch(url, "web", "1.2.3", cache) == path


def test_the_registry_validates_with_a_repository_chart(
    helm_engine: HelmEngine, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = repository
    binding = Binding(
        name="web",
        group="example.com",
        version="v1",
        kind="Web",
        plural="webs",
        chart=ChartRef(repository=url, name="web", version="1.2.3"),
    )
    registry = EngineRegistry(
        Bindings(Path("b.yaml"), (binding,)),
        chart_cache=tmp_path / "c",
        puller=pull_with(helm_engine),
    )
    engine = registry.engine_for(binding)
    assert [v.describe() for v in engine.validate({})] == [
        "spec.domain: required property is missing"
    ]
    assert registry.chart_path(binding).parent == tmp_path / "c"


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        (("web", "9.9.9"), 'no chart "web" version "9.9.9" (versions: 1.2.3)'),
        (("nope", "1.0.0"), 'no chart "nope" version "1.0.0" (versions: none)'),
    ],
)
def test_unknown_chart_or_version(
    fetch: Fetch,
    repository: tuple[str, Path],
    tmp_path: Path,
    chart: tuple[str, str],
    expected: str,
) -> None:
    url, _ = repository
    with pytest.raises(ChartError, match=re.escape(expected)):
        fetch(url, *chart, tmp_path)


def test_tampered_archive_is_refused(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    (served / "web-1.2.3.tgz").write_bytes(b"not the archive the index promised")
    with pytest.raises(ChartError, match="sha256 does not match"):
        fetch(url, "web", "1.2.3", tmp_path)
    assert list(tmp_path.iterdir()) == [] or not any(tmp_path.glob("web-*"))


def test_unreachable_repository_is_one_clear_error(fetch: Fetch, tmp_path: Path) -> None:
    with pytest.raises(
        ChartError, match=re.escape("http://127.0.0.1:9 is not a chart repository or cannot be")
    ):
        fetch("http://127.0.0.1:9", "web", "1.0.0", tmp_path)


def serve_archive(served: Path, archive: bytes, *, digest: str | None) -> None:
    """Replace the repository's web 1.2.3 with `archive`, its index entry with `digest`."""
    (served / "web-1.2.3.tgz").write_bytes(archive)
    entry: dict = {"name": "web", "version": "1.2.3", "urls": ["web-1.2.3.tgz"]}
    if digest is not None:
        entry["digest"] = digest
    (served / "index.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "entries": {"web": [entry]}})
    )


def test_a_chart_no_digest_vouches_for_is_refused(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    archive = (served / "web-1.2.3.tgz").read_bytes()
    serve_archive(served, archive, digest=None)
    with pytest.raises(ChartError, match=r"no digest vouches for this chart.*insecureSkipDigest"):
        fetch(url, "web", "1.2.3", tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("web-*"))
    pinned = hashlib.sha256(archive).hexdigest()
    assert (fetch(url, "web", "1.2.3", tmp_path / "cache", digest=pinned) / "Chart.yaml").is_file()
    assert (
        fetch(url, "web", "1.2.3", tmp_path / "cache", insecure_skip_digest=True) / "Chart.yaml"
    ).is_file()


def test_a_pinned_digest_must_match(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = repository
    with pytest.raises(ChartError, match="is not the digest the binding pins"):
        fetch(url, "web", "1.2.3", tmp_path, digest="0" * 64)


def test_an_unverified_download_is_not_reused_for_a_verified_binding(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    serve_archive(served, (served / "web-1.2.3.tgz").read_bytes(), digest=None)
    fetch(url, "web", "1.2.3", tmp_path, insecure_skip_digest=True)
    with pytest.raises(ChartError, match="no digest vouches"):
        fetch(url, "web", "1.2.3", tmp_path)


class Zeros(io.RawIOBase):
    """`size` zero bytes, made as they are read (a bomb must not be built in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def bomb(member_sizes: list[int]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as tar:
        chart_yaml = b"apiVersion: v2\nname: web\nversion: 1.2.3\n"
        info = tarfile.TarInfo("web/Chart.yaml")
        info.size = len(chart_yaml)
        tar.addfile(info, io.BytesIO(chart_yaml))
        for number, size in enumerate(member_sizes):
            info = tarfile.TarInfo(f"web/templates/f{number}.yaml")
            info.size = size
            tar.addfile(info, io.BufferedReader(Zeros(size), buffer_size=1 << 20))
    return buffer.getvalue()


def disk_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_an_archive_that_inflates_to_301_mb_is_refused_without_writing_it(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    archive = bomb([301 * 1024 * 1024])
    assert len(archive) < 400 * 1024  # the 312 KB archive of the report
    serve_archive(served, archive, digest=hashlib.sha256(archive).hexdigest())
    with pytest.raises(
        ChartError,
        match=r"f0.yaml unpacks to 315621376 bytes; lostromos "
        r"unpacks at most 5242880 a file",
    ):
        fetch(url, "web", "1.2.3", tmp_path / "cache")
    assert disk_bytes(tmp_path / "cache") == 0


def test_many_files_adding_up_past_the_cap_are_refused(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    archive = bomb([5 * 1024 * 1024] * 14)  # each allowed, together past 64 MiB
    serve_archive(served, archive, digest=hashlib.sha256(archive).hexdigest())
    with pytest.raises(ChartError, match="unpacks to more than 67108864 bytes"):
        fetch(url, "web", "1.2.3", tmp_path / "cache")
    assert disk_bytes(tmp_path / "cache") == 0


def test_too_many_files_are_refused(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lostromos import chartrepo

    monkeypatch.setattr(chartrepo, "MAX_FILES", 20)  # the same check, a smaller archive
    url, served = repository
    archive = bomb([1] * 20)
    serve_archive(served, archive, digest=hashlib.sha256(archive).hexdigest())
    with pytest.raises(ChartError, match="holds more than 20 files"):
        fetch(url, "web", "1.2.3", tmp_path / "cache")


def test_a_top_level_symlink_is_a_clear_error(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = repository
    buffer = io.BytesIO()
    chart = make_chart(tmp_path / "real", "web")
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(chart, arcname="real")
        link = tarfile.TarInfo("web")
        link.type = tarfile.SYMTYPE
        link.linkname = "real"
        tar.addfile(link)
    archive = buffer.getvalue()
    serve_archive(served, archive, digest=hashlib.sha256(archive).hexdigest())
    with pytest.raises(ChartError, match="top level 'web' is a symbolic link"):
        fetch(url, "web", "1.2.3", tmp_path / "cache")


def test_a_pull_reads_at_most_its_byte_cap_from_the_network(
    fetch: Fetch, repository: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lostromos import chartrepo

    monkeypatch.setattr(chartrepo, "MAX_PULL_BYTES", 64 * 1024)  # the engine's cap, made small
    url, served = repository
    archive = bytes(256 * 1024)  # a 256 KB download
    serve_archive(served, archive, digest=hashlib.sha256(archive).hexdigest())
    with pytest.raises(ChartError, match="sent more than 65536 bytes"):
        fetch(url, "web", "1.2.3", tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("web-*"))
