"""Memory the health follower keeps per 1,000 bound objects.

Feeds controller/healthwatch.py's store the objects a charts/site release owns
(one Deployment and one PersistentVolumeClaim, full-size as the API server sends
them, with managedFields) and measures, with tracemalloc, what stays allocated
once the objects themselves are dropped: the follower keeps per-object
summaries, not objects. Prints a table; asserts nothing.

    uv run python bench/health_memory.py [--sites 1000,5000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path
from typing import Any

# bench/controller.py would shadow the controller package: import from the project root.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

from controller.healthwatch import HealthFollower  # noqa: E402


def managed_fields(manager: str) -> list[dict[str, Any]]:
    fields = {f"f:{name}": {} for name in ("replicas", "selector", "strategy", "template")}
    return [{"manager": manager, "operation": "Update", "fieldsV1": {"f:spec": fields}}] * 3


def release_objects(index: int) -> list[tuple[str, dict[str, Any]]]:
    name = f"site-{index:05d}"
    namespace = f"team-{index % 50:02d}"
    metadata = {
        "name": f"{name}-site",
        "namespace": namespace,
        "uid": f"{index:08x}-0000-4000-8000-000000000000",
        "resourceVersion": str(100000 + index),
        "generation": 1,
        "labels": {
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/name": "site",
            "helm.sh/chart": "site-1.4.0",
        },
        "annotations": {
            "meta.helm.sh/release-name": name,
            "meta.helm.sh/release-namespace": namespace,
            "deployment.kubernetes.io/revision": "1",
        },
        "managedFields": managed_fields("helm"),
    }
    deployment = {
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "wordpress", "image": "wordpress:6"}]}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }
    claim = {
        "metadata": dict(metadata, managedFields=managed_fields("kube-controller-manager")),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound"},
    }
    return [("Deployment", deployment), ("PersistentVolumeClaim", claim)]


def measure(sites: int) -> tuple[int, int]:
    """(bytes kept by the follower, bytes of the objects it was fed)"""
    follower = HealthFollower(
        None,  # type: ignore[arg-type]  # observe() makes no API call
        [],
        events=None,  # type: ignore[arg-type]
        sink=None,  # type: ignore[arg-type]
        patch_status=lambda *_: {},
    )
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    fed = 0
    for index in range(sites):
        objects = release_objects(index)
        if index == 0:
            before = tracemalloc.get_traced_memory()[0]
            kept = [release_objects(0)]
            fed = (tracemalloc.get_traced_memory()[0] - before) * sites
            del kept
        for kind, obj in objects:
            follower.observe(kind, obj)
        del objects
    gc.collect()
    kept_bytes = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    return kept_bytes, fed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", default="1000,5000", help="comma-separated counts")
    args = parser.parse_args()
    print(
        f"{'sites':>7} {'workloads':>10} {'kept MiB':>9} {'per 1,000 sites':>16} "
        f"{'objects MiB':>12}"
    )
    for sites in (int(n) for n in args.sites.split(",")):
        kept, fed = measure(sites)
        print(
            f"{sites:>7} {2 * sites:>10} {kept / 2**20:>9.2f} "
            f"{kept / sites * 1000 / 2**20:>12.2f} MiB {fed / 2**20:>12.2f}"
        )


if __name__ == "__main__":
    main()
