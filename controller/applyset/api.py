"""The API requests of the applyset deployer, as plain JSON over the python client's
connection: discovery (a kind's plural and scope), GET, server-side apply, a
metadata-only LIST of a set's members, and DELETE.

Every request about a member is made as the binding's ServiceAccount of the object's
namespace (`Impersonate-User`) when the binding names one, exactly like the Helm
deployer's actions, so that namespace's RBAC bounds what a chart can write or prune.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lostromos.applyset import FIELD_MANAGER, GroupKind, Member

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE_SIZE = 500
REQUEST_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Resource:
    """Where the API server serves a kind."""

    group_version: str  # "v1" or "apps/v1"
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0] if "/" in self.group_version else ""

    def collection(self, namespace: str) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


class ClusterApi:
    """Thread-safe; discovery answers that found a kind are kept for the process (a
    kind's plural and scope do not change while its API is served)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], Resource | None] = {}
        self._preferred: dict[str, str | None] = {}

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The kind at this version; None when the API server does not serve it."""
        with self._lock:
            if (api_version, kind) in self._resources:
                return self._resources[(api_version, kind)]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        listing = self._request("GET", base, missing_ok=True) or {}
        found = next(
            (
                Resource(api_version, kind, str(item["name"]), bool(item.get("namespaced")))
                for item in listing.get("resources") or ()
                if item.get("kind") == kind and "/" not in str(item.get("name", ""))
            ),
            None,
        )
        if found is not None:  # a kind not served yet may be soon (its CRD installed)
            with self._lock:
                self._resources[(api_version, kind)] = found
        return found

    def resource_of(self, group_kind: GroupKind) -> Resource | None:
        """The kind at its group's preferred version (a set's annotation names no version)."""
        if not group_kind.group:
            return self.resource("v1", group_kind.kind)
        with self._lock:
            known = group_kind.group in self._preferred
            version = self._preferred.get(group_kind.group)
        if not known:
            group = self._request("GET", f"/apis/{group_kind.group}", missing_ok=True) or {}
            version = (group.get("preferredVersion") or {}).get("groupVersion")
            if version is not None:
                with self._lock:
                    self._preferred[group_kind.group] = version
        return None if version is None else self.resource(version, group_kind.kind)

    def get(
        self, resource: Resource, namespace: str, name: str, *, user: str | None
    ) -> dict[str, Any] | None:
        return self._request("GET", resource.path(namespace, name), user=user, missing_ok=True)

    def apply(
        self, resource: Resource, namespace: str, body: dict[str, Any], *, user: str | None
    ) -> dict[str, Any]:
        """Server-side apply as our field manager; force takes over fields another
        manager set (the object, through its chart, is the source of truth)."""
        answer = self._request(
            "PATCH",
            resource.path(namespace, body["metadata"]["name"]),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=body,  # JSON is YAML: the client sends it as JSON text
            content_type="application/apply-patch+yaml",
            user=user,
        )
        assert answer is not None  # missing_ok is off: a 404 raised
        return answer

    def members(
        self, resource: Resource, namespace: str, selector: str, *, user: str | None
    ) -> list[Member]:
        """The objects of this kind that carry `selector`, metadata only, page by page."""
        found: list[Member] = []
        token = ""
        while True:
            query = [("labelSelector", selector), ("limit", str(PAGE_SIZE))]
            if token:
                query.append(("continue", token))
            page = self._request(
                "GET", resource.collection(namespace), query=query, accept=METADATA_LIST, user=user
            )
            for item in (page or {}).get("items") or ():
                metadata = item.get("metadata") or {}
                found.append(
                    Member(
                        resource.group,
                        resource.kind,
                        str(metadata.get("namespace", "")),
                        str(metadata.get("name", "")),
                        str(metadata.get("uid", "")),
                    )
                )
            token = ((page or {}).get("metadata") or {}).get("continue") or ""
            if not token:
                return found

    def delete(self, resource: Resource, member: Member, *, user: str | None) -> None:
        """Delete exactly the member that was listed: an object recreated since under
        the same name (someone else's) has another UID and is left alone (409)."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if member.uid:
            body["preconditions"] = {"uid": member.uid}
        try:
            self._request(
                "DELETE",
                resource.path(member.namespace, member.name),
                body=body,
                content_type="application/json",
                user=user,
                missing_ok=True,
            )
        except ApiException as error:
            if error.status != 409:
                raise

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        user: str | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if user is not None:
            headers["Impersonate-User"] = user
        serialized = self.api_client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        method, url, sent_headers, sent_body, post = serialized
        response = self.api_client.call_api(
            method, url, sent_headers, sent_body, post, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
        response.read()
        if response.status == 404 and missing_ok:
            return None
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=_reason(response))
        answer: dict[str, Any] = json.loads(response.data or b"{}")
        return answer


def _reason(response: Any) -> str:
    """The API server's own message (a Status object's `message`), else the HTTP reason."""
    try:
        status = json.loads(response.data or b"{}")
    except ValueError:
        return str(response.reason)
    message = status.get("message") if isinstance(status, dict) else None
    return str(message or response.reason)
