"""Unpacking an untrusted chart archive, with and without Python's tar "data" filter
(Python before 3.11.4 has none: the same rules are checked by hand there)."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from lostromos import chartrepo
from lostromos.charts import ChartError


def archive(*members: tarfile.TarInfo, data: bytes = b"x: 1\n") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def file(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(b"x: 1\n"), mode
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


# The hand check everywhere; Python's own filter where this Python has one.
WAYS = ["by hand", *(["python's filter"] if hasattr(tarfile, "data_filter") else [])]


@pytest.fixture(params=WAYS)
def unpack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    if request.param == "by hand":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return lambda data, target: chartrepo._unpack(data, target, "chart web 1.0.0")


def test_a_plain_chart_unpacks_without_special_bits(unpack, tmp_path: Path) -> None:
    unpack(archive(file("web/Chart.yaml", 0o6777), link("web/values.yaml", "Chart.yaml")), tmp_path)
    mode = (tmp_path / "web" / "Chart.yaml").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH)
    assert (tmp_path / "web" / "values.yaml").read_text() == "x: 1\n"


@pytest.mark.parametrize(
    "member",
    [
        file("web/../../escape.yaml"),
        link("web/out", "../../etc/passwd"),
        link("web/abs", "/etc/passwd"),
        link("web/hard", "../../etc/passwd", tarfile.LNKTYPE),
    ],
    ids=["dot-dot", "symlink-out", "absolute-symlink", "hardlink-out"],
)
def test_a_member_reaching_outside_the_folder_is_refused(
    unpack, tmp_path: Path, member: tarfile.TarInfo
) -> None:
    target = tmp_path / "in"
    with pytest.raises(ChartError, match="the archive cannot be unpacked"):
        unpack(archive(file("web/Chart.yaml"), member), target)
    assert not (tmp_path / "escape.yaml").exists()


def test_an_absolute_path_never_lands_outside(unpack, tmp_path: Path) -> None:
    """Python's filter makes it relative, the hand check refuses it: both keep it in."""
    outside = tmp_path / "outside.yaml"
    target = tmp_path / "in"
    try:
        unpack(archive(file(str(outside))), target)
    except ChartError as error:
        assert "a path outside the chart" in str(error)
    else:
        assert (target / str(outside).lstrip("/")).is_file()
    assert not outside.exists()


def test_a_device_file_is_refused(unpack, tmp_path: Path) -> None:
    device = tarfile.TarInfo("web/dev")
    device.type = tarfile.CHRTYPE
    with pytest.raises(ChartError, match="the archive cannot be unpacked"):
        unpack(archive(device), tmp_path)
