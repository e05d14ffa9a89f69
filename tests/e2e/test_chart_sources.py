"""Charts from OCI registries and chart repositories, through Helm's own pull.

A real OCI registry (the distribution project's server, built from the module
Helm pins) and a chart repository on loopback; charts pushed and signed with
the pinned helm CLI; pulled by the Helm engine. Each guard is shown refusing:
a tag with no pinned digest, a moved tag, a registry that wants credentials, a
chart whose provenance does not verify.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from lostromos import toolchain
from lostromos.chartrepo import fetch_chart, pull_with
from lostromos.charts import ChartError
from lostromos.config import ChartAccess, ChartRef
from lostromos.dev.cluster import free_port
from lostromos.helmengine import HelmEngine
from tests.e2e.controllerkit import BoundKind, ControllerProcess
from tests.support import Cluster, eventually, serve_repository
from tests.unit.chartkit import make_chart

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "chart-reader", "s3cret-pass"


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"oci://{self.host}/charts"


def start_registry(binary: Path, log: Path, *extra: str) -> Registry:
    host = f"127.0.0.1:{free_port()}"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(binary), "--address", host, *extra], stdout=out, stderr=subprocess.STDOUT
        )

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1)
        except urllib.error.HTTPError:
            return True  # 401 when it wants a login: it is up
        except OSError:
            return False
        return True

    eventually(answers, timeout=30, message=f"the OCI registry answers on {host}")
    return Registry(host, process)


class Helm:
    """The pinned helm CLI with its own config, cache and registry login file."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.home = home
        self.registry_config = home / "registry.json"
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(self.binary), *args, "--registry-config", str(self.registry_config)],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
        return done.stdout + done.stderr

    def package(self, chart: Path, into: Path, *, sign: bool = False) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        signing = (
            ("--sign", "--key", "helm-test", "--keyring", str(signing_key("secret")))
            if sign
            else ()
        )
        out = self.run("package", str(chart), "--destination", str(into), *signing)
        return Path(re.search(r"saved it to: (\S+)", out)[1])  # type: ignore[index]

    def push(self, archive: Path, registry: Registry) -> str:
        """Push to the registry; the manifest digest helm prints."""
        out = self.run("push", str(archive), registry.url, "--plain-http")
        return re.search(r"Digest: sha256:([0-9a-f]{64})", out)[1]  # type: ignore[index]


@functools.cache
def signing_key(which: str) -> Path:
    """Helm's own test signing key, `public` or `secret` keyring, from the pinned module."""
    module = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", "helm.sh/helm/v4"],
        cwd=toolchain.TOOLS_MODULE,
        env={**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    name = "helm-test-key.pub" if which == "public" else "helm-test-key.secret"
    return Path(module) / "pkg" / "cmd" / "testdata" / name


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    return toolchain.ensure(["helm", "oci-registry"])


@pytest.fixture(scope="module")
def helm(tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(tools["helm"], tmp_path_factory.mktemp("helm-home"))


def served_registry(
    tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, *extra: str
) -> Iterator[Registry]:
    started = start_registry(tools["oci-registry"], tmp_path_factory.mktemp("oci") / "log", *extra)
    yield started
    started.process.terminate()
    started.process.wait(timeout=10)


@pytest.fixture(scope="module")
def registry(
    tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    yield from served_registry(tools, tmp_path_factory)


@pytest.fixture(scope="module")
def locked_registry(
    tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    yield from served_registry(tools, tmp_path_factory, "--user", f"{USER}:{PASSWORD}")


def web_chart(root: Path, version: str, **schema_extra: object) -> Path:
    chart = make_chart(
        root / f"web-{version}", "web", schema={"required": ["domain"], **schema_extra}
    )
    chart_yaml = chart / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    chart_yaml.write_text(yaml.safe_dump({**meta, "version": version}))
    return chart


def oci_ref(registry: Registry, version: str, **fields: object) -> ChartRef:
    return ChartRef(
        repository=registry.url,
        name="web",
        version=version,
        access=ChartAccess(plain_http=True, **fields.pop("access", {})),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def test_an_oci_chart_pinned_by_its_manifest_digest_is_pulled(
    helm: Helm, registry: Registry, helm_engine: HelmEngine, tmp_path: Path
) -> None:
    digest = helm.push(helm.package(web_chart(tmp_path, "1.0.0"), tmp_path / "out"), registry)
    path = fetch_chart(
        oci_ref(registry, "1.0.0", digest=digest), tmp_path / "cache", pull_with(helm_engine)
    )
    assert yaml.safe_load((path / "Chart.yaml").read_text())["version"] == "1.0.0"
    assert "domain" in (path / "values.schema.json").read_text()


def test_an_oci_tag_alone_vouches_for_nothing(
    helm: Helm, registry: Registry, helm_engine: HelmEngine, tmp_path: Path
) -> None:
    helm.push(helm.package(web_chart(tmp_path, "1.1.0"), tmp_path / "out"), registry)
    with pytest.raises(ChartError, match=r"an OCI tag can be moved and the binding pins none"):
        fetch_chart(oci_ref(registry, "1.1.0"), tmp_path / "cache", pull_with(helm_engine))
    assert not any((tmp_path / "cache").glob("web-*"))
    accepted = fetch_chart(
        oci_ref(registry, "1.1.0", insecure_skip_digest=True),
        tmp_path / "cache",
        pull_with(helm_engine),
    )
    assert (accepted / "Chart.yaml").is_file()


def test_a_moved_tag_does_not_pass_for_the_pinned_digest(
    helm: Helm, registry: Registry, helm_engine: HelmEngine, tmp_path: Path
) -> None:
    pinned = helm.push(helm.package(web_chart(tmp_path / "a", "1.2.0"), tmp_path / "a"), registry)
    moved = web_chart(tmp_path / "b", "1.2.0", properties={"domain": {"type": "string"}})
    assert helm.push(helm.package(moved, tmp_path / "b"), registry) != pinned
    with pytest.raises(ChartError, match="digest mismatch"):
        fetch_chart(
            oci_ref(registry, "1.2.0", digest=pinned), tmp_path / "cache", pull_with(helm_engine)
        )
    assert not any((tmp_path / "cache").glob("web-*"))


def test_registry_credentials_come_from_files(
    helm: Helm, locked_registry: Registry, helm_engine: HelmEngine, tmp_path: Path
) -> None:
    helm.run(
        "registry",
        "login",
        locked_registry.host,
        "--plain-http",
        "--username",
        USER,
        "--password-stdin",
        stdin=PASSWORD,
    )
    digest = helm.push(
        helm.package(web_chart(tmp_path, "2.0.0"), tmp_path / "out"), locked_registry
    )
    pull = pull_with(helm_engine)
    with pytest.raises(ChartError, match="basic credential not found"):
        fetch_chart(oci_ref(locked_registry, "2.0.0", digest=digest), tmp_path / "none", pull)
    (tmp_path / "user").write_text(USER + "\n")
    (tmp_path / "password").write_text(PASSWORD + "\n")
    with_files = oci_ref(
        locked_registry,
        "2.0.0",
        digest=digest,
        access={"username_file": tmp_path / "user", "password_file": tmp_path / "password"},
    )
    assert (fetch_chart(with_files, tmp_path / "files", pull) / "Chart.yaml").is_file()
    with_login = oci_ref(
        locked_registry, "2.0.0", digest=digest, access={"registry_config": helm.registry_config}
    )
    assert (fetch_chart(with_login, tmp_path / "login", pull) / "Chart.yaml").is_file()


def repository_with(archives: list[Path], served: Path) -> None:
    served.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        for file in (archive, archive.with_name(archive.name + ".prov")):
            if file.exists():
                shutil.copy(file, served / file.name)


def test_provenance_must_verify_against_the_bindings_keyring(
    helm: Helm, helm_engine: HelmEngine, tmp_path: Path
) -> None:
    served = tmp_path / "repo"
    signed = helm.package(web_chart(tmp_path / "s", "3.0.0"), tmp_path / "s", sign=True)
    unsigned = helm.package(web_chart(tmp_path / "u", "3.1.0"), tmp_path / "u")
    repository_with([signed, unsigned], served)
    helm.run("repo", "index", str(served))
    pull = pull_with(helm_engine)
    keyring = ChartAccess(keyring=signing_key("public"))
    with serve_repository(served) as url:
        good = ChartRef(repository=url, name="web", version="3.0.0", access=keyring)
        assert (fetch_chart(good, tmp_path / "c1", pull) / "Chart.yaml").is_file()
        missing = ChartRef(repository=url, name="web", version="3.1.0", access=keyring)
        with pytest.raises(ChartError, match="failed to fetch provenance"):
            fetch_chart(missing, tmp_path / "c2", pull)
        # a provenance file that vouches for other bytes
        shutil.copy(served / f"{signed.name}.prov", served / f"{unsigned.name}.prov")
        with pytest.raises(ChartError, match=r"(?i)sha256|sha for a file"):
            fetch_chart(missing, tmp_path / "c3", pull)
        # without a keyring the same unsigned chart is only checked by the index digest
        plain = ChartRef(repository=url, name="web", version="3.1.0")
        assert (fetch_chart(plain, tmp_path / "c4", pull) / "Chart.yaml").is_file()


def lostromos(*args: str, engine: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lostromos", *args, "--helm-engine", str(engine)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_cli_takes_oci_and_repository_charts(
    helm: Helm, registry: Registry, helm_engine_binary: Path, tmp_path: Path
) -> None:
    old = helm.package(web_chart(tmp_path / "o", "4.0.0"), tmp_path / "o")
    new = helm.package(
        web_chart(tmp_path / "n", "4.1.0", required=["domain", "owner"]), tmp_path / "n"
    )
    digest = helm.push(new, registry)
    cache = ("--chart-cache", str(tmp_path / "cache"))
    oci = f"{registry.url}/web:4.1.0@sha256:{digest}"
    generated = lostromos(
        "crd",
        "generate",
        "--chart",
        oci,
        "--group",
        "example.com",
        "--kind",
        "Web",
        "--plain-http",
        *cache,
        engine=helm_engine_binary,
    )
    assert generated.returncode == 0, generated.stderr
    assert yaml.safe_load(generated.stdout)["spec"]["names"]["plural"] == "webs"
    served = tmp_path / "repo"
    repository_with([old, new], served)
    helm.run("repo", "index", str(served))
    with serve_repository(served) as url:
        diff = lostromos(
            "schema",
            "diff",
            "--repo",
            url,
            "web:4.0.0",
            "web:4.1.0",
            "-o",
            "json",
            *cache,
            engine=helm_engine_binary,
        )
    assert diff.returncode == 1, diff.stderr  # a new required property is breaking
    changes = yaml.safe_load(diff.stdout)["changes"]
    assert [(c["where"], c["breaking"]) for c in changes] == [("spec.owner", True)]
    tag_only = lostromos(
        "schema",
        "lint",
        f"{registry.url}/web:4.1.0",
        "--plain-http",
        *cache,
        engine=helm_engine_binary,
    )
    assert tag_only.returncode != 0
    assert "no digest vouches for this chart" in tag_only.stderr
    assert len(tag_only.stderr.strip().splitlines()) == 1, tag_only.stderr


def test_check_and_crd_generate_take_a_bindings_oci_chart(
    helm: Helm, registry: Registry, helm_engine_binary: Path, tmp_path: Path
) -> None:
    digest = helm.push(helm.package(web_chart(tmp_path, "5.0.0"), tmp_path / "out"), registry)
    chart = {
        "repository": registry.url,
        "name": "web",
        "version": "5.0.0",
        "digest": digest,
        "plainHTTP": True,
    }
    bindings = tmp_path / "lostromos.yaml"
    binding = {"group": "example.com", "version": "v1", "kind": "Web", "plural": "webs"}
    bindings.write_text(yaml.safe_dump({"bindings": [{**binding, "chart": chart}]}))
    objects = tmp_path / "webs.yaml"
    objects.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Web",
                    "metadata": {"name": name},
                    "spec": spec,
                }
                for name, spec in (("good", {"domain": "a.example.com"}), ("bad", {}))
            ]
        )
    )
    cache = ("--chart-cache", str(tmp_path / "cache"))
    checked = lostromos(
        "check", "--config", str(bindings), str(objects), *cache, engine=helm_engine_binary
    )
    assert checked.returncode == 1, checked.stderr  # one denied
    assert "1 allowed, 1 denied" in checked.stdout
    assert "spec.domain: required property is missing" in checked.stdout
    generated = lostromos(
        "crd", "generate", "--config", str(bindings), *cache, engine=helm_engine_binary
    )
    assert generated.returncode == 0, generated.stderr
    assert yaml.safe_load(generated.stdout)["spec"]["names"]["kind"] == "Web"


def test_a_bound_oci_chart_becomes_a_release(
    cluster: Cluster, helm: Helm, registry: Registry, tmp_path: Path
) -> None:
    digest = helm.push(helm.package(ROOT / "charts" / "site", tmp_path / "out"), registry)
    version = yaml.safe_load((ROOT / "charts" / "site" / "Chart.yaml").read_text())["version"]
    kind = BoundKind(
        cluster,
        tmp_path,
        chart={
            "repository": registry.url,
            "name": "site",
            "version": str(version),
            "digest": digest,
            "plainHTTP": True,
        },
    )
    namespace = cluster.namespace("oci-charts")
    controller = ControllerProcess(cluster, kind, tmp_path / "controller.log").start()
    try:
        kind.create("from-oci", namespace)
        eventually(lambda: kind.ready("from-oci", namespace), timeout=120, message="Ready")
        status = kind.get("from-oci", namespace)["status"]
        assert status["chart"] == {"name": "site", "version": str(version)}
    finally:
        controller.stop_quietly()
