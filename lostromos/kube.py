"""The one way lostromos builds a Kubernetes API client.

A kubeconfig named on the command line wins. Otherwise a process in a pod
uses its ServiceAccount, and anything else the default kubeconfig (KUBECONFIG
or ~/.kube/config), as kubectl does. The kubernetes package's global default
configuration is never changed: components that share a process (and tests)
each keep the client they were given.

Every request has a deadline, as client-go's do. The kubernetes package sets
none, so a connection to an API server that stopped answering (a control plane
failing over, a half-open TCP connection) would hold a controller's worker, or
its watch, for good. A request that names its own `_request_timeout` keeps it:
a watch allows its `timeoutSeconds` and WATCH_GRACE_SECONDS more (watch_timeout).
A request whose answer did not come in time is not sent again (urllib3 would,
three times): the caller hears of it after one timeout, not four.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

CONNECT_TIMEOUT_SECONDS = 10.0
# The API server ends any request but a watch within its --request-timeout (one
# minute by default): past this, nobody is answering.
READ_TIMEOUT_SECONDS = 75.0
WATCH_GRACE_SECONDS = 30.0
# A request that must end by a deadline (a lease renewal) still gets this long.
MIN_REQUEST_SECONDS = 0.5


class KubeConfigError(Exception):
    """No usable client configuration: one line naming where it was looked for."""


def api_client(kubeconfig: Path | None = None) -> client.ApiClient:
    """A new ApiClient; raises KubeConfigError when no configuration can be used."""
    return with_deadlines(_configured(kubeconfig))


def with_deadlines(api: client.ApiClient) -> client.ApiClient:
    """`api`, its requests given a connect and a read timeout unless they name one."""
    send: Callable[..., Any] = api.rest_client.request

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        return send(*args, **kwargs)

    api.rest_client.request = bounded  # type: ignore[method-assign]
    return api


def timeout_until(deadline: float, now: float) -> float:
    """The `_request_timeout` that ends a request by `deadline` (`now` on the same clock)."""
    return max(MIN_REQUEST_SECONDS, deadline - now)


def watch_timeout(timeout_seconds: float) -> tuple[float, float]:
    """The `_request_timeout` of a watch the server ends after `timeout_seconds`."""
    return (CONNECT_TIMEOUT_SECONDS, timeout_seconds + WATCH_GRACE_SECONDS)


class Retries(urllib3.Retry):
    """urllib3's retries (a dropped keep-alive connection, a refused connect), except
    a read that timed out: the server stayed silent for the whole timeout."""

    def increment(  # type: ignore[override]
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> urllib3.Retry:
        error = kwargs.get("error")
        if isinstance(error, urllib3.exceptions.ReadTimeoutError):
            raise error
        return super().increment(method, url, *args, **kwargs)


def _configured(kubeconfig: Path | None) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if kubeconfig is not None:
            config.load_kube_config(str(kubeconfig), client_configuration=configuration)
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except ConfigException:
                config.load_kube_config(client_configuration=configuration)
    except (ConfigException, OSError, TypeError) as error:
        # TypeError: the client library's answer to some malformed kubeconfig files
        where = kubeconfig or "the in-cluster service account or the default kubeconfig"
        raise KubeConfigError(f"cannot use {where}: {error}") from None
    configuration.retries = Retries(total=3)  # urllib3's default count
    return client.ApiClient(configuration)
