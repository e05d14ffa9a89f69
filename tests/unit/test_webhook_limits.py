"""A review's budget (time and CPU) and its size limit, through the real Flask app.

The budget test runs a real review thread: an engine that would compute for a
minute is stopped at the budget, its work ends there, and the API server gets
a denial that says why.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from test_webhook_app import UID, VALID_SPEC, real_registry, site_review
from test_webhook_fakes import FakeEngine, FakeRegistry

from webhook.app import create_app
from webhook.budget import ReviewBudget, ReviewOverBudget
from webhook.limits import count_values, too_many_values


class SpinningEngine(FakeEngine):
    """validate() computes (pure Python) for up to a minute, counting as it goes."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.catches_exceptions = 0

    def validate(self, spec: Any) -> list:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.steps += 1
                sum(range(200))
            except Exception:  # the engine's own guards must not swallow the stop
                self.catches_exceptions += 1
        return []


def answer(app: Any, document: Any) -> tuple[int, dict[str, Any]]:
    reply = app.test_client().post(
        "/validate", data=json.dumps(document), content_type="application/json"
    )
    return reply.status_code, reply.get_json()


def test_a_review_past_its_budget_is_denied_and_its_work_stops() -> None:
    engine = SpinningEngine()
    app = create_app(FakeRegistry(engine=engine), review_seconds=0.5)
    started = time.monotonic()
    status, document = answer(app, site_review(VALID_SPEC))
    elapsed = time.monotonic() - started
    assert status == 200
    response = document["response"]
    assert (response["uid"], response["allowed"]) == (UID, False)
    assert "stopped checking this object after 0.5 s" in response["status"]["message"]
    assert elapsed < 5, elapsed
    steps = engine.steps
    time.sleep(0.3)
    assert engine.steps == steps  # nothing computes on behalf of the abandoned review
    assert engine.catches_exceptions == 0


def test_the_next_review_on_the_same_thread_is_not_hit() -> None:
    app = create_app(real_registry(), review_seconds=0.5)
    for _ in range(5):
        status, document = answer(app, site_review(VALID_SPEC))
        assert status == 200 and document["response"]["allowed"] is True
    time.sleep(0.7)  # past a budget the reviews above would have had
    _, document = answer(app, site_review(VALID_SPEC))
    assert document["response"]["allowed"] is True


def test_cpu_budget_counts_the_thread_alone() -> None:
    budget = ReviewBudget(0.3)
    stopped = threading.Event()

    def spin() -> None:
        try:
            with budget.limit():
                while True:
                    sum(range(100))
        except ReviewOverBudget:
            stopped.set()

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join(5)
    assert stopped.is_set() and not worker.is_alive()


def test_a_quiet_review_is_never_stopped() -> None:
    budget = ReviewBudget(0.2)
    with budget.limit():
        pass
    time.sleep(0.3)  # an exception left pending would surface here, at the next bytecode
    assert True


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ({}, 1),
        ({"a": 1}, 2),
        ({"a": [1, 2, {"b": None}]}, 6),
        ("text", 1),
        ([[[]]], 3),
    ],
)
def test_count_values(value: Any, count: int) -> None:
    assert count_values(value, stop_after=100) == count


def test_counting_stops_past_the_limit() -> None:
    assert count_values(list(range(1_000_000)), stop_after=10) == 11


def test_a_spec_with_too_many_values_is_denied_before_the_engine_runs() -> None:
    spec = {**VALID_SPEC, "extra": [{"name": f"n{i}"} for i in range(60_000)]}
    assert too_many_values(spec, 10_000) is not None
    app = create_app(real_registry(), max_spec_values=10_000, review_seconds=5)
    started = time.monotonic()
    status, document = answer(app, site_review(spec))
    assert status == 200
    assert time.monotonic() - started < 2
    response = document["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert response["status"]["message"] == (
        'Site "blog" in namespace "default" is invalid:\n'
        "spec: holds more than 10000 values (scalars, lists and maps); lostromos checks at "
        "most 10000 per object"
    )
    _, document = answer(app, site_review(VALID_SPEC))
    assert document["response"]["allowed"] is True
