"""Every request of lostromos's API client has a deadline (lostromos/kube.py): an API
server that accepts a connection and never answers costs a timeout, not a worker."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client

from lostromos import kube


def kubeconfig_for(server: str, path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_a_server_that_never_answers_times_out_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "READ_TIMEOUT_SECONDS", 0.2)
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:  # every connection is taken, and never answered
        while True:
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    api = kube.api_client(kubeconfig_for(f"http://127.0.0.1:{port}", tmp_path / "kubeconfig"))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.CoreV1Api(api).list_namespace()
        except BaseException as error:  # what ended the call is the result
            outcome.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=60)  # a bound for the test only: without deadlines it never ends
    silent.close()
    assert not caller.is_alive(), "the request to a silent API server never ended"
    assert len(outcome) == 1
    assert isinstance(outcome[0], urllib3.exceptions.ReadTimeoutError), outcome[0]
    assert len(accepted) == 1  # sent once: a silent server is not asked three more times


def test_a_dropped_connection_is_still_tried_again(tmp_path: Path) -> None:
    """What urllib3 retries besides a timed-out read it still retries: a connection
    closed before any answer (a keep-alive connection the server dropped) is sent
    again, three times, then fails."""
    dropping = socket.create_server(("127.0.0.1", 0))
    port = dropping.getsockname()[1]
    accepted = 0

    def drop() -> None:
        nonlocal accepted
        while True:
            try:
                connection = dropping.accept()[0]
            except OSError:
                return
            accepted += 1
            connection.close()

    threading.Thread(target=drop, daemon=True).start()
    api = kube.api_client(kubeconfig_for(f"http://127.0.0.1:{port}", tmp_path / "kubeconfig"))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        client.CoreV1Api(api).list_namespace()
    dropping.close()
    assert accepted == 4


def test_a_request_that_names_its_own_timeout_keeps_it() -> None:
    api = client.ApiClient()
    sent: list[Any] = []
    api.rest_client.request = lambda *_, **kwargs: sent.append(kwargs.get("_request_timeout"))  # type: ignore[method-assign]
    kube.with_deadlines(api)
    url = "http://127.0.0.1:1/api"
    api.rest_client.request("GET", url)
    api.rest_client.request("GET", url, _request_timeout=kube.watch_timeout(300))
    assert sent == [
        (kube.CONNECT_TIMEOUT_SECONDS, kube.READ_TIMEOUT_SECONDS),
        (kube.CONNECT_TIMEOUT_SECONDS, 300 + kube.WATCH_GRACE_SECONDS),
    ]
