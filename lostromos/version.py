"""What this build of lostromos is: its own version and the pinned helm and
Kubernetes it was made for, for `lostromos version` and `lostromos_build_info`."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from lostromos import toolchain

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    helm: str
    kubernetes: str
    etcd: str
    python: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def short(self) -> str:
        return f"lostromos {self.version} (helm {self.helm}, kubernetes {self.kubernetes})"


def build_info() -> BuildInfo:
    try:
        own = version("lostromos")
    except PackageNotFoundError:
        own = UNKNOWN
    try:
        pinned = toolchain.tool_versions()
    except (OSError, KeyError):
        # An installed image carries no tools/k8s/go.mod: the pins are not known there.
        pinned = {}
    return BuildInfo(
        version=own,
        helm=pinned.get("helm", UNKNOWN),
        kubernetes=pinned.get("kube-apiserver", UNKNOWN),
        etcd=pinned.get("etcd", UNKNOWN),
        python=platform.python_version(),
    )


def build_info_gauge(registry: CollectorRegistry, **options: Any) -> Gauge:
    """`lostromos_build_info{version, helm_version, kubernetes_version, python_version} 1`,
    the `*_build_info` every Prometheus exporter offers, to join versions onto alerts."""
    from prometheus_client import Gauge  # here: `lostromos version` needs no metrics

    info = build_info()
    gauge = Gauge(
        "lostromos_build_info",
        "The running lostromos build (always 1).",
        ["version", "helm_version", "kubernetes_version", "python_version"],
        registry=registry,
        **options,
    )
    gauge.labels(info.version, info.helm, info.kubernetes, info.python).set(1)
    return gauge
