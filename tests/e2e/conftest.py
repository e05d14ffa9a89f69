"""Fixtures shared by the controller's e2e tests: a namespace per test, and the
controller processes a test starts, killed at its end whatever happened (each
one's last log lines printed, which pytest shows when the test failed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.controllerkit import ControllerProcess
from tests.support import Cluster

LOG_LINES = 40


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "ctl-" + request.node.name.removeprefix("test_").replace("_", "-")[:50].rstrip("-")
    return cluster.namespace(name)


@pytest.fixture
def controllers(tmp_path: Path) -> Iterator[list[ControllerProcess]]:
    started: list[ControllerProcess] = []
    yield started
    for controller in started:
        controller.stop_quietly()
        if not controller.log_path.exists():
            continue
        print(f"--- the last lines of {controller.log_path} ---")
        print("\n".join(controller.log().splitlines()[-LOG_LINES:]))
