"""Deciding one AdmissionReview: which binding, which engine, allow or deny.

`ReviewHandler.handle()` takes the raw body and returns the HTTP answer, so
every input a client can send - well-formed or not - is decided here, with
no web framework in the way. It never raises: bad input is a 400 with a JSON
error body, a spec that breaks the chart's schema is a denial naming every
violation, and our own failures are denials too (logged with a traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lostromos.charts import ChartError
from lostromos.config import Binding, Bindings
from lostromos.helmengine import ChartSource
from lostromos.rendercheck import RenderCheck, RenderRequest, RenderUnavailable
from webhook.admission import (
    BAD_REQUEST_CODE,
    BAD_REQUEST_REASON,
    INTERNAL_CODE,
    INTERNAL_REASON,
    INVALID_CODE,
    INVALID_REASON,
    AdmissionRequest,
    AdmissionResponse,
    BadReview,
    TooDeep,
    allow,
    decode_json,
    deny,
    error_body,
    invalid_message,
    parse_review,
    spec_patch,
)

Endpoint = Literal["mutate", "validate"]
UNAVAILABLE_CODE = 503
UNAVAILABLE_REASON = "ServiceUnavailable"
Verdict = Literal["allowed", "denied", "error"]
UNBOUND_KIND = "unbound"  # metrics label for kinds no binding serves: bounds label cardinality

log = logging.getLogger("lostromos.webhook")


class SpecEngine(Protocol):
    """What the webhook needs from lostromos.values.ValuesEngine."""

    chart: Any

    def validate(self, spec: Any) -> list[Any]: ...
    def default(self, spec: Mapping[str, Any]) -> Any: ...
    def deprecations(self, spec: Mapping[str, Any]) -> list[str]: ...
    def user_values(self, spec: Mapping[str, Any]) -> dict[str, Any]: ...


class EngineSource(Protocol):
    """What the webhook needs from lostromos.engines.EngineRegistry."""

    @property
    def bindings(self) -> Bindings: ...
    def engine_for(self, binding: Binding) -> SpecEngine: ...


@dataclass(frozen=True)
class ReviewOutcome:
    """The HTTP answer to one review plus what metrics and logs need to know about it."""

    http_status: int
    body: bytes
    verdict: Verdict
    kind: str = ""


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


class ReviewHandler:
    """Answers /mutate and /validate for the kinds bound in `engines.bindings`."""

    def __init__(self, engines: EngineSource, *, render: RenderCheck | None = None) -> None:
        self._engines = engines
        self._render = render

    def handle(self, endpoint: Endpoint, content_type: str | None, body: bytes) -> ReviewOutcome:
        if not _is_json(content_type):
            return _bad_input(f"Content-Type must be application/json, got {content_type!r}")
        try:
            request = parse_review(decode_json(body))
        except TooDeep as error:
            if error.uid is None:
                return _bad_input(str(error))
            # A well-formed review of an absurdly nested object: refuse the object with a
            # message the user sees, instead of an HTTP error the API server hides.
            response = deny(error.uid, BAD_REQUEST_CODE, BAD_REQUEST_REASON,
                            "the object nests too deeply to be checked; lostromos refuses "
                            "values nested more than a few hundred levels")
            return ReviewOutcome(200, response.encode(), "denied", UNBOUND_KIND)
        except BadReview as error:
            return _bad_input(str(error))
        kind_label = self._kind_label(request)
        try:
            response = self._admit(endpoint, request)
        except ChartError as error:
            log.error("chart for %s cannot be loaded: %s", request.kind, error,
                      extra=_log_fields(request, endpoint))
            response = deny(
                request.uid, INTERNAL_CODE, INTERNAL_REASON,
                f"lostromos cannot check {request.describe_object()}: the chart bound to "
                f"{request.kind.kind} cannot be loaded: {error}",
            )
        except RecursionError:
            response = _too_deep(request)
        except Exception as error:  # our bug, not the user's: deny, keep the worker alive
            log.exception("checking %s failed", request.describe_object(),
                          extra=_log_fields(request, endpoint))
            response = deny(
                request.uid, INTERNAL_CODE, INTERNAL_REASON,
                f"lostromos could not check {request.describe_object()}: internal error "
                f"({type(error).__name__}); the webhook log has the details",
            )
        try:
            encoded = response.encode()
        except RecursionError:  # a patch carrying a deeply nested value
            response = _too_deep(request)
            encoded = response.encode()
        if response.allowed:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("allowed %s", request.describe_object(),
                          extra=_log_fields(request, endpoint))
            return ReviewOutcome(200, encoded, "allowed", kind_label)
        denial = response.denial
        fields = _log_fields(request, endpoint)
        if denial is not None:
            fields["denial"] = denial.message
        log.info("denied %s", request.describe_object(), extra=fields)
        verdict: Verdict = "error" if denial and denial.code >= 500 else "denied"
        return ReviewOutcome(200, encoded, verdict, kind_label)

    def _kind_label(self, request: AdmissionRequest) -> str:
        binding = self._engines.bindings.find(*_gvk(request))
        return binding.kind if binding is not None else UNBOUND_KIND

    def _admit(self, endpoint: Endpoint, request: AdmissionRequest) -> AdmissionResponse:
        if request.operation not in ("CREATE", "UPDATE"):
            return allow(request.uid)  # DELETE and CONNECT carry no spec to check
        if request.sub_resource == "status":
            return allow(request.uid)  # the controller writes status; users can't change spec
        if request.is_deleting_without_spec_change():
            return allow(request.uid)
        binding = self._engines.bindings.find(*_gvk(request))
        if binding is None:
            return deny(request.uid, BAD_REQUEST_CODE, BAD_REQUEST_REASON,
                        f"no lostromos binding serves {request.kind}")
        engine = self._engines.engine_for(binding)
        if endpoint == "mutate":
            return _mutate(request, engine)
        render = self._render if binding.admission.render else None
        return _validate(request, engine, binding, render)


def _mutate(request: AdmissionRequest, engine: SpecEngine) -> AdmissionResponse:
    # Warnings are left to /validate so kubectl prints each of them once.
    if not request.has_spec:
        defaulted = engine.default({})
        return allow(request.uid, patch=spec_patch((), had_spec=False,
                                                   defaulted_spec=defaulted.values))
    if not isinstance(request.spec, dict):
        return allow(request.uid)  # nothing to default inside; /validate denies it
    defaulted = engine.default(request.spec)
    return allow(request.uid, patch=spec_patch(defaulted.patch, had_spec=True,
                                               defaulted_spec=defaulted.values))


def _validate(request: AdmissionRequest, engine: SpecEngine, binding: Binding,
              render: RenderCheck | None) -> AdmissionResponse:
    spec = request.spec
    lines = [violation.describe("spec") for violation in engine.validate(spec)]
    if not isinstance(spec, dict):
        if not lines:  # the engine promises a violation here; never admit a non-object spec
            lines = [f"spec: must be an object, got {_json_type(spec)}"]
        return deny(request.uid, INVALID_CODE, INVALID_REASON,
                    invalid_message(request.describe_object(), lines))
    warnings = engine.deprecations(spec)
    if not lines and render is not None:
        try:
            lines = render.problems(_render_request(request, engine, binding, spec))
        except RenderUnavailable as error:
            return deny(request.uid, UNAVAILABLE_CODE, UNAVAILABLE_REASON,
                        f"lostromos cannot check {request.describe_object()} right now: "
                        f"{error}; nothing was stored, try again", warnings=warnings)
    if lines:
        return deny(request.uid, INVALID_CODE, INVALID_REASON,
                    invalid_message(request.describe_object(), lines), warnings=warnings)
    return allow(request.uid, warnings=warnings)


def _render_request(request: AdmissionRequest, engine: SpecEngine, binding: Binding,
                    spec: Mapping[str, Any]) -> RenderRequest:
    chart = engine.chart
    release = binding.release.release_name(
        name=request.object_name or "", namespace=request.namespace or "",
        kind=binding.kind, binding=binding.name)
    return RenderRequest(binding=binding, chart=ChartSource(chart.path, chart.digest),
                         chart_name=chart.name, release=release,
                         namespace=request.namespace or "default",
                         values=engine.user_values(spec))


def _too_deep(request: AdmissionRequest) -> AdmissionResponse:
    return deny(request.uid, BAD_REQUEST_CODE, BAD_REQUEST_REASON,
                f"{request.describe_object()} cannot be checked: its spec nests too deeply")


def _gvk(request: AdmissionRequest) -> tuple[str, str, str]:
    return (request.kind.group, request.kind.version, request.kind.kind)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def _bad_input(message: str) -> ReviewOutcome:
    return ReviewOutcome(400, error_body(message), "error")


def _log_fields(request: AdmissionRequest, endpoint: Endpoint) -> dict[str, Any]:
    return {
        "object": request.object_name,
        "namespace": request.namespace,
        "kind": request.kind.kind,
        "operation": request.operation,
        "endpoint": endpoint,
        "uid": request.uid,
        "dry_run": request.dry_run,
    }
