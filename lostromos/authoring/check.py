"""`lostromos check`: objects judged offline exactly as the webhook would judge them,
and stored objects judged against a chart that is not rolled out yet.

Offline, each object goes through the webhook's own decision
(lostromos.admission.decide, the code behind the API server's calls) as a
dry-run CREATE: /mutate first, then /validate on the defaulted object, which
is the order the API server uses.
Against a cluster, every stored object of a binding's kind is validated by the
values engine built from the new chart, as the controller will validate it
once the new chart is live.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from lostromos.admission import (
    NO_CHECKS,
    AdmissionRequest,
    AdmissionResponse,
    Endpoint,
    GroupVersionKind,
    SpecCheck,
    chart_denial,
    decide,
)
from lostromos.authoring import AuthoringError, Mode, crdsim, read_text
from lostromos.authoring.crdgen import simulation_for
from lostromos.charts import Chart, ChartError
from lostromos.config import Binding, Bindings
from lostromos.engines import BindingLoadError, EngineRegistry
from lostromos.helmengine import ChartSource, HelmError
from lostromos.redact import redactor_for
from lostromos.releases import release_name
from lostromos.renderpool import BudgetedRenderer
from lostromos.sources.admission import admit, source_binding_for
from lostromos.sources.generated import NoNamespace, generated_object
from lostromos.values.engine import ValuesEngine
from lostromos.yamltext import yaml_location


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
        from_stdin = str(path) == "-"  # as `kubectl apply -f -`
        text = sys.stdin.read() if from_stdin else read_text(path)
        name = "stdin" if from_stdin else str(path)
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise AuthoringError(f"{name}: not valid YAML: {yaml_location(error)}") from None
        for number, document in enumerate(documents, start=1):
            if document is None:
                continue
            where = f"{name} (document {number})"
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


@dataclass(frozen=True)
class Unbound:
    """An object of a kind no binding serves, skipped by `check --skip-unbound`
    (what `helm template` prints beside the bound objects: ConfigMaps and the like)."""

    source: SourceObject

    def data(self) -> dict[str, Any]:
        metadata = self.source.document.get("metadata") or {}
        return {
            "source": self.source.where,
            "apiVersion": self.source.document["apiVersion"],
            "kind": self.source.document["kind"],
            "name": metadata.get("name") or metadata.get("generateName") or "",
        }


def binding_for(bindings: Bindings, source: SourceObject) -> Binding | None:
    api_version, kind = str(source.document["apiVersion"]), str(source.document["kind"])
    group, _, version = api_version.rpartition("/")
    return bindings.find(group, version, kind)


def _unbound_error(bindings: Bindings, source: SourceObject) -> AuthoringError:
    served = ", ".join(f"{b.api_version} {b.kind}" for b in bindings.bindings)
    return AuthoringError(
        f"{source.where}: no binding in {bindings.source} serves "
        f"{source.document['apiVersion']} {source.document['kind']} (bound: {served}; "
        "--skip-unbound skips such objects)"
    )


def check_objects(
    registry: EngineRegistry,
    objects: list[SourceObject],
    crd_mode: Mode | None = "webhook",
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> list[Verdict]:
    """Each object's verdict (an object of an unbound kind is an AuthoringError)."""
    return [
        cast(Verdict, verdict) for verdict in iter_verdicts(registry, objects, crd_mode, checks)
    ]


def iter_verdicts(
    registry: EngineRegistry,
    objects: Iterable[SourceObject],
    crd_mode: Mode | None = "webhook",
    checks: Sequence[SpecCheck] = NO_CHECKS,
    *,
    skip_unbound: bool = False,
) -> Iterator[Verdict | Unbound]:
    """Each object's verdict as soon as it is known (so output streams); with
    `crd_mode`, the API server's handling of the CRD that `crd generate --validation
    CRD_MODE` makes is applied around the review (crdsim); `checks` are the webhook's
    extra checks (its render check). An object of an unbound kind is an
    AuthoringError, or with `skip_unbound` an Unbound."""
    simulations: dict[str, crdsim.CrdSimulation | None] = {}
    for number, source in enumerate(objects, start=1):
        binding = binding_for(registry.bindings, source)
        if binding is None:
            sourced = _source_binding_for(registry.bindings, source)
            if sourced is not None:
                yield _review_source(registry, sourced, source, number, checks)
                continue
            if not skip_unbound:
                raise _unbound_error(registry.bindings, source)
            yield Unbound(source)
            continue
        if crd_mode is not None and binding.name not in simulations:
            simulations[binding.name] = None
            with contextlib.suppress(BindingLoadError):  # the review denies with the error
                simulations[binding.name] = simulation_for(
                    binding, registry.engine_for(binding).chart, crd_mode
                )
        yield _review(registry, binding, source, number, simulations.get(binding.name), checks)


def _review(  # noqa: PLR0917
    registry: EngineRegistry,
    binding: Binding,
    source: SourceObject,
    number: int,
    simulation: crdsim.CrdSimulation | None = None,
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> Verdict:
    obj = copy.deepcopy(source.document)
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("namespace", "default")
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    description = f"{binding.kind} {metadata['namespace']}/{name}"
    if simulation is not None:
        decoded = simulation.decode(obj)
        if decoded.errors:
            return Verdict(
                source,
                binding,
                description,
                False,
                f"strict decoding error: {', '.join(decoded.errors)}",
            )
        obj = decoded.obj
    mutated = _decide("mutate", registry, binding, obj, number)
    if not mutated.allowed:
        return Verdict(source, binding, description, False, _message(mutated))
    patch = [dict(op) for op in mutated.patch]
    admitted = {**obj, "spec": mutated.spec} if mutated.patch else obj
    if simulation is not None:
        checked = simulation.after_mutation(admitted)
        if checked.errors:
            return Verdict(
                source,
                binding,
                description,
                False,
                crdsim.invalid_message(binding.kind, binding.group, name, checked.errors),
                patch,
            )
        admitted = checked.obj
    validated = _decide("validate", registry, binding, admitted, number, checks)
    return Verdict(
        source,
        binding,
        description,
        validated.allowed,
        _message(validated),
        patch,
        list(validated.warnings),
        admitted if validated.allowed else None,
    )


def _source_binding_for(bindings: Bindings, source: SourceObject) -> Binding | None:
    group, _, version = str(source.document["apiVersion"]).rpartition("/")
    return source_binding_for(bindings, group, version, str(source.document["kind"]))


def _review_source(
    registry: EngineRegistry,
    binding: Binding,
    source: SourceObject,
    number: int,
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> Verdict:
    """A built-in object a binding's source names, judged as the webhook's source rule
    judges it: its values mapped, then the generated object's values checked."""
    assert binding.source is not None
    obj = copy.deepcopy(source.document)
    metadata = obj.setdefault("metadata", {})
    cluster_scoped = binding.source.kind == "Namespace" and binding.source.group == ""
    if not cluster_scoped and binding.source.namespace is None:
        metadata.setdefault("namespace", "default")  # as kubectl apply without -n
    name = str(metadata.get("name") or "")
    where = f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name
    description = f"{binding.source.kind} {where}"
    request = AdmissionRequest(
        uid=f"lostromos-check-{number}",
        kind=GroupVersionKind(binding.source.group, binding.source.version, binding.source.kind),
        operation="CREATE",
        name=name,
        namespace=str(metadata.get("namespace") or ""),
        object=obj,
        dry_run=True,
    )
    if not binding.source.selects(obj):
        note = f"not selected by binding {binding.name}: it gets no {binding.kind}"
        return Verdict(source, binding, description, True, warnings=[note])
    try:
        response = admit(request, registry, "validate", checks)
        generated = generated_object(binding, obj)
    except ChartError as error:
        response = chart_denial(request, error)
    except NoNamespace as error:  # admit denied it already; said once
        return Verdict(source, binding, description, False, f"{description}: {error}")
    if not response.allowed:
        return Verdict(source, binding, description, False, _message(response))
    return Verdict(
        source,
        binding,
        f"{description} ({binding.kind} {generated.key})",
        True,
        warnings=list(response.warnings),
        admitted=generated.body,
    )


def _decide(  # noqa: PLR0917
    endpoint: Endpoint,
    registry: EngineRegistry,
    binding: Binding,
    obj: dict,
    number: int,
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> AdmissionResponse:
    """The webhook's decision for a dry-run CREATE of `obj`, as the API server asks it."""
    request = AdmissionRequest(
        uid=f"lostromos-check-{number}",
        kind=GroupVersionKind(binding.group, binding.version, binding.kind),
        operation="CREATE",
        name=str(obj["metadata"].get("name") or ""),
        namespace=obj["metadata"]["namespace"],
        object=obj,
        dry_run=True,
    )
    try:
        return decide(request, registry, endpoint, checks)
    except ChartError as error:
        return chart_denial(request, error)


def _message(response: AdmissionResponse) -> str:
    return response.denial.message if response.denial is not None else ""


def format_verdict(verdict: Verdict) -> str:
    lines = [f"{verdict.description}: {'allowed' if verdict.allowed else 'denied'}"]
    lines += [f"  patch: {json.dumps(op, sort_keys=True)}" for op in verdict.patch]
    lines += [f"  warning: {warning}" for warning in verdict.warnings]
    if verdict.message:
        lines += [f"  {line}" for line in verdict.message.splitlines()]
    return "\n".join(lines)


def verdict_data(verdict: Verdict, manifests: str | None = None) -> dict[str, Any]:
    """A verdict as plain data, for `check -o json|yaml`."""
    metadata = verdict.source.document.get("metadata") or {}
    data: dict[str, Any] = {
        "source": verdict.source.where,
        "binding": verdict.binding.name,
        "kind": verdict.binding.kind,
        "namespace": metadata.get("namespace", "default"),
        "name": metadata.get("name") or metadata.get("generateName") or "",
        "allowed": verdict.allowed,
        "message": verdict.message,
        "reasons": verdict.message.splitlines(),
        "patch": verdict.patch,
        "warnings": verdict.warnings,
    }
    if manifests is not None:
        data["manifests"] = manifests
    return data


def render_manifests(verdict: Verdict, engine: ValuesEngine, renderer: BudgetedRenderer) -> str:
    """What `helm template` produces for an admitted object, as the controller would
    install it: rendered by the Helm engine, byte for byte as the pinned helm does."""
    assert verdict.admitted is not None
    metadata = verdict.admitted["metadata"]
    chart = engine.chart
    try:
        rendered = renderer.render(
            ChartSource(chart.path, chart.digest),
            release_name(verdict.binding, metadata),
            metadata["namespace"],
            engine.user_values(verdict.admitted.get("spec") or {}),
            budget=verdict.binding.render_budget,
        )
    except HelmError as error:
        raise AuthoringError(f"{verdict.description}: cannot render: {error.message}") from None
    return rendered.manifest


# --- against a cluster ----------------------------------------------------------------


@dataclass(frozen=True)
class StoredProblem:
    description: str  # Site team-a/blog
    reasons: list[str]
    namespace: str = ""
    name: str = ""


def list_stored_objects(binding: Binding, kubeconfig: Path | None) -> list[dict]:
    """Every object of the binding's kind in every namespace."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from lostromos.kube import KubeConfigError
    from lostromos.kube import api_client as kube_client
    from lostromos.neterrors import brief_error

    try:
        api_client = kube_client(kubeconfig)
    except KubeConfigError as error:
        raise AuthoringError(str(error)) from None
    api = client.CustomObjectsApi(api_client)
    items: list[dict] = []
    token = None
    try:
        while True:
            # the client declares `object`; a custom-object list is decoded JSON
            page = cast(
                dict[str, Any],
                api.list_cluster_custom_object(
                    binding.group,
                    binding.version,
                    binding.plural,
                    limit=500,
                    **({"_continue": token} if token else {}),
                ),
            )
            items += page.get("items", [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    except ApiException as error:
        if error.status == 404:
            raise AuthoringError(
                f"the cluster does not serve {binding.crd_name} "
                f"({binding.api_version} {binding.kind}): is its CRD installed?"
            ) from None
        raise AuthoringError(
            f"listing {binding.crd_name} failed: {error.status} {error.reason}"
        ) from None
    except HTTPError as error:
        raise AuthoringError(f"cannot reach the cluster: {brief_error(error)}") from None
    finally:
        api_client.close()
    return items


def stored_data(binding: Binding, obj: dict, problem: StoredProblem | None) -> dict[str, Any]:
    """A stored object's verdict under the new chart, in verdict_data's shape."""
    metadata = obj.get("metadata") or {}
    reasons = problem.reasons if problem is not None else []
    return {
        "source": "cluster",
        "binding": binding.name,
        "kind": binding.kind,
        "namespace": metadata.get("namespace", ""),
        "name": metadata.get("name", ""),
        "allowed": problem is None,
        "message": "\n".join(reasons),
        "reasons": reasons,
        "patch": [],
        "warnings": [],
    }


def invalid_under(chart: Chart, binding: Binding, stored: list[dict]) -> list[StoredProblem]:
    """The stored objects the new chart's schema refuses, with every reason."""
    engine = ValuesEngine(chart, binding.overrides)
    redactor = redactor_for(chart, binding.sensitive_paths)
    problems = []
    for obj in sorted(
        stored, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", ""))
    ):
        metadata = obj["metadata"]
        violations = engine.validate(obj.get("spec") or {})
        if violations:
            problems.append(
                StoredProblem(
                    f"{binding.kind} {metadata.get('namespace', '')}/{metadata.get('name', '')}",
                    redactor.describe_all(violations),
                    metadata.get("namespace", ""),
                    metadata.get("name", ""),
                )
            )
    return problems
