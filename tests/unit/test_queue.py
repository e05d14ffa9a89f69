"""The work queue's guarantees: dedupe, one worker per key, per-key backoff."""

from __future__ import annotations

import threading

import pytest

from controller.queue import ShutDown, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_waiting_key_is_queued_once() -> None:
    queue = WorkQueue()
    for _ in range(5):
        queue.add("default/blog")
    queue.add("default/shop")
    assert len(queue) == 2
    assert queue.get(timeout=0) == "default/blog"
    assert queue.get(timeout=0) == "default/shop"
    assert queue.get(timeout=0) is None


def test_a_key_in_progress_is_not_handed_out_twice_but_requeued_on_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")  # changed while a worker holds it
    assert queue.get(timeout=0) is None
    queue.done("a")
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    assert queue.get(timeout=0) is None


def test_backoff_grows_per_key_and_forget_resets_it() -> None:
    queue = WorkQueue(base_delay=1.0, max_delay=8.0, jitter=lambda: 1.0)
    delays = [queue.add_rate_limited("a") for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert queue.add_rate_limited("b") == 1.0
    queue.forget("a")
    assert queue.failures("a") == 0
    assert queue.add_rate_limited("a") == 1.0


def test_jitter_spreads_retries_between_half_and_full_delay() -> None:
    low = WorkQueue(base_delay=4.0, jitter=lambda: 0.0).add_rate_limited("k")
    high = WorkQueue(base_delay=4.0, jitter=lambda: 1.0).add_rate_limited("k")
    assert (low, high) == (2.0, 4.0)


def test_add_after_holds_a_key_until_due_and_keeps_the_earliest() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_after("a", 10)
    queue.add_after("a", 5)
    queue.add_after("a", 20)
    assert queue.get(timeout=0) is None
    clock.now = 5
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    clock.now = 30
    assert queue.get(timeout=0) is None  # the later wake-ups were folded into the first


def test_shutdown_drains_ready_keys_then_raises() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add_after("b", 100)
    queue.shutdown()
    queue.add("c")  # ignored once shutting down
    assert queue.get() == "a"
    queue.done("a")
    with pytest.raises(ShutDown):
        queue.get()
    assert queue.wait_idle(0.1)


def test_concurrent_workers_never_share_a_key() -> None:
    queue = WorkQueue()
    active: set[str] = set()
    clashes: list[str] = []
    processed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                key = queue.get()
            except ShutDown:
                return
            with lock:
                if key in active:
                    clashes.append(key)
                active.add(key)
            if len(processed) < 200:
                queue.add(key)  # changed again while being processed
            with lock:
                active.discard(key)
                processed.append(key)
            queue.done(key)

    for index in range(20):
        queue.add(f"k{index % 5}")
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(processed) < 200:
        threading.Event().wait(0.01)
    queue.shutdown()
    for thread in threads:
        thread.join(5)
    assert not clashes
    assert len(processed) >= 200
