"""ApplySets (KEP-3659): the labels and annotations `kubectl apply --prune --applyset`
reads, and the pure rules of the `applyset` deployer built on them.

A binding with `deployer: applyset` applies its chart's rendered objects with
server-side apply and tracks them as an ApplySet whose parent is the bound object
itself (controller/applyset). The conventions are kubectl's, exactly as its
source (k8s.io/kubectl/pkg/cmd/apply/applyset.go) writes them, so a person can
inspect a set with kubectl:

- the parent carries the label `applyset.kubernetes.io/id` =
  `applyset-<base64url, unpadded, of sha256("<name>.<namespace>.<Kind>.<group>")>-v1`;
- the parent's annotation `applyset.kubernetes.io/tooling` names the tool that
  manages the set (`lostromos/v<version>`; kubectl refuses to change a set another
  tool manages) and `applyset.kubernetes.io/contains-group-kinds` lists every
  group-kind that may have members, sorted, as `Kind.group` (`Kind` for the core group);
- every member carries `applyset.kubernetes.io/part-of=<id>`;
- a custom resource may be a parent only when its CRD is labelled
  `applyset.kubernetes.io/is-parent-type: "true"` (`lostromos crd generate` adds it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
PARENT_TYPE_LABEL = "applyset.kubernetes.io/is-parent-type"
TOOLING_NAME = "lostromos"
# Our server-side apply field manager: the fields a member's chart sets are ours.
FIELD_MANAGER = "lostromos"
# What a member says manages it (the Helm deployer's objects say "Helm"): the
# health watch and the drift check select on it.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "lostromos"
# Helm's marker of a hook: the applyset deployer runs no hooks, so applies none.
HOOK_ANNOTATION = "helm.sh/hook"

HELM = "helm"
APPLYSET = "applyset"
DEPLOYERS = (HELM, APPLYSET)


def applyset_id(name: str, namespace: str, kind: str, group: str) -> str:
    """kubectl's ApplySet ID of a parent: the value of its id label and of every
    member's part-of label."""
    unencoded = ".".join((name, namespace, kind, group))
    digest = hashlib.sha256(unencoded.encode()).digest()
    encoded = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    # label values must start and end with an alphanumeric character
    return f"applyset-{encoded}-v1"


def tooling(version: str) -> str:
    """The tooling annotation's value: `<tool>/<semver>`, as kubectl writes `kubectl/v1.33.0`."""
    bare = version.removeprefix("v")
    return f"{TOOLING_NAME}/v{bare}"


@dataclass(frozen=True, order=True)
class GroupKind:
    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @classmethod
    def parse(cls, text: str) -> GroupKind:
        """`Deployment.apps` -> (apps, Deployment); `Service` -> ("", Service)."""
        kind, _, group = text.strip().partition(".")
        return cls(group, kind)

    @classmethod
    def of(cls, api_version: str, kind: str) -> GroupKind:
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        return cls(group, kind)


def parse_group_kinds(annotation: str | None) -> frozenset[GroupKind]:
    """The contains-group-kinds annotation read as kubectl reads it (empty: no members)."""
    return frozenset(
        GroupKind.parse(part) for part in (annotation or "").split(",") if part.strip()
    )


def format_group_kinds(group_kinds: Iterable[GroupKind]) -> str:
    """The annotation's value: sorted `Kind.group` strings, comma separated, as kubectl."""
    return ",".join(sorted({str(gk) for gk in group_kinds}))


@dataclass(frozen=True)
class Member:
    """One object of a set, by identity (the version it is served at does not matter)."""

    group: str
    kind: str
    namespace: str  # "" for a cluster-scoped object
    name: str
    uid: str = ""  # of a member found in the cluster: deletes are preconditioned on it

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.group_kind} {where}{self.name}"


def prune_targets(listed: Iterable[Member], rendered: Iterable[Member]) -> list[Member]:
    """The members found in the cluster (labelled part-of this set) that the desired
    state no longer renders: what a prune deletes, in a stable order."""
    wanted = {member.identity for member in rendered}
    return sorted(
        (member for member in listed if member.identity not in wanted),
        key=lambda member: member.identity,
    )


def foreign(existing: Mapping[str, Any] | None, set_id: str) -> bool:
    """Does an existing object of a rendered name belong to someone else? It does
    unless it is labelled part-of this very set; an absent one is nobody's."""
    if existing is None:
        return False
    labels = (existing.get("metadata") or {}).get("labels") or {}
    return labels.get(PART_OF_LABEL) != set_id


def group_kinds_after_apply(current: Iterable[GroupKind], rendered: Iterable[GroupKind]) -> str:
    """The annotation while applying: the union of the old and the new group-kinds,
    so a run that stops half way still lists every kind that may hold a member."""
    return format_group_kinds({*current, *rendered})
