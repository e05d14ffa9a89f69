"""The two deployers side by side, for bench/controller.py --deployers helm,applyset.

For each deployer: a controller of its own, bound to the same kind and chart but
serving only the Sites labelled for it (so each measures only its own), a burst of
new Sites and one upgrade each (bench/controller.py's measure_burst: time to Ready,
API requests per Site by verb and resource, CPU), then what the cluster stores per
Site:

- the objects in the Sites' namespace (Sites, the release Secrets Helm keeps per
  revision, and every object the chart made), by kind, in bytes as etcd holds them
  (JSON for custom resources; a Secret's data counted decoded, not base64'd again);
- what etcd was asked to write during the burst, by its own counters (puts and their
  bytes: every revision of every key, status updates included; with --nodes the data
  plane's writes too). Its database size is no measure: the API server compacts old
  revisions every five minutes, so the size can even fall during a run.
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


# What etcd was asked to write, counted by etcd itself: every revision of every key
# (status updates and Helm's release Secrets included), which compaction never lowers.
ETCD_WRITES = ("etcd_mvcc_put_total", "etcd_debugging_mvcc_total_put_size_in_bytes")


def etcd_writes(dev: DevCluster) -> dict[str, float]:
    url = f"http://127.0.0.1:{dev.ports.etcd_client}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    found = dict.fromkeys(ETCD_WRITES, 0.0)
    for line in lines:
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


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
    deployer: str, count: int, stored: dict[str, tuple[int, int]], written: dict[str, float]
) -> list[tuple[str, str]]:
    total = sum(size for _, size in stored.values())
    shown = ", ".join(
        f"{kind} {objects / count:.1f}x {size / max(objects, 1) / 1024:.1f} KiB"
        for kind, (objects, size) in stored.items()
        if objects
    )
    puts, put_bytes = (written[name] for name in ETCD_WRITES)
    return [
        (
            f"  {deployer}: stored per Site after install + upgrade (objects, their size)",
            f"{total / count / 1024:.1f} KiB: {shown}",
        ),
        (
            f"  {deployer}: etcd writes per Site, install + upgrade (puts, bytes)",
            f"{puts / count:.1f} puts, {put_bytes / count / 1024:.1f} KiB",
        ),
    ]
