"""AdmissionReview v1 over HTTP bodies: bytes in, lostromos.admission.decide (through
lostromos.sources.admission.admit, which maps a bound built-in kind first), bytes out.

`ReviewHandler.handle()` takes the raw body and returns the HTTP answer, so
every input a client can send - well-formed or not - is answered here, with
no web framework in the way. It never raises: a body that is not a v1
AdmissionReview is a 400 with a JSON error body; the decision itself is
lostromos.admission's; our own failures are denials too (logged with a
traceback). This module adds only the wire shape, metrics labels and logs.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lostromos.admission import (
    BAD_REQUEST_CODE,
    BAD_REQUEST_REASON,
    INVALID_CODE,
    INVALID_REASON,
    NO_CHECKS,
    AdmissionRequest,
    AdmissionResponse,
    Endpoint,
    EngineSource,
    GroupVersionKind,
    SpecCheck,
    chart_denial,
    deny,
    internal_denial,
    invalid_message,
    too_deep,
)
from lostromos.charts import ChartError
from lostromos.sources.admission import admit, source_binding_for
from webhook.limits import too_many_values

__all__ = ["Endpoint", "EngineSource", "ReviewHandler", "ReviewOutcome"]

ADMISSION_API_VERSION = "admission.k8s.io/v1"
REVIEW_KIND = "AdmissionReview"
CHECKED_OPERATIONS = frozenset({"CREATE", "UPDATE"})
KNOWN_OPERATIONS = CHECKED_OPERATIONS | {"DELETE", "CONNECT"}

Verdict = Literal["allowed", "denied", "error"]
UNBOUND_KIND = "unbound"  # metrics label for kinds no binding serves: bounds label cardinality

log = logging.getLogger("lostromos.webhook")


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 request this webhook can answer."""


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
    """Answers /mutate and /validate for the kinds bound in `engines.bindings`.

    `checks` are the extra checks /validate runs on the defaulted spec
    (lostromos.admission.SpecCheck)."""

    def __init__(
        self,
        engines: EngineSource,
        checks: Sequence[SpecCheck] = NO_CHECKS,
        *,
        max_spec_values: int | None = None,
    ) -> None:
        self._engines = engines
        self._checks = tuple(checks)
        self._max_spec_values = max_spec_values

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
            response = deny(
                error.uid,
                BAD_REQUEST_CODE,
                BAD_REQUEST_REASON,
                "the object nests too deeply to be checked; lostromos refuses "
                "values nested more than a few hundred levels",
            )
            return ReviewOutcome(200, encode_response(response), "denied", UNBOUND_KIND)
        except BadReview as error:
            return _bad_input(str(error))
        kind_label = self._kind_label(request)
        try:
            response = self._over_limit(request) or admit(
                request, self._engines, endpoint, self._checks
            )
        except ChartError as error:
            log.error(
                "chart for %s cannot be loaded: %s",
                request.kind,
                error,
                extra=_log_fields(request, endpoint),
            )
            response = chart_denial(request, error)
        except RecursionError:
            response = too_deep(request)
        except Exception as error:  # our bug, not the user's: deny, keep the worker alive
            log.exception(
                "checking %s failed",
                request.describe_object(),
                extra=_log_fields(request, endpoint),
            )
            response = internal_denial(request, error)
        try:
            encoded = encode_response(response)
        except RecursionError:  # a patch carrying a deeply nested value
            response = too_deep(request)
            encoded = encode_response(response)
        if response.allowed:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "allowed %s", request.describe_object(), extra=_log_fields(request, endpoint)
                )
            return ReviewOutcome(200, encoded, "allowed", kind_label)
        denial = response.denial
        fields = _log_fields(request, endpoint)
        if denial is not None:
            fields["denial"] = denial.log_message or denial.message  # never the user's values
        log.info("denied %s", request.describe_object(), extra=fields)
        verdict: Verdict = "error" if denial and denial.code >= 500 else "denied"
        return ReviewOutcome(200, encoded, verdict, kind_label)

    def _over_limit(self, request: AdmissionRequest) -> AdmissionResponse | None:
        """A spec too big to check within the review's budget, refused up front."""
        if (
            self._max_spec_values is None
            or request.operation not in ("CREATE", "UPDATE")
            or request.sub_resource == "status"
            or request.is_deleting_without_spec_change()
        ):
            return None
        problem = too_many_values(request.spec, self._max_spec_values)
        if problem is None:
            return None
        return deny(
            request.uid,
            INVALID_CODE,
            INVALID_REASON,
            invalid_message(request.describe_object(), [problem]),
        )

    def _kind_label(self, request: AdmissionRequest) -> str:
        kind = request.kind
        bindings = self._engines.bindings
        binding = bindings.find(kind.group, kind.version, kind.kind)
        if binding is None:  # a built-in kind a binding's source selects counts as bound
            binding = source_binding_for(bindings, kind.group, kind.version, kind.kind)
        return kind.kind if binding is not None else UNBOUND_KIND


# --- reading requests ---------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        # 1e999 parses as infinity, which could never be written back as JSON.
        raise ValueError(f"number {text[:40]} is out of range")
    return number


class TooDeep(BadReview):
    """The body nests deeper than Python's JSON parser goes; `uid` is the request's
    uid when it could still be read from the start of the body."""

    def __init__(self, message: str, uid: str | None) -> None:
        super().__init__(message)
        self.uid = uid


# The API server writes AdmissionRequest fields in declaration order: uid first.
_REQUEST_UID = re.compile(
    rb'^\s*\{.{0,200}?"request"\s*:\s*\{\s*"uid"\s*:\s*"([0-9A-Za-z-]{1,64})"', re.DOTALL
)


def find_request_uid(body: bytes) -> str | None:
    """The request's uid read from the start of the body, without parsing the rest."""
    found = _REQUEST_UID.match(body[:4096])
    return found.group(1).decode() if found else None


def decode_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, nesting bounded by the recursion limit."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadReview(f"request body is not valid UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise TooDeep(
            "request body nests too deeply to be an AdmissionReview", find_request_uid(body)
        ) from None
    except json.JSONDecodeError as error:
        raise BadReview(
            f"request body is not JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except ValueError as error:  # oversized integers, NaN, out-of-range numbers
        raise BadReview(f"request body is not usable JSON: {error}") from None


def _string(container: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = container.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadReview(f"{where}.{key} must be a non-empty string")
    return value


def parse_review(document: Any) -> AdmissionRequest:
    """Check the AdmissionReview envelope and return its request; raises BadReview."""
    if not isinstance(document, dict):
        raise BadReview("request body must be a JSON object (an AdmissionReview)")
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if kind != REVIEW_KIND:
        raise BadReview(f"kind must be {REVIEW_KIND!r}, got {_short(kind)}")
    if api_version != ADMISSION_API_VERSION:
        raise BadReview(
            f"apiVersion {_short(api_version)} is not supported: only {ADMISSION_API_VERSION} "
            'is (set admissionReviewVersions: ["v1"] in the webhook configuration)'
        )
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request object")
    uid = _string(request, "uid", "request", required=True)
    gvk = request.get("kind")
    if not isinstance(gvk, dict):
        raise BadReview("request.kind must be an object with group, version and kind")
    group_version_kind = GroupVersionKind(
        group=_string(gvk, "group", "request.kind", required=False),
        version=_string(gvk, "version", "request.kind", required=True),
        kind=_string(gvk, "kind", "request.kind", required=True),
    )
    operation = _string(request, "operation", "request", required=True)
    if operation not in KNOWN_OPERATIONS:
        raise BadReview(
            f"request.operation {_short(operation)} is not one of "
            f"{', '.join(sorted(KNOWN_OPERATIONS))}"
        )
    dry_run = request.get("dryRun", False)
    if not isinstance(dry_run, bool | None):
        raise BadReview("request.dryRun must be true or false")
    parsed = AdmissionRequest(
        uid=uid,
        kind=group_version_kind,
        operation=operation,
        sub_resource=_string(request, "subResource", "request", required=False),
        name=_string(request, "name", "request", required=False),
        namespace=_string(request, "namespace", "request", required=False),
        object=request.get("object"),
        old_object=request.get("oldObject"),
        dry_run=bool(dry_run),
    )
    if operation in CHECKED_OPERATIONS and not isinstance(parsed.object, dict):
        raise BadReview(f"request.object must be an object for {operation}")
    return parsed


# --- writing responses --------------------------------------------------------------


def to_review(response: AdmissionResponse) -> dict[str, Any]:
    """The exact v1 wire shape of a response."""
    answer: dict[str, Any] = {"uid": response.uid, "allowed": response.allowed}
    if response.denial is not None:
        answer["status"] = {
            "code": response.denial.code,
            "reason": response.denial.reason,
            "message": response.denial.message,
        }
    if response.patch:
        encoded = json.dumps(list(response.patch), separators=(",", ":")).encode()
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(encoded).decode("ascii")
    if response.warnings:
        answer["warnings"] = list(response.warnings)
    return {"apiVersion": ADMISSION_API_VERSION, "kind": REVIEW_KIND, "response": answer}


def encode_response(response: AdmissionResponse) -> bytes:
    return json.dumps(to_review(response), separators=(",", ":")).encode()


def error_body(message: str, uid: str | None = None) -> bytes:
    """The JSON body of an HTTP error answer (never an AdmissionReview)."""
    body: dict[str, str] = {"error": message}
    if uid:
        body["uid"] = uid
    return json.dumps(body).encode()


def _short(value: Any, limit: int = 60) -> str:
    """A bounded description of a given value; containers by type only (they may be huge)."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, str):
        text = json.dumps(value[:limit])
        return text if len(value) <= limit else text[:-1] + '..."'
    return "an object" if isinstance(value, dict) else "an array"


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
