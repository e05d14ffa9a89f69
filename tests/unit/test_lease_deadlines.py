"""A lease holder whose API server stops answering stops acting as the holder before
its Lease expires for the others: every request of the leader elector and of ring
membership ends by the renew deadline (lostromos.kube.timeout_until)."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.leader import LeaderElector, LeaseConfig
from controller.sharding.membership import MemberConfig, Membership
from lostromos.kube import MIN_REQUEST_SECONDS

# How long a request the server never answers holds its caller without a timeout.
FOREVER = 3600.0


class SilentLater:
    """Leases on an API server that answers until `silent`, then holds every request
    for its whole timeout (on the fake clock) and fails it as urllib3 would."""

    def __init__(self) -> None:
        self.now = 0.0
        self.silent = False
        self.lease: client.V1Lease | None = None
        self.timeouts: list[float | None] = []

    def clock(self) -> float:
        return self.now

    def _request(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)
        if self.silent:
            self.now += FOREVER if timeout is None else timeout
            raise urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")  # type: ignore[arg-type]

    def read_namespaced_lease(
        self, name: str, namespace: str, _request_timeout: float | None = None
    ) -> client.V1Lease:
        self._request(_request_timeout)
        if self.lease is None:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.lease)

    def create_namespaced_lease(
        self, namespace: str, body: client.V1Lease, _request_timeout: float | None = None
    ) -> client.V1Lease:
        self._request(_request_timeout)
        self.lease = copy.deepcopy(body)
        return body

    def replace_namespaced_lease(
        self,
        name: str,
        namespace: str,
        body: client.V1Lease,
        _request_timeout: float | None = None,
    ) -> client.V1Lease:
        return self.create_namespaced_lease(namespace, body, _request_timeout)

    def patch_namespaced_lease(
        self, name: str, namespace: str, body: Any, _request_timeout: float | None = None
    ) -> client.V1Lease:
        self._request(_request_timeout)
        if self.lease is None:
            raise ApiException(status=404, reason="Not Found")
        return self.lease

    def list_namespaced_lease(
        self, namespace: str, label_selector: str = "", _request_timeout: float | None = None
    ) -> client.V1LeaseList:
        self._request(_request_timeout)
        return client.V1LeaseList(items=[self.lease] if self.lease else [])


def test_a_leader_whose_api_server_goes_silent_stops_leading_before_its_lease_expires() -> None:
    api = SilentLater()
    config = LeaseConfig(namespace="ops", name="lostromos", identity="me", retry_period=0.001)
    elector = LeaderElector(api, config, clock=api.clock)  # type: ignore[arg-type]

    def go_silent() -> None:
        api.silent = True

    assert elector.run(threading.Event(), on_started=go_silent) is False  # leadership lost
    assert not elector.leading.is_set()
    # the last renewal was at 0: the standby may take over at lease_seconds
    assert api.now < config.lease_seconds
    assert all(timeout is not None for timeout in api.timeouts)


def test_an_attempt_gets_what_is_left_of_the_renew_deadline() -> None:
    api = SilentLater()
    elector = LeaderElector(api, LeaseConfig("ops", "lostromos", "me"), clock=api.clock)  # type: ignore[arg-type]
    api.now = 7.0
    assert elector._try_acquire_or_renew(10.0)  # one attempt, alone
    assert api.timeouts == [3.0, 3.0]  # the read (404), then the create
    api.now = 10.0
    assert not elector._try_acquire_or_renew(10.0)
    assert len(api.timeouts) == 2  # past the deadline, no request at all
    api.now = 9.9
    elector._try_acquire_or_renew(10.0)
    assert api.timeouts[-1] == MIN_REQUEST_SECONDS


def test_a_ring_member_whose_api_server_goes_silent_gives_up_by_the_renew_deadline() -> None:
    api = SilentLater()
    config = MemberConfig(namespace="ops", ring="lostromos", identity="me")
    member = Membership(api, config, clock=api.clock)  # type: ignore[arg-type]
    assert member.renew(frozenset({1, 2}))  # at 0
    api.now, api.silent = 4.0, True
    assert not member.renew(frozenset({1, 2}))
    assert api.now == config.renew_deadline  # held until the deadline, not for good
    assert api.timeouts[-1] == config.renew_deadline - 4.0
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        member.view()  # the deadline has passed: the shortest wait
    assert api.timeouts[-1] == MIN_REQUEST_SECONDS
    # Its claims forgotten (Coordinator), it joins again as a new member would.
    member.lapse()
    api.silent = False
    assert member.renew(frozenset())
    assert api.timeouts[-1] == config.renew_deadline
