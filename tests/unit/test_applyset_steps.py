"""The applyset deployer's steps in order, over an in-memory API (the real requests
are exercised on the real API server in tests/e2e/test_applyset_deployer.py): the
parent annotated with the union of kinds before anything is applied and shrunk
after the prune, a foreign object refusing the whole deploy before any write,
and a delete removing every member and only members."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.applyset.api import Resource
from controller.applyset.deployer import ApplySetDeployer
from controller.reconcile.ports import ForeignObjects
from lostromos.applyset import (
    GROUP_KINDS_ANNOTATION,
    ID_LABEL,
    PART_OF_LABEL,
    GroupKind,
    Member,
    applyset_id,
)
from lostromos.helmengine import ChartSource, HelmError, Rendered
from tests.unit.reconcilekit import binding, site

RESOURCES = {
    ("v1", "ConfigMap"): Resource("v1", "ConfigMap", "configmaps", True),
    ("v1", "ServiceAccount"): Resource("v1", "ServiceAccount", "serviceaccounts", True),
    ("apps/v1", "Deployment"): Resource("apps/v1", "Deployment", "deployments", True),
}
SET_ID = applyset_id("blog", "team-a", "Site", "hosting.example.com")


@dataclass
class MemoryApi:
    """The cluster's objects by (group, kind, namespace, name), and every call in order."""

    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return RESOURCES.get((api_version, kind))

    def resource_of(self, group_kind: GroupKind) -> Resource | None:
        version = f"{group_kind.group}/v1" if group_kind.group else "v1"
        return self.resource(version, group_kind.kind)

    def get(self, resource: Resource, namespace: str, name: str, *, user: Any) -> Any:
        self.calls.append(f"get {resource.kind} {name}")
        return self.objects.get((resource.group, resource.kind, namespace, name))

    def apply(self, resource: Resource, namespace: str, body: dict[str, Any], *, user: Any) -> Any:
        name = body["metadata"]["name"]
        self.calls.append(f"apply {resource.kind} {name}")
        self.objects[(resource.group, resource.kind, namespace, name)] = body
        return body

    def members(self, resource: Resource, namespace: str, selector: str, *, user: Any) -> Any:
        self.calls.append(f"list {resource.kind}")
        label, _, value = selector.partition("=")
        return [
            Member(group, kind, ns, name, uid=f"uid-{name}")
            for (group, kind, ns, name), obj in sorted(self.objects.items())
            if (group, kind, ns) == (resource.group, resource.kind, namespace)
            and obj["metadata"].get("labels", {}).get(label) == value
        ]

    def delete(self, resource: Resource, member: Member, *, user: Any) -> None:
        self.calls.append(f"delete {resource.kind} {member.name}")
        del self.objects[member.identity]


@dataclass
class Parent:
    """The bound object's labels and annotations, as each write left them."""

    writes: list[dict[str, str]] = field(default_factory=list)
    api: MemoryApi | None = None

    def label_parent(self, obj: dict[str, Any], labels: Any, annotations: Any) -> dict[str, Any]:
        metadata = obj["metadata"]
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
        self.writes.append(dict(metadata["annotations"]))
        if self.api is not None:
            self.api.calls.append(f"parent {metadata['annotations'][GROUP_KINDS_ANNOTATION]}")
        return obj


@dataclass
class Manifest:
    text: str = ""

    def render(self, chart: Any, release: str, namespace: str, values: Any, **_: Any) -> Rendered:
        return Rendered(self.text, ())


@dataclass(frozen=True)
class Wanted:
    values: dict[str, Any] = field(default_factory=dict)
    chart: ChartSource = field(default_factory=lambda: ChartSource("/charts/site", "digest"))
    chart_name: str = "site"
    chart_version: str = "1.0.0"


def manifest(*objects: tuple[str, str, str]) -> str:
    return "\n---\n".join(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}"
        for api_version, kind, name in objects
    )


CM = ("v1", "ConfigMap", "blog-settings")
SA = ("v1", "ServiceAccount", "blog")
DEPLOYMENT = ("apps/v1", "Deployment", "blog")


@pytest.fixture
def world() -> tuple[ApplySetDeployer, MemoryApi, Parent, Manifest]:
    api = MemoryApi()
    parent = Parent(api=api)
    rendered = Manifest()
    deployer = ApplySetDeployer(
        binding(deployer="applyset"),
        api=api,  # type: ignore[arg-type]
        renderer=rendered,
        parent=parent,
        version="1.2.3",
    )
    return deployer, api, parent, rendered


def deploy(deployer: ApplySetDeployer, obj: dict[str, Any]) -> Any:
    return deployer.deploy(obj, "blog", "team-a", Wanted(), labels={}, secrets=())


def test_install_labels_every_member_and_annotates_the_parent_first(world) -> None:
    deployer, api, _, rendered = world
    rendered.text = manifest(CM, SA, DEPLOYMENT)
    obj = site()
    release = deploy(deployer, obj)
    assert obj["metadata"]["labels"][ID_LABEL] == SET_ID
    assert obj["metadata"]["annotations"]["applyset.kubernetes.io/tooling"] == "lostromos/v1.2.3"
    applies = [call for call in api.calls if call.startswith("apply")]
    assert api.calls.index("parent ConfigMap,Deployment.apps,ServiceAccount") < api.calls.index(
        applies[0]
    )
    assert all(o["metadata"]["labels"][PART_OF_LABEL] == SET_ID for o in api.objects.values())
    assert all(o["metadata"]["namespace"] == "team-a" for o in api.objects.values())
    assert (release.revision, release.status, len(release.resources)) == (1, "deployed", 3)


def test_a_first_install_lists_no_members_and_an_upgrade_lists_every_recorded_kind(
    world,
) -> None:
    deployer, api, _, rendered = world
    rendered.text = manifest(CM, SA)
    obj = site()
    deploy(deployer, obj)
    assert not [call for call in api.calls if call.startswith("list")]
    api.calls.clear()
    rendered.text = manifest(CM, DEPLOYMENT)
    deploy(deployer, obj)
    lists = [call for call in api.calls if call.startswith("list")]
    assert sorted(lists) == ["list ConfigMap", "list Deployment", "list ServiceAccount"]


def test_an_upgrade_prunes_after_applying_and_then_shrinks_the_kinds(world) -> None:
    deployer, api, parent, rendered = world
    rendered.text = manifest(CM, SA, DEPLOYMENT)
    obj = site()
    deploy(deployer, obj)
    obj["status"] = {"release": {"revision": 1, "status": "deployed"}}
    api.calls.clear()
    rendered.text = manifest(CM, DEPLOYMENT)
    assert deploy(deployer, obj).revision == 2
    assert api.calls[-4:] == [
        "apply ConfigMap blog-settings",
        "apply Deployment blog",
        "delete ServiceAccount blog",
        "parent ConfigMap,Deployment.apps",
    ]
    # while applying, the annotation still named the kind being pruned
    assert parent.writes[-2][GROUP_KINDS_ANNOTATION] == "ConfigMap,Deployment.apps,ServiceAccount"
    assert ("", "ServiceAccount", "team-a", "blog") not in api.objects


def test_someone_elses_object_under_a_rendered_name_stops_the_deploy_before_any_write(
    world,
) -> None:
    deployer, api, parent, rendered = world
    rendered.text = manifest(CM, DEPLOYMENT)
    theirs = {"metadata": {"name": "blog-settings", "labels": {"app": "theirs"}}}
    api.objects[("", "ConfigMap", "team-a", "blog-settings")] = theirs
    with pytest.raises(ForeignObjects) as raised:
        deploy(deployer, site())
    assert raised.value.objects == ("ConfigMap team-a/blog-settings",)
    assert PART_OF_LABEL in raised.value.message
    assert parent.writes == []
    assert not [call for call in api.calls if call.startswith(("apply", "delete"))]
    assert api.objects[("", "ConfigMap", "team-a", "blog-settings")] is theirs


def test_a_member_of_another_set_is_foreign_too(world) -> None:
    deployer, api, _, rendered = world
    rendered.text = manifest(CM)
    other = applyset_id("shop", "team-a", "Site", "hosting.example.com")
    labelled = {"metadata": {"name": "blog-settings", "labels": {PART_OF_LABEL: other}}}
    api.objects[("", "ConfigMap", "team-a", "blog-settings")] = labelled
    with pytest.raises(ForeignObjects):
        deploy(deployer, site())


def test_remove_deletes_every_member_and_nothing_else(world) -> None:
    deployer, api, _, rendered = world
    rendered.text = manifest(CM, SA, DEPLOYMENT)
    obj = site()
    deploy(deployer, obj)
    bystander = {"metadata": {"name": "unrelated", "labels": {"app": "blog"}}}
    api.objects[("", "ConfigMap", "team-a", "unrelated")] = bystander
    deployer.remove(obj, "blog", "team-a")
    assert list(api.objects) == [("", "ConfigMap", "team-a", "unrelated")]


def test_hooks_are_not_applied(world) -> None:
    deployer, api, _, rendered = world
    hook = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook\n  annotations:\n"
    rendered.text = manifest(CM) + "\n---\n" + hook + "    helm.sh/hook: post-install\n"
    deploy(deployer, site())
    assert [key[3] for key in api.objects] == ["blog-settings"]


def test_the_set_is_reported_only_once_the_parent_carries_its_id(world) -> None:
    deployer, *_ = world
    obj = site()
    assert deployer.current(obj, "blog", "team-a") is None
    obj["metadata"]["labels"] = {ID_LABEL: SET_ID}
    current = deployer.current(obj, "blog", "team-a")
    assert current is not None and current.status == "unknown"
    obj["status"] = {"release": {"revision": 3, "status": "pending-install"}}
    current = deployer.current(obj, "blog", "team-a")
    assert current is not None and (current.revision, current.status) == (3, "unknown")


def test_a_set_another_tool_manages_is_not_changed(world) -> None:
    deployer, api, parent, rendered = world
    rendered.text = manifest(CM)
    obj = site(annotations={"applyset.kubernetes.io/tooling": "kubectl/v1.33.0"})
    with pytest.raises(HelmError, match=r"managed by kubectl/v1\.33\.0"):
        deploy(deployer, obj)
    assert parent.writes == [] and api.objects == {}
