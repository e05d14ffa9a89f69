"""`lostromos check --against-cluster` for a binding with a source: the selected
source objects a new chart would refuse, each reason told at the source path
(`metadata.labels["hosting.example.com/tier"]: ...`), as the webhook will tell it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lostromos.authoring import AuthoringError
from lostromos.authoring.check import StoredProblem
from lostromos.charts import Chart
from lostromos.config import Binding
from lostromos.redact import redactor_for
from lostromos.sources.mapping import map_values
from lostromos.values.engine import ValuesEngine


def list_selected_sources(binding: Binding, kubeconfig: Path | None) -> list[dict[str, Any]]:
    """Every object the binding's source selects, in every namespace."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from lostromos.kube import KubeConfigError
    from lostromos.kube import api_client as kube_client
    from lostromos.neterrors import brief_error
    from lostromos.rawget import get_collection

    source = binding.source
    assert source is not None
    try:
        api_client = kube_client(kubeconfig)
    except KubeConfigError as error:
        raise AuthoringError(str(error)) from None
    prefix = f"/apis/{source.group}" if source.group else "/api"
    path = f"{prefix}/{source.version}/{source.resource}"
    items: list[dict[str, Any]] = []
    token = ""
    try:
        while True:
            query = [("labelSelector", source.selector.as_query()), ("limit", "500")]
            if token:
                query.append(("continue", token))
            page = get_collection(api_client, path, query, streaming=False)
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break
    except ApiException as error:
        raise AuthoringError(f"listing {source.describe}: {error.status} {error.reason}") from None
    except HTTPError as error:
        raise AuthoringError(f"cannot reach the cluster: {brief_error(error)}") from None
    finally:
        api_client.close()
    return [item for item in items if source.selects(item)]


def invalid_sources(chart: Chart, binding: Binding, selected: list[dict]) -> list[StoredProblem]:
    """The selected objects whose mapped values the new chart's schema refuses."""
    source = binding.source
    assert source is not None
    engine = ValuesEngine(chart, binding.overrides)
    redactor = redactor_for(chart, binding.sensitive_paths)
    problems = []
    for obj in sorted(
        selected, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
    ):
        metadata = obj["metadata"]
        mapped = map_values(source, obj)
        lines = list(mapped.problems) + [
            mapped.source_line(line)
            for line in redactor.describe_all(engine.validate(mapped.values))
        ]
        if lines:
            where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
            problems.append(
                StoredProblem(
                    f"{source.kind} {where}{metadata['name']}",
                    lines,
                    metadata.get("namespace", ""),
                    metadata["name"],
                )
            )
    return problems
