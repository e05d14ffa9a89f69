"""LIST and WATCH of one kind restricted to this replica's hash buckets.

Where the API server has the ShardedListAndWatch feature gate on, the request
carries `shardSelector` and the server sends only this replica's share, for
the list and for every watch event. Support is detected, not configured: a
server that applied the selector echoes it back in the list's
`metadata.shardInfo.selector`. Custom resources are listed as unstructured
lists, which in 1.37 carry no shardInfo even though the server filters them,
so a list without the echo is followed by one probe: a LIST with a selector
the server must refuse (start above end). A server that filters parses the
selector and refuses it; one that does not (gate off, older server) ignores
the parameter and answers 200. Either way every item and event
also passes the same hash on this side, so what reaches the store is
identical with and without server support; only the traffic differs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client

from controller.sharding import hashring
from lostromos.rawget import get_collection, list_query

log = logging.getLogger(__name__)

# Start above end: a server that reads shardSelector must refuse it.
PROBE_SELECTOR = "shardRange(object.metadata.uid, '0x0000000000000001', '0x0000000000000000')"


class ShardWatch:
    """One informer's view of the replica's buckets: its list function and its filter.

    `list_cluster_custom_object` has no shardSelector parameter, so this
    stands in for it with the same call signature (the informer and the
    python client's watch helper call it as they would the generated method).
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        buckets: Callable[[], frozenset[int]],
        *,
        server_side: bool = True,
    ) -> None:
        self.api_client = api_client
        self._buckets = buckets
        # None: not yet known; decided by the first list that carried a selector.
        self.supported: bool | None = None if server_side else False
        self.events = 0
        self._restart_hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._watching: frozenset[int] = frozenset()
        self._path = ""

    # -- the set being watched ---------------------------------------------------

    def on_restart(self, hook: Callable[[], None]) -> None:
        self._restart_hooks.append(hook)

    def buckets_changed(self) -> None:
        """The replica's buckets changed: every informer lists and watches again."""
        for hook in self._restart_hooks:
            hook()

    def restart_if_stale(self) -> None:
        """Called every ring tick: a restart can race with a list or a watch that
        was just starting, so one that did not take is asked for again."""
        if self._watching != self._buckets():
            self.buckets_changed()

    def accepts(self, obj: dict[str, Any]) -> bool:
        uid = (obj.get("metadata") or {}).get("uid")
        return isinstance(uid, str) and hashring.bucket_of(uid) in self._watching

    def count_event(self) -> None:
        with self._lock:
            self.events += 1

    # -- the list function -------------------------------------------------------

    def __call__(self, group: str, version: str, plural: str, **kwargs: Any) -> Any:
        streaming = kwargs.pop("_preload_content", True) is False
        if not kwargs.get("watch") and not kwargs.get("_continue"):
            # A list's first page starts a new snapshot: it fixes the buckets
            # that its other pages, the following watch and the store's filter use.
            self._watching = self._buckets()
        query = list_query(kwargs)
        wanted = hashring.selector(self._watching)
        if self.supported is not False and wanted:
            query.append(("shardSelector", wanted))
        # A built-in kind of the core group (a binding's source: Service) lives under /api.
        self._path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
        listing = get_collection(
            self.api_client,
            self._path,
            query,
            streaming=streaming,
            timeout=kwargs.get("_request_timeout"),
        )
        if streaming:
            return listing  # the raw response, for the watch helper to stream
        if not kwargs.get("watch") and self.supported is None and wanted:
            self._detect(listing, wanted)
        items = listing.get("items") or []
        listing["items"] = [item for item in items if self.accepts(item)]
        return listing

    def _detect(self, listing: dict[str, Any], wanted: str) -> None:
        echoed = ((listing.get("metadata") or {}).get("shardInfo") or {}).get("selector")
        self.supported = echoed == wanted if echoed else self._refuses_a_bad_selector()
        if self.supported:
            log.info("the API server filters lists and watches by hash range (shardSelector)")
        else:
            log.info(
                "the API server ignores shardSelector (feature gate ShardedListAndWatch "
                "off?): filtering by hash range in the controller instead"
            )

    def _refuses_a_bad_selector(self) -> bool:
        path = self._path
        query = [("limit", "1"), ("shardSelector", PROBE_SELECTOR)]
        method, url, headers, body, post = self.api_client.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, headers, body, post)
        text = response.read() or b""
        return not 200 <= response.status < 300 and b"shard selector" in text
