"""The Dockerfile, checked without a Docker engine: its stages refer to each other
correctly, everything it copies exists and reaches the build context, the helm it
builds is the one pinned in tools/k8s/go.mod, and the image it makes is small,
non-root and starts `lostromos`. hadolint lints it when it is installed."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lostromos import toolchain

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]


def parse(text: str) -> Dockerfile:
    """Instructions with their continuation lines joined; comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, value = arguments.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text())


def resolve(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], value)


def copies(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """(--from stage or None, sources, destination) of every COPY."""
    result = []
    for arguments in stage.all("COPY"):
        words = shlex.split(arguments)
        origin = None
        while words[0].startswith("--"):
            flag = words.pop(0)
            if flag.startswith("--from="):
                origin = flag.removeprefix("--from=")
        *sources, destination = words
        result.append((origin, sources, destination))
    return result


def dockerignore_excludes(path: str) -> bool:
    """True when .dockerignore keeps `path` out of the build context (last match wins)."""
    excluded = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.rstrip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes) or (
            pattern.startswith("**/")
            and any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        ):
            excluded = not negate
    return excluded


def test_three_stages_each_from_a_pinned_image(dockerfile: Dockerfile) -> None:
    names = [stage.name for stage in dockerfile.stages]
    assert names == ["helm", "python", None]
    bases = [resolve(stage.base, dockerfile.global_args) for stage in dockerfile.stages]
    for base in bases:
        _, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.match(r"^\d+\.\d+\.\d+", tag), base
    assert bases[0].startswith("golang:")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", bases[1]), bases[1]
    assert bases[2] == bases[1], "the venv only works on the Python it was built with"


def test_every_copy_source_exists_and_is_in_the_build_context(dockerfile: Dockerfile) -> None:
    seen = 0
    for stage in dockerfile.stages:
        for origin, sources, _ in copies(stage):
            if origin is not None:
                continue
            for source in sources:
                seen += 1
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not dockerignore_excludes(source), f"COPY {source}: .dockerignore drops it"
    assert seen >= 8
    assert dockerignore_excludes(".venv") and dockerignore_excludes("tests/unit")
    assert dockerignore_excludes("lostromos/__pycache__")


def test_copy_from_names_an_earlier_stage_and_a_path_it_made(dockerfile: Dockerfile) -> None:
    stages = dockerfile.stages
    final = stages[-1]
    from_stages = [
        (origin, sources, destination)
        for origin, sources, destination in copies(final)
        if origin is not None
    ]
    origins = {
        origin: (sources, destination)
        for origin, sources, destination in from_stages
        if origin != "helm"
    }
    assert {origin for origin, _, _ in from_stages} == {"helm", "python"}
    helm_stage, python_stage = stages[0], stages[1]
    from_helm = [
        (sources, destination) for origin, sources, destination in from_stages if origin == "helm"
    ]
    assert from_helm == [
        (["/out/helm"], "/usr/local/bin/helm"),
        (["/out/lostromos-helm-engine"], "/usr/local/bin/lostromos-helm-engine"),
    ]
    assert any("-o /out/helm" in run for run in helm_stage.all("RUN"))
    assert any("-o /out/lostromos-helm-engine ./helmengine" in run for run in helm_stage.all("RUN"))
    environment = " ".join(python_stage.all("ENV"))
    assert "UV_PROJECT_ENVIRONMENT=/opt/lostromos/venv" in environment
    assert origins["python"] == (["/opt/lostromos/venv"], "/opt/lostromos/venv")
    assert "PATH=/opt/lostromos/venv/bin:$PATH" in " ".join(final.all("ENV"))


def test_helm_is_the_pinned_one_built_static(dockerfile: Dockerfile) -> None:
    helm_stage = dockerfile.stages[0]
    args = dict(arg.partition("=")[::2] for arg in helm_stage.all("ARG"))
    assert args["HELM_VERSION"] == toolchain.tool_versions()["helm"]
    assert helm_stage.all("COPY") == [
        "tools/k8s/go.mod tools/k8s/go.sum ./",
        "tools/k8s/helmengine/ helmengine/",
    ]
    assert "CGO_ENABLED=0" in " ".join(helm_stage.all("ENV"))
    build = " ".join(helm_stage.all("RUN"))
    assert "go build -trimpath" in build
    assert "helm.sh/helm/v4/internal/version.version=${HELM_VERSION}" in build
    assert build.split("-o /out/helm", 1)[1].split()[0] == "helm.sh/helm/v4/cmd/helm"
    assert '"$(/out/helm version --short)" = "${HELM_VERSION}"' in build


def test_python_dependencies_come_from_the_lock(dockerfile: Dockerfile) -> None:
    python_stage = dockerfile.stages[1]
    runs = python_stage.all("RUN")
    assert "uv sync --frozen --no-dev --no-install-project" in runs
    assert "uv sync --frozen --no-dev --no-editable" in runs
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    copied = {
        sources[0].rstrip("/") for origin, sources, _ in copies(python_stage) if origin is None
    }
    assert set(packages) <= copied, "every package of the wheel is copied before the build"
    uv_pin = dict(arg.partition("=")[::2] for arg in python_stage.all("ARG"))["UV_VERSION"]
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in runs[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_pin)


def test_final_image_is_small_non_root_and_runs_lostromos(dockerfile: Dockerfile) -> None:
    final = dockerfile.stages[-1]
    assert final.all("RUN") == [], "no package manager or build tool runs in the final stage"
    users = final.all("USER")
    assert len(users) == 1
    user, _, group = users[0].partition(":")
    assert user.isdigit() and int(user) > 0 and (not group or int(group) > 0)
    assert json.loads(final.all("ENTRYPOINT")[0]) == ["lostromos"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "lostromos" in scripts
    chart_values = (ROOT / "charts" / "lostromos" / "values.yaml").read_text()
    assert f"runAsUser: {user}" in chart_values, "the chart runs as the image's user"


def test_parser_reads_continuations_and_refuses_a_dangling_one() -> None:
    parsed = parse("ARG A=1\nFROM x:1.2.3 AS one\n# note\nRUN a \\\n    b\nFROM one\n")
    assert parsed.global_args == {"A": "1"}
    assert parsed.stages[0].all("RUN") == ["a  b"]
    assert parsed.stages[1].base == "one"
    with pytest.raises(AssertionError):
        parse("FROM x:1.2.3\nRUN a \\\n")


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is a dev dependency: run `uv sync`")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
