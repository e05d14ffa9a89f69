"""One GET of a collection path as plain JSON, for the list functions that stand in
for the python client's generated ones (controller/sharding/shardlist.py adds
shardSelector, controller/healthwatch.py lists workloads, the source projector and
`check --against-cluster` list any kind): the client's typed models cost several
times the memory and time, and its generated methods take no extra parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

# The python client's keyword names for the list parameters, and their wire names.
QUERY = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "limit": "limit",
    "_continue": "continue",
    "resource_version": "resourceVersion",
    "resource_version_match": "resourceVersionMatch",
    "timeout_seconds": "timeoutSeconds",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "watch": "watch",
}


def _wire(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def list_query(kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The query parameters for the python client's keyword arguments."""
    return [
        (QUERY[name], _wire(value))
        for name, value in kwargs.items()
        if name in QUERY and value is not None
    ]


def list_collection(
    api_client: client.ApiClient, path: str, kwargs: Mapping[str, Any], *, streaming: bool
) -> Any:
    """get_collection, called with a list function's keywords (the python client's)."""
    return get_collection(
        api_client,
        path,
        list_query(kwargs),
        streaming=streaming,
        timeout=kwargs.get("_request_timeout"),
    )


def get_collection(
    api_client: client.ApiClient,
    path: str,
    query: list[tuple[str, str]],
    *,
    streaming: bool,
    timeout: Any = None,
) -> Any:
    """The parsed JSON answer, or the raw response for a watch to stream; `timeout`
    is the python client's `_request_timeout` (None: lostromos.kube's default)."""
    method, url, headers, body, post = api_client.param_serialize(
        "GET",
        path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(method, url, headers, body, post, _request_timeout=timeout)
    if not 200 <= response.status < 300:
        response.read()
        raise ApiException(status=response.status, reason=response.reason)
    if streaming:
        return response.response
    return json.loads(response.read())
