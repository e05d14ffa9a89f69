"""The reconciler's ports: what it is handed and what it hands back.

In: Helm (the engine's typed actions), the Deployer that writes a desired state (a
Helm release, controller/reconcile/deployers.py, or an ApplySet, controller/applyset),
the API (the two writes the controller makes to its own kinds), Events, the
informer's store, the binding's values engines, and the drift and rollout
bookkeeping. Each is a Protocol, so the unit tests hand in fakes
(tests/unit/reconcilekit.py) and mypy checks the real ones against the same shape.
Out: a `Result` for the work queue, or a `ReconcileError` to retry with backoff
(controller-runtime's contract).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.drift import DriftReport
from controller.informer import Key
from controller.rollout import RolloutProgress
from lostromos.config import Binding
from lostromos.helmengine import ChartSource, Confinement, Release
from lostromos.values.engine import ValuesEngine


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None
    # The object waits for a change and nothing retries it (the action said why).
    stalled: bool = False


class ReconcileError(RuntimeError):
    """A failure worth retrying with backoff (helm failed, API conflict)."""


class ReleaseReader(Protocol):
    def status(
        self, release: str, namespace: str, *, impersonate: str | None = None
    ) -> Release | None: ...


class HelmActions(ReleaseReader, Protocol):
    def upgrade_install(
        self,
        release: str,
        namespace: str,
        chart: ChartSource | Path,
        values: Mapping[str, Any],
        *,
        timeout_seconds: int,
        wait: bool = False,
        labels: Mapping[str, str] | None = None,
        impersonate: str | None = None,
        confine: Confinement | None = None,
        schema_checked: bool = False,
        max_history: int = 0,
        secrets: Sequence[str] = (),
    ) -> Release: ...

    def uninstall(
        self,
        release: str,
        namespace: str,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> None: ...

    def adopt(
        self,
        release: Release,
        *,
        impersonate: str | None = None,
        confine: Confinement | None = None,
    ) -> Release: ...

    def rollback(
        self,
        release: str,
        namespace: str,
        revision: int,
        *,
        timeout_seconds: int,
        impersonate: str | None = None,
        max_history: int = 0,
        confine: Confinement | None = None,
    ) -> None: ...


class DesiredState(Protocol):
    """What a deployer is asked to write (controller.reconcile.observe.Desired)."""

    @property
    def values(self) -> dict[str, Any]: ...
    @property
    def chart(self) -> ChartSource: ...
    @property
    def chart_name(self) -> str: ...
    @property
    def chart_version(self) -> str: ...


class ForeignObjects(Exception):
    """Objects the desired state renders exist and belong to someone else: nothing
    was written, and nothing will be until they go (or the chart stops rendering them)."""

    def __init__(self, objects: Sequence[str], message: str) -> None:
        self.objects = tuple(objects)
        self.message = message
        super().__init__(message)


class Deployer(Protocol):
    """How a desired state reaches the cluster, one implementation per binding's
    `deployer`: a Helm release (HelmDeployer) or an ApplySet whose parent is the
    object (controller/applyset). The units above (observe, apply, delete) call only
    this; the Helm-only units (recover, adopt) act on Helm releases, which an
    ApplySet binding never has."""

    name: str  # the binding's `deployer`

    def current(self, obj: dict[str, Any], release: str, namespace: str) -> Release | None:
        """What is deployed for the object now (None: nothing yet)."""
        ...

    def deploy(
        self,
        obj: dict[str, Any],
        release: str,
        namespace: str,
        desired: DesiredState,
        *,
        labels: Mapping[str, str],
        secrets: Sequence[str],
    ) -> Release:
        """Write the desired state; raise HelmError (retried) or ForeignObjects."""
        ...

    def remove(self, obj: dict[str, Any], release: str, namespace: str) -> None:
        """Delete everything deployed for the object (it is being deleted)."""
        ...

    def status_fields(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What status.release says besides the release itself."""
        ...


class ObjectApi(Protocol):
    """The two writes the controller makes to its own kinds (CustomObjectsApi)."""

    # The kubernetes client's own (positional) signatures.
    def patch_namespaced_custom_object(  # noqa: PLR0917
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any: ...

    def patch_namespaced_custom_object_status(  # noqa: PLR0917
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any: ...


class Events(Protocol):
    def record(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None: ...


class Store(Protocol):
    """The informer's store, read."""

    def get(self, key: Key) -> dict[str, Any] | None: ...


class StoreWriter(Protocol):
    """The informer's store, told of the controller's own writes."""

    def update(self, obj: dict[str, Any]) -> None: ...


class Engines(Protocol):
    def engine_for(self, binding: Binding) -> ValuesEngine: ...


class DriftView(Protocol):
    def get(self, key: Key, revision: int) -> DriftReport | None: ...


class DriftAcknowledger(Protocol):
    def acknowledge(self, key: Key, report: DriftReport) -> None: ...

    def forget(self, key: Key) -> None: ...


class RolloutView(Protocol):
    def would_admit(self, target: str) -> bool: ...


class RolloutGate(Protocol):
    def begin(self, target: str) -> bool: ...

    def finish(self, target: str, *, succeeded: bool) -> None: ...

    def halted(self, target: str) -> bool: ...

    def progress(self) -> RolloutProgress: ...
