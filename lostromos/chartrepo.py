"""Charts taken from a Helm chart repository by name and version.

The chart is fetched once (index.yaml, then the archive it names), checked
against the sha256 digest the index records, and unpacked into a cache folder
keyed by repository, name and version. The webhook and the controller then use
that same unpacked directory: the bytes that are validated are the bytes that
are installed. A chart version in a repository is immutable, so the cache is
never refreshed; a new version is a new binding.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from lostromos.charts import ChartError

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
TIMEOUT_SECONDS = 30


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lostromos" / "charts"


def fetch_chart(repository: str, name: str, version: str, cache_dir: Path) -> Path:
    """The unpacked chart directory; fetched on first use. Raises ChartError."""
    key = hashlib.sha256(f"{repository}\n{name}\n{version}".encode()).hexdigest()[:16]
    target = cache_dir / f"{name}-{version}-{key}"
    if (target / "Chart.yaml").is_file():
        return target
    where = f"chart {name} {version} from {repository}"
    entry = _index_entry(repository, name, version, where)
    archive = _download(urllib.parse.urljoin(repository.rstrip("/") + "/", entry["url"]), where)
    digest = entry.get("digest")
    if digest and hashlib.sha256(archive).hexdigest() != digest:
        raise ChartError(f"{where}: the archive's sha256 does not match the repository index")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
    try:
        _unpack(archive, staging, where)
        unpacked = staging / name
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


def _unpack(archive: bytes, target: Path, where: str) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            # The "data" filter refuses absolute paths, "..", links out of the
            # folder and device files: a chart archive is untrusted input.
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ChartError(f"{where}: the archive cannot be unpacked: {error}") from None
