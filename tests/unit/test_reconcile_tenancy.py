"""--require-service-account: a binding that names no ServiceAccount gets no Helm
call at all, and everything the controller reads of a tenant's release (Helm's
status, the drift check's lists) goes through that tenant's ServiceAccount."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from controller.drift import DriftChecker
from controller.informer import Informer
from controller.reconcile import FINALIZER
from lostromos.config import Selector
from tests.unit.reconcilekit import NoListing, World, binding, site

TENANT = "system:serviceaccount:team-a:deployer"


def test_a_binding_naming_no_service_account_is_refused_with_no_helm_call() -> None:
    world = World(site(finalizer=False), require_service_account=True)
    world.reconcile()
    assert world.helm.calls == []
    ready, stalled = world.condition("Ready"), world.condition("Stalled")
    assert ready["status"] == "False" and ready["reason"] == "ServiceAccountRequired"
    assert stalled["status"] == "True" and stalled["reason"] == "ServiceAccountRequired"
    assert 'binding "site" names no serviceAccountName' in ready["message"]
    assert "--require-service-account" in ready["message"]
    assert world.api.finalizer_writes == []  # nothing is installed, so nothing to clean up
    assert world.events.reasons() == ["ServiceAccountRequired"]

    writes = len(world.api.status_writes)
    world.reconcile()  # a resync: the same answer, no new write, no second event
    assert world.helm.calls == []
    assert len(world.api.status_writes) == writes
    assert world.events.reasons() == ["ServiceAccountRequired"]


def test_a_refused_binding_keeps_the_finalizer_of_a_deleting_object() -> None:
    # A release made before the mode was switched on is neither uninstalled nor
    # orphaned as the controller's own identity: the object waits, saying why.
    world = World(site(deletionTimestamp="2026-01-02T00:00:00Z"), require_service_account=True)
    world.reconcile()
    assert world.helm.calls == []
    assert world.obj()["metadata"]["finalizers"] == [FINALIZER]
    assert world.condition("Ready")["reason"] == "ServiceAccountRequired"


def test_a_refused_binding_leaves_objects_it_does_not_serve_alone() -> None:
    world = World(
        site(finalizer=False),
        bound=binding(
            selector=Selector(annotation_key="lostromos.dev/controller", annotation_value="eu")
        ),
        require_service_account=True,
    )
    world.reconcile()
    assert world.helm.calls == [] and world.api.status_writes == []


def test_dry_run_of_a_refused_binding_writes_nothing() -> None:
    world = World(site(finalizer=False), require_service_account=True, dry_run=True)
    world.reconcile()
    assert world.helm.calls == [] and world.api.status_writes == []


def test_with_a_service_account_every_helm_call_impersonates_it() -> None:
    world = World(
        site(finalizer=False),
        bound=binding(service_account_name="deployer"),
        require_service_account=True,
    )
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade"]
    assert world.condition("Ready")["status"] == "True"
    obj = world.obj()
    obj["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    world.informer.update(obj)
    world.reconcile()
    assert world.helm.actions() == ["status", "upgrade", "status", "uninstall"]
    assert world.helm.users == [TENANT] * 4


# -- drift, through the tenant's eyes -----------------------------------------------


class Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.reason = "Forbidden" if status == 403 else "OK"
        self.data = json.dumps(body).encode()

    def read(self) -> None:
        pass


class FakeApiClient:
    """The two calls the drift checker makes, answered from `listings` by
    (path, impersonated user); anything else is a 403, as RBAC would answer."""

    def __init__(self, listings: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
        self.listings = listings
        self.requests: list[tuple[str, str | None]] = []

    def param_serialize(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = kwargs.get("header_params") or {}
        return method, path, dict(headers), None, None

    def call_api(self, method: str, url: str, headers: Any, *args: Any, **kwargs: Any) -> Any:
        if url == "/api/v1":
            resources = [
                {"name": "services", "kind": "Service", "namespaced": True},
                {"name": "secrets", "kind": "Secret", "namespaced": True},
            ]
            return Response(200, {"resources": resources})
        if url.startswith("/apis/") and url.count("/") == 3:
            return Response(404, {})  # an API group version nobody serves
        user = headers.get("Impersonate-User")
        self.requests.append((url, user))
        items = self.listings.get((url, user))
        if items is None:
            return Response(403, {})
        return Response(200, {"items": [{"metadata": m} for m in items]})


def released(namespace: str, name: str) -> dict[str, Any]:
    obj = site(name, namespace=namespace)
    obj["status"] = {
        "release": {
            "revision": 1,
            "resources": [
                {"apiVersion": "v1", "kind": "Service", "namespace": namespace, "name": name}
            ],
        }
    }
    return obj


def checker(api: FakeApiClient, *objects: dict[str, Any]) -> DriftChecker:
    bound = binding(service_account_name="deployer")
    informer = Informer(NoListing(), bound, lambda key: None)  # type: ignore[arg-type]
    for obj in objects:
        informer.update(obj)
    return DriftChecker(api, informer, lambda key: None, 60, user_for=bound.helm_user)  # type: ignore[arg-type]


def test_drift_lists_each_namespace_as_its_service_account() -> None:
    api = FakeApiClient(
        {
            ("/api/v1/namespaces/team-a/services", TENANT): [
                {"namespace": "team-a", "name": "blog", "managedFields": []}
            ],
            ("/api/v1/namespaces/team-b/services", "system:serviceaccount:team-b:deployer"): [],
        }
    )
    drifted = checker(api, released("team-a", "blog"), released("team-b", "shop")).check()
    assert drifted == {"team-b/shop": 1}  # its Service is gone, expected at revision 1
    assert sorted(api.requests) == [
        ("/api/v1/namespaces/team-a/services", TENANT),
        ("/api/v1/namespaces/team-b/services", "system:serviceaccount:team-b:deployer"),
    ]  # never a cluster-wide list, never as the controller itself


def test_what_a_tenant_may_not_list_is_not_taken_for_missing() -> None:
    api = FakeApiClient({})  # every list is refused
    assert checker(api, released("team-a", "blog")).check() == {}
    assert api.requests == [("/api/v1/namespaces/team-a/services", TENANT)]


def test_without_a_service_account_drift_lists_as_the_controller() -> None:
    api = FakeApiClient({("/api/v1/services", None): []})
    informer = Informer(NoListing(), binding(), lambda key: None)  # type: ignore[arg-type]
    informer.update(released("team-a", "blog"))
    drifted = DriftChecker(api, informer, lambda key: None, 60).check()  # type: ignore[arg-type]
    assert list(drifted) == ["team-a/blog"]
    assert api.requests == [("/api/v1/services", None)]


def test_a_forbidden_list_as_the_controller_is_still_an_error() -> None:
    api = FakeApiClient({})
    informer = Informer(NoListing(), binding(), lambda key: None)  # type: ignore[arg-type]
    informer.update(released("team-a", "blog"))
    try:
        DriftChecker(api, informer, lambda key: None, 60).check()  # type: ignore[arg-type]
    except ApiException as error:
        assert error.status == 403
    else:
        raise AssertionError("a 403 on the controller's own list must not pass silently")


def test_a_forged_status_entry_fails_no_other_objects_drift_check() -> None:
    # team-b's status names a kind nobody serves and a Secret in kube-system: the
    # first is skipped, the second is not even looked at, and team-a's missing
    # Service is still found.
    forged = released("team-b", "shop")
    forged["status"]["release"]["resources"] += [
        {
            "apiVersion": "forged.example.com/v1",
            "kind": "Bogus",
            "namespace": "team-b",
            "name": "x",
        },
        {"apiVersion": "v1", "kind": "Secret", "namespace": "kube-system", "name": "token"},
    ]
    api = FakeApiClient({("/api/v1/services", None): []})
    informer = Informer(NoListing(), binding(), lambda key: None)  # type: ignore[arg-type]
    informer.update(released("team-a", "blog"))
    informer.update(forged)
    drifted = DriftChecker(api, informer, lambda key: None, 60).check()  # type: ignore[arg-type]
    assert list(drifted) == ["team-a/blog", "team-b/shop"]  # both Services are missing
    assert ("/api/v1/secrets", None) not in api.requests


def test_one_kind_that_may_not_be_listed_costs_only_that_kind() -> None:
    forged = released("team-b", "shop")
    forged["status"]["release"]["resources"] = [
        {"apiVersion": "v1", "kind": "Secret", "namespace": "team-b", "name": "shop"}
    ]
    api = FakeApiClient({("/api/v1/services", None): []})  # secrets: 403
    informer = Informer(NoListing(), binding(), lambda key: None)  # type: ignore[arg-type]
    informer.update(released("team-a", "blog"))
    informer.update(forged)
    drifted = DriftChecker(api, informer, lambda key: None, 60).check()  # type: ignore[arg-type]
    assert list(drifted) == ["team-a/blog"]
