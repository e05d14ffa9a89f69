"""Charts taken from a chart repository or an OCI registry, through Helm's own pull.

The Helm engine's `pull` does the fetching (`helm pull`): HTTP repositories and
OCI registries, credentials, TLS and provenance (`verify` against a keyring),
with a cap on the bytes one pull may read. This module then holds the chart to
lostromos's rules before anything uses it:

- a digest must vouch for the chart. From an HTTP repository: the sha256 of the
  archive that the index records, or that the binding pins (`chart.digest`),
  compared here. From an OCI registry: the chart's manifest digest pinned in
  the binding (`helm push` prints it), which Helm's pull checks against the tag
  and the registry's content addressing checks byte by byte; a tag alone can
  be moved, so it vouches for nothing. A chart no digest vouches for is refused
  unless the binding says `insecureSkipDigest: true`;
- unpacking is bounded (total size, size of one file, number of files), checked
  from each member's header before it is written: a small archive that
  inflates to hundreds of megabytes is refused without writing them;
- the archive's top level must be the chart's own directory, not a link.

The chart is unpacked into a cache folder keyed by where it came from and what
vouches for it. The webhook and the controller then use that same unpacked
directory: the bytes that are validated are the bytes that are installed. A
chart version is immutable, so the cache is never refreshed; a new version is
a new binding.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from lostromos.charts import ChartError
from lostromos.config import ACCESS_FILES, ACCESS_FLAGS, ChartAccess, ChartRef
from lostromos.helmengine import EngineMissing, HelmEngine, HelmError, Pulled

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
# The most one pull may read from the network: the index and the archive.
MAX_PULL_BYTES = 128 * 1024 * 1024
# Helm's own loader allows 100 MiB unpacked and 5 MiB a file; real charts are far smaller.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 10_000
PULL_TIMEOUT_SECONDS = 120.0

# (the chart reference, a fresh directory to write into) -> what helm pull wrote
Puller = Callable[[ChartRef, Path], Pulled]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lostromos" / "charts"


def pull_with(helm: HelmEngine) -> Puller:
    """Pulls through a running Helm engine."""

    def pull(ref: ChartRef, destination: Path) -> Pulled:
        assert ref.repository and ref.name and ref.version  # guaranteed by the config parser
        return helm.pull(
            ref.repository,
            ref.name,
            ref.version,
            destination,
            source=pull_source(ref.access),
            digest=(ref.digest or "") if ref.is_oci else "",
            timeout_seconds=PULL_TIMEOUT_SECONDS,
        )

    return pull


def engine_puller(binary: Path | None = None) -> Puller:
    """Pulls through a Helm engine of its own (no cluster), started per pull: a
    pull happens once per chart version and cache, so nothing is kept running."""

    def pull(ref: ChartRef, destination: Path) -> Pulled:
        from lostromos.helmengine import RunningEngine, find_engine

        with RunningEngine(find_engine(binary), cluster=False) as helm:
            return pull_with(helm)(ref, destination)

    return pull


# the files whose content, not path, goes to the engine: binding key -> engine field
_SECRET_FILES = {"usernameFile": "username", "passwordFile": "password"}


def pull_source(access: ChartAccess) -> dict[str, Any]:
    """The engine's `source` for a binding's chart access: the bindings file's own
    keys, with the username and password read from their files."""
    source: dict[str, Any] = {key: getattr(access, attr) for key, attr in ACCESS_FLAGS.items()}
    source["maxBytes"] = MAX_PULL_BYTES
    for key, attr in ACCESS_FILES.items():
        path = getattr(access, attr)
        if path is None:
            continue
        if key not in _SECRET_FILES:
            source[key] = str(path)
            continue
        field = _SECRET_FILES[key]
        try:
            source[field] = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ChartError(f"cannot read chart {field} file {path}: {error.strerror}") from None
    return source


def fetch_chart(ref: ChartRef, cache_dir: Path, pull: Puller) -> Path:
    """The unpacked chart directory of a repository or OCI chart; pulled on first
    use. Raises ChartError."""
    assert ref.repository and ref.name and ref.version  # guaranteed by the config parser
    # An unverified download never answers for a verified one: the mode is in the key.
    identity = "\n".join(
        (
            ref.repository,
            ref.name,
            ref.version,
            ref.digest or "",
            str(ref.insecure_skip_digest),
            str(ref.access.keyring or ""),
        )
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = cache_dir / f"{ref.name}-{ref.version}-{key}"
    if (target / "Chart.yaml").is_file() and not target.is_symlink():
        return target
    where = f"chart {ref.name} {ref.version} from {ref.repository}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        try:
            pulled = pull(ref, staging / "pull")
        except (EngineMissing, HelmError) as error:
            raise ChartError(f"{where}: {error.message}") from None
        archive = _read_archive(pulled.archive, where)
        _check_digest(ref, archive, pulled.digest, where)
        unpacked_into = staging / "chart"
        _unpack(archive, unpacked_into, where)
        unpacked = unpacked_into / ref.name
        if unpacked.is_symlink():
            raise ChartError(
                f"{where}: the archive's top level {ref.name!r} is a symbolic link; "
                "a chart archive must hold the chart's own directory"
            )
        if not (unpacked / "Chart.yaml").is_file():
            raise ChartError(f"{where}: the archive has no {ref.name}/Chart.yaml")
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "Chart.yaml").is_file():  # another process won the race: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _read_archive(path: Path, where: str) -> bytes:
    try:
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise ChartError(f"{where}: the archive is larger than {MAX_ARCHIVE_BYTES} bytes")
        return path.read_bytes()
    except OSError as error:
        raise ChartError(f"{where}: cannot read the pulled archive: {error.strerror}") from None


def _check_digest(ref: ChartRef, archive: bytes, vouched: str, where: str) -> None:
    """A digest must vouch for the chart: for an HTTP repository, the index's or the
    binding's, compared with the archive here; for an OCI chart, the binding's
    manifest digest, which Helm's pull has checked (`vouched` is it)."""
    actual = hashlib.sha256(archive).hexdigest()
    vouched = _normal_digest(vouched)
    if ref.is_oci:
        if ref.digest and vouched != ref.digest:
            raise ChartError(f"{where}: Helm did not check the pinned manifest digest")
    elif vouched and actual != vouched:
        raise ChartError(f"{where}: the archive's sha256 does not match the repository index")
    elif ref.digest and actual != ref.digest:
        raise ChartError(
            f"{where}: the archive's sha256 {actual} is not the digest the binding "
            f"pins ({ref.digest})"
        )
    if not vouched and not ref.digest and not ref.insecure_skip_digest:
        if ref.is_oci:
            raise ChartError(
                f"{where}: no digest vouches for this chart (an OCI tag can be moved "
                "and the binding pins none): pin chart.digest to its manifest digest "
                "(`helm push` prints it), or set chart.insecureSkipDigest: true to "
                "accept it unchecked"
            )
        raise ChartError(
            f"{where}: no digest vouches for this chart (the repository index has none "
            f"and the binding pins none); its archive's sha256 is {actual}: once you "
            "trust it, pin chart.digest in the binding, or set chart.insecureSkipDigest: "
            "true to accept it unchecked"
        )


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """One member of an untrusted archive: no absolute paths, no "..", no links out
    of the folder, no device files. Python's own "data" filter where it has one
    (3.11.4 and later); the same rules checked here where it does not."""
    if hasattr(tarfile, "data_filter"):
        tar.extract(member, target, filter="data")
        return
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise tarfile.TarError(f"{member.name}: a path outside the chart")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.TarError(f"{member.name}: not a file, folder or link")
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        inside = link if member.islnk() else name.parent / link
        if link.is_absolute() or ".." in PurePosixPath(os.path.normpath(inside)).parts:
            raise tarfile.TarError(f"{member.name}: a link outside the chart")
    member = copy.copy(member)
    member.mode &= 0o755  # no set-uid, set-gid or world-writable files
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    tar.extract(member, target)


def _normal_digest(value: object) -> str:
    return str(value).removeprefix("sha256:").lower() if value else ""


def _unpack(archive: bytes, target: Path, where: str) -> None:
    files = total = 0
    try:
        # A stream, member by member: each header is checked before its data is
        # inflated or written, so the caps hold however much an archive inflates.
        # gzip.GzipFile, not tarfile's own "r|gz": tarfile's stream reader misreads
        # the gzip header helm writes (FEXTRA and FCOMMENT set) as bad data.
        inflated = gzip.GzipFile(fileobj=io.BytesIO(archive))
        with tarfile.open(fileobj=inflated, mode="r|") as tar:
            for member in tar:
                files += 1
                total += member.size
                if files > MAX_FILES:
                    raise ChartError(
                        f"{where}: the archive holds more than {MAX_FILES} "
                        "files; lostromos unpacks at most that many"
                    )
                if member.size > MAX_FILE_BYTES:
                    raise ChartError(
                        f"{where}: {member.name} unpacks to {member.size} bytes; "
                        f"lostromos unpacks at most {MAX_FILE_BYTES} a file"
                    )
                if total > MAX_UNPACKED_BYTES:
                    raise ChartError(
                        f"{where}: the archive unpacks to more than "
                        f"{MAX_UNPACKED_BYTES} bytes; lostromos unpacks at most "
                        "that much"
                    )
                _extract(tar, member, target)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ChartError(f"{where}: the archive cannot be unpacked: {error}") from None
