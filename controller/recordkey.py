"""The key that signs Helm release records, held only by the controller.

Helm keeps a release's records as Secrets in the release's namespace, where
anyone allowed to write Secrets there can forge or edit one. The Helm engine
signs every record it writes with this key and refuses every record that does
not verify (tools/k8s/helmengine/records.go), so a record the controller acts
on is one it wrote. The key lives in a Secret of the controller's own namespace
(tenants have no rights there); the first replica creates it, the others read
it. The engine gets it as a file only its own user can read.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

RECORD_KEY_SECRET = "lostromos-release-record-key"  # noqa: S105 - a name, not a secret
_DATA_KEY = "key"


def ensure_record_key(api_client: k8s.ApiClient, namespace: str, name: str) -> bytes:
    """Read the record key Secret, creating it with a fresh random key when absent."""
    core = k8s.CoreV1Api(api_client)
    for _ in range(3):
        try:
            secret = core.read_namespaced_secret(name, namespace)
            return base64.b64decode((secret.data or {})[_DATA_KEY])
        except ApiException as error:
            if error.status != 404:
                raise
        key = secrets.token_hex(32).encode()
        body = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(
                name=name, labels={"app.kubernetes.io/managed-by": "lostromos"}
            ),
            type="Opaque",
            data={_DATA_KEY: base64.b64encode(key).decode()},
        )
        try:
            core.create_namespaced_secret(namespace, body)
            return key
        except ApiException as error:
            if error.status != 409:  # 409: another replica made it first; read theirs
                raise
    raise RuntimeError(f"cannot read or create the record key Secret {namespace}/{name}")


def write_key_file(key: bytes, directory: Path) -> Path:
    """The key as a file readable by this user only, for the engine's --record-key-file."""
    path = directory / "record.key"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return path
