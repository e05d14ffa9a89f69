"""Remote `$ref`s in a chart schema: fetched once, at binding load, never at admission.

Helm fetches a schema's http(s) references each time it validates. lostromos
resolves them when a chart is loaded and embeds each fetched document in the
schema as a resource whose `$id` is its URL (a compound schema document, as
JSON Schema defines bundling). The references themselves are left as written,
so the values engine, the defaults and the CRD generator all resolve them to
the embedded copy, offline, as Helm resolves them to the fetched one.

- Only hosts the binding allow-lists (`remoteSchemaHosts`) are fetched, with a
  time and a size limit per document.
- Fetched documents are cached by URL, with their sha256 digest next to them
  (checked on every read), so a restart or a lost network does not break a
  binding that loaded once.
- Offline with no cached copy, loading fails with one line naming the URL.
- `lostromos schema bundle CHART` writes the bundled schema, for charts that
  should carry their references inline.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BYTES = 1024 * 1024
MAX_DOCUMENTS = 64
_NOT_SUBSCHEMAS = frozenset({"enum", "const", "default", "examples"})

Fetch = Callable[[str, float, int], bytes]


class RemoteRefError(ValueError):
    """A remote reference cannot be resolved; one line naming the URL."""


@dataclass(frozen=True)
class RemoteRefPolicy:
    allowed_hosts: tuple[str, ...] = ()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    cache_dir: Path | None = None
    any_host: bool = False  # `schema bundle` without --allow-host: the author asked for it


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lostromos" / "schemas"


def resolver_for(hosts: tuple[str, ...], cache_dir: Path | None = None) -> RemoteResolver:
    """The resolver a binding allowing `hosts` loads its chart with."""
    return RemoteResolver(
        RemoteRefPolicy(allowed_hosts=hosts, cache_dir=cache_dir or default_cache_dir())
    )


def remote_documents(node: Any, base: str = "") -> Iterator[str]:
    """The http(s) documents (URL without fragment) `node`'s references point at."""
    if isinstance(node, list):
        for item in node:
            yield from remote_documents(item, base)
        return
    if not isinstance(node, dict):
        return
    reference = node.get("$ref")
    if isinstance(reference, str):
        absolute = urllib.parse.urljoin(base, reference) if base else reference
        document = urllib.parse.urldefrag(absolute).url
        if document.startswith(("http://", "https://")):
            yield document
    for key, value in node.items():
        if key not in _NOT_SUBSCHEMAS:
            yield from remote_documents(value, base)


def _fetch_url(url: str, timeout: float, max_bytes: int) -> bytes:
    # only http(s) URLs get here (remote_documents)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        data = answer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RemoteRefError(f"{url}: larger than {max_bytes} bytes")
    return data


class RemoteResolver:
    """Fetches (or reads from the cache) the documents a schema refers to."""

    def __init__(self, policy: RemoteRefPolicy, fetch: Fetch = _fetch_url) -> None:
        self.policy = policy
        self._fetch = fetch

    def _cache_files(self, url: str) -> tuple[Path, Path] | None:
        if self.policy.cache_dir is None:
            return None
        key = hashlib.sha256(url.encode()).hexdigest()
        return self.policy.cache_dir / f"{key}.json", self.policy.cache_dir / f"{key}.sha256"

    def _cached(self, url: str) -> bytes | None:
        files = self._cache_files(url)
        if files is None or not files[0].is_file() or not files[1].is_file():
            return None
        data = files[0].read_bytes()
        if hashlib.sha256(data).hexdigest() != files[1].read_text().strip():
            return None  # a damaged copy is as good as none
        return data

    def _store(self, url: str, data: bytes) -> None:
        files = self._cache_files(url)
        if files is None:
            return
        files[0].parent.mkdir(parents=True, exist_ok=True)
        files[0].write_bytes(data)
        files[1].write_text(hashlib.sha256(data).hexdigest() + "\n")

    def document(self, url: str) -> Any:
        host = urllib.parse.urlsplit(url).hostname or ""
        if not self.policy.any_host and host not in self.policy.allowed_hosts:
            raise RemoteRefError(
                f"the schema refers to {url}, but {host or 'its host'} is not in the binding's "
                "remoteSchemaHosts (or inline it with `lostromos schema bundle`)"
            )
        try:
            data = self._fetch(url, self.policy.timeout_seconds, self.policy.max_bytes)
        except (OSError, urllib.error.URLError, RemoteRefError) as error:
            cached = self._cached(url)
            if cached is None:
                reason = getattr(error, "reason", None) or error
                raise RemoteRefError(
                    f"cannot fetch {url} ({reason}) and no cached copy exists"
                ) from None
            data = cached
        else:
            self._store(url, data)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RemoteRefError(f"{url}: not a JSON schema ({error})") from None


def _absolute_refs(node: Any, base: str) -> Any:
    """`node` with its references made absolute against `base`: the same targets, and tools
    that read the schema's shape (the CRD generator) need no base-URI bookkeeping."""
    if isinstance(node, list):
        return [_absolute_refs(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = urllib.parse.urljoin(base, value)
        elif key in _NOT_SUBSCHEMAS:
            result[key] = value
        else:
            result[key] = _absolute_refs(value, base)
    return result


def _id_key(schema: dict) -> tuple[str, str]:
    """Where a draft keeps embedded resources and what names them."""
    draft = str(schema.get("$schema", ""))
    if "draft-04" in draft:
        return "definitions", "id"
    if "draft-06" in draft or "draft-07" in draft:
        return "definitions", "$id"
    return "$defs", "$id"


def bundle(schema: Any, resolver: RemoteResolver) -> Any:
    """`schema` with every remote document it reaches embedded under its URL."""
    if not isinstance(schema, dict):
        return schema
    pending = list(dict.fromkeys(remote_documents(schema)))
    if not pending:
        return schema
    fetched: dict[str, Any] = {}
    while pending:
        url = pending.pop(0)
        if url in fetched:
            continue
        if len(fetched) >= MAX_DOCUMENTS:
            raise RemoteRefError(f"the schema reaches more than {MAX_DOCUMENTS} remote documents")
        document = _absolute_refs(resolver.document(url), url)
        fetched[url] = document
        pending += [found for found in remote_documents(document, url) if found not in fetched]
    container, id_key = _id_key(schema)
    bundled = dict(schema)
    embedded = dict(bundled.get(container) or {})
    for url, document in fetched.items():
        embedded[url] = {**document, id_key: url} if isinstance(document, dict) else document
    bundled[container] = embedded
    return bundled
