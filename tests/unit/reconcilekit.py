"""Small fakes for the reconciler's unit tests: helm (the HelmActions interface),
the API (finalizer and status patches), events, engines. No helm, kubectl or
API server: these run in the fast loop."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from controller.drift import DriftObservations
from controller.informer import Informer
from controller.reconcile import FINALIZER, Reconciler
from controller.rollout import Rollout
from controller.status import recorded_revision
from lostromos.config import Binding, ChartRef, ReleasePolicy, RolloutPolicy
from lostromos.helmengine import HelmError, Release
from lostromos.values.violations import Violation

UID = "0b7c6c1e-0000-4000-8000-000000000001"
CREATED = "2026-01-01T10:00:00Z"


def binding(**changes: Any) -> Binding:
    base = Binding(
        name="site",
        group="hosting.example.com",
        version="v1",
        kind="Site",
        plural="sites",
        chart=ChartRef(path=Path("/charts/site")),
    )
    return replace(base, **changes)


def site(
    name: str = "blog",
    *,
    finalizer: bool = True,
    spec: Any = None,
    status: dict[str, Any] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "team-a",
        "uid": UID,
        "resourceVersion": "10",
        "generation": 1,
        "creationTimestamp": CREATED,
        **metadata,
    }
    if finalizer:
        meta["finalizers"] = [FINALIZER]
    obj: dict[str, Any] = {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": meta,
        "spec": {"domain": f"{name}.example.com"} if spec is None else spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def release(
    name: str = "blog",
    *,
    revision: int = 1,
    status: str = "deployed",
    labels: Mapping[str, str] | None = None,
    chart: str = "site",
    first_deployed: str = "2026-01-01T10:00:03.123456789Z",
) -> Release:
    return Release(
        name=name,
        namespace="team-a",
        revision=revision,
        status=status,
        chart_name=chart,
        chart_version="1.0.0",
        last_deployed=first_deployed,
        labels=dict(labels or {}),
        first_deployed=first_deployed,
    )


def ours(uid: str = UID) -> dict[str, str]:
    return {
        "lostromos.dev/binding": "site",
        "lostromos.dev/owner-namespace": "team-a",
        "lostromos.dev/owner-name": "blog",
        "lostromos.dev/owner-uid": uid,
    }


@dataclass
class Chart:
    path: Path
    name: str
    digest: str
    # what lostromos.redact reads: no writeOnly properties, no subcharts
    version: str = "1.0.0"
    schema: Any = None
    loaded_subcharts: tuple[Any, ...] = ()
    requirements: Any = None


class FakeEngine:
    def __init__(
        self, digest: str = "chart-1", chart_name: str = "site", invalid: bool = False
    ) -> None:
        self.digest = digest
        self.chart = Chart(Path("/charts/site"), chart_name, "content-1")
        self.invalid = invalid
        self.validations = 0

    def user_values(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return dict(spec)

    def validate(self, spec: Any) -> list[Violation]:
        self.validations += 1
        if self.invalid:
            return [Violation(("replicas",), "must be an integer", '"three"')]
        return []


class FakeEngines:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def engine_for(self, binding: Binding) -> FakeEngine:
        return self.engine


@dataclass
class FakeHelm:
    """Releases by (name, namespace); every call is recorded as (action, name, extra)."""

    releases: dict[tuple[str, str], Release] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    fail: dict[str, HelmError] = field(default_factory=dict)
    users: list[str | None] = field(default_factory=list)  # whom each call impersonated
    max_histories: list[int] = field(default_factory=list)  # each upgrade's and rollback's
    secrets: list[str] = field(default_factory=list)  # the sensitive values of the last upgrade

    def _maybe_fail(self, action: str) -> None:
        if action in self.fail:
            raise self.fail[action]

    def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: Any,
        values: Mapping[str, Any],
        *,
        timeout_seconds: int,
        wait: bool = False,
        labels: Mapping[str, str] | None = None,
        impersonate: str | None = None,
        confine: Any = None,
        schema_checked: bool = False,
        max_history: int = 0,
        secrets: Any = (),
    ) -> Release:
        self.secrets = list(secrets)
        self.calls.append(("upgrade", release, dict(labels or {})))
        self.max_histories.append(max_history)
        self.users.append(impersonate)
        self._maybe_fail("upgrade")
        current = self.releases.get((release, namespace))
        revision = current.revision + 1 if current else 1
        merged = {**(current.labels if current else {}), **(labels or {})}
        updated = Release(
            name=release,
            namespace=namespace,
            revision=revision,
            status="deployed",
            chart_name="site",
            chart_version="1.0.0",
            last_deployed="2026-01-01T11:00:00Z",
            labels=merged,
            first_deployed=current.first_deployed if current else "2026-01-01T11:00:00Z",
            resources=(
                {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": release},
            ),
        )
        self.releases[(release, namespace)] = updated
        return updated

    def uninstall(
        self,
        release: str,
        namespace: str,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        confine: Any = None,
    ) -> None:
        self.calls.append(("uninstall", release, None))
        self.users.append(impersonate)
        self._maybe_fail("uninstall")
        self.releases.pop((release, namespace), None)

    def status(
        self, release: str, namespace: str, *, impersonate: str | None = None
    ) -> Release | None:
        self.calls.append(("status", release, None))
        self.users.append(impersonate)
        self._maybe_fail("status")
        return self.releases.get((release, namespace))

    def rollback(
        self,
        release: str,
        namespace: str,
        revision: int,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        max_history: int = 0,
        confine: Any = None,
    ) -> None:
        self.calls.append(("rollback", release, revision))
        self.max_histories.append(max_history)
        self.users.append(impersonate)
        self._maybe_fail("rollback")
        current = self.releases[(release, namespace)]
        self.releases[(release, namespace)] = replace(
            current, revision=current.revision + 1, status="deployed"
        )

    def adopt(
        self, release: Release, *, impersonate: str | None = None, confine: Any = None
    ) -> Release:
        self.calls.append(("adopt", release.name, release.revision))
        self._maybe_fail("adopt")
        signed = replace(release, record="signed")
        self.releases[(release.name, release.namespace)] = signed
        return signed

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.calls]

    def changes(self) -> list[tuple[str, str, Any]]:
        """Every call that could change a release (all but status)."""
        return [call for call in self.calls if call[0] != "status"]


class FakeApi:
    """Finalizer and status merge patches against the informer's current object."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self.status_writes: list[dict[str, Any]] = []
        self.finalizer_writes: list[list[str]] = []
        self.gone = False

    def _current(self, namespace: str, name: str) -> dict[str, Any]:
        if self.gone:
            raise ApiException(status=404, reason="Not Found")
        obj = copy.deepcopy(self.informer.get(f"{namespace}/{name}"))
        assert obj is not None
        metadata = obj["metadata"]
        metadata["resourceVersion"] = str(int(metadata["resourceVersion"]) + 1)
        return obj

    def patch_namespaced_custom_object(  # noqa: PLR0917 - the kubernetes client's signature
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        obj = self._current(namespace, name)
        finalizers = list(body["metadata"]["finalizers"])
        obj["metadata"]["finalizers"] = finalizers
        self.finalizer_writes.append(finalizers)
        return obj

    def patch_namespaced_custom_object_status(  # noqa: PLR0917
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        obj = self._current(namespace, name)
        merged = {**(obj.get("status") or {}), **body["status"]}
        obj["status"] = {k: v for k, v in merged.items() if v is not None}  # null deletes
        self.status_writes.append(copy.deepcopy(body["status"]))
        return obj


@dataclass
class FakeEvents:
    recorded: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        self.recorded.append((event_type, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.recorded]


class NoListing:
    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the reconciler must not list")


class World:
    """One Reconciler wired to fakes, with the object under test in its store."""

    def __init__(
        self,
        obj: dict[str, Any] | None = None,
        *,
        bound: Binding | None = None,
        engine: FakeEngine | None = None,
        dry_run: bool = False,
        rollout: RolloutPolicy | None = None,
        require_service_account: bool = False,
    ) -> None:
        self.binding = bound or binding()
        # the store only: the reconciler never lists or watches
        self.informer = Informer(
            NoListing(),
            self.binding,  # type: ignore[arg-type]
            lambda key: None,
        )
        if obj is not None:
            self.informer.update(obj)
        self.helm = FakeHelm()
        self.api = FakeApi(self.informer)
        self.events = FakeEvents()
        self.engine = engine or FakeEngine()
        self.drift = DriftObservations()
        self.rollout = Rollout(self.binding.name, rollout or RolloutPolicy())
        self.reconciler = Reconciler(
            self.binding,
            self.informer,
            api=self.api,
            engines=FakeEngines(self.engine),
            helm=self.helm,
            events=self.events,
            rollout=self.rollout,
            drift=self.drift,
            dry_run=dry_run,
            require_service_account=require_service_account,
        )

    def reconcile(self, key: str = "team-a/blog") -> Any:
        return self.reconciler.reconcile(key)

    def drift_found(self, key: str = "team-a/blog") -> None:
        """A drift check finds the object's release changed, at the revision its
        status records now."""
        found = self.informer.get(key) or {}
        self.drift.record({key: recorded_revision(found.get("status"))})

    def change_spec(self, spec: dict[str, Any], key: str = "team-a/blog") -> None:
        """Someone applies a new spec: the next generation, as the store sees it."""
        changed = self.obj(key)
        metadata = changed["metadata"]
        generation = metadata.get("generation", 1) + 1
        changed["metadata"] = {
            **metadata,
            "generation": generation,
            "resourceVersion": str(int(metadata.get("resourceVersion") or 0) + 100),
        }
        changed["spec"] = spec
        self.informer.update(changed)

    def obj(self, key: str = "team-a/blog") -> dict[str, Any]:
        found = self.informer.get(key)
        assert found is not None
        return found

    def condition(self, type_: str, key: str = "team-a/blog") -> dict[str, Any]:
        from controller.status import condition

        found = condition(self.obj(key).get("status"), type_)
        assert found is not None, f"no {type_} condition"
        return found


def in_sync_world(**site_changes: Any) -> World:
    """An object whose release was installed by this controller, as stored afterwards."""
    world = World(site(**site_changes))
    world.reconcile()
    world.helm.calls.clear()
    world.events.recorded.clear()
    world.engine.validations = 0
    return world


def release_policy(**changes: Any) -> ReleasePolicy:
    return replace(ReleasePolicy(), **changes)
