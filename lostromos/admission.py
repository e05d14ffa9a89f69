"""The admission decision: is this object admitted, and with which defaults?

`decide(request, engines)` is a plain function - no HTTP, no bytes, no
AdmissionReview envelope (webhook.review maps those around it, and
`lostromos check` calls it directly), in the spirit of kopf's
serve_admission_request. For /validate it runs, in order:

1. binding lookup: which binding serves the request's kind;
2. release name: the name Helm would get must be one Helm accepts;
3. values verdict: the spec judged as Helm judges it (lostromos.values);
4. defaults: the spec as it will be stored, schema defaults filled in;
5. extra checks on the defaulted spec: the `SpecCheck`s passed in (none by
   default); each sees the binding, engine, release name and defaulted spec;
6. the response: allowed with warnings, or denied with every problem.

/mutate only looks up the binding and returns the defaults as a JSON patch:
problems are left to /validate so the user hears of each from one webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from lostromos.config import Binding, Bindings
from lostromos.redact import log_texts, redactor_for
from lostromos.releases import release_name, release_name_denial
from lostromos.values.jsontype import a_json_type

Endpoint = Literal["mutate", "validate"]

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
        return bool(old_spec == new_spec)


@dataclass(frozen=True)
class Denial:
    code: int
    reason: str
    message: str
    # What the log says instead of `message` when that quotes the user's values.
    log_message: str = ""


@dataclass(frozen=True)
class AdmissionResponse:
    """The decision for one request (webhook.review writes it as an AdmissionReview).

    `spec` is the spec as the API server will store it: the defaulted spec
    when /mutate sends a patch, else the request's own. It never goes on the wire.
    """

    uid: str
    allowed: bool
    denial: Denial | None = None
    patch: Sequence[Mapping[str, Any]] = ()
    warnings: Sequence[str] = field(default_factory=tuple)
    spec: Any = None


def allow(
    uid: str,
    *,
    patch: Sequence[Mapping[str, Any]] = (),
    warnings: Iterable[str] = (),
    spec: Any = None,
) -> AdmissionResponse:
    return AdmissionResponse(
        uid=uid, allowed=True, patch=patch, warnings=tuple(warnings), spec=spec
    )


def deny(
    uid: str,
    code: int,
    reason: str,
    message: str,
    *,
    warnings: Iterable[str] = (),
    log_message: str = "",
) -> AdmissionResponse:
    return AdmissionResponse(
        uid=uid,
        allowed=False,
        denial=Denial(code, reason, message, log_message),
        warnings=tuple(warnings),
    )


def spec_patch(
    spec_ops: Sequence[Mapping[str, Any]], *, had_spec: bool, defaulted_spec: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Turn the engine's spec-relative ops into ops on the whole object.

    Without a spec there is nothing to patch inside, so one op adds the whole
    defaulted spec (none at all when the chart defaults nothing).
    """
    if not had_spec:
        return (
            [{"op": "add", "path": "/spec", "value": dict(defaulted_spec)}]
            if (defaulted_spec)
            else []
        )
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


class SpecVerdict(Protocol):
    """What the values engine says about a spec (lostromos.values.engine.SpecVerdict)."""

    @property
    def violations(self) -> Sequence[Any]: ...
    @property
    def deprecations(self) -> Sequence[str]: ...


class DefaultedSpec(Protocol):
    """What a decision reads of lostromos.values.engine.Defaulted."""

    @property
    def values(self) -> dict[str, Any]: ...
    @property
    def patch(self) -> list[dict[str, Any]]: ...


class SpecEngine(Protocol):
    """What a decision needs from lostromos.values.engine.ValuesEngine."""

    @property
    def chart(self) -> Any: ...
    @property
    def digest(self) -> str: ...
    def verdict(self, spec: Any) -> SpecVerdict: ...
    def default(self, spec: Mapping[str, Any]) -> DefaultedSpec: ...
    def user_values(self, spec: Mapping[str, Any]) -> dict[str, Any]: ...


class EngineSource(Protocol):
    """What a decision needs from lostromos.engines.EngineRegistry."""

    @property
    def bindings(self) -> Bindings: ...
    def engine_for(self, binding: Binding) -> SpecEngine: ...


@dataclass(frozen=True)
class SpecContext:
    """What an extra check sees: the object and the spec as it will be stored."""

    request: AdmissionRequest
    binding: Binding
    engine: SpecEngine
    release: str  # the object's release name, already known to be one Helm accepts
    raw_spec: Mapping[str, Any]  # the spec as the request carries it

    @cached_property
    def spec(self) -> Mapping[str, Any]:
        """The defaulted spec. In the API server's order /mutate has filled the
        defaults already; filling them again here is for callers that skip
        /mutate, and costs a coalesce pass, so it is paid only when a check
        reads it (a check that remembers verdicts by the raw spec need not)."""
        return self.engine.default(self.raw_spec).values


# An extra check on the defaulted spec (a Helm render, namespace confinement, ...):
# it returns one line per problem, each naming where ("spec.x: ..."), empty if none.
SpecCheck = Callable[[SpecContext], Sequence[str]]
NO_CHECKS: tuple[SpecCheck, ...] = ()
UNAVAILABLE_CODE = 503
UNAVAILABLE_REASON = "ServiceUnavailable"


class CheckUnavailable(RuntimeError):
    """A check could not reach a verdict now (its engine is down or slow): the
    object is denied with a message saying to try again, never admitted unchecked."""


def decide(
    request: AdmissionRequest,
    engines: EngineSource,
    endpoint: Endpoint = "validate",
    checks: Sequence[SpecCheck] = NO_CHECKS,
) -> AdmissionResponse:
    """The answer to one admission request. Raises ChartError when the bound chart
    cannot be loaded, and whatever a bug raises; see chart_denial/internal_denial."""
    if not _carries_a_spec_change(request):
        return allow(request.uid)
    binding = engines.bindings.find(request.kind.group, request.kind.version, request.kind.kind)
    if binding is None:
        return deny(
            request.uid,
            BAD_REQUEST_CODE,
            BAD_REQUEST_REASON,
            f"no lostromos binding serves {request.kind}",
        )
    try:
        engine = engines.engine_for(binding)
        if endpoint == "mutate":
            return _defaults(request, engine)
        return _verdict(request, binding, engine, checks)
    except RecursionError:
        return too_deep(request)


def _carries_a_spec_change(request: AdmissionRequest) -> bool:
    if request.operation not in ("CREATE", "UPDATE"):
        return False  # DELETE and CONNECT carry no spec to check
    if request.sub_resource == "status":
        return False  # the controller writes status; users can't change spec
    return not request.is_deleting_without_spec_change()


def _defaults(request: AdmissionRequest, engine: SpecEngine) -> AdmissionResponse:
    # Warnings are left to /validate so kubectl prints each of them once.
    if not request.has_spec:
        defaulted = engine.default({})
        return allow(
            request.uid,
            spec=defaulted.values,
            patch=spec_patch((), had_spec=False, defaulted_spec=defaulted.values),
        )
    if not isinstance(request.spec, dict):
        return allow(request.uid, spec=request.spec)  # nothing to default; /validate denies it
    defaulted = engine.default(request.spec)
    return allow(
        request.uid,
        spec=defaulted.values,
        patch=spec_patch(defaulted.patch, had_spec=True, defaulted_spec=defaulted.values),
    )


def _verdict(
    request: AdmissionRequest, binding: Binding, engine: SpecEngine, checks: Sequence[SpecCheck]
) -> AdmissionResponse:
    metadata = {
        **request.metadata,
        "name": request.object_name,
        "namespace": request.namespace or request.metadata.get("namespace", ""),
    }
    # A generateName object has no name until the API server gives it one, which it
    # does before it calls validating webhooks; `lostromos check` may see it nameless.
    name_problem = release_name_denial(binding, metadata) if metadata["name"] else None
    lines = [name_problem] if name_problem else []
    spec = request.spec
    verdict = engine.verdict(spec)
    # The author sees their values, secrets excepted; the log sees none (lostromos.redact).
    lines += redactor_for(engine.chart, binding.sensitive_paths).describe_all(verdict.violations)
    logged = [*lines[: 1 if name_problem else 0], *log_texts(verdict.violations)]
    if not isinstance(spec, dict):
        if not verdict.violations:  # the engine promises one; never admit a non-object spec
            lines.append(f"spec: must be an object, got {a_json_type(spec)}")
            logged.append(lines[-1])
        return _invalid(request, lines, (), logged)
    warnings = verdict.deprecations
    if not lines and checks:
        context = SpecContext(request, binding, engine, release_name(binding, metadata), spec)
        try:
            for check in checks:
                lines += check(context)
        except CheckUnavailable as error:
            return deny(
                request.uid,
                UNAVAILABLE_CODE,
                UNAVAILABLE_REASON,
                f"lostromos cannot check {request.describe_object()} right now: "
                f"{error}; nothing was stored, try again",
                warnings=warnings,
            )
    if lines:
        # Check lines (a render failure) may quote values: the log gets a count.
        extra = len(lines) - len(logged)
        return _invalid(
            request,
            lines,
            warnings,
            [*logged, *([f"{extra} problem(s) from render checks"] if extra else [])],
        )
    return allow(request.uid, warnings=warnings, spec=spec)


def _invalid(
    request: AdmissionRequest, lines: list[str], warnings: Iterable[str], logged: list[str]
) -> AdmissionResponse:
    return deny(
        request.uid,
        INVALID_CODE,
        INVALID_REASON,
        invalid_message(request.describe_object(), lines),
        warnings=warnings,
        log_message=invalid_message(request.describe_object(), logged),
    )


def too_deep(request: AdmissionRequest) -> AdmissionResponse:
    return deny(
        request.uid,
        BAD_REQUEST_CODE,
        BAD_REQUEST_REASON,
        f"{request.describe_object()} cannot be checked: its spec nests too deeply",
    )


def chart_denial(request: AdmissionRequest, error: Exception) -> AdmissionResponse:
    """The answer when the bound chart cannot be loaded: denied, never admitted unchecked."""
    return deny(
        request.uid,
        INTERNAL_CODE,
        INTERNAL_REASON,
        f"lostromos cannot check {request.describe_object()}: the chart bound to "
        f"{request.kind.kind} cannot be loaded: {error}",
    )


def internal_denial(request: AdmissionRequest, error: BaseException) -> AdmissionResponse:
    """The answer when checking failed by our fault; the caller logs the details."""
    return deny(
        request.uid,
        INTERNAL_CODE,
        INTERNAL_REASON,
        f"lostromos could not check {request.describe_object()}: internal error "
        f"({type(error).__name__}); the webhook log has the details",
    )
