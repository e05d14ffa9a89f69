"""The pinned Kubernetes toolchain: the control plane, kwok, kubectl, helm and the Helm engine.

lostromos never downloads a prebuilt binary. The programs are built from
their Go modules, pinned in ``tools/k8s/go.mod`` (the one place their versions
are recorded), into a cache folder keyed by the content of go.mod, go.sum and
the Go version, so a build happens once per pin and is skipped afterwards.
The Helm engine (``tools/k8s/helmengine``, lostromos's own small Go program
around Helm's library) lives in the same module, so it is built from exactly
the Helm the helm CLI is; its cached binary is also keyed by its source.
kwok (simulated nodes and pods) is pinned in a module of its own,
``tools/kwok/go.mod``, because its Kubernetes libraries are a minor version
behind; its cached binary is keyed by that module's go.mod and go.sum.

Users who already have binaries skip the build: ``LOSTROMOS_<TOOL>`` (for
example ``LOSTROMOS_HELM``) names one binary explicitly, and
``KUBEBUILDER_ASSETS`` (controller-runtime's envtest assets) supplies
kube-apiserver, etcd and kubectl.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS_ROOT = PROJECT_ROOT / "tools"
# the main module: the Kubernetes control plane, kubectl, helm and the Helm engine
TOOLS_MODULE = TOOLS_ROOT / "k8s"


@dataclass(frozen=True)
class Tool:
    name: str
    package: str
    module: str
    envtest_asset: bool
    # a folder of TOOLS_MODULE holding this tool's own source (None: built from a pin only)
    source_dir: str | None = None
    # only the test suite runs it: `toolchain build` builds it, `dev up` does not
    for_tests: bool = False
    # the folder of tools/ whose go.mod pins it (k8s: TOOLS_MODULE)
    module_dir: str = "k8s"

    @property
    def own_module(self) -> bool:
        """Pinned outside TOOLS_MODULE: its cached name is keyed by its own go.mod and go.sum."""
        return self.module_dir != TOOLS_MODULE.name

    @property
    def built_name(self) -> str:
        """The file `go build -o DIR/` writes: the package's last element, minus a /vN suffix."""
        parts = self.package.split("/")
        if re.fullmatch(r"v[0-9]+", parts[-1]):
            parts.pop()
        return parts[-1]

    @property
    def env_var(self) -> str:
        return "LOSTROMOS_" + self.name.upper().replace("-", "_")


TOOLS: tuple[Tool, ...] = (
    Tool("etcd", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3", True),
    Tool("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes", True),
    Tool("kubectl", "k8s.io/kubernetes/cmd/kubectl", "k8s.io/kubernetes", True),
    Tool(
        "kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes",
        False,
    ),
    Tool("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes", False),
    # Simulated nodes: marks pods Running and Ready (or failing) with no container runtime.
    Tool("kwok", "sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok", False, module_dir="kwok"),
    Tool("helm", "helm.sh/helm/v4/cmd/helm", "helm.sh/helm/v4", False),
    Tool(
        "helm-engine",
        "github.com/lostromos/lostromos/tools/k8s/helmengine",
        "helm.sh/helm/v4",
        False,
        source_dir="helmengine",
    ),
    # Tests only: an OCI registry (distribution's own server) for repository charts.
    Tool(
        "oci-registry",
        "github.com/lostromos/lostromos/tools/k8s/ociregistry",
        "github.com/distribution/distribution/v3",
        False,
        source_dir="ociregistry",
        for_tests=True,
    ),
)
# what lostromos itself runs; ALL_TOOL_NAMES adds the test suite's
TOOL_NAMES = tuple(tool.name for tool in TOOLS if not tool.for_tests)
ALL_TOOL_NAMES = tuple(tool.name for tool in TOOLS)
# what runs only with simulated nodes (`dev up --no-nodes` needs none of them)
DATA_PLANE_TOOL_NAMES = ("kube-controller-manager", "kube-scheduler", "kwok")


class ToolchainError(RuntimeError):
    """A binary cannot be found or built. The message is one line for a person."""


def tool(name: str) -> Tool:
    for candidate in TOOLS:
        if candidate.name == name:
            return candidate
    raise ToolchainError(f"unknown tool {name!r}; known: {', '.join(TOOL_NAMES)}")


def pinned_versions(module_dir: Path = TOOLS_MODULE) -> dict[str, str]:
    """Module path -> version, read from the require block of go.mod."""
    text = (module_dir / "go.mod").read_text(encoding="utf-8")
    versions: dict[str, str] = {}
    requirement = re.compile(r"^\s*(?:require\s+)?([\w./-]+)\s+(v[\w.+-]+)\s*(?://.*)?$", re.M)
    for match in requirement.finditer(text):
        versions.setdefault(match.group(1), match.group(2))
    return versions


def tool_versions(tools_root: Path = TOOLS_ROOT) -> dict[str, str]:
    """Tool name -> pinned version."""
    modules = {d: pinned_versions(tools_root / d) for d in {t.module_dir for t in TOOLS}}
    return {t.name: modules[t.module_dir][t.module] for t in TOOLS}


def cache_root() -> Path:
    configured = os.environ.get("LOSTROMOS_CACHE_DIR")
    return Path(configured) if configured else PROJECT_ROOT / ".cache"


def _go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            "the Go toolchain is not on PATH: install Go >= 1.26 to build the pinned "
            "kube-apiserver, etcd, kubectl and helm, or point KUBEBUILDER_ASSETS and "
            "LOSTROMOS_HELM at existing binaries"
        )
    return go


def build_fingerprint(module_dir: Path = TOOLS_MODULE) -> str:
    """Changes whenever a pin, a checksum or the Go version changes."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module_dir / name).read_bytes())
    go_version = subprocess.run(
        [_go_binary(), "env", "GOVERSION", "GOOS", "GOARCH"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    digest.update(go_version.encode())
    return digest.hexdigest()[:16]


def build_dir(module_dir: Path = TOOLS_MODULE) -> Path:
    return cache_root() / "k8s" / build_fingerprint(module_dir)


def cached_name(t: Tool, module_dir: Path = TOOLS_MODULE) -> str:
    """The file name in build_dir(): a tool with its own source, or its own module,
    is keyed by that too (build_dir() is keyed by TOOLS_MODULE only)."""
    if t.source_dir is None and not t.own_module:
        return t.name
    digest = hashlib.sha256()
    if t.own_module:
        own = module_dir.parent / t.module_dir
        for name in ("go.mod", "go.sum"):
            digest.update((own / name).read_bytes())
    if t.source_dir is not None:
        source = module_dir / t.source_dir
        # default.pgo: the profile `go build` optimises the program for (-pgo=auto)
        for path in sorted([*source.rglob("*.go"), *source.glob("default.pgo")]):
            digest.update(path.relative_to(module_dir).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return f"{t.name}-{digest.hexdigest()[:12]}"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _external_binary(t: Tool, environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get(t.env_var)
    if explicit:
        path = Path(explicit)
        if not _executable(path):
            raise ToolchainError(f"{t.env_var}={explicit} is not an executable file")
        return path
    assets = environ.get("KUBEBUILDER_ASSETS")
    if assets and t.envtest_asset:
        path = Path(assets) / t.name
        if not _executable(path):
            raise ToolchainError(f"KUBEBUILDER_ASSETS={assets} has no executable {t.name}")
        return path
    return None


def find(name: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where a tool is, without building: explicit path, envtest assets, or the cache."""
    environ = os.environ if environ is None else environ
    t = tool(name)
    external = _external_binary(t, environ)
    if external is not None:
        return external
    if shutil.which("go") is None:
        return None
    cached = build_dir() / cached_name(t)
    return cached if _executable(cached) else None


def ensure(
    names: Iterable[str] = TOOL_NAMES,
    *,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: print(
        f"lostromos: {line}", file=sys.stderr, flush=True
    ),
) -> dict[str, Path]:
    """Return a path for every named tool, building the missing ones first."""
    environ = os.environ if environ is None else environ
    wanted = [tool(name) for name in names]
    paths: dict[str, Path] = {}
    for t in wanted:
        external = _external_binary(t, environ)
        if external is not None:
            paths[t.name] = external
    missing = [t for t in wanted if t.name not in paths]
    if missing:
        paths.update(_build(missing, progress))
    return paths


def _build(missing: list[Tool], progress: Callable[[str], None]) -> dict[str, Path]:
    target = build_dir()
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        # Two processes (a test run and `dev up`) may ask at once: one builds.
        fcntl.flock(lock, fcntl.LOCK_EX)
        todo = [t for t in missing if not _executable(target / cached_name(t))]
        # one `go build` per module: each resolves its packages in its own go.mod
        for module_dir in dict.fromkeys(t.module_dir for t in todo):
            _go_build([t for t in todo if t.module_dir == module_dir], target, progress)
    return {t.name: target / cached_name(t) for t in missing}


def _ldflags(versions: Mapping[str, str], module_dir: str) -> str:
    if module_dir != TOOLS_MODULE.name:
        # kwok's own version is in its source; the Kubernetes stamps below are not its libraries'
        return "-s -w"
    kube = versions["kube-apiserver"]
    major, minor = kube.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={kube}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    flags += [
        f"-X helm.sh/helm/v4/internal/version.version={versions['helm']}",
        "-X helm.sh/helm/v4/internal/version.metadata=",
        "-X helm.sh/helm/v4/internal/version.gitTreeState=clean",
    ]
    return " ".join(flags)


def _go_build(todo: list[Tool], target: Path, progress: Callable[[str], None]) -> None:
    versions = tool_versions()
    names = ", ".join(f"{t.name} {versions[t.name]}" for t in todo)
    progress(f"building {names} from Go modules into {target}")
    progress(
        "a first build takes about 10 minutes on 2 cores, including the Go module "
        "download; later runs reuse it"
    )
    module_dir = todo[0].module_dir
    log_path = target / (
        "build.log" if module_dir == TOOLS_MODULE.name else f"build-{module_dir}.log"
    )
    staging = Path(tempfile.mkdtemp(prefix="build-", dir=target))
    command = [
        _go_binary(),
        "build",
        "-trimpath",
        "-ldflags",
        _ldflags(versions, module_dir),
        "-o",
        str(staging) + os.sep,
        *(t.package for t in todo),
    ]
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=TOOLS_ROOT / module_dir, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        _report_progress_until_done(process, started, progress)
    if process.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ToolchainError(
            f"go build failed (exit {process.returncode}): {tail[0]} (full log: {log_path})"
        )
    for t in todo:
        os.replace(staging / t.built_name, target / cached_name(t))
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"built {names} in {time.monotonic() - started:.0f}s")


def _report_progress_until_done(
    process: subprocess.Popen, started: float, progress: Callable[[str], None]
) -> None:
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(30):
            progress(f"still building ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    finally:
        done.set()
