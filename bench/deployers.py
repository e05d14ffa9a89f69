"""The two deployers side by side, for bench/controller.py --deployers helm,applyset.

For each deployer: a controller of its own, bound to the same kind and chart but
serving only the Sites labelled for it (so each measures only its own), a burst of
new Sites and one upgrade each (bench/controller.py's measure_burst: time to Ready,
API requests per Site by verb and resource, CPU), then what the cluster stores per
Site:

- the objects in the Sites' namespace (Sites, the release Secrets Helm keeps per
  revision, and every object the chart made), by kind, in bytes as etcd holds them
  (JSON for custom resources; a Secret's data counted decoded, not base64'd again);
- etcd's own count: etcd_mvcc_db_total_size_in_use_in_bytes before and after the
  burst (it includes the older revisions of every key until the API server compacts
  them, so it is the upper bound of the two).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from lostromos.dev.cluster import DevCluster

DEPLOYER_LABEL = "bench.lostromos.dev/deployer"
# what the site chart and the controller write in a Site's namespace, and the Sites
STORED_KINDS = (
    "sites.bench.lostromos.dev",
    "secrets",
    "configmaps",
    "deployments.apps",
    "services",
    "persistentvolumeclaims",
    "ingresses.networking.k8s.io",
)


def bindings_for(
    workdir: Path, binding: dict[str, Any], deployer: str, chart: Path, concurrency: int
) -> Path:
    """A bindings file whose one binding uses `deployer` and serves only its own Sites."""
    path = workdir / f"bindings-{deployer}.yaml"
    entry = {
        **binding,
        "chart": {"path": str(chart)},
        "concurrency": concurrency,
        "driftCheckSeconds": 0,
        "deployer": deployer,
        "selector": {"labels": f"{DEPLOYER_LABEL}={deployer}"},
    }
    path.write_text(yaml.safe_dump({"bindings": [entry]}))
    return path


def etcd_bytes_in_use(dev: DevCluster) -> float:
    url = f"http://127.0.0.1:{dev.ports.etcd_client}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("etcd_mvcc_db_total_size_in_use_in_bytes "):
                return float(line.split()[1])
    return 0.0


def object_bytes(obj: dict[str, Any]) -> int:
    """The object's size as stored: its JSON, with a Secret's data decoded."""
    data = obj.pop("data", None) if obj.get("kind") == "Secret" else None
    size = len(json.dumps(obj, separators=(",", ":")))
    for value in (data or {}).values():
        size += len(base64.b64decode(value))
    return size


def stored_bytes(dev: DevCluster, namespace: str) -> dict[str, tuple[int, int]]:
    """kind -> (objects, bytes) in the namespace, managedFields included (they are stored)."""
    found: dict[str, tuple[int, int]] = {}
    for kind in STORED_KINDS:
        listing = json.loads(
            dev.kubectl("get", kind, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
        )
        items = listing.get("items") or []
        found[kind.split(".")[0]] = (len(items), sum(object_bytes(item) for item in items))
    return found


def storage_rows(
    deployer: str, count: int, stored: dict[str, tuple[int, int]], etcd_delta: float
) -> list[tuple[str, str]]:
    total = sum(size for _, size in stored.values())
    shown = ", ".join(
        f"{kind} {objects / count:.1f}x {size / max(objects, 1) / 1024:.1f} KiB"
        for kind, (objects, size) in stored.items()
        if objects
    )
    return [
        (
            f"  {deployer}: stored per Site after install + upgrade (objects, their size)",
            f"{total / count / 1024:.1f} KiB: {shown}",
        ),
        (
            f"  {deployer}: etcd bytes in use per Site (with old revisions, before compaction)",
            f"{etcd_delta / count / 1024:.1f} KiB",
        ),
    ]
