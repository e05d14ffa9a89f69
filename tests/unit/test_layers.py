"""The import layers of docs/design.md hold: no import cycle, nothing imports a
layer above its own, and the components never import each other.

Every import counts, at the top of a module or inside a function, and under
TYPE_CHECKING too: a lazy or a typing-only import is still a dependency a
reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lostromos", "webhook", "controller", "certs")

# Bottom to top. A module not named in a lower layer is core (lostromos) or a
# component (webhook, controller, certs).
UTILITIES = frozenset(
    {
        "lostromos",  # the package itself: a docstring
        "lostromos.backoff",
        "lostromos.cliflags",
        "lostromos.kube",
        "lostromos.lazycommand",
        "lostromos.logs",
        "lostromos.neterrors",
        "lostromos.output",
        "lostromos.probes",
        "lostromos.rawget",
        "lostromos.toolchain",  # where the pinned binaries are: the engine's lookup needs it
        "lostromos.version",
        "lostromos.yamltext",
    }
)
ENTRY_PREFIXES = (
    "lostromos.__main__",
    "lostromos.cli",
    "lostromos.completion",
    "lostromos.objectcmds",
    "lostromos.authoring.commands",
    "lostromos.authoring.chartargs",
    "lostromos.dev",
    "webhook.__main__",
    "certs.cli",
)
UTILITY, CORE, COMPONENT, ENTRY = range(4)
LAYER_NAMES = ("utilities", "core", "components", "entry")


def layer(module: str) -> int:
    if module in UTILITIES:
        return UTILITY
    if any(module == p or module.startswith(p + ".") for p in ENTRY_PREFIXES):
        return ENTRY
    return CORE if module.startswith("lostromos") else COMPONENT


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The project modules `module` imports, anywhere in its source."""

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from pkg import sub` imports the submodule when there is one
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for name in names:
            target = resolve(name)
            if target is not None and target != module:
                yield target


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {module: set(imports(module, path, known)) for module, path in known.items()}


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_breaks(edges: Mapping[str, set[str]]) -> list[str]:
    broken = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if layer(target) > layer(module):
                broken.append(
                    f"{module} ({LAYER_NAMES[layer(module)]}) imports "
                    f"{target} ({LAYER_NAMES[layer(target)]})"
                )
            top, other = module.split(".")[0], target.split(".")[0]
            if layer(module) == layer(target) == COMPONENT and top != other:
                broken.append(f"{module} imports another component's {target}")
    return broken


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_no_layer_imports_one_above_it() -> None:
    assert layer_breaks(graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    """The checks themselves, on a small made-up graph."""
    edges = {
        "lostromos.charts": {"lostromos.values.coalesce"},
        "lostromos.values.coalesce": {"lostromos.charts"},
        "lostromos.kube": {"lostromos.config"},
        "lostromos.config": {"lostromos.cli"},
        "webhook.app": {"controller.queue"},
    }
    assert cycles(edges) == [["lostromos.charts", "lostromos.values.coalesce"]]
    assert layer_breaks(edges) == [
        "lostromos.config (core) imports lostromos.cli (entry)",
        "lostromos.kube (utilities) imports lostromos.config (core)",
        "webhook.app imports another component's controller.queue",
    ]


def test_the_graph_sees_lazy_and_typing_only_imports() -> None:
    edges = graph()
    # engineprocess imports the toolchain inside find_engine only
    assert "lostromos.toolchain" in edges["lostromos.engineprocess"]
    # coalesce names the chart types under TYPE_CHECKING only
    assert "lostromos.values.chart" in edges["lostromos.values.coalesce"]
