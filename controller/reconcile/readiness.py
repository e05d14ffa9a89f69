"""Ready waits for the release's workloads: after an install or upgrade a bound object
is Ready only once every workload the release wrote is current by kstatus rules
(controller/health.py: Deployments available, StatefulSets and DaemonSets rolled
out, PVCs Bound, Jobs Complete), which is what Helm's `--wait=watcher` waits for.

The wait holds no worker and makes no Helm call. Right after Helm has written the
release the object says

    Ready=Unknown  reason Progressing   "Installed release shop revision 1 (chart
                                         site-1.0.0); waiting for its workloads:
                                         Deployment shop: Progressing (0 of 1 pods
                                         available)"
    Reconciling=True reason Progressing

and that state, with `status.release` recording the desired state, is the whole
record of the wait: a restarted controller finds it in status and waits on, from
the release's `lastDeployed`. The workloads' health comes from the shared,
label-selected watches of controller/healthwatch.py, which requeue a waiting object
as soon as its release's health changes; nothing lists or polls per object. Only
when those watches say every workload is current is each one read once (a GET), so
that a watch's copy from before Helm's write cannot end the wait early.

Then Ready=True (reason Deployed, the message of the Helm action). Past the
binding's `release.readyTimeout` (from `lastDeployed`) it is

    Ready=False, Stalled=True  reason ProgressDeadlineExceeded

with a Warning Event. The name is the Deployment controller's for the same thing (a
rollout that did not finish within its progressDeadlineSeconds), which kstatus reads
as Failed and Argo CD as Degraded; and like a Deployment, the object is not retried:
Helm wrote what was asked, so another Helm action would only write it again. When the
workloads become current later, Ready turns True by itself; a change of the spec or
the chart upgrades as always.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

from controller.health import RULES, HealthState, ObjectHealth, summarise
from controller.reconcile.ports import Events, Result, Store
from controller.reconcile.summarize import PROGRESSING, Kind, Outcome, summarize
from controller.status import READY, RECONCILING, RELEASED, Condition, condition
from lostromos.neterrors import brief_error

log = logging.getLogger("controller.readiness")

DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
# How soon a waiting object is looked at again when its workloads cannot be judged yet
# (the watches have not listed every kind, or a confirming read failed).
NOT_YET_SECONDS = 2.0

Release = tuple[str, str]  # (namespace, release name)


def waiting_after(message: str) -> Outcome:
    """The outcome of a Helm action whose release now waits for its workloads."""
    return Outcome(Kind.PROGRESSING, PROGRESSING, f"{message}; waiting for its workloads")


def awaiting(obj: Mapping[str, Any] | None) -> bool:
    """Is the object's Ready waiting for (or past the deadline of) its workloads?"""
    status = (obj or {}).get("status") or {}
    if not status.get("release"):
        return False
    ready = condition(status, READY) or {}
    if ready.get("reason") == DEADLINE_EXCEEDED:
        return True
    reconciling = condition(status, RECONCILING) or {}
    return (
        ready.get("reason") == PROGRESSING
        and reconciling.get("status") == "True"
        and reconciling.get("reason") == PROGRESSING
    )


def expected_workloads(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of every workload the release wrote, from `status.release.resources`."""
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace", ""))
    resources = ((obj.get("status") or {}).get("release") or {}).get("resources") or ()
    return sorted(
        {
            (str(item.get("kind")), str(item.get("name")))
            for item in resources
            if isinstance(item, Mapping)
            and item.get("kind") in RULES
            and item.get("namespace") in ("", None, namespace)
        }
    )


def deadline(obj: Mapping[str, Any], timeout_seconds: int) -> datetime.datetime | None:
    """When the wait ends: the release's lastDeployed plus the timeout."""
    status = obj.get("status") or {}
    started = (status.get("release") or {}).get("lastDeployed") or (
        condition(status, RELEASED) or {}
    ).get("lastTransitionTime")
    try:
        when = datetime.datetime.fromisoformat(str(started))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when + datetime.timedelta(seconds=timeout_seconds)


@dataclass(frozen=True)
class Verdict:
    """What the wait says now: its outcome, an Event, when to look again."""

    outcome: Outcome
    event: tuple[str, str, str] | None = None  # (type, reason, message)
    requeue_after: float | None = None

    @property
    def conditions(self) -> list[Condition]:
        return summarize(self.outcome)

    @property
    def ready(self) -> bool:
        return self.outcome.kind is Kind.DEPLOYED

    @property
    def late(self) -> bool:
        return self.outcome.reason == DEADLINE_EXCEEDED


def judge(
    obj: Mapping[str, Any],
    workloads: Sequence[ObjectHealth],
    *,
    timeout_seconds: int,
    now: datetime.datetime,
) -> Verdict:
    """The wait's state from the workloads' health (missing ones given as Progressing)."""
    status = obj.get("status") or {}
    released = condition(status, RELEASED) or {}
    message = str(released.get("message") or "The release was written")
    verb = str(released.get("reason") or "Installed")
    health = summarise(workloads)
    if health.state is HealthState.HEALTHY or timeout_seconds <= 0:  # 0: Ready does not wait
        return Verdict(Outcome(Kind.DEPLOYED, verb, message))
    ends = deadline(obj, timeout_seconds)
    left = (ends - now).total_seconds() if ends is not None else float(timeout_seconds)
    if left > 0:
        waiting = f"{message}; waiting for its workloads: {health.message}"
        return Verdict(Outcome(Kind.PROGRESSING, PROGRESSING, waiting), requeue_after=left)
    late = (
        f"{message}; its workloads were not current within {timeout_seconds}s "
        f"(release.readyTimeout): {health.message}"
    )
    previous = (condition(status, READY) or {}).get("reason")
    return Verdict(
        Outcome(Kind.STALLED, DEADLINE_EXCEEDED, late),
        event=None if previous == DEADLINE_EXCEEDED else ("Warning", DEADLINE_EXCEEDED, late),
    )


def with_missing(
    workloads: Iterable[ObjectHealth], expected: Iterable[tuple[str, str]]
) -> list[ObjectHealth]:
    """The release's workloads as the watches see them, plus those it wrote that the
    watches have not seen yet (right after an install), as Progressing."""
    items = list(workloads)
    seen = {(w.kind, w.name) for w in items}
    items += [
        ObjectHealth(kind, name, HealthState.PROGRESSING, "not seen yet")
        for kind, name in expected
        if (kind, name) not in seen
    ]
    return items


class Workloads(Protocol):
    """What the wait needs of the health watches (controller/healthwatch.py)."""

    @property
    def synced(self) -> bool: ...

    def workloads(self, release: Release) -> list[ObjectHealth]: ...

    def confirm(self, kind: str, namespace: str, name: str) -> ObjectHealth | None: ...


class StatusWriter(Protocol):
    """What the wait needs of writer.ObjectWriter."""

    def status(self, obj: dict[str, Any], outcome: Outcome | None) -> dict[str, Any]: ...


class ReadyGate:
    """Judges one binding's waiting objects: the unit for an object observed in sync
    and waiting (decide.State.AWAITING_WORKLOADS), and the last step of the units that
    write a release (apply.py)."""

    def __init__(
        self,
        timeout_seconds: int,
        workloads: Workloads,
        *,
        store: Store,
        writer: StatusWriter,
        events: Events,
        release_of: Callable[[dict[str, Any]], Release],
        settled: Callable[[str, bool], None] = lambda key, ready: None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.workloads = workloads
        self.store = store
        self.writer = writer
        self.events = events
        self.release_of = release_of
        # told when a wait ends: (key, True) once Ready, (key, False) past the deadline
        self.settled = settled
        self.clock = clock

    def follow(self, key: str, result: Result) -> Result:
        """Look at the object's wait, if it has one; `result` with the sooner requeue."""
        obj = self.store.get(key)
        if obj is None or not awaiting(obj) or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return result
        delay = self.look(key, obj)
        return _sooner(result, delay)

    def look(self, key: str, obj: dict[str, Any]) -> float | None:
        namespace, release = self.release_of(obj)
        # Until the watches have listed every kind (a restart), what they hold proves
        # nothing: every workload counts as not seen, and the object is looked at again
        # when they have (they requeue every waiting object then) or at its deadline.
        synced = self.workloads.synced
        watched = self.workloads.workloads((namespace, release)) if synced else []
        seen = with_missing(watched, expected_workloads(obj))
        verdict = self.verdict(obj, seen)
        if not synced and not verdict.ready and verdict.requeue_after is not None:
            return verdict.requeue_after
        if verdict.ready:
            # The watches say current: read each workload once, so a copy from before
            # Helm's write cannot end the wait.
            try:
                confirmed = [self.workloads.confirm(w.kind, namespace, w.name) for w in seen]
            except (ApiException, urllib3.exceptions.HTTPError) as error:
                # the API server away or refusing: judged again shortly
                log.info("confirming workloads deferred: %s", brief_error(error))
                return NOT_YET_SECONDS
            seen = with_missing([w for w in confirmed if w is not None], expected_workloads(obj))
            verdict = self.verdict(obj, seen)
        updated = self.writer.status(obj, verdict.outcome)
        if verdict.ready or verdict.late:
            self.settled(key, verdict.ready)
        if verdict.event is not None:
            self.events.record(updated, *verdict.event)
            log.warning(
                "workloads not current within the ready timeout",
                extra={"object": (obj.get("metadata") or {}).get("name"), "release": release},
            )
        return verdict.requeue_after

    def verdict(self, obj: dict[str, Any], workloads: Sequence[ObjectHealth]) -> Verdict:
        return judge(obj, workloads, timeout_seconds=self.timeout_seconds, now=self.clock())


def _sooner(result: Result, delay: float | None) -> Result:
    """`result` requeued no later than `delay`."""
    if delay is None:
        return result
    if result.requeue_after is not None and result.requeue_after <= delay:
        return result
    return dataclasses.replace(result, requeue_after=delay)
