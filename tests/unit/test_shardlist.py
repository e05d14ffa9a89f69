"""The sharded list function: the selector it sends, support detection, the filter."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from controller.sharding import hashring
from controller.sharding.shardlist import PROBE_SELECTOR, ShardWatch

UIDS = [str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128))) for n in range(40)]


class Response:
    def __init__(self, status: int, body: dict[str, Any] | str) -> None:
        self.status = status
        self.reason = "OK" if status == 200 else "Bad Request"
        self.data = body if isinstance(body, str) else json.dumps(body)
        self.response = self

    def read(self) -> bytes:
        return self.data.encode()


class FakeApiClient:
    """Answers like an API server that filters (or ignores) shardSelector."""

    def __init__(self, *, filters: bool, echoes: bool) -> None:
        self.filters, self.echoes = filters, echoes
        self.queries: list[dict[str, str]] = []

    def param_serialize(
        self, method: str, path: str, query_params: list[tuple[str, str]], **_: Any
    ) -> tuple[str, str, dict[str, str], None, list[Any]]:
        from urllib.parse import urlencode

        return method, f"https://api{path}?{urlencode(query_params)}", {}, None, []

    def call_api(self, method: str, url: str, *_: Any, **__: Any) -> Response:
        query = dict(parse_qsl(urlsplit(url).query))
        self.queries.append(query)
        selector = query.get("shardSelector")
        if selector == PROBE_SELECTOR:
            if self.filters:
                return Response(400, "invalid shard selector: start must be less than end")
            return Response(200, {"items": [], "metadata": {}})
        items = [{"metadata": {"name": f"o{n}", "uid": uid}} for n, uid in enumerate(UIDS)]
        metadata: dict[str, Any] = {"resourceVersion": "7"}
        if selector and self.filters:
            items = [i for i in items if _inside(i["metadata"]["uid"], selector)]
            if self.echoes:
                metadata["shardInfo"] = {"selector": selector}
        return Response(200, {"items": items, "metadata": metadata})


def _inside(uid: str, selector: str) -> bool:
    digest = f"0x{hashring.uid_hash(uid):016x}"
    for term in selector.split(" || "):
        start, end = (part.strip("' )") for part in term.split(", ")[1:])
        if (len(digest), digest) >= (len(start), start) and (len(digest), digest) < (len(end), end):
            return True
    return False


MINE = frozenset(range(0, 256, 3))


def expected_names() -> list[str]:
    return [f"o{n}" for n, uid in enumerate(UIDS) if hashring.bucket_of(uid) in MINE]


def test_a_server_that_echoes_the_selector_is_trusted_and_asked_for_the_share() -> None:
    api = FakeApiClient(filters=True, echoes=True)
    watch = ShardWatch(api, lambda: MINE)  # type: ignore[arg-type]
    listing = watch("g", "v1", "things", label_selector="a=b")
    assert [i["metadata"]["name"] for i in listing["items"]] == expected_names()
    assert watch.supported is True
    assert api.queries[0]["shardSelector"] == hashring.selector(MINE)
    assert api.queries[0]["labelSelector"] == "a=b"
    assert len(api.queries) == 1  # no probe needed


def test_custom_resource_lists_without_the_echo_are_probed() -> None:
    api = FakeApiClient(filters=True, echoes=False)
    watch = ShardWatch(api, lambda: MINE)  # type: ignore[arg-type]
    watch("g", "v1", "things")
    assert watch.supported is True
    assert api.queries[1]["shardSelector"] == PROBE_SELECTOR


def test_a_server_without_the_gate_gets_no_selector_and_the_same_result() -> None:
    api = FakeApiClient(filters=False, echoes=False)
    watch = ShardWatch(api, lambda: MINE)  # type: ignore[arg-type]
    first = watch("g", "v1", "things")
    assert watch.supported is False
    second = watch("g", "v1", "things")
    assert "shardSelector" not in api.queries[-1]
    for listing in (first, second):
        assert [i["metadata"]["name"] for i in listing["items"]] == expected_names()


def test_forced_client_side_filtering_never_sends_a_selector() -> None:
    api = FakeApiClient(filters=True, echoes=True)
    watch = ShardWatch(api, lambda: MINE, server_side=False)  # type: ignore[arg-type]
    listing = watch("g", "v1", "things")
    assert all("shardSelector" not in q for q in api.queries)
    assert [i["metadata"]["name"] for i in listing["items"]] == expected_names()


def test_a_stale_watch_is_restarted_until_a_list_picks_up_the_new_buckets() -> None:
    buckets = {"now": MINE}
    api = FakeApiClient(filters=True, echoes=True)
    watch = ShardWatch(api, lambda: buckets["now"])  # type: ignore[arg-type]
    restarts: list[int] = []
    watch.on_restart(lambda: restarts.append(1))
    watch("g", "v1", "things")
    watch.restart_if_stale()
    assert restarts == []
    buckets["now"] = frozenset({1, 2})
    watch.restart_if_stale()
    watch.restart_if_stale()
    assert len(restarts) == 2  # asked again on every tick until the relist happens
    watch("g", "v1", "things")
    watch.restart_if_stale()
    assert len(restarts) == 2
