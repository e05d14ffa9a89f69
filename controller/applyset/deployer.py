"""The applyset deployer: the chart rendered by the Helm engine (`helm template`
semantics, the same values), its objects applied with server-side apply as field
manager `lostromos`, and tracked as a KEP-3659 ApplySet whose parent is the bound
object (lostromos/applyset.py has the conventions). No Helm release record is
written: the set's members are found by their part-of label.

One deploy, in kubectl's order:
  1. render, with the binding's confinement checked by the engine on every object
     (the engine that knows each kind's scope from discovery);
  2. list the set's members (metadata only, one LIST per group-kind the parent's
     annotation or the render names, in the object's namespace; none when the
     annotation names no kind yet, as on a first install);
  3. refuse, touching nothing, when a rendered name exists without this set's
     part-of label (someone else's object);
  4. label and annotate the parent: id, tooling, and the union of the old and new
     group-kinds, so a deploy that stops half way leaves every member findable;
  5. apply every object (force: the object, through its chart, is the source of
     truth for every field it sets);
  6. prune: delete the members no longer rendered (preconditioned on their UID);
  7. shrink the group-kinds annotation to what the set now holds.

Every member request runs as the binding's ServiceAccount (ClusterApi). The parent
is written as the controller, as its finalizer and status are.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import yaml
from kubernetes.client.exceptions import ApiException

from controller.applyset.api import ClusterApi, Resource
from controller.ownership import UID_LABEL
from controller.reconcile.ports import DesiredState, ForeignObjects
from controller.status import recorded_revision
from lostromos.applyset import (
    APPLYSET,
    GROUP_KINDS_ANNOTATION,
    HOOK_ANNOTATION,
    ID_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PART_OF_LABEL,
    TOOLING_ANNOTATION,
    TOOLING_NAME,
    GroupKind,
    Member,
    applyset_id,
    foreign,
    format_group_kinds,
    group_kinds_after_apply,
    parse_group_kinds,
    prune_targets,
    tooling,
)
from lostromos.config import Binding
from lostromos.helmengine import ChartSource, Confinement, ErrorCode, HelmError, Release, Rendered


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as the API server reads it: a date stays the string it was written as."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class Renderer(Protocol):
    """`helm template` in the engine that knows the cluster's kinds (HelmEngine.render)."""

    def render(
        self,
        chart: ChartSource,
        release: str,
        namespace: str,
        values: Mapping[str, Any],
        *,
        confine: Confinement | None = None,
        timeout_seconds: float = 10.0,
        schema_checked: bool = False,
        secrets: Sequence[str] = (),
    ) -> Rendered: ...


class ParentWriter(Protocol):
    """Merge-patches the bound object's own labels and annotations (ObjectWriter)."""

    def label_parent(
        self, obj: dict[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> dict[str, Any]: ...


class ApplySetDeployer:
    name = APPLYSET

    def __init__(
        self,
        binding: Binding,
        *,
        api: ClusterApi,
        renderer: Renderer,
        parent: ParentWriter,
        version: str,
    ) -> None:
        self.binding = binding
        self.api = api
        self.renderer = renderer
        self.parent = parent
        self.tooling = tooling(version)

    def set_id(self, obj: Mapping[str, Any]) -> str:
        metadata = obj.get("metadata") or {}
        return applyset_id(
            str(metadata.get("name", "")),
            str(metadata.get("namespace", "")),
            self.binding.kind,
            self.binding.group,
        )

    def current(self, obj: dict[str, Any], release: str, namespace: str) -> Release | None:
        """The set as the object records it; None before the first deploy labelled the
        parent. The set is this object's by construction (its id is the object's own
        name, namespace and kind), so it is always reported as ours."""
        metadata = obj.get("metadata") or {}
        recorded = (obj.get("status") or {}).get("release") or {}
        labelled = (metadata.get("labels") or {}).get(ID_LABEL) == self.set_id(obj)
        if not labelled and recorded.get("applySet") != self.set_id(obj):
            return None
        return Release(
            name=release,
            namespace=namespace,
            revision=recorded_revision(obj.get("status")),
            # only ever deployed: a set has no pending state (and a forged status
            # must not send it to the Helm-only recovery)
            status="deployed" if recorded.get("status") == "deployed" else "unknown",
            chart_name=str(recorded.get("chart") or ""),
            chart_version=str(recorded.get("chartVersion") or ""),
            last_deployed=str(recorded.get("lastDeployed") or ""),
            labels={UID_LABEL: str(metadata.get("uid") or "")},
        )

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
        set_id = self.set_id(obj)
        user = self.binding.helm_user(namespace)
        rendered = self.renderer.render(
            desired.chart,
            release,
            namespace,
            desired.values,
            confine=self.binding.confinement(namespace),
            timeout_seconds=float(self.binding.release.timeout_seconds),
            schema_checked=True,
            secrets=secrets,
        )
        objects = [self._resolved(body, namespace, set_id) for body in documents(rendered.manifest)]
        members = [_member(resource, body) for resource, body in objects]
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        _refuse_other_tooling(annotations.get(TOOLING_ANNOTATION), set_id)
        before = parse_group_kinds(annotations.get(GROUP_KINDS_ANNOTATION))
        after = {member.group_kind for member in members}
        # The kinds are recorded on the parent before any member is applied (step 4),
        # so a parent that records none has no members yet: a first install lists
        # nothing (in a namespace of a thousand Sites, each LIST filters them all).
        listed = self._members(before | after, namespace, set_id, user) if before else []
        self._refuse_foreign(objects, members, listed, set_id, user)
        obj = self.parent.label_parent(
            obj,
            {ID_LABEL: set_id},
            {
                TOOLING_ANNOTATION: self.tooling,
                GROUP_KINDS_ANNOTATION: group_kinds_after_apply(before, after),
            },
        )
        for (resource, body), member in zip(objects, members, strict=True):
            with _refused("apply", member):
                self.api.apply(resource, namespace, body, user=user)
        self._delete(prune_targets(listed, members), "prune", user)
        if format_group_kinds(after) != format_group_kinds(before | after):
            self.parent.label_parent(obj, {}, {GROUP_KINDS_ANNOTATION: format_group_kinds(after)})
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Release(
            name=release,
            namespace=namespace,
            revision=recorded_revision(obj.get("status")) + 1,
            status="deployed",
            chart_name=desired.chart_name,
            chart_version=desired.chart_version,
            last_deployed=now,
            resources=tuple(
                {
                    "apiVersion": str(body.get("apiVersion", "")),
                    "kind": str(body.get("kind", "")),
                    "namespace": member.namespace,
                    "name": member.name,
                }
                for (_, body), member in zip(objects, members, strict=True)
            ),
            labels=dict(labels),
        )

    def remove(self, obj: dict[str, Any], release: str, namespace: str) -> None:
        """Delete every member: of each group-kind the parent's annotation or the
        recorded resources name, whatever carries this set's part-of label."""
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        recorded = ((obj.get("status") or {}).get("release") or {}).get("resources") or ()
        kinds = parse_group_kinds(annotations.get(GROUP_KINDS_ANNOTATION)) | {
            GroupKind.of(str(item.get("apiVersion", "")), str(item.get("kind", "")))
            for item in recorded
            if isinstance(item, dict)
        }
        user = self.binding.helm_user(namespace)
        self._delete(self._members(kinds, namespace, self.set_id(obj), user), "delete", user)

    def status_fields(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"deployer": APPLYSET, "applySet": self.set_id(obj)}

    # -- the steps -------------------------------------------------------------------

    def _resolved(
        self, body: dict[str, Any], namespace: str, set_id: str
    ) -> tuple[Resource, dict[str, Any]]:
        """Where a rendered object is served, and the body to apply: our labels added,
        the object's namespace filled in as Helm does (none for a cluster-scoped kind)."""
        api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
        name = str((body.get("metadata") or {}).get("name", ""))
        try:
            resource = self.api.resource(api_version, kind)
        except ApiException as error:
            raise _failure("discover", f"{kind} {name}", error) from error
        if resource is None:
            raise HelmError(
                "apply",
                f"{kind} {name}: the API server serves no kind {kind} in {api_version}",
                code=ErrorCode.KUBE,
            )
        body = copy.deepcopy(body)
        metadata = body.setdefault("metadata", {})
        if resource.namespaced:
            metadata["namespace"] = metadata.get("namespace") or namespace
        else:
            metadata.pop("namespace", None)
        labels = metadata.get("labels") or {}
        metadata["labels"] = {**labels, PART_OF_LABEL: set_id, MANAGED_BY_LABEL: MANAGED_BY}
        return resource, body

    def _delete(self, members: Iterable[Member], verb: str, user: str | None) -> None:
        for member in members:
            with _refused(verb, member):
                resource = self.api.resource_of(member.group_kind)
                if resource is not None:
                    self.api.delete(resource, member, user=user)

    def _members(
        self, kinds: Iterable[GroupKind], namespace: str, set_id: str, user: str | None
    ) -> list[Member]:
        """The set's members of these kinds, inside the binding's confinement only: the
        object's namespace, and cluster-scoped kinds the binding allows."""
        found: list[Member] = []
        for group_kind in sorted(kinds):
            try:
                resource = self.api.resource_of(group_kind)
                if resource is None:
                    continue  # no longer served: nothing of it can exist
                if not resource.namespaced and group_kind.kind not in (
                    self.binding.cluster_scoped_kinds
                ):
                    continue
                found += self.api.members(
                    resource, namespace, f"{PART_OF_LABEL}={set_id}", user=user
                )
            except ApiException as error:
                raise _failure("list", str(group_kind), error) from error
        return found

    def _refuse_foreign(
        self,
        objects: Sequence[tuple[Resource, dict[str, Any]]],
        members: Sequence[Member],
        listed: Sequence[Member],
        set_id: str,
        user: str | None,
    ) -> None:
        known = {member.identity for member in listed}
        conflicts = []
        for (resource, _), member in zip(objects, members, strict=True):
            if member.identity in known:
                continue  # labelled part-of this set: ours
            try:
                existing = self.api.get(resource, member.namespace, member.name, user=user)
            except ApiException as error:
                raise _failure("get", member.describe(), error) from error
            if foreign(existing, set_id):
                conflicts.append(member.describe())
        if conflicts:
            raise ForeignObjects(
                conflicts,
                f"{', '.join(conflicts)} already exist{'s' if len(conflicts) == 1 else ''} "
                f"without this object's ApplySet label ({PART_OF_LABEL}={set_id}) and "
                "belong to something else: nothing was applied",
            )


def _refuse_other_tooling(annotation: str | None, set_id: str) -> None:
    """An ApplySet another tool manages is not changed (KEP-3659: tools refuse to
    mutate a set whose tooling annotation names another tool, as kubectl does)."""
    tool = (annotation or "").partition("/")[0]
    if tool and tool != TOOLING_NAME:
        raise HelmError(
            "apply",
            f"this object is the parent of ApplySet {set_id}, managed by {annotation} "
            f"({TOOLING_ANNOTATION}); lostromos does not change a set another tool manages",
            code=ErrorCode.KUBE,
        )


def documents(manifest: str) -> list[dict[str, Any]]:
    """The rendered objects to apply: every YAML document that is an object, hooks
    excepted (the applyset deployer runs no Helm hooks)."""
    found = []
    for document in yaml.load_all(manifest, Loader=_Loader):
        if not isinstance(document, dict) or not document.get("kind"):
            continue
        annotations = (document.get("metadata") or {}).get("annotations") or {}
        if HOOK_ANNOTATION in annotations:
            continue
        found.append(document)
    return found


def _member(resource: Resource, body: Mapping[str, Any]) -> Member:
    metadata = body.get("metadata") or {}
    return Member(
        resource.group,
        resource.kind,
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


@contextmanager
def _refused(verb: str, member: Member) -> Iterator[None]:
    try:
        yield
    except ApiException as error:
        raise _failure(verb, member.describe(), error) from error


def _failure(verb: str, what: str, error: ApiException) -> HelmError:
    """An API refusal as the failed deploy it is; retried without counting against
    the object when the API server was only unavailable or busy."""
    status = int(error.status or 0)
    return HelmError(
        "apply",
        f"{verb} {what}: {status} {error.reason}",
        code=ErrorCode.KUBE,
        retryable=status in {0, 429} or status >= 500,
    )
