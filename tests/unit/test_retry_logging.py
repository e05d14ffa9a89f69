"""Quiet logs during an API-server outage: no tracebacks, a failure said once."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from urllib3.exceptions import MaxRetryError, NewConnectionError

from controller.main import BindingController
from controller.metrics import ControllerMetrics
from controller.reconcile import ReconcileError, Result
from controller.retrylog import RetryLog
from lostromos.config import load_bindings
from lostromos.engines import EngineRegistry
from lostromos.logs import configure_logging

ROOT = Path(__file__).resolve().parents[2]


def refused() -> MaxRetryError:
    """What the kubernetes client raises when the API server is down."""
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as cause:
        try:
            raise NewConnectionError(
                None,
                "Failed to establish a new connection: "  # type: ignore[arg-type]
                "[Errno 111] Connection refused",
            ) from cause
        except NewConnectionError as reason:
            pool = client.ApiClient().rest_client.pool_manager.connection_from_url(
                "https://127.0.0.1:6443"
            )
            return MaxRetryError(pool, "/apis/hosting.example.com/v1/sites", reason)


class FlakyReconciler:
    def __init__(self, errors: list[BaseException], final: Result) -> None:
        self.errors = errors
        self.final = final

    def reconcile(self, key: str) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return self.final


@pytest.fixture
def controller() -> BindingController:
    bindings = load_bindings(ROOT / "lostromos.yaml")
    binding = bindings.bindings[0]
    api = client.ApiClient(client.Configuration(host="https://127.0.0.1:1"))
    made = BindingController(
        binding,
        api,
        engines=EngineRegistry(bindings),
        helm=None,  # type: ignore[arg-type]
        metrics=ControllerMetrics(),
        resync_seconds=60,
        dry_run=True,
    )
    made.informer.update(
        {"metadata": {"name": "blog", "namespace": "team", "resourceVersion": "1"}}
    )
    return made


def _run(
    controller: BindingController, errors: list[BaseException], final: Result | None = None
) -> str:
    stream = io.StringIO()
    configure_logging("text", "info", stream=stream)
    try:
        controller.reconciler = FlakyReconciler(errors, final or Result())  # type: ignore[assignment]
        for _ in range(len(errors) + 1):
            controller._process("team/blog")
    finally:
        configure_logging("text", "info")
    return stream.getvalue()


def test_an_outage_is_one_warning_line_without_a_traceback(controller) -> None:
    text = _run(controller, [refused() for _ in range(20)])
    lines = text.splitlines()
    assert "Traceback" not in text and "urllib3" not in text and "HTTPSConnectionPool" not in text
    warnings = [line for line in lines if " WARNING " in line]
    assert len(warnings) == 1, text
    assert "reconcile failed, retrying in" in warnings[0]
    assert "connection refused (https://127.0.0.1:6443)" in warnings[0]
    # the release name comes from the binding's template ({name}), never from status
    assert "object=team/blog" in warnings[0] and "release=blog" in warnings[0]
    assert any("reconcile succeeded after failing" in line for line in lines)


def test_a_helm_failure_is_said_once_and_again_when_it_changes(controller) -> None:
    text = _run(
        controller,
        [ReconcileError("install failed: boom")] * 5 + [ReconcileError("install failed: other")],
    )
    warnings = [line for line in text.splitlines() if " WARNING " in line]
    assert len(warnings) == 2
    assert "install failed: boom" in warnings[0] and "install failed: other" in warnings[1]


def test_giving_up_is_not_logged_as_a_recovery(controller) -> None:
    # The action logged why it gave up; "succeeded after failing" would say the opposite.
    text = _run(controller, [ReconcileError("install failed: boom")] * 3, Result(stalled=True))
    assert "succeeded after failing" not in text
    assert controller.failures._last == {}  # a later failure is said again, at WARNING


def test_a_bug_keeps_its_traceback_once(controller) -> None:
    text = _run(controller, [KeyError("spec")] * 3)
    assert text.count("Traceback") == 1 and " ERROR " in text


def test_retries_are_debug_lines_with_the_backoff() -> None:
    logger = logging.getLogger("test.retrylog")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    retry = RetryLog(logger, "Site")
    for delay in (0.5, 1.0, 2.0):
        retry.failed("team/blog", refused(), delay, None, expected=False)
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert records[2].getMessage().startswith("reconcile failed again, retrying in 2.0s")
