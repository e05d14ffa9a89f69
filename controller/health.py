"""A release's health from its workloads' status: pure functions, no API calls.

The states are Argo CD's (Healthy, Progressing, Degraded) because those are the
words people already read on a dashboard, and they map one-to-one onto kstatus's
Current, InProgress and Failed, the rules `kubectl wait`, Helm's
`--wait=watcher` and Flux apply:

    Healthy      every workload is current: its controller has seen the newest
                 spec and every replica is available, a PVC is Bound, a Job Complete
    Progressing  a workload is on its way (a rollout, pods starting, a PVC Pending)
    Degraded     a workload failed or lost what it had: a Deployment whose rollout
                 had finished has fewer available pods than it wants (pods not
                 ready, a crash loop), a rollout past its progress deadline, a
                 PVC Lost, a Job Failed

Only a Deployment can tell "pods not ready after a finished rollout" from "pods
not ready yet": its controller keeps a Progressing condition whose reason is
NewReplicaSetAvailable once a rollout finished. StatefulSets and DaemonSets have
no such record, so for them missing pods read as Progressing, as in kstatus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from lostromos.applyset import APPLYSET, MANAGED_BY, MANAGED_BY_LABEL, PART_OF_LABEL, applyset_id
from lostromos.config import Binding
from lostromos.releases import release_name

# Helm writes these on every object of a release (and lostromos never renders without them).
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# Every object either deployer writes: Helm's say Helm, an ApplySet's members lostromos
# (with the set's part-of label, which names their group as the annotations above do).
MANAGED_OBJECTS = f"{MANAGED_BY_LABEL} in (Helm,{MANAGED_BY})"


class HealthState(IntEnum):
    """Ordered by severity: a release is as unhealthy as its worst workload."""

    HEALTHY = 0
    PROGRESSING = 1
    DEGRADED = 2

    @property
    def label(self) -> str:
        return {0: "Healthy", 1: "Progressing", 2: "Degraded"}[int(self)]


@dataclass(frozen=True)
class ObjectHealth:
    """One workload's health; `message` names the object and what is missing."""

    kind: str
    name: str
    state: HealthState
    message: str = ""


@dataclass(frozen=True)
class ReleaseHealth:
    state: HealthState
    message: str


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        str(c.get("type")): c
        for c in status.get("conditions") or ()
        if isinstance(c, Mapping) and c.get("type")
    }


def _stale(obj: Mapping[str, Any]) -> bool:
    """The workload's controller has not yet seen its newest spec."""
    generation = _int((obj.get("metadata") or {}).get("generation"), 0)
    observed = _int((obj.get("status") or {}).get("observedGeneration"), -1)
    return generation > observed


def deployment_health(obj: Mapping[str, Any]) -> tuple[HealthState, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = _int(spec.get("replicas"), 1)
    progressing = _conditions(status).get("Progressing") or {}
    reason = progressing.get("reason")
    if reason == "ProgressDeadlineExceeded":
        detail = str(progressing.get("message") or "")
        return HealthState.DEGRADED, f"rollout exceeded its progress deadline: {detail}".rstrip(
            ": "
        )
    if _stale(obj):
        return HealthState.PROGRESSING, "its controller has not seen the newest spec yet"
    updated = _int(status.get("updatedReplicas"))
    available = _int(status.get("availableReplicas"))
    total = _int(status.get("replicas"))
    if updated < wanted:
        return HealthState.PROGRESSING, f"{updated} of {wanted} pods updated"
    if total > updated:
        return HealthState.PROGRESSING, f"{total - updated} old pods terminating"
    if available < wanted:
        message = f"{available} of {wanted} pods available"
        # A finished rollout that lost pods: not on its way anywhere, broken.
        finished = reason == "NewReplicaSetAvailable"
        return (HealthState.DEGRADED if finished else HealthState.PROGRESSING), message
    return HealthState.HEALTHY, ""


def statefulset_health(obj: Mapping[str, Any]) -> tuple[HealthState, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if _stale(obj):
        return HealthState.PROGRESSING, "its controller has not seen the newest spec yet"
    wanted = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < wanted:
        return HealthState.PROGRESSING, f"{ready} of {wanted} pods ready"
    if status.get("updateRevision") and status.get("currentRevision") != status.get(
        "updateRevision"
    ):
        return HealthState.PROGRESSING, "rolling out a new revision"
    return HealthState.HEALTHY, ""


def daemonset_health(obj: Mapping[str, Any]) -> tuple[HealthState, str]:
    status = obj.get("status") or {}
    if _stale(obj):
        return HealthState.PROGRESSING, "its controller has not seen the newest spec yet"
    wanted = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if updated < wanted:
        return HealthState.PROGRESSING, f"{updated} of {wanted} pods updated"
    if available < wanted:
        return HealthState.PROGRESSING, f"{available} of {wanted} pods available"
    return HealthState.HEALTHY, ""


def pvc_health(obj: Mapping[str, Any]) -> tuple[HealthState, str]:
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    if phase == "Bound":
        return HealthState.HEALTHY, ""
    if phase == "Lost":
        return HealthState.DEGRADED, "its volume is lost"
    return HealthState.PROGRESSING, f"{phase}, not bound to a volume yet"


def job_health(obj: Mapping[str, Any]) -> tuple[HealthState, str]:
    conditions = _conditions(obj.get("status") or {})
    failed = conditions.get("Failed") or {}
    if failed.get("status") == "True":
        return HealthState.DEGRADED, f"failed: {failed.get('reason', '')}".rstrip(": ")
    if (conditions.get("Complete") or {}).get("status") == "True":
        return HealthState.HEALTHY, ""
    return HealthState.PROGRESSING, "not complete yet"


RULES = {
    "Deployment": deployment_health,
    "StatefulSet": statefulset_health,
    "DaemonSet": daemonset_health,
    "PersistentVolumeClaim": pvc_health,
    "Job": job_health,
}


def object_health(kind: str, obj: Mapping[str, Any]) -> ObjectHealth:
    name = str((obj.get("metadata") or {}).get("name", ""))
    state, message = RULES[kind](obj)
    return ObjectHealth(kind, name, state, message)


def release_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, release) from Helm's annotations, or (namespace, ApplySet id) from
    an ApplySet member's part-of label; None for an object neither deployer wrote."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    release = annotations.get(RELEASE_NAME_ANNOTATION)
    if not release:
        part_of = (metadata.get("labels") or {}).get(PART_OF_LABEL)
        return (str(metadata.get("namespace", "")), str(part_of)) if part_of else None
    namespace = annotations.get(RELEASE_NAMESPACE_ANNOTATION) or metadata.get("namespace", "")
    return str(namespace), str(release)


def release_key(binding: Binding, obj: Mapping[str, Any]) -> tuple[str, str]:
    """The group `release_of` puts a bound object's workloads in: (namespace, release
    name) for a Helm binding, (namespace, ApplySet id) for an ApplySet binding."""
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace", ""))
    if binding.deployer == APPLYSET:
        name = str(metadata.get("name", ""))
        return namespace, applyset_id(name, namespace, binding.kind, binding.group)
    return namespace, release_name(binding, metadata)


def summarise(objects: Iterable[ObjectHealth]) -> ReleaseHealth:
    """The release's health: its worst workload's state, and every workload that is
    not Healthy named in the message (sorted, so equal health writes nothing)."""
    items = sorted(objects, key=lambda o: (-o.state, o.kind, o.name))
    if not items:
        return ReleaseHealth(HealthState.HEALTHY, "no workloads")
    worst = items[0].state
    if worst is HealthState.HEALTHY:
        return ReleaseHealth(worst, f"{len(items)} workloads current")
    problems = [
        f"{o.kind} {o.name}: {o.state.label}" + (f" ({o.message})" if o.message else "")
        for o in items
        if o.state is not HealthState.HEALTHY
    ]
    return ReleaseHealth(worst, "; ".join(problems))
