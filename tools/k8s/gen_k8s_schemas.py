"""Regenerate lostromos/authoring/k8s_schemas.json from the pinned Kubernetes OpenAPI.

`schema init` gives values that are Kubernetes API structures (resources,
securityContext, affinity, tolerations, probes, ...) the API's own schema. The
schemas come from the OpenAPI v3 documents that the pinned k8s.io/kubernetes
module ships (api/openapi-spec/v3, what its kube-apiserver serves at
/openapi/v3), fetched from the Go module proxy by `go mod download`.

Kept: the types `schema init` uses and everything they refer to, with their
properties, types, enums, items and closed objects (the API
server refuses unknown fields under kubectl's strict field validation).
Dropped: descriptions, defaults, formats and x-kubernetes-* (Helm values are
judged before the API server applies any of them), and `required`: charts
often fill in part of a structure themselves (a probe's port, an affinity
term's topologyKey), so a partial one in values is not a mistake. IntOrString becomes
`type: [integer, string]` and Quantity `type: [number, string]`, which is what
a Helm value for them can be.

    uv run python tools/k8s/gen_k8s_schemas.py        # rewrite the bundle
    uv run python tools/k8s/gen_k8s_schemas.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lostromos.toolchain import pinned_versions  # noqa: E402

OUTPUT = ROOT / "lostromos" / "authoring" / "k8s_schemas.json"
DOCUMENTS = ("api__v1_openapi.json", "apis__apps__v1_openapi.json")
CORE = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
ROOTS = (
    *(
        CORE + name
        for name in (
            "Affinity",
            "Container",
            "ContainerPort",
            "EnvFromSource",
            "EnvVar",
            "HostAlias",
            "Lifecycle",
            "LocalObjectReference",
            "PodDNSConfig",
            "PodSecurityContext",
            "Probe",
            "ResourceRequirements",
            "SecurityContext",
            "ServicePort",
            "Toleration",
            "TopologySpreadConstraint",
            "Volume",
            "VolumeMount",
        )
    ),
    APPS + "DeploymentStrategy",
    APPS + "DaemonSetUpdateStrategy",
    APPS + "StatefulSetUpdateStrategy",
)
REPLACED = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["integer", "string"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["number", "string"]},
}
KEPT = frozenset(
    {
        "type",
        "properties",
        "items",
        "additionalProperties",
        "enum",
        "$ref",
        "allOf",
        "oneOf",
        "anyOf",
    }
)
PREFIX = "#/components/schemas/"


def spec_dir(version: str) -> Path:
    module = f"k8s.io/kubernetes@{version}"
    found = subprocess.run(
        ["go", "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT / "tools" / "k8s",
    )
    info = json.loads(found.stdout or "{}")
    if "Dir" not in info:
        raise SystemExit(f"go mod download {module}: {info.get('Error') or found.stderr}")
    return Path(info["Dir"]) / "api" / "openapi-spec" / "v3"


def load_schemas(directory: Path) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name in DOCUMENTS:
        document = json.loads((directory / name).read_text(encoding="utf-8"))
        schemas.update(document["components"]["schemas"])
    return schemas


def compact(node: Any) -> Any:
    """A node with only the keywords that judge a value, refs pointing into `$defs`."""
    if isinstance(node, list):
        return [compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: compact(value) for key, value in node.items() if key in KEPT}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {name: compact(child) for name, child in node["properties"].items()}
    if "$ref" in out:
        out["$ref"] = "#/$defs/" + out["$ref"].removeprefix(PREFIX)
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and len(out) == 1:
        return all_of[0]  # {allOf: [{$ref}]} is how v3 puts a description beside a $ref
    if isinstance(out.get("properties"), dict):
        out.setdefault("type", "object")
        out.setdefault("additionalProperties", False)
    return out


def references(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(references(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].removeprefix("#/$defs/")} if "$ref" in node else set()
    return found.union(*(references(value) for value in node.values()))


def bundle(schemas: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        defs[name] = REPLACED.get(name) or compact(schemas[name])
        pending += sorted(references(defs[name]) - defs.keys())
    return dict(sorted(defs.items()))


def render(defs: dict[str, Any], version: str) -> str:
    lines = [f'{{"kubernetes": {json.dumps(version)},', ' "$defs": {']
    entries = [
        f"  {json.dumps(name)}: {json.dumps(node, sort_keys=True)}" for name, node in defs.items()
    ]
    lines.append(",\n".join(entries))
    lines.append(" }}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the bundle is stale")
    args = parser.parse_args()
    version = pinned_versions()["k8s.io/kubernetes"]
    text = render(bundle(load_schemas(spec_dir(version))), version)
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else None
    if args.check:
        if current != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} (Kubernetes {version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
