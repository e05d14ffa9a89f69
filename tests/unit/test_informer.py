"""The informer's event handling: bookmarks, deletions, 410 Gone, stale updates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.informer import Gone, Informer, slim
from lostromos.config import Binding, ChartRef


def site(name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "resourceVersion": version, **extra},
        "spec": {},
    }


class FakeApi:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"items": self.items, "metadata": {"resourceVersion": "100"}}


@pytest.fixture
def informer() -> tuple[Informer, list[str]]:
    keys: list[str] = []
    binding = Binding(
        name="site",
        group="hosting.example.com",
        version="v1",
        kind="Site",
        plural="sites",
        chart=ChartRef(path=Path("charts/site")),
    )
    api = FakeApi([site("a", "10"), site("b", "11")])
    return Informer(api, binding, keys.append), keys  # type: ignore[arg-type]


def test_list_fills_the_store_and_queues_every_key_including_vanished_ones(informer) -> None:
    inf, keys = informer
    inf.update(site("gone", "5"))
    assert inf._list() == "100"
    assert sorted(inf.all_keys()) == ["default/a", "default/b"]
    assert sorted(keys) == ["default/a", "default/b", "default/gone"]
    assert inf.synced


def test_events_update_the_store_and_queue_the_key(informer) -> None:
    inf, keys = informer
    inf._list()
    keys.clear()
    changed = {**site("a", "20"), "spec": {"replicas": 2}}
    assert inf._handle({"type": "MODIFIED", "raw_object": changed}, "100") == "20"
    assert inf.get("default/a")["metadata"]["resourceVersion"] == "20"
    assert inf._handle({"type": "DELETED", "raw_object": site("b", "21")}, "20") == "21"
    assert inf.get("default/b") is None
    assert keys == ["default/a", "default/b"]


def test_bookmarks_advance_the_version_without_work(informer) -> None:
    inf, keys = informer
    bookmark = {"type": "BOOKMARK", "raw_object": {"metadata": {"resourceVersion": "500"}}}
    assert inf._handle(bookmark, "100") == "500"
    assert keys == []


def test_410_gone_means_relist(informer) -> None:
    inf, _ = informer
    with pytest.raises(Gone):
        inf._handle({"type": "ERROR", "raw_object": {"code": 410, "message": "too old"}}, "1")
    with pytest.raises(RuntimeError, match="watch error"):
        inf._handle({"type": "ERROR", "raw_object": {"code": 500, "message": "boom"}}, "1")


def test_a_write_of_our_own_is_not_undone_by_an_older_event(informer) -> None:
    inf, _ = informer
    inf.update(site("a", "30"))
    inf._handle({"type": "MODIFIED", "raw_object": site("a", "25")}, "100")
    assert inf.get("default/a")["metadata"]["resourceVersion"] == "30"


def test_a_change_of_status_alone_is_stored_but_queues_nothing(informer) -> None:
    # The controller's own status writes come back as events: waking on them would
    # retry a failed release at once, whatever the key's backoff says.
    inf, keys = informer
    inf._list()
    keys.clear()
    echo = {**site("a", "20"), "status": {"observedGeneration": 1, "conditions": []}}
    inf._handle({"type": "MODIFIED", "raw_object": echo}, "100")
    assert inf.get("default/a")["status"] == echo["status"]  # observe reads the newest
    inf.update({**site("b", "30"), "status": {"failures": {"count": 1}}})  # our own write...
    inf._handle({"type": "MODIFIED", "raw_object": site("b", "30")}, "20")  # ...and its echo
    assert keys == []


@pytest.mark.parametrize(
    "change",
    [
        {"spec": {"replicas": 2}},
        {"metadata": {"labels": {"tier": "gold"}}},
        {"metadata": {"annotations": {"lostromos.dev/retry": "1"}}},
        {"metadata": {"finalizers": []}},
        {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}},
    ],
    ids=["spec", "labels", "annotations", "finalizers", "deletion"],
)
def test_a_change_of_spec_or_metadata_queues_the_key(informer, change: dict[str, Any]) -> None:
    inf, keys = informer
    inf._list()
    keys.clear()
    changed = site("a", "20")
    changed["spec"] = change.get("spec", changed["spec"])
    changed["metadata"].update(change.get("metadata", {}))
    changed["status"] = {"observedGeneration": 2}
    inf._handle({"type": "MODIFIED", "raw_object": changed}, "100")
    assert keys == ["default/a"]


def test_an_event_older_than_the_store_still_queues_the_key(informer) -> None:
    # Our status write (30) may carry someone's spec change (25) we have not acted on:
    # the store cannot tell, so the older event still wakes the key.
    inf, keys = informer
    inf.update({**site("a", "30"), "spec": {"replicas": 2}})
    inf._handle(
        {"type": "MODIFIED", "raw_object": {**site("a", "25"), "spec": {"replicas": 2}}}, "1"
    )
    assert keys == ["default/a"]


def test_the_store_keeps_no_managed_fields_or_last_applied_copy() -> None:
    obj = site(
        "a",
        "1",
        managedFields=[{"manager": "kubectl"}],
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "blue"},
    )
    slimmed = slim(obj)
    assert "managedFields" not in slimmed["metadata"]
    assert slimmed["metadata"]["annotations"] == {"team": "blue"}


class PagedApi:
    """Serves a LIST in pages of `limit`, as the API server does with `continue`."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.requests: list[dict[str, Any]] = []

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        start = int(kwargs.get("_continue") or 0)
        end = start + kwargs["limit"]
        metadata = {"resourceVersion": "700"}
        if end < len(self.items):
            metadata["continue"] = str(end)
        return {"items": self.items[start:end], "metadata": metadata}


def test_the_list_is_paged_and_every_page_reaches_the_store(monkeypatch) -> None:
    from controller import informer as informer_module

    monkeypatch.setattr(informer_module, "PAGE_SIZE", 2)
    keys: list[str] = []
    binding = Binding(
        name="site",
        group="hosting.example.com",
        version="v1",
        kind="Site",
        plural="sites",
        chart=ChartRef(path=Path("charts/site")),
    )
    api = PagedApi([site(f"s{i}", str(i)) for i in range(5)])
    inf = Informer(api, binding, keys.append, label_selector="tier=gold")  # type: ignore[arg-type]
    assert inf._list() == "700"
    assert len(inf) == 5 and len(keys) == 5
    assert [r.get("_continue") for r in api.requests] == [None, "2", "4"]
    assert all(r["limit"] == 2 and r["label_selector"] == "tier=gold" for r in api.requests)
