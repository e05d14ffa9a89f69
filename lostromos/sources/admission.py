"""Admission for source objects: the same decision as for the binding's own kind.

A selected source object's values are mapped, and the object it would
generate goes through lostromos.admission.decide() unchanged (values engine,
release name, render checks). A denial is told in the source object's terms:
`metadata.labels["hosting.example.com/tier"]: "platinum" is not allowed: must
be one of ...`. Allowed without any check:

- an object the binding does not select (the webhook rule's objectSelector
  already keeps unlabelled objects away; an UPDATE that takes an object out of
  the selector still arrives, because the API server matches old or new);
- an object being deleted, so that nothing of ours can hold a deletion up;
- an UPDATE that leaves the mapped values as they were, so a chart whose schema
  became stricter never freezes unrelated edits of the object (its generated
  object shows Stalled instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, replace

from lostromos.admission import (
    INVALID_CODE,
    INVALID_REASON,
    NO_CHECKS,
    AdmissionRequest,
    AdmissionResponse,
    Endpoint,
    EngineSource,
    GroupVersionKind,
    SpecCheck,
    allow,
    decide,
    deny,
    invalid_message,
)
from lostromos.config import Binding, Bindings
from lostromos.sources.generated import NoNamespace, generated_object
from lostromos.sources.mapping import map_values


def admit(
    request: AdmissionRequest,
    engines: EngineSource,
    endpoint: Endpoint = "validate",
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> AdmissionResponse:
    """The answer to one admission request of any bound kind: a built-in kind bound by
    a binding's `source` is mapped first (decide_source), a custom resource goes
    straight to lostromos.admission.decide."""
    source = source_binding_for(engines.bindings, *astuple(request.kind))
    if source is not None and engines.bindings.find(*astuple(request.kind)) is None:
        return decide_source(request, source, engines, endpoint, checks)
    return decide(request, engines, endpoint, checks)


def source_binding_for(bindings: Bindings, group: str, version: str, kind: str) -> Binding | None:
    for binding in bindings.bindings:
        source = binding.source
        if source is not None and (source.group, source.version, source.kind) == (
            group,
            version,
            kind,
        ):
            return binding
    return None


def decide_source(
    request: AdmissionRequest,
    binding: Binding,
    engines: EngineSource,
    endpoint: Endpoint,
    checks: Sequence[SpecCheck],
) -> AdmissionResponse:
    obj = request.object if isinstance(request.object, dict) else {}
    if endpoint != "validate" or not _needs_a_check(request, binding, obj):
        return allow(request.uid)
    described = request.describe_object()
    named = {**obj, "metadata": {**request.metadata, "name": request.object_name}}
    try:
        generated = generated_object(binding, named)
    except NoNamespace as error:
        return deny(request.uid, INVALID_CODE, INVALID_REASON, f"{described}: {error}")
    mapped = generated.mapped
    if mapped.problems:
        return deny(
            request.uid, INVALID_CODE, INVALID_REASON, invalid_message(described, mapped.problems)
        )
    inner = replace(
        request,
        kind=GroupVersionKind(binding.group, binding.version, binding.kind),
        name=generated.name,
        namespace=generated.namespace,
        object=generated.body,
        old_object=None,
        operation="CREATE",
    )
    response = decide(inner, engines, "validate", checks)
    if response.allowed or response.denial is None:
        return replace(response, uid=request.uid, spec=None)
    denial = response.denial
    if denial.reason != INVALID_REASON:  # unavailable, internal: said as it is
        return replace(
            response,
            uid=request.uid,
            denial=replace(denial, message=f"{described}: {denial.message}"),
        )
    first, _, rest = denial.message.partition("\n")
    lines = [mapped.source_line(line) for line in rest.splitlines()] if rest else [first]
    message = invalid_message(f"{described} (its {binding.kind} values)", lines)
    log_first, _, log_rest = (denial.log_message or "").partition("\n")
    log_lines = [mapped.source_line(line) for line in log_rest.splitlines()]
    return replace(
        response,
        uid=request.uid,
        denial=replace(
            denial,
            message=message,
            log_message=invalid_message(described, log_lines) if log_first else "",
        ),
    )


def _needs_a_check(request: AdmissionRequest, binding: Binding, obj: dict) -> bool:
    source = binding.source
    assert source is not None
    if (
        request.operation not in ("CREATE", "UPDATE")
        or request.sub_resource
        or not source.selects(obj)
        or request.metadata.get("deletionTimestamp")
    ):
        return False
    old = request.old_object if isinstance(request.old_object, dict) else None
    unchanged = (
        request.operation == "UPDATE"
        and old is not None
        and source.selects(old)
        and map_values(source, old) == map_values(source, obj)
    )
    return not unchanged
