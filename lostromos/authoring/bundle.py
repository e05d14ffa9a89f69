"""`lostromos schema bundle CHART`: the chart's values.schema.json with its remote `$ref`s
fetched and embedded, so the chart can carry them and load offline (lostromos.remote_refs)."""

from __future__ import annotations

import json
from pathlib import Path

from lostromos.authoring import AuthoringError, read_text
from lostromos.remote_refs import (
    RemoteRefError,
    RemoteRefPolicy,
    RemoteResolver,
    bundle,
    default_cache_dir,
)


def bundled_schema(chart: Path, hosts: tuple[str, ...] = ()) -> str:
    """The bundled schema as JSON text; `hosts` limits where documents are fetched from."""
    where = chart / "values.schema.json"
    try:
        schema = json.loads(read_text(where))
    except json.JSONDecodeError as error:
        raise AuthoringError(
            f"{where}: not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    policy = RemoteRefPolicy(allowed_hosts=hosts, any_host=not hosts, cache_dir=default_cache_dir())
    try:
        bundled = bundle(schema, RemoteResolver(policy))
    except RemoteRefError as error:
        raise AuthoringError(f"{where}: {error}") from None
    return json.dumps(bundled, indent=2, ensure_ascii=False)
