"""Charts taken from a Helm chart repository by name and version.

The chart is fetched once (index.yaml, then the archive it names), checked
against the sha256 digest the index records and the one the binding pins, and
unpacked into a cache folder keyed by repository, name, version and digest.
A chart no digest vouches for is refused unless the binding says
`insecureSkipDigest: true`. Unpacking is bounded (total size, size of one
file, number of files), checked from each member's header before it is
written: a small archive that inflates to hundreds of megabytes is refused
without writing them. The webhook and the controller then use
that same unpacked directory: the bytes that are validated are the bytes that
are installed. A chart version in a repository is immutable, so the cache is
never refreshed; a new version is a new binding.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import yaml

from lostromos.charts import ChartError

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
# Helm's own loader allows 100 MiB unpacked and 5 MiB a file; real charts are far smaller.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 10_000
TIMEOUT_SECONDS = 30


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lostromos" / "charts"


def fetch_chart(
    repository: str,
    name: str,
    version: str,
    cache_dir: Path,
    *,
    digest: str | None = None,
    insecure_skip_digest: bool = False,
) -> Path:
    """The unpacked chart directory; fetched on first use. Raises ChartError.

    `digest` is the sha256 the binding pins (hex). Without it and without one in
    the index, the chart is refused unless `insecure_skip_digest`.
    """
    # An unverified download never answers for a verified one: the mode is in the key.
    identity = f"{repository}\n{name}\n{version}\n{digest or ''}\n{insecure_skip_digest}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = cache_dir / f"{name}-{version}-{key}"
    if (target / "Chart.yaml").is_file() and not target.is_symlink():
        return target
    where = f"chart {name} {version} from {repository}"
    entry = _index_entry(repository, name, version, where)
    index_digest = _normal_digest(entry.get("digest"))
    if not index_digest and not digest and not insecure_skip_digest:
        raise ChartError(
            f"{where}: no digest vouches for this chart (the repository index "
            "has none and the binding pins none); pin chart.digest in the "
            "binding, or set chart.insecureSkipDigest: true to accept it unchecked"
        )
    archive = _download(urllib.parse.urljoin(repository.rstrip("/") + "/", entry["url"]), where)
    actual = hashlib.sha256(archive).hexdigest()
    if index_digest and actual != index_digest:
        raise ChartError(f"{where}: the archive's sha256 does not match the repository index")
    if digest and actual != digest:
        raise ChartError(
            f"{where}: the archive's sha256 {actual} is not the digest the binding pins ({digest})"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        _unpack(archive, staging, where)
        unpacked = staging / name
        if unpacked.is_symlink():
            raise ChartError(
                f"{where}: the archive's top level {name!r} is a symbolic link; "
                "a chart archive must hold the chart's own directory"
            )
        if not (unpacked / "Chart.yaml").is_file():
            raise ChartError(f"{where}: the archive has no {name}/Chart.yaml")
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "Chart.yaml").is_file():  # another process won the race: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _index_entry(repository: str, name: str, version: str, where: str) -> dict:
    raw = _download(repository.rstrip("/") + "/index.yaml", where)
    try:
        index = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ChartError(f"{where}: index.yaml is not valid YAML: {error}") from None
    entries = ((index or {}).get("entries") or {}).get(name) or []
    for entry in entries:
        if str(entry.get("version")) == version and entry.get("urls"):
            return {"url": entry["urls"][0], "digest": entry.get("digest")}
    known = ", ".join(sorted(str(e.get("version")) for e in entries)) or "none"
    raise ChartError(f"{where}: the repository has no such version (versions: {known})")


def _download(url: str, where: str) -> bytes:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ChartError(f"{where}: only http and https repositories are supported ({url})")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            data = answer.read(MAX_ARCHIVE_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise ChartError(f"{where}: {url} answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ChartError(f"{where}: cannot fetch {url}: {reason}") from None
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ChartError(f"{where}: {url} is larger than {MAX_ARCHIVE_BYTES} bytes")
    return data


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
                # The "data" filter refuses absolute paths, "..", links out of the
                # folder and device files: a chart archive is untrusted input.
                tar.extract(member, target, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ChartError(f"{where}: the archive cannot be unpacked: {error}") from None
