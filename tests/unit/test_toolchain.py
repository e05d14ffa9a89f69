"""Where the pinned binaries come from: go.mod pins, explicit paths, envtest assets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lostromos import toolchain


def test_versions_are_read_from_the_one_go_mod() -> None:
    versions = toolchain.tool_versions()
    assert set(versions) == {
        "etcd",
        "kube-apiserver",
        "kubectl",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "helm",
        "helm-engine",
        "oci-registry",
    }
    assert toolchain.TOOL_NAMES == (
        "etcd",
        "kube-apiserver",
        "kubectl",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "helm",
        "helm-engine",
    )
    # the control plane is built from one Kubernetes module
    assert versions["kube-controller-manager"] == versions["kube-scheduler"] == versions["kubectl"]
    # kwok is pinned in a module of its own
    assert (
        versions["kwok"]
        == toolchain.pinned_versions(toolchain.TOOLS_ROOT / "kwok")["sigs.k8s.io/kwok"]
    )
    # the test registry is the distribution server Helm's own module pins
    assert (
        versions["oci-registry"]
        == toolchain.pinned_versions()["github.com/distribution/distribution/v3"]
    )
    assert versions["kube-apiserver"] == versions["kubectl"]
    assert versions["helm"].startswith("v4.")
    # the engine is built from the very Helm module the CLI is
    assert versions["helm-engine"] == versions["helm"]
    for tool in toolchain.TOOLS:
        text = (toolchain.TOOLS_ROOT / tool.module_dir / "go.mod").read_text()
        if tool.source_dir is None:
            assert f"tool {tool.package}" in text
        else:
            assert (toolchain.TOOLS_MODULE / tool.source_dir / "main.go").is_file()


def test_the_engine_binary_is_keyed_by_its_source(tmp_path: Path) -> None:
    engine = toolchain.tool("helm-engine")
    (tmp_path / "helmengine").mkdir()
    source = tmp_path / "helmengine" / "main.go"
    source.write_text("package main\n")
    before = toolchain.cached_name(engine, tmp_path)
    assert before.startswith("helm-engine-")
    source.write_text("package main\n\nfunc main() {}\n")
    changed = toolchain.cached_name(engine, tmp_path)
    assert changed != before
    # the profile `go build` optimises for (-pgo=auto) changes the binary too
    (tmp_path / "helmengine" / "default.pgo").write_bytes(b"profile")
    assert toolchain.cached_name(engine, tmp_path) != changed
    assert toolchain.cached_name(toolchain.tool("helm"), tmp_path) == "helm"


def test_a_tool_of_its_own_module_is_keyed_by_that_modules_pins(tmp_path: Path) -> None:
    kwok = toolchain.tool("kwok")
    (tmp_path / "k8s").mkdir()
    (tmp_path / "kwok").mkdir()
    (tmp_path / "kwok" / "go.mod").write_text("module example/kwok\n")
    (tmp_path / "kwok" / "go.sum").write_text("")
    before = toolchain.cached_name(kwok, tmp_path / "k8s")
    assert before.startswith("kwok-")
    (tmp_path / "kwok" / "go.sum").write_text("sigs.k8s.io/kwok v0.8.0 h1:x=\n")
    assert toolchain.cached_name(kwok, tmp_path / "k8s") != before


def test_go_build_output_names() -> None:
    assert toolchain.tool("etcd").built_name == "server"
    assert toolchain.tool("helm").built_name == "helm"
    assert toolchain.tool("kube-apiserver").built_name == "kube-apiserver"
    assert toolchain.tool("kwok").built_name == "kwok"


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_explicit_paths_and_envtest_assets_skip_the_build(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    for name in ("etcd", "kube-apiserver", "kubectl"):
        executable(assets / name)
    helm = executable(tmp_path / "my-helm")
    engine = executable(tmp_path / "my-engine")
    data_plane = {
        name: executable(tmp_path / f"my-{name}") for name in toolchain.DATA_PLANE_TOOL_NAMES
    }
    environ = {
        "KUBEBUILDER_ASSETS": str(assets),
        "LOSTROMOS_HELM": str(helm),
        "LOSTROMOS_HELM_ENGINE": str(engine),
        **{toolchain.tool(name).env_var: str(path) for name, path in data_plane.items()},
    }

    paths = toolchain.ensure(environ=environ, progress=lambda line: None)

    assert paths == {
        **data_plane,
        "etcd": assets / "etcd",
        "kube-apiserver": assets / "kube-apiserver",
        "kubectl": assets / "kubectl",
        "helm": helm,
        "helm-engine": engine,
    }


def test_explicit_path_wins_over_envtest_assets(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    executable(assets / "kubectl")
    mine = executable(tmp_path / "kubectl-1.37")
    environ = {"KUBEBUILDER_ASSETS": str(assets), "LOSTROMOS_KUBECTL": str(mine)}
    assert toolchain.find("kubectl", environ) == mine


@pytest.mark.parametrize("variable", ["LOSTROMOS_HELM", "KUBEBUILDER_ASSETS"])
def test_a_wrong_path_is_one_clear_error(tmp_path: Path, variable: str) -> None:
    environ = {variable: str(tmp_path / "nothing-here")}
    name = "helm" if variable == "LOSTROMOS_HELM" else "etcd"
    with pytest.raises(toolchain.ToolchainError, match=variable):
        toolchain.ensure([name], environ=environ)


def test_a_missing_go_toolchain_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(toolchain.ToolchainError, match="Go toolchain is not on PATH"):
        toolchain.build_fingerprint()


def test_unknown_tool() -> None:
    with pytest.raises(toolchain.ToolchainError, match="unknown tool"):
        toolchain.tool("kind")
