"""`lostromos check`: objects judged offline exactly as the webhook would judge them,
and stored objects judged against a chart that is not rolled out yet.

Offline, each object goes through the webhook's own review handler (the same
code the API server calls) as a dry-run CREATE: /mutate first, the patch
applied, then /validate on the result, which is the order the API server uses.
Against a cluster, every stored object of a binding's kind is validated by the
values engine built from the new chart, as the controller will validate it
once the new chart is live.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lostromos.authoring import AuthoringError, crdsim, read_text
from lostromos.charts import Chart
from lostromos.config import Binding, Bindings, yaml_location
from lostromos.engines import BindingLoadError, EngineRegistry
from lostromos.values import ValuesEngine


@dataclass(frozen=True)
class SourceObject:
    where: str  # file and document number, for messages
    document: dict


@dataclass(frozen=True)
class Verdict:
    """What the webhook answers for one object."""

    source: SourceObject
    binding: Binding
    description: str  # Site default/blog
    allowed: bool
    message: str = ""
    patch: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    admitted: dict | None = None  # the object as the API server would store it


def read_objects(paths: Iterable[Path]) -> list[SourceObject]:
    objects: list[SourceObject] = []
    for path in paths:
        text = read_text(path)
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise AuthoringError(f"{path}: not valid YAML: {yaml_location(error)}") from None
        for number, document in enumerate(documents, start=1):
            if document is None:
                continue
            where = f"{path} (document {number})"
            if not isinstance(document, dict):
                raise AuthoringError(f"{where}: expected a Kubernetes object (a mapping)")
            is_list = str(document.get("kind", "")).endswith("List")
            items = document.get("items") if is_list else None
            for index, item in enumerate(items if isinstance(items, list) else [document]):
                label = where if items is None else f"{where} items[{index}]"
                if not isinstance(item, dict) or not item.get("apiVersion") or not item.get("kind"):
                    raise AuthoringError(f"{label}: an object needs apiVersion and kind")
                objects.append(SourceObject(label, item))
    return objects


def binding_for(bindings: Bindings, source: SourceObject) -> Binding:
    api_version, kind = str(source.document["apiVersion"]), str(source.document["kind"])
    group, _, version = api_version.rpartition("/")
    binding = bindings.find(group, version, kind)
    if binding is None:
        served = ", ".join(f"{b.api_version} {b.kind}" for b in bindings.bindings)
        raise AuthoringError(f"{source.where}: no binding in {bindings.source} serves "
                             f"{api_version} {kind} (bound: {served})")
    return binding


def check_objects(registry: EngineRegistry, objects: list[SourceObject],
                  crd_mode: str | None = "webhook") -> list[Verdict]:
    """Each object's verdict; with `crd_mode`, the API server's handling of the CRD that
    `crd generate --validation CRD_MODE` makes is applied around the review (crdsim)."""
    from webhook.review import ReviewHandler

    handler = ReviewHandler(registry)
    simulations: dict[str, crdsim.CrdSimulation | None] = {}
    verdicts = []
    for number, source in enumerate(objects, start=1):
        binding = binding_for(registry.bindings, source)
        if crd_mode is not None and binding.name not in simulations:
            simulations[binding.name] = None
            with contextlib.suppress(BindingLoadError):  # the review denies with the error
                simulations[binding.name] = crdsim.simulation_for(
                    binding, registry.engine_for(binding).chart, crd_mode)
        verdicts.append(_review(handler, binding, source, number, simulations.get(binding.name)))
    return verdicts


def _review(handler: Any, binding: Binding, source: SourceObject, number: int,
            simulation: crdsim.CrdSimulation | None = None) -> Verdict:
    obj = copy.deepcopy(source.document)
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("namespace", "default")
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    description = f"{binding.kind} {metadata['namespace']}/{name}"
    if simulation is not None:
        decoded = simulation.decode(obj)
        if decoded.errors:
            return Verdict(source, binding, description, False,
                           f"strict decoding error: {', '.join(decoded.errors)}")
        obj = decoded.obj
    mutated = _ask(handler, "mutate", binding, obj, number)
    patch = _decode_patch(mutated)
    if not mutated.get("allowed", False):
        return Verdict(source, binding, description, False, _message(mutated))
    admitted = apply_patch(obj, patch)
    if simulation is not None:
        checked = simulation.after_mutation(admitted)
        if checked.errors:
            return Verdict(source, binding, description, False, crdsim.invalid_message(
                binding.kind, binding.group, name, checked.errors), patch)
        admitted = checked.obj
    validated = _ask(handler, "validate", binding, admitted, number)
    return Verdict(source, binding, description, bool(validated.get("allowed")),
                   _message(validated), patch, list(validated.get("warnings") or []),
                   admitted if validated.get("allowed") else None)


def _ask(handler: Any, endpoint: str, binding: Binding, obj: dict, number: int) -> dict:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"lostromos-check-{number}",
            "kind": {"group": binding.group, "version": binding.version, "kind": binding.kind},
            "resource": {"group": binding.group, "version": binding.version,
                         "resource": binding.plural},
            "operation": "CREATE",
            "name": obj["metadata"].get("name", ""),
            "namespace": obj["metadata"]["namespace"],
            "object": obj,
            "dryRun": True,
        },
    }
    outcome = handler.handle(endpoint, "application/json", json.dumps(review).encode())
    answer = json.loads(outcome.body)
    if outcome.http_status != 200:
        raise AuthoringError(f"{obj['metadata'].get('name')}: the webhook refused the review: "
                             f"{answer.get('error')}")
    return answer["response"]


def _decode_patch(response: Mapping[str, Any]) -> list[dict]:
    encoded = response.get("patch")
    return json.loads(base64.b64decode(encoded)) if encoded else []


def _message(response: Mapping[str, Any]) -> str:
    return str((response.get("status") or {}).get("message", ""))


def apply_patch(document: dict, patch: list[dict]) -> dict:
    """Apply the add/replace/remove operations the webhook sends (RFC 6902)."""
    result = copy.deepcopy(document)
    for operation in patch:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in operation["path"].split("/")[1:]]
        parent: Any = result
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        if operation["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if operation["op"] == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            else:
                parent[index] = copy.deepcopy(operation["value"])
        else:
            parent[last] = copy.deepcopy(operation["value"])
    return result


def format_verdict(verdict: Verdict) -> str:
    lines = [f"{verdict.description}: {'allowed' if verdict.allowed else 'denied'}"]
    lines += [f"  patch: {json.dumps(op, sort_keys=True)}" for op in verdict.patch]
    lines += [f"  warning: {warning}" for warning in verdict.warnings]
    if verdict.message:
        lines += [f"  {line}" for line in verdict.message.splitlines()]
    return "\n".join(lines)


def render_manifests(verdict: Verdict, engine: ValuesEngine, helm: Path, workdir: Path) -> str:
    """What `helm template` produces for an admitted object, as the controller would install it."""
    assert verdict.admitted is not None
    metadata = verdict.admitted["metadata"]
    binding = verdict.binding
    release = binding.release.release_name(name=str(metadata.get("name", "")),
                                           namespace=metadata["namespace"], kind=binding.kind,
                                           binding=binding.name)
    values_file = workdir / f"{metadata['namespace']}-{metadata.get('name', 'object')}.json"
    values_file.write_text(json.dumps(engine.user_values(verdict.admitted.get("spec") or {})))
    command = [str(helm), "template", release, str(engine.chart.path),
               "--namespace", metadata["namespace"], "--values", str(values_file)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                check=False)
    except OSError as error:
        raise AuthoringError(f"cannot run helm ({helm}): {error}") from None
    if result.returncode != 0:
        raise AuthoringError(f"{verdict.description}: helm template failed: "
                             f"{result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


# --- against a cluster ----------------------------------------------------------------


@dataclass(frozen=True)
class StoredProblem:
    description: str  # Site team-a/blog
    reasons: list[str]


def list_stored_objects(binding: Binding, kubeconfig: Path | None) -> list[dict]:
    """Every object of the binding's kind in every namespace."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        api_client = config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None)
    except (ConfigException, OSError, TypeError) as error:
        where = kubeconfig or "the default kubeconfig"
        raise AuthoringError(f"cannot use {where}: {error}") from None
    api = client.CustomObjectsApi(api_client)
    items: list[dict] = []
    token = None
    try:
        while True:
            page = api.list_cluster_custom_object(
                binding.group, binding.version, binding.plural, limit=500,
                **({"_continue": token} if token else {}))
            items += page.get("items", [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    except ApiException as error:
        if error.status == 404:
            raise AuthoringError(f"the cluster does not serve {binding.crd_name} "
                                 f"({binding.api_version} {binding.kind}): is its CRD installed?"
                                 ) from None
        raise AuthoringError(f"listing {binding.crd_name} failed: {error.status} "
                             f"{error.reason}") from None
    except HTTPError as error:
        raise AuthoringError(f"cannot reach the cluster: {error}") from None
    finally:
        api_client.close()
    return items


def invalid_under(chart: Chart, binding: Binding, stored: list[dict]) -> list[StoredProblem]:
    """The stored objects the new chart's schema refuses, with every reason."""
    engine = ValuesEngine(chart, binding.overrides)
    problems = []
    for obj in sorted(stored, key=lambda o: (o["metadata"].get("namespace", ""),
                                            o["metadata"].get("name", ""))):
        metadata = obj["metadata"]
        violations = engine.validate(obj.get("spec") or {})
        if violations:
            problems.append(StoredProblem(
                f"{binding.kind} {metadata.get('namespace', '')}/{metadata.get('name', '')}",
                [violation.describe("spec") for violation in violations]))
    return problems

