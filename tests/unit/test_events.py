"""The event recorder aggregates repeats and rate-limits per object, as client-go's does."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from controller import events
from controller.events import EventRecorder


class FakeCore:
    """The two CoreV1Api calls the recorder makes, over an in-memory event list."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.patches = 0

    def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.creates += 1
        name = f"{body['metadata']['generateName']}{self.creates}"
        stored = {**body, "metadata": {**body["metadata"], "name": name}}
        self.events[name] = stored
        return stored

    def patch_namespaced_event(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.patches += 1
        if name not in self.events:
            raise ApiException(status=404, reason="Not Found")
        self.events[name].update(body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def site(name: str = "blog", uid: str = "u-1") -> dict[str, Any]:
    return {
        "apiVersion": "hosting.example.com/v1",
        "kind": "Site",
        "metadata": {"name": name, "namespace": "team", "uid": uid},
    }


def recorder() -> tuple[EventRecorder, FakeCore, Clock]:
    core, clock = FakeCore(), Clock()
    return EventRecorder(core, clock=clock), core, clock  # type: ignore[arg-type]


def test_a_repeated_event_is_counted_on_one_event_not_created_again() -> None:
    rec, core, clock = recorder()
    for _ in range(6):
        rec.record(site(), "Warning", "ReleaseFailed", "install failed: boom")
        clock.now += 2.5
    assert core.creates == 1 and core.patches == 5
    [event] = core.events.values()
    assert event["count"] == 6 and event["reason"] == "ReleaseFailed"


def test_different_objects_reasons_and_messages_are_separate_events() -> None:
    rec, core, _ = recorder()
    rec.record(site("a", "u-a"), "Warning", "ReleaseFailed", "boom")
    rec.record(site("b", "u-b"), "Warning", "ReleaseFailed", "boom")
    rec.record(site("a", "u-a"), "Normal", "Installed", "boom")
    rec.record(site("a", "u-a"), "Warning", "ReleaseFailed", "other")
    assert core.creates == 4 and core.patches == 0


def test_a_repeat_after_the_window_or_of_an_expired_event_is_created_anew() -> None:
    rec, core, clock = recorder()
    rec.record(site(), "Warning", "ReleaseFailed", "boom")
    clock.now += events.AGGREGATION_SECONDS + 1
    rec.record(site(), "Warning", "ReleaseFailed", "boom")
    assert core.creates == 2
    core.events.clear()  # the API server's event TTL removed them
    clock.now += 1
    rec.record(site(), "Warning", "ReleaseFailed", "boom")
    assert core.creates == 3 and core.patches == 1


def test_many_different_messages_are_combined() -> None:
    rec, core, _ = recorder()
    for attempt in range(events.SIMILAR_MESSAGES + 5):
        rec.record(site(), "Warning", "ReleaseFailed", f"attempt {attempt} failed")
    assert core.creates == events.SIMILAR_MESSAGES + 1
    combined = [e for e in core.events.values() if e["message"].startswith(events.COMBINED)]
    assert len(combined) == 1 and combined[0]["count"] == 5


def test_each_object_is_rate_limited_and_refills_slowly() -> None:
    rec, core, clock = recorder()
    for number in range(events.BURST + 10):
        rec.record(site(), "Normal", "Upgraded", f"Upgraded to revision {number}")
    written = core.creates + core.patches
    assert written == events.BURST
    rec.record(site("other", "u-2"), "Normal", "Upgraded", "revision 1")  # its own bucket
    assert core.creates + core.patches == written + 1
    clock.now += events.REFILL_SECONDS
    rec.record(site(), "Normal", "Upgraded", "again")
    rec.record(site(), "Normal", "Upgraded", "and again")
    assert core.creates + core.patches == written + 2


def test_an_unwritable_event_never_raises() -> None:
    class Broken(FakeCore):
        def create_namespaced_event(self, namespace: str, body: dict[str, Any]) -> dict:
            raise ConnectionRefusedError(111, "Connection refused")

    rec = EventRecorder(Broken(), clock=Clock())  # type: ignore[arg-type]
    rec.record(site(), "Warning", "ReleaseFailed", "boom")


def test_dry_run_writes_nothing() -> None:
    core = FakeCore()
    EventRecorder(core, dry_run=True).record(site(), "Normal", "Installed", "x")  # type: ignore[arg-type]
    assert core.creates == 0
