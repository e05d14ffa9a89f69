"""AdmissionReview v1: reading requests and writing responses.

Pure data handling, no HTTP and no engine: the API server sends an
AdmissionReview with a ``request``; we answer with the same apiVersion/kind
and a ``response`` that echoes the request's uid. Everything that is not a
well-formed v1 review raises ``BadReview`` (HTTP 400 with a JSON error body).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ADMISSION_API_VERSION = "admission.k8s.io/v1"
REVIEW_KIND = "AdmissionReview"
CHECKED_OPERATIONS = frozenset({"CREATE", "UPDATE"})
KNOWN_OPERATIONS = CHECKED_OPERATIONS | {"DELETE", "CONNECT"}

# What the API server does with status.code on a denial (webhook errors.ToStatusErr):
# it keeps code and reason as given (raising anything below 400 to 400), prefixes
# the message with 'admission webhook "<name>" denied the request: ' and returns that
# Status to the client as the HTTP response. So the code is what kubectl and every
# client library see. A spec that breaks the chart's schema gets exactly what the
# API server itself answers for a CRD schema violation, 422 reason Invalid, so
# clients classify both the same way (client-go IsInvalid, the Python client's 422).
# We send no `details`: kubectl prints "The request is invalid: <message>" for an
# Invalid status without details, but with details and no causes it prints only
# 'The Site "blog" is invalid' and drops our message.
INVALID_CODE, INVALID_REASON = 422, "Invalid"
# A kind no binding serves, or a request we cannot check, is the caller's mistake.
BAD_REQUEST_CODE, BAD_REQUEST_REASON = 400, "BadRequest"
# Our own failure (chart unreadable, engine bug): denied, never admitted unchecked.
INTERNAL_CODE, INTERNAL_REASON = 500, "InternalError"


class BadReview(ValueError):
    """The body is not an AdmissionReview v1 request this webhook can answer."""


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    def __str__(self) -> str:
        # Same spelling as Go's schema.GroupVersionKind, which operators know from logs.
        return f"{self.group}/{self.version}, Kind={self.kind}"


_ABSENT: Any = object()


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of `request` this webhook looks at."""

    uid: str
    kind: GroupVersionKind
    operation: str
    sub_resource: str = ""
    name: str = ""
    namespace: str = ""
    object: Any = None
    old_object: Any = None
    dry_run: bool = False

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.object.get("metadata") if isinstance(self.object, dict) else None
        return metadata if isinstance(metadata, dict) else {}

    @property
    def object_name(self) -> str:
        name = self.name or self.metadata.get("name")
        return name if isinstance(name, str) else ""

    @property
    def has_spec(self) -> bool:
        """A missing spec and `spec: null` both mean "no values given", as for Helm."""
        return isinstance(self.object, dict) and self.object.get("spec") is not None

    @property
    def spec(self) -> Any:
        return self.object.get("spec") if self.has_spec else {}

    def describe_object(self) -> str:
        """'Site "blog" in namespace "default"' - how error messages name the object."""
        name = self.object_name
        if name:
            described = f'{self.kind.kind} "{name}"'
        else:
            generate_name = self.metadata.get("generateName")
            described = (
                f'{self.kind.kind} with generateName "{generate_name}"'
                if isinstance(generate_name, str) and generate_name
                else f"{self.kind.kind} (no name)"
            )
        if self.namespace:
            described = f'{described} in namespace "{self.namespace}"'
        return described

    def is_deleting_without_spec_change(self) -> bool:
        """An UPDATE of an object being deleted that leaves its spec alone.

        That is how finalizers are removed. Checking the spec there would make an
        object whose chart schema has since become stricter impossible to delete.
        """
        if self.operation != "UPDATE" or not self.metadata.get("deletionTimestamp"):
            return False
        old_spec = (
            self.old_object.get("spec", _ABSENT) if isinstance(self.old_object, dict) else _ABSENT
        )
        new_spec = self.object.get("spec", _ABSENT) if isinstance(self.object, dict) else None
        return old_spec == new_spec


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
    rb'^\s*\{.{0,200}?"request"\s*:\s*\{\s*"uid"\s*:\s*"([0-9A-Za-z-]{1,64})"', re.DOTALL)


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
        raise TooDeep("request body nests too deeply to be an AdmissionReview",
                      find_request_uid(body)) from None
    except json.JSONDecodeError as error:
        raise BadReview(f"request body is not JSON: {error.msg} at line {error.lineno}, "
                        f"column {error.colno}") from None
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
        raise BadReview(f"request.operation {_short(operation)} is not one of "
                        f"{', '.join(sorted(KNOWN_OPERATIONS))}")
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


@dataclass(frozen=True)
class Denial:
    code: int
    reason: str
    message: str
    # What the log says instead of `message` when that quotes the user's values.
    log_message: str = ""


@dataclass(frozen=True)
class AdmissionResponse:
    """What we answer for one request; `to_review()` is the exact wire shape."""

    uid: str
    allowed: bool
    denial: Denial | None = None
    patch: Sequence[Mapping[str, Any]] = ()
    warnings: Sequence[str] = field(default_factory=tuple)

    def to_review(self) -> dict[str, Any]:
        response: dict[str, Any] = {"uid": self.uid, "allowed": self.allowed}
        if self.denial is not None:
            response["status"] = {
                "code": self.denial.code,
                "reason": self.denial.reason,
                "message": self.denial.message,
            }
        if self.patch:
            encoded = json.dumps(list(self.patch), separators=(",", ":")).encode()
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(encoded).decode("ascii")
        if self.warnings:
            response["warnings"] = list(self.warnings)
        return {"apiVersion": ADMISSION_API_VERSION, "kind": REVIEW_KIND, "response": response}

    def encode(self) -> bytes:
        return json.dumps(self.to_review(), separators=(",", ":")).encode()


def allow(uid: str, *, patch: Sequence[Mapping[str, Any]] = (),
          warnings: Iterable[str] = ()) -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=True, patch=patch, warnings=tuple(warnings))


def deny(uid: str, code: int, reason: str, message: str, *,
         warnings: Iterable[str] = (), log_message: str = "") -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=False,
                             denial=Denial(code, reason, message, log_message),
                             warnings=tuple(warnings))


def spec_patch(spec_ops: Sequence[Mapping[str, Any]], *, had_spec: bool,
               defaulted_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Turn the engine's spec-relative ops into ops on the whole object.

    Without a spec there is nothing to patch inside, so one op adds the whole
    defaulted spec (none at all when the chart defaults nothing).
    """
    if not had_spec:
        return [{"op": "add", "path": "/spec", "value": dict(defaulted_spec)}] if (
            defaulted_spec) else []
    prefixed = []
    for op in spec_ops:
        moved = {**op, "path": "/spec" + op["path"]}
        if "from" in op:
            moved["from"] = "/spec" + op["from"]
        prefixed.append(moved)
    return prefixed


def invalid_message(object_description: str, violation_lines: Iterable[str]) -> str:
    """First line names the object, then one line per violation."""
    return "\n".join([f"{object_description} is invalid:", *violation_lines])


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
