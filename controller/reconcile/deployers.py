"""The Helm deployer: a desired state written as a Helm release (`helm upgrade
--install`), read with `helm status`, removed with `helm uninstall`. The default
`deployer` of a binding; controller/applyset holds the other.

Every call carries the binding's impersonation (its ServiceAccount of the object's
namespace) and confinement (what the chart renders stays in the object's namespace
and the binding's cluster-scoped kinds), checked by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.reconcile.ports import DesiredState, HelmActions
from lostromos.applyset import HELM
from lostromos.config import Binding
from lostromos.helmengine import Release


class HelmDeployer:
    name = HELM

    def __init__(self, binding: Binding, helm: HelmActions) -> None:
        self.binding = binding
        self.helm = helm

    def current(self, obj: dict[str, Any], release: str, namespace: str) -> Release | None:
        return self.helm.status(release, namespace, impersonate=self.binding.helm_user(namespace))

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
        binding = self.binding
        return self.helm.upgrade_install(
            release,
            namespace,
            desired.chart,
            desired.values,
            timeout_seconds=binding.release.timeout_seconds,
            wait=binding.release.wait,
            labels=labels,
            # what the chart renders stays in the object's namespace, and the API
            # server bounds the rest by the binding's ServiceAccount there
            impersonate=binding.helm_user(namespace),
            confine=binding.confinement(namespace),
            schema_checked=True,  # observe validated these values (the Helm-exact engine)
            # every upgrade and repair prunes the release's history, as `helm upgrade`
            max_history=binding.release.max_history,
            secrets=secrets,
        )

    def remove(self, obj: dict[str, Any], release: str, namespace: str) -> None:
        self.helm.uninstall(
            release,
            namespace,
            timeout_seconds=self.binding.release.timeout_seconds,
            impersonate=self.binding.helm_user(namespace),
            confine=self.binding.confinement(namespace),
        )

    def status_fields(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {}
