"""OBSERVE: the state of one bound object and its release, then the one action it calls for.

`observe` reads, cheapest first, and stops as soon as the state is known:
the object from the informer's store; its release name (metadata and the
binding's template, never status); the desired-state digest, computed before
any validation, so an echo of our own status write or a resync of an
unchanged object ends here with no coalesce, no schema pass and no helm call;
only then the schema check; and only for an object that is not in sync, the
release itself (`helm status`: revision, state, owner labels).

`decide` is a pure function of that observation: exactly one action, in the
manner of Flux helm-controller's `internal/reconcile`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.drift import DriftReport
from controller.informer import Key
from controller.ownership import (
    DESIRED_LABEL,
    Ownership,
    desired_label,
    ownership,
    release_name,
    release_name_problem,
)
from controller.retries import exhausted, failures_so_far
from lostromos.charts import ChartError
from lostromos.config import Binding
from lostromos.helmengine import PENDING_STATES, ChartSource, Release
from lostromos.redact import Redactor, redactor_for
from lostromos.values.engine import ValuesEngine

FINALIZER = "lostromos.dev/helm-release"


class Action(enum.Enum):
    NOTHING = "nothing"  # gone, not ours to serve, or in sync
    INSTALL = "install"  # no release yet, valid spec
    UPGRADE = "upgrade"  # our release, out of sync
    REPAIR = "repair"  # our release, in sync, but its objects drifted
    RECOVER = "recover"  # our release left pending-* by a crash: roll back or remove
    REFUSE = "refuse"  # the release belongs to someone else: touch nothing
    HOLD = "hold"  # a chart rollout's gate is shut: wait, touch nothing
    STALL = "stall"  # invalid name or spec: no helm call until the object changes
    GIVE_UP = "give-up"  # retries used up for this desired state: no helm call until it changes
    RECORD = "record"  # our signed release is this desired state, deployed: status only
    UNINSTALL = "uninstall"  # deleting, and the release is ours
    RELEASE_FINALIZER = "release-finalizer"  # deleting, no release of ours: only let go


# What the observe phase needs, as protocols so unit tests can hand in fakes.
class Store(Protocol):
    def get(self, key: Key) -> dict[str, Any] | None: ...


class Engines(Protocol):
    def engine_for(self, binding: Binding) -> ValuesEngine: ...


class ReleaseReader(Protocol):
    def status(
        self, release: str, namespace: str, *, impersonate: str | None = None
    ) -> Release | None: ...


class DriftView(Protocol):
    def get(self, key: Key) -> DriftReport | None: ...


class RolloutView(Protocol):
    def would_admit(self, target: str) -> bool: ...


@dataclass(frozen=True)
class Desired:
    """What the object asks helm for."""

    values: dict[str, Any]  # the spec with the binding's overrides merged over it
    digest: str  # chart content + overrides, values and release name, summed up
    chart_digest: str  # engine digest: chart content and the binding's overrides
    chart: ChartSource  # what the Helm engine installs (its cache key is the chart's digest)
    chart_name: str
    chart_version: str = ""
    # hides writeOnly and sensitivePaths values in status and Events (lostromos.redact)
    redactor: Redactor | None = None


@dataclass(frozen=True)
class Observation:
    key: Key
    obj: dict[str, Any] | None
    filtered: bool = False  # the binding's selector does not serve this object
    release_name: str = ""
    name_problem: str | None = None
    deleting: bool = False
    had_finalizer: bool = False
    desired: Desired | None = None
    in_sync: bool = False
    problems: tuple[str, ...] = ()  # schema violations, by path
    retries_exhausted: bool = False  # status counts release.retries + 1 failures for this state
    drift: DriftReport | None = None
    chart_upgrade: bool = False  # the chart changed since the release was last written
    rollout_open: bool = True
    release_read: bool = False  # whether `release`/`owner` below were read at all
    release: Release | None = None
    owner: Ownership | None = None

    @property
    def namespace(self) -> str:
        return str(((self.obj or {}).get("metadata") or {}).get("namespace", ""))


def desired_digest(engine_digest: str, values: Any, release: str) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{engine_digest}\n{release}\n{canonical}".encode()
    return "sha256:" + hashlib.sha256(material).hexdigest()


def recorded_in_sync(obj: Mapping[str, Any], digest: str, release: str) -> bool:
    """Does the object's status already record this desired state, deployed?

    Status may have been written by anyone with `status` rights, so this is only
    ever used to skip work on the object's own release, never to aim at one.
    """
    status = obj.get("status") or {}
    recorded = status.get("release") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    return (
        recorded.get("digest") == digest
        and recorded.get("status") == "deployed"
        and recorded.get("name") == release
        and status.get("observedGeneration") == generation
    )


def observe(  # noqa: PLR0911 - it stops as soon as the state is known
    key: Key,
    *,
    binding: Binding,
    store: Store,
    engines: Engines,
    helm: ReleaseReader,
    drift: DriftView,
    rollout: RolloutView,
    read_release: bool = True,
) -> Observation:
    obj = store.get(key)
    if obj is None:
        return Observation(key, None)
    metadata = obj.get("metadata") or {}
    had_finalizer = FINALIZER in (metadata.get("finalizers") or [])
    if not had_finalizer and not binding.selector.matches(metadata):
        return Observation(key, obj, filtered=True)
    name = release_name(binding, metadata)
    seen = Observation(
        key,
        obj,
        release_name=name,
        name_problem=release_name_problem(name),
        deleting=bool(metadata.get("deletionTimestamp")),
        had_finalizer=had_finalizer,
    )
    if seen.name_problem is not None:
        return seen  # no release can have this name: nothing to read
    if seen.deleting:
        if not had_finalizer or not read_release:
            return seen
        return _with_release(seen, binding, helm, chart_name=_chart_name(engines, binding))
    engine = engines.engine_for(binding)
    desired = _desired(engine, obj.get("spec"), name, binding.sensitive_paths)
    report = drift.get(key)
    in_sync = report is None and had_finalizer and recorded_in_sync(obj, desired.digest, name)
    seen = _replace(seen, desired=desired, drift=report, in_sync=in_sync)
    if in_sync:
        return seen
    if exhausted(failures_so_far(obj, desired.digest), binding.release.retries):
        # Nothing to validate or read: this very state was valid and failed every time.
        return _replace(seen, retries_exhausted=True)
    spec = obj.get("spec")
    # status and Events show values, secrets (writeOnly, sensitivePaths) excepted
    assert desired.redactor is not None
    problems = tuple(desired.redactor.describe_all(engine.validate({} if spec is None else spec)))
    if problems:
        return _replace(seen, problems=problems)
    recorded_chart = ((obj.get("status") or {}).get("release") or {}).get("chartDigest")
    chart_upgrade = recorded_chart not in (None, engine.digest) and report is None
    seen = _replace(
        seen,
        chart_upgrade=chart_upgrade,
        rollout_open=not chart_upgrade or rollout.would_admit(engine.digest),
    )
    if not seen.rollout_open or not read_release:
        return seen  # a shut gate costs no helm call, however many objects wait at it
    return _with_release(seen, binding, helm, chart_name=desired.chart_name)


def decide(seen: Observation) -> Action:  # noqa: PLR0911, PLR0912 - one return per state
    """The one action an observation calls for."""
    if seen.obj is None or seen.filtered:
        return Action.NOTHING
    if seen.deleting:
        if not seen.had_finalizer:
            return Action.NOTHING
        if seen.name_problem is not None:
            return Action.RELEASE_FINALIZER
        if not seen.release_read:  # dry run: say what a delete would do
            return Action.UNINSTALL
        if seen.owner in (Ownership.OURS, Ownership.ADOPTABLE):
            return Action.UNINSTALL
        return Action.RELEASE_FINALIZER  # absent, or someone else's: never uninstall it
    if seen.name_problem is not None or seen.problems:
        return Action.STALL
    if seen.in_sync:
        return Action.NOTHING
    if seen.retries_exhausted:
        return Action.GIVE_UP
    if not seen.rollout_open:
        return Action.HOLD
    if not seen.release_read:  # dry run: judge from what the object records
        recorded = (seen.obj.get("status") or {}).get("release") or {}
        return Action.UPGRADE if recorded else Action.INSTALL
    if seen.owner == Ownership.FOREIGN:
        return Action.REFUSE
    if seen.owner == Ownership.ABSENT:
        return Action.INSTALL
    if seen.release is not None and seen.release.status in PENDING_STATES:
        return Action.RECOVER
    if seen.drift is not None:
        return Action.REPAIR
    if _deployed_for_desired(seen):
        return Action.RECORD  # a predecessor died after helm, before its status write
    return Action.UPGRADE


def _deployed_for_desired(seen: Observation) -> bool:
    """Is our release's newest revision deployed for exactly this desired state?"""
    release, desired = seen.release, seen.desired
    return (
        seen.owner is Ownership.OURS
        and release is not None
        and desired is not None
        and release.status == "deployed"
        and release.labels.get(DESIRED_LABEL) == desired_label(desired.digest)
    )


def _desired(
    engine: ValuesEngine, spec: Any, release: str, sensitive_paths: tuple[str, ...] = ()
) -> Desired:
    # The digest is taken over the values helm would be given, before any
    # validation: a spec that is not even a mapping still gets one.
    spec = {} if spec is None else spec
    values: Any = engine.user_values(spec) if isinstance(spec, Mapping) else spec
    return Desired(
        values=values if isinstance(values, dict) else {},
        digest=desired_digest(engine.digest, values, release),
        chart_digest=engine.digest,
        chart=ChartSource(engine.chart.path, engine.chart.digest),
        chart_name=engine.chart.name,
        chart_version=str(engine.chart.version),
        redactor=redactor_for(engine.chart, sensitive_paths),
    )


def _chart_name(engines: Engines, binding: Binding) -> str:
    """The binding's chart name; "" when the chart cannot be loaded, which makes
    no unlabeled release look like ours (so a delete then never uninstalls one)."""
    try:
        return engines.engine_for(binding).chart.name
    except ChartError:
        return ""


def _with_release(
    seen: Observation, binding: Binding, helm: ReleaseReader, *, chart_name: str
) -> Observation:
    release = helm.status(
        seen.release_name, seen.namespace, impersonate=binding.helm_user(seen.namespace)
    )
    metadata = (seen.obj or {}).get("metadata") or {}
    recorded = ((seen.obj or {}).get("status") or {}).get("release")
    owner = ownership(
        release,
        binding,
        metadata,
        chart_name=chart_name,
        had_finalizer=seen.had_finalizer,
        recorded=recorded if isinstance(recorded, Mapping) else None,
    )
    return _replace(seen, release_read=True, release=release, owner=owner)


def _replace(seen: Observation, **changes: Any) -> Observation:
    return dataclasses.replace(seen, **changes)
