"""The one way lostromos builds a Kubernetes API client.

A kubeconfig named on the command line wins. Otherwise a process in a pod
uses its ServiceAccount, and anything else the default kubeconfig (KUBECONFIG
or ~/.kube/config), as kubectl does. The kubernetes package's global default
configuration is never changed: components that share a process (and tests)
each keep the client they were given.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException


class KubeConfigError(Exception):
    """No usable client configuration: one line naming where it was looked for."""


def api_client(kubeconfig: Path | None = None) -> client.ApiClient:
    """A new ApiClient; raises KubeConfigError when no configuration can be used."""
    try:
        if kubeconfig is not None:
            return config.new_client_from_config(config_file=str(kubeconfig))
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except ConfigException:
            return config.new_client_from_config()
    except (ConfigException, OSError, TypeError) as error:
        # TypeError: the client library's answer to some malformed kubeconfig files
        where = kubeconfig or "the in-cluster service account or the default kubeconfig"
        raise KubeConfigError(f"cannot use {where}: {error}") from None
