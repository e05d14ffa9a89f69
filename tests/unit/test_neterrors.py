"""API-server errors in one line, without urllib3's internals."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.informer import Informer
from lostromos.config import Binding, ChartRef
from lostromos.logs import configure_logging
from lostromos.neterrors import brief_error, is_transient
from tests.unit.test_retry_logging import refused


def test_a_refused_connection_names_the_server_only() -> None:
    error = refused()
    assert "HTTPSConnectionPool" in str(error)  # what urllib3 itself says
    assert brief_error(error) == "connection refused (https://127.0.0.1:6443)"
    assert is_transient(error)


def test_api_errors_are_status_and_reason() -> None:
    assert (
        brief_error(ApiException(status=503, reason="Service Unavailable"))
        == "503 Service Unavailable"
    )
    assert is_transient(ApiException(status=503))
    assert not is_transient(ApiException(status=403))
    assert not is_transient(KeyError("x"))


def test_the_informer_logs_one_line_per_retry_with_its_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()

    class DownApi:
        calls = 0

        def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict:
            DownApi.calls += 1
            if DownApi.calls >= 4:
                stop.set()  # a failure while stopping: not reported
            raise refused()

    binding = Binding(
        name="site",
        group="hosting.example.com",
        version="v1",
        kind="Site",
        plural="sites",
        chart=ChartRef(path=Path("charts/site")),
    )
    informer = Informer(DownApi(), binding, lambda key: None)  # type: ignore[arg-type]
    stream = io.StringIO()
    configure_logging("text", "info", stream=stream)
    monkeypatch.setattr("controller.informer.random.random", lambda: 0.0)  # shortest backoff
    try:
        informer.run(stop)
    finally:
        configure_logging("text", "info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert all(
        "watch failed, retrying in" in line
        and "connection refused (https://127.0.0.1:6443)" in line
        for line in lines
    )
    assert "Traceback" not in stream.getvalue() and "urllib3" not in stream.getvalue()
