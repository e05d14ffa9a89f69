"""Drift: objects of a release that someone else changed or deleted.

Checked on a bounded period rather than watched. Every `driftCheckSeconds`,
for each kind a binding's releases contain, one paginated, metadata-only LIST
of the Helm-managed objects of that kind (and of an ApplySet binding's members,
which say lostromos manages them; no bodies, nothing kept between checks). An
object a release should have but that is missing, or whose newest write by
anyone but helm (or the applyset deployer's field manager) is newer than its
own (read from managedFields, status writes excluded), is recorded as a drift
observation of its object and the object's key is queued. The reconciler reads
the observation as part of the object's state (drifted), repairs with a `helm
upgrade` (or an ApplySet's server-side apply) that re-applies the release and
recreates what was deleted, and acknowledges exactly the observation it
repaired.

An observation holds for the revision the check expected (the one the object's
status recorded when the check began). Once another revision is deployed, it is
dropped, and the next check judges the new one: a check that read its
expectations before an upgrade and listed after the upgrade's prune would
otherwise take what the upgrade removed on purpose for missing, and repair it
into a revision nobody asked for. A real change made meanwhile is still there
to be found, one period later at most.

Why a period and not a watch: a watch on every kind of every chart holds a
connection per kind and wakes on every status update of every Deployment in
the cluster, for changes that are almost never drift; the periodic check costs
one LIST per kind per period (about 1.5 KB per object, streamed page by page)
and bounds the time to repair by the period (default 5 minutes).

Whose eyes: a binding that names a `serviceAccountName` has its releases'
objects listed as that ServiceAccount of each object's namespace
(`Impersonate-User`), one LIST per kind and namespace, exactly like its Helm
actions. The controller then needs no right of its own on what the charts
create; a list the tenant may not make is skipped (logged), never taken for
objects that are missing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.health import MANAGED_OBJECTS
from controller.informer import Informer, Key, object_key
from controller.status import recorded_revision
from lostromos.applyset import FIELD_MANAGER

log = logging.getLogger(__name__)

HELM_MANAGER = "helm"
# The field managers whose writes are a release's own: Helm's, and the applyset
# deployer's server-side apply (lostromos/applyset.py).
OWN_MANAGERS = frozenset({HELM_MANAGER, FIELD_MANAGER})
# Control-plane writers whose updates to a release's objects are not drift
# (the Deployment controller's revision annotation, for one), and kwok's simulated
# nodes, which bind claims and report pods as a provisioner and a kubelet would
# (their manager is named after kwok's binary: kwok, or kwok-<hash> as built here).
IGNORED_MANAGERS = frozenset({"kube-controller-manager", "kube-scheduler", "kwok"})
IGNORED_MANAGER_PREFIXES = ("kwok-",)
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE_SIZE = 500

ResourceId = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
# (apiVersion, kind) -> whom to list as (None: ourselves) -> (namespace, name) -> key
Expected = dict[tuple[str, str], dict[str | None, dict[tuple[str, str], Key]]]


@dataclass(frozen=True)
class DriftReport:
    """One drift check found this object's release changed: `check` numbers the
    checks, `revision` is the release revision the check expected."""

    check: int
    revision: int


class DriftObservations:
    """What the drift checker saw, per object key, until a repair acknowledges it.

    Thread-safe: the checker writes, reconcile workers read and acknowledge.
    Reading does not consume: a repair that fails leaves the observation in
    place, so the retry is still a repair.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[Key, DriftReport] = {}
        self._checks = 0

    def record(self, drifted: Mapping[Key, int]) -> None:
        """One check's findings: each drifted key, and the revision it expected."""
        with self._lock:
            self._checks += 1
            for key, revision in drifted.items():
                self._reports[key] = DriftReport(self._checks, revision)

    def get(self, key: Key, revision: int) -> DriftReport | None:
        """The report on the key's release at `revision`, the one deployed now; a
        report on an earlier revision is dropped (the module's docstring says why)."""
        with self._lock:
            report = self._reports.get(key)
            if report is not None and report.revision != revision:
                del self._reports[key]
                return None
            return report

    def acknowledge(self, key: Key, report: DriftReport) -> None:
        """The release was re-applied after `report` was made."""
        with self._lock:
            current = self._reports.get(key)
            if current is not None and current.check <= report.check:
                del self._reports[key]

    def forget(self, key: Key) -> None:
        """The object is gone: nothing is left to repair."""
        with self._lock:
            self._reports.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._reports

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)


def release_resources(status: dict[str, Any] | None) -> list[ResourceId]:
    release = (status or {}).get("release") or {}
    found: list[ResourceId] = []
    for item in release.get("resources") or ():
        if isinstance(item, dict):
            found.append(
                (
                    str(item.get("apiVersion", "")),
                    str(item.get("kind", "")),
                    str(item.get("namespace", "")),
                    str(item.get("name", "")),
                )
            )
    return found


def changed_by_others(managed_fields: Iterable[dict[str, Any]]) -> bool:
    """Did anyone but helm write the object after helm's last write?

    managedFields times have whole seconds, so a write in the same second as
    helm's counts too: an install, its pods Ready and a `kubectl scale` can all
    fall in one second. Helm applies with force, so a manager still listed after
    its write keeps fields helm set; at worst this repairs once more than needed.
    """
    helm_time = other_time = ""
    for entry in managed_fields or ():
        if entry.get("subresource") == "status":
            continue
        manager, time = entry.get("manager", ""), entry.get("time") or ""
        if manager in OWN_MANAGERS:
            helm_time = max(helm_time, time)
        elif manager not in IGNORED_MANAGERS and not manager.startswith(IGNORED_MANAGER_PREFIXES):
            other_time = max(other_time, time)
    return bool(helm_time) and bool(other_time) and other_time >= helm_time


class DriftChecker:
    def __init__(
        self,
        api_client: client.ApiClient,
        informer: Informer,
        on_drift: Callable[[Key], None],
        period_seconds: float,
        user_for: Callable[[str], str | None] = lambda namespace: None,
    ) -> None:
        self.api_client = api_client
        self.informer = informer
        self.on_drift = on_drift
        self.observations = DriftObservations()
        self.period_seconds = period_seconds
        # whom a release of an object in this namespace acts as (Binding.helm_user)
        self.user_for = user_for
        self._plurals: dict[tuple[str, str], tuple[str, bool] | None] = {}

    def run(self, stop: threading.Event) -> None:
        if self.period_seconds <= 0:
            return
        while not stop.wait(self.period_seconds):
            try:
                drifted = self.check()
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                log.warning("drift check failed, retrying next period: %s", error)
                continue
            except Exception:  # a bug here must not end drift checking for good
                log.exception("drift check crashed, retrying next period")
                continue
            self.observations.record(drifted)
            for key in drifted:
                self.on_drift(key)

    def check(self) -> dict[Key, int]:
        """Keys whose release drifted, each with the revision it was expected at.
        Status is anyone's to write, so one kind's failure (a forged entry naming a
        kind nobody serves or may list) costs that kind only; only when every kind
        fails is the check itself a failure."""
        drifted: set[Key] = set()
        failures: list[ApiException] = []
        expected, revisions = self._expected()
        for (api_version, kind), by_user in expected.items():
            try:
                location = self._resource(api_version, kind)
                if location is None:
                    continue
                for user, wanted in by_user.items():
                    drifted |= self._drifted(api_version, location, wanted, user)
            except ApiException as error:
                failures.append(error)
                log.warning(
                    "drift check of %s %s failed, retrying next period: %s %s",
                    api_version,
                    kind,
                    error.status,
                    error.reason,
                )
        if failures and len(failures) == len(expected):
            raise failures[0]
        if drifted:
            log.info(
                "drift found in %d release(s)",
                len(drifted),
                extra={"objects": sorted(drifted)[:20]},
            )
        return {key: revisions[key] for key in sorted(drifted)}

    def _expected(self) -> tuple[Expected, dict[Key, int]]:
        """What each kind's listing should show, and each key's recorded revision: the
        one these expectations are of."""
        expected: Expected = {}
        revisions: dict[Key, int] = {}
        for obj in self.informer.objects():
            metadata = obj["metadata"]
            if metadata.get("deletionTimestamp"):
                continue
            key = object_key(obj)
            revisions[key] = recorded_revision(obj.get("status"))
            own = str(metadata.get("namespace", ""))
            user = self.user_for(own)
            for api_version, kind, namespace, name in release_resources(obj.get("status")):
                if namespace not in ("", own):
                    continue  # a release writes only its own namespace; status may lie
                by_user = expected.setdefault((api_version, kind), {})
                by_user.setdefault(user, {})[(namespace, name)] = key
        return expected, revisions

    def _drifted(
        self,
        api_version: str,
        location: tuple[str, bool],
        wanted: dict[tuple[str, str], Key],
        user: str | None,
    ) -> set[Key]:
        drifted: set[Key] = set()
        present: set[tuple[str, str]] = set()
        namespaces = sorted({namespace for namespace, _ in wanted})
        try:
            for metadata in self._list_metadata(api_version, *location, namespaces, user=user):
                identity = (metadata.get("namespace", ""), metadata.get("name", ""))
                present.add(identity)
                owner = wanted.get(identity)
                if owner is not None and changed_by_others(metadata.get("managedFields") or ()):
                    drifted.add(owner)
        except ApiException as error:
            if user is None or error.status != 403:
                raise
            # Not seen is not missing: no conclusion on what this user may not list.
            log.warning(
                "drift check skipped: %s may not list %s",
                user,
                location[0],
                extra={"namespaces": namespaces},
            )
            return drifted
        return drifted | {owner for identity, owner in wanted.items() if identity not in present}

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced) from discovery, cached for the process."""
        cache_key = (api_version, kind)
        if cache_key not in self._plurals:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                listing = self._get_json(path, [])
            except ApiException as error:
                if error.status != 404:
                    raise
                listing = {}  # no such API: nothing of it can be listed, or be missing
            self._plurals[cache_key] = next(
                (
                    (r["name"], bool(r.get("namespaced")))
                    for r in listing.get("resources") or ()
                    if r.get("kind") == kind and "/" not in r.get("name", "")
                ),
                None,
            )
        return self._plurals[cache_key]

    def _list_metadata(
        self,
        api_version: str,
        plural: str,
        namespaced: bool,
        namespaces: list[str],
        *,
        user: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """As ourselves: one cluster-wide LIST; where RBAC allows only some namespaces
        (the chart's releaseNamespaces), one LIST in each namespace that has releases.
        As a tenant's ServiceAccount: a LIST in its namespace (cluster-wide for a
        cluster-scoped kind), which its Role allows or not."""
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if user is not None:
            paths = [f"{base}/namespaces/{n}/{plural}" for n in namespaces] if namespaced else []
            for path in paths or [f"{base}/{plural}"]:
                yield from self._pages(path, user)
            return
        try:
            yield from self._pages(f"{base}/{plural}")
            return
        except ApiException as error:
            if error.status != 403 or not namespaced:
                raise
        for namespace in namespaces:
            yield from self._pages(f"{base}/namespaces/{namespace}/{plural}")

    def _pages(self, path: str, user: str | None = None) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            query = [
                ("labelSelector", MANAGED_OBJECTS),
                ("limit", str(PAGE_SIZE)),
            ]
            if token:
                query.append(("continue", token))
            page = self._get_json(path, query, accept=METADATA_LIST, user=user)
            for item in page.get("items") or ():
                yield item.get("metadata") or {}
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def _get_json(
        self,
        path: str,
        query: list[tuple[str, str]],
        accept: str = "application/json",
        user: str | None = None,
    ) -> dict[str, Any]:
        asked = {"Accept": accept}
        if user is not None:
            asked["Impersonate-User"] = user
        method, url, headers, body, post = self.api_client.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params=asked,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, headers, body, post, _request_timeout=60)
        response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason)
        listed: dict[str, Any] = json.loads(response.data or b"{}")
        return listed
