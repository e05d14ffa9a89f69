"""OBSERVE: what is true of one bound object and its release, read cheapest first.

`observe` stops as soon as the state is known: the object from the informer's
store (gone, suspended, not served by this binding's selector, or its binding
refused for want of a ServiceAccount); its release name (metadata and the
binding's template, never status); the desired-state digest, computed before any
validation, so an echo of our own status write or a resync of an unchanged
object ends here with no coalesce, no schema pass and no helm call; only then
the schema check; and only for an object that is not in sync, the release itself
(the binding's Deployer: `helm status`, with revision, state and owner labels, or
the ApplySet the object itself is the parent of).

It never raises for what it finds: a binding whose chart cannot be loaded and a
release that cannot be read or trusted are recorded in the Observation like any
other fact, and `decide.py`, the one state table, turns the Observation into the
one action.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.drift import DriftReport
from controller.informer import Key
from controller.ownership import Ownership, ownership, release_name, release_name_problem
from controller.reconcile.ports import Deployer, DriftView, Engines, RolloutView, Store
from controller.reconcile.readiness import awaiting
from controller.retries import exhausted, failures_so_far
from controller.status import recorded_revision
from controller.suspend import suspended
from lostromos.charts import ChartError
from lostromos.config import Binding
from lostromos.engines import BindingLoadError
from lostromos.enginewire import ErrorCode
from lostromos.helmengine import ChartSource, HelmError, Release
from lostromos.redact import Redactor, redactor_for
from lostromos.values.engine import ValuesEngine

FINALIZER = "lostromos.dev/helm-release"
# Engine codes for a release record lostromos will not act on: one that does not
# verify under the record key, or one that names objects outside the object's
# namespace and the binding's allowed kinds.
UNTRUSTED_CODES = frozenset({ErrorCode.UNVERIFIED, ErrorCode.CONFINEMENT})


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
    suspended: bool = False  # lostromos.dev/suspend (controller/suspend.py), not deleting
    filtered: bool = False  # the binding's selector does not serve this object
    # --require-service-account and the binding names none: nothing else was read
    service_account_missing: bool = False
    load_error: BindingLoadError | None = None  # the binding's chart cannot be loaded
    read_error: HelmError | None = None  # `helm status` failed, or its record is refused
    release_name: str = ""
    name_problem: str | None = None
    deleting: bool = False
    had_finalizer: bool = False
    desired: Desired | None = None
    in_sync: bool = False
    # in sync, and Ready waits for the release's workloads (readiness.py)
    awaiting_workloads: bool = False
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
    deployer: Deployer,
    drift: DriftView,
    rollout: RolloutView,
    read_release: bool = True,
    service_account_missing: bool = False,
    awaits_workloads: bool = False,
) -> Observation:
    obj = store.get(key)
    if obj is None:
        return Observation(key, None)
    if suspended(obj):  # resumed by a change of the annotation, which wakes the key
        return Observation(key, obj, suspended=True)
    metadata = obj.get("metadata") or {}
    had_finalizer = FINALIZER in (metadata.get("finalizers") or [])
    if not had_finalizer and not binding.selector.matches(metadata):
        return Observation(key, obj, filtered=True)
    if service_account_missing:  # not even `helm status` runs as the controller itself
        return Observation(key, obj, had_finalizer=had_finalizer, service_account_missing=True)
    try:
        return _observe(
            key,
            obj,
            binding=binding,
            engines=engines,
            deployer=deployer,
            drift=drift,
            rollout=rollout,
            read_release=read_release,
            awaits_workloads=awaits_workloads,
        )
    except HelmError as error:
        return Observation(key, obj, had_finalizer=had_finalizer, read_error=error)
    except BindingLoadError as error:
        # One broken binding breaks only itself: its objects say why, nothing else.
        return Observation(key, obj, had_finalizer=had_finalizer, load_error=error)


def _observe(  # noqa: PLR0911 - it stops as soon as the state is known
    key: Key,
    obj: dict[str, Any],
    *,
    binding: Binding,
    engines: Engines,
    deployer: Deployer,
    drift: DriftView,
    rollout: RolloutView,
    read_release: bool,
    awaits_workloads: bool,
) -> Observation:
    metadata = obj.get("metadata") or {}
    had_finalizer = FINALIZER in (metadata.get("finalizers") or [])
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
        return _with_release(seen, binding, deployer, chart_name=_chart_name(engines, binding))
    engine = engines.engine_for(binding)
    desired = _desired(engine, obj.get("spec"), name, binding.sensitive_paths)
    report = drift.get(key, recorded_revision(obj.get("status")))
    in_sync = report is None and had_finalizer and recorded_in_sync(obj, desired.digest, name)
    seen = _replace(seen, desired=desired, drift=report, in_sync=in_sync)
    if in_sync:
        return _replace(seen, awaiting_workloads=awaits_workloads and awaiting(obj))
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
    return _with_release(seen, binding, deployer, chart_name=desired.chart_name)


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
    seen: Observation, binding: Binding, deployer: Deployer, *, chart_name: str
) -> Observation:
    assert seen.obj is not None
    release = deployer.current(seen.obj, seen.release_name, seen.namespace)
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
