"""The Helm engine's protocol (version 1) as types, decoded in one place.

Every answer the engine gives passes through `decode_answer` (the envelope)
and one of the `*.from_wire` constructors below (the result). Anything that is
not a protocol answer (not JSON, a field of the wrong type, an error code the
protocol does not have) is an `EngineError` naming the operation and the
field: a broken or mismatched engine binary, never a KeyError in a caller.
tools/k8s/helmengine/protocol.go is the other side; docs/engine.md lists
every field.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

PROTOCOL_VERSION = 1
MAX_MESSAGE = 800


class ErrorCode(StrEnum):
    """A failure's stable class. The first ten are the engine's own (the
    `code*` constants of protocol.go, checked by tests/unit/test_enginewire.py);
    the last three are the client's."""

    BAD_REQUEST = "bad-request"  # the request itself is malformed
    NOT_FOUND = "not-found"  # no such release
    RENDER = "render"  # the chart cannot render these values
    CONFINEMENT = "confinement"  # a rendered or stored object is outside the confinement
    PENDING = "pending"  # another operation on the release is in progress
    TIMEOUT = "timeout"  # the action ran out of time
    CHART = "chart"  # the chart cannot be loaded or pulled
    KUBE = "kube"  # the API server refused or failed
    HELM = "helm"  # any other Helm error
    UNVERIFIED = "unverified"  # a release record does not verify under the record key
    UNAVAILABLE = "unavailable"  # client: the engine is unreachable or died (retryable)
    BUDGET = "budget"  # client: a render stopped for its binding's render budget
    PROTOCOL = "protocol"  # client: the engine's answer is not a protocol answer


CLIENT_CODES = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.BUDGET, ErrorCode.PROTOCOL})
ENGINE_CODES = frozenset(ErrorCode) - CLIENT_CODES


def trim(message: str, limit: int = MAX_MESSAGE) -> str:
    message = " ".join(message.replace("Error: ", "", 1).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


@dataclass(frozen=True)
class Violation:
    """One object a confinement refused, and the rule it broke."""

    kind: str
    namespace: str
    name: str
    rule: str
    api_version: str = ""


@dataclass(frozen=True)
class ChartSource:
    """A chart directory and the digest of its content (the engine's cache key)."""

    path: Path
    digest: str = ""


@dataclass(frozen=True)
class Confinement:
    """What a release may write: its own namespace, and cluster-scoped objects
    only of these kinds."""

    namespace: str
    cluster_scoped_kinds: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "clusterScopedKinds": list(self.cluster_scoped_kinds)}


class HelmError(RuntimeError):
    """A Helm action failed; `message` is Helm's own error, trimmed.

    `code` says what kind of failure it is; `retryable` is True when the engine
    itself was unreachable or died, so trying again is the fix.
    """

    def __init__(
        self,
        action: str,
        message: str,
        *,
        code: ErrorCode = ErrorCode.HELM,
        timed_out: bool = False,
        retryable: bool = False,
        violations: Sequence[Violation] = (),
    ) -> None:
        self.action = action
        self.message = trim(message)
        self.code = ErrorCode(code)
        self.timed_out = timed_out or code is ErrorCode.TIMEOUT
        self.retryable = retryable
        self.violations = tuple(violations)
        super().__init__(f"helm {action}: {self.message}")


class EngineUnavailable(HelmError):
    """The engine could not be reached, or stopped while answering."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(action, message, code=ErrorCode.UNAVAILABLE, retryable=True)


class EngineError(HelmError):
    """The engine answered something that is not a protocol answer: a bug or a
    mismatched binary. Not retryable: the same engine answers the same way."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(action, message, code=ErrorCode.PROTOCOL)


class EngineMissing(RuntimeError):
    """There is no engine binary to run at `path` (or it is not executable).

    Not a Helm error: no Helm action ran. The message says how to get one.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.message = (
            f"the Helm engine {path} {problem}: build it with `lostromos toolchain build`, "
            "or pass --helm-engine PATH (or set LOSTROMOS_HELM_ENGINE)"
        )
        super().__init__(self.message)


def require_executable(path: Path) -> Path:
    """`path` when it is an executable file; otherwise EngineMissing."""
    if not path.exists():
        raise EngineMissing(path, "does not exist")
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EngineMissing(path, "is not an executable file")
    return path


class WireObject:
    """Typed reads of one object of an answer; a wrong type is an EngineError
    naming the operation and the field."""

    def __init__(self, op: str, document: object, where: str = "result") -> None:
        self.op = op
        self.where = where
        if document is None:
            document = {}
        if not isinstance(document, Mapping):
            self.malformed("", document, "an object")
        self.document: Mapping[str, Any] = document

    def malformed(self, key: str, value: object, expected: str) -> NoReturn:
        name = f"{self.where}.{key}" if key else self.where
        raise EngineError(
            self.op,
            f"the Helm engine answered {self.op} with {name} = {_excerpt(value)}, "
            f"not {expected}: is it built from this lostromos's tools/k8s/helmengine?",
        )

    def text(self, key: str, default: str = "") -> str:
        value = self.document.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.malformed(key, value, "a string")
        return value

    def integer(self, key: str) -> int:
        value = self.document.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            self.malformed(key, value, "an integer")
        return value

    def flag(self, key: str) -> bool:
        value = self.document.get(key, False)
        if not isinstance(value, bool):
            self.malformed(key, value, "true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.document.get(key) or []
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            self.malformed(key, value, "a list of strings")
        return tuple(value)

    def labels(self, key: str) -> dict[str, str]:
        value = self.document.get(key) or {}
        if not (
            isinstance(value, Mapping) and all(isinstance(item, str) for item in value.values())
        ):
            self.malformed(key, value, "an object of strings")
        return {str(name): item for name, item in value.items()}

    def objects(self, key: str) -> list[WireObject]:
        value = self.document.get(key) or []
        if not isinstance(value, list):
            self.malformed(key, value, "a list of objects")
        return [
            WireObject(self.op, item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value)
        ]


_OBJECT_FIELDS = ("apiVersion", "kind", "namespace", "name")


def _object(fields: WireObject, *, scope: bool) -> dict[str, str]:
    keys = (*_OBJECT_FIELDS, "scope") if scope else _OBJECT_FIELDS
    return {key: fields.text(key) for key in keys}


def _excerpt(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def decode_answer(op: str, line: bytes, request_id: int) -> WireObject:
    """The result of one answer line, or the HelmError the answer carries.

    EngineError when the line is not an answer of this protocol to this request.
    """
    try:
        document = json.loads(line)
    except ValueError:  # UnicodeDecodeError included
        raise EngineError(
            op, f"the Helm engine's answer to {op} is not JSON: {_excerpt(line)}"
        ) from None
    envelope = WireObject(op, document, "answer")
    answered = envelope.integer("id")
    if answered != request_id:
        raise EngineError(op, f"the Helm engine answered request {answered}, not {request_id}")
    if envelope.flag("ok"):
        return WireObject(op, envelope.document.get("result"))
    failure = WireObject(op, envelope.document.get("error"), "error")
    code = failure.text("code")
    if code not in ENGINE_CODES:
        failure.malformed("code", code, f"one of {', '.join(sorted(ENGINE_CODES))}")
    raise HelmError(
        op,
        failure.text("message", "the Helm engine gave no message"),
        code=ErrorCode(code),
        violations=tuple(_violation(item) for item in failure.objects("violations")),
    )


def _violation(fields: WireObject) -> Violation:
    obj = WireObject(fields.op, fields.document.get("object"), f"{fields.where}.object")
    return Violation(
        kind=obj.text("kind"),
        namespace=obj.text("namespace"),
        name=obj.text("name"),
        rule=fields.text("rule", "refused"),
        api_version=obj.text("apiVersion"),
    )


@dataclass(frozen=True)
class Ready:
    """The engine's first line on stdout."""

    protocol: int
    helm: str
    cluster: bool
    signed_records: bool

    @classmethod
    def from_wire(cls, line: bytes) -> Ready:
        try:
            document = json.loads(line)
        except ValueError:
            raise EngineError(
                "start", f"the Helm engine's first line is not JSON: {_excerpt(line)}"
            ) from None
        fields = WireObject("start", document, "ready line")
        if not fields.flag("ready"):
            fields.malformed("ready", fields.document.get("ready"), "true")
        return cls(
            protocol=fields.integer("protocol"),
            helm=fields.text("helm"),
            cluster=fields.flag("cluster"),
            signed_records=fields.flag("signedRecords"),
        )


@dataclass(frozen=True)
class Release:
    """One revision of a release, as `upgrade`, `status` and `adopt` answer it."""

    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str
    chart_version: str
    last_deployed: str
    resources: tuple[dict[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    first_deployed: str = ""
    # How the engine's record key judges the release's history (`status` only):
    # "signed" (every record was written by this lostromos), "unsigned" (none was:
    # from before signing, or someone else's), "" (the engine has no key).
    record: str = ""
    record_digest: str = ""  # names the newest record's content, for `adopt`
    description: str = ""

    @classmethod
    def from_wire(cls, result: WireObject) -> Release:
        return cls(
            name=result.text("name"),
            namespace=result.text("namespace"),
            revision=result.integer("revision"),
            status=result.text("status", "unknown"),
            chart_name=result.text("chart"),
            chart_version=result.text("chartVersion"),
            last_deployed=result.text("lastDeployed"),
            first_deployed=result.text("firstDeployed"),
            description=result.text("description"),
            labels=result.labels("labels"),
            record=result.text("record"),
            record_digest=result.text("recordDigest"),
            resources=tuple(_object(item, scope=False) for item in result.objects("resources")),
        )


@dataclass(frozen=True)
class Rendered:
    """`helm template` output, and the objects in it with their scope."""

    manifest: str
    objects: tuple[dict[str, str], ...]

    @classmethod
    def from_wire(cls, result: WireObject) -> Rendered:
        return cls(
            result.text("manifest"),
            tuple(_object(item, scope=True) for item in result.objects("objects")),
        )


@dataclass(frozen=True)
class RenderVerdict:
    """`render` with `verdict`: it rendered (and stayed inside `confine`), and the
    manifest it printed has this many bytes. The manifest itself is not sent."""

    manifest_bytes: int

    @classmethod
    def from_wire(cls, result: WireObject) -> RenderVerdict:
        return cls(result.integer("manifestBytes"))


@dataclass(frozen=True)
class Pulled:
    """A chart archive `helm pull` wrote, and what vouches for it."""

    archive: Path
    # HTTP: the sha256 the repository index records for the archive ("": none);
    # OCI: the pinned manifest digest Helm checked ("": an unpinned tag)
    digest: str
    signed_by: tuple[str, ...] = ()  # with a keyring: the provenance file's signers
    fingerprint: str = ""

    @classmethod
    def from_wire(cls, result: WireObject) -> Pulled:
        archive = result.text("archive")
        if not archive:
            result.malformed("archive", result.document.get("archive"), "the archive's path")
        return cls(
            archive=Path(archive),
            digest=result.text("digest"),
            signed_by=result.texts("signedBy"),
            fingerprint=result.text("fingerprint"),
        )


def request_line(request_id: int, op: str, params: Mapping[str, Any]) -> bytes:
    """One request, as the engine reads it: one JSON object on one line."""
    text = json.dumps(
        {"id": request_id, "op": op, **params},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return text.encode() + b"\n"


def chart_wire(chart: ChartSource | Path) -> dict[str, str]:
    """A chart reference as requests carry it: an absolute path, and its digest."""
    if isinstance(chart, ChartSource):
        if chart.digest and chart.path.is_absolute():
            return {"path": _resolved(chart.path), "digest": chart.digest}
        return {"path": str(chart.path.resolve()), "digest": ""}
    return {"path": str(Path(chart).resolve()), "digest": ""}


@functools.lru_cache(maxsize=256)
def _resolved(path: Path) -> str:
    # A chart with a digest is loaded once and known by that digest: its path is
    # resolved once too, not with a system call per path component on every render.
    return str(path.resolve())
