"""The local development cluster: a real etcd and kube-apiserver on loopback,
with the webhook and the controller running beside them as local processes."""

from __future__ import annotations

import os
from pathlib import Path

# The tools a user's shell runs against a cluster (`dev env`), and the file in its state
# folder where `dev up` records the ones it was started with.
CLIENT_TOOLS = ("kubectl", "helm")
CLIENT_TOOLS_FILE = "clients.json"


class DevError(RuntimeError):
    """A component failed to come up; the message names it and shows its log tail."""


def default_state_dir() -> Path:
    """Where `dev up`, `dev env` and `dev down` keep a cluster unless told otherwise
    (here, not in dev.cluster: the CLI's parser needs it without the cluster's imports)."""
    return Path(os.environ.get("LOSTROMOS_STATE_DIR") or Path.cwd() / ".lostromos" / "dev")
