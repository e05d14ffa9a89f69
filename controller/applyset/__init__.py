"""The `applyset` deployer: a chart's rendered objects applied with server-side apply
and tracked as a KEP-3659 ApplySet whose parent is the bound object (deployer.py;
api.py has its requests, lostromos/applyset.py the conventions)."""

from __future__ import annotations

from kubernetes import client

from controller.applyset.api import ClusterApi
from controller.applyset.deployer import ApplySetDeployer, Renderer
from controller.informer import Informer
from controller.reconcile.writer import ObjectWriter
from lostromos.applyset import APPLYSET
from lostromos.config import Binding
from lostromos.version import build_info


def deployer_for(
    binding: Binding,
    api_client: client.ApiClient,
    custom: client.CustomObjectsApi,
    informer: Informer,
    renderer: Renderer,
) -> ApplySetDeployer | None:
    """The binding's deployer when it is not Helm's (the Reconciler's default)."""
    if binding.deployer != APPLYSET:
        return None
    return ApplySetDeployer(
        binding,
        api=ClusterApi(api_client),
        renderer=renderer,  # the engine that knows each kind's scope, for the confinement
        parent=ObjectWriter(binding, api=custom, store=informer),
        version=build_info().version,
    )
