"""Imports flow one way: config -> text/audio -> data -> model -> losses/metrics -> train -> health ->
tracking -> tune -> infer -> serve/export/vocoder -> commands/cli. Any import cycle inside `src/tacotron` fails.

Every import counts, also those inside functions (a lazy import still ties the two modules together),
except imports under `if TYPE_CHECKING:` (annotations only; they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "tacotron"

# Lower index = lower layer; a module may import its own layer's and lower layers' packages only.
LAYERS = [
    {"<root>", "config", "configs", "frames", "extras"},
    {"text", "audio"},
    {"data"},
    {"model"},
    {"losses", "metrics"},
    {"train"},
    {"health"},
    {"tracking"},
    {"tune"},
    {"infer"},
    {"serve", "export", "export_onnx_runner", "export_onnx_bundle", "vocoder"},
    {"commands", "cli", "__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skip


def import_graph() -> dict[str, set[str]]:
    """module -> the tacotron modules it imports (`from pkg import submodule` counts as the submodule)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tacotron":
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                targets = subs or [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "tacotron"]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_no_import_cycle_between_modules():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in import_graph().items():
        packages[top_package(module)].update(
            top_package(t) for t in targets if top_package(t) != top_package(module)
        )
    cycle = find_cycle(packages)
    assert cycle is None, " -> ".join(cycle or [])


def test_imports_flow_down_the_layers():
    graph = import_graph()
    unknown = sorted({top_package(m) for m in graph} - set(LAYER_OF))
    assert not unknown, f"packages missing from LAYERS: {unknown}"
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if LAYER_OF[top_package(target)] > LAYER_OF[top_package(module)]
    )
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


@pytest.mark.parametrize("module", ["tacotron.cli", "tacotron.train", "tacotron.infer.synthesizer"])
def test_entry_modules_import(module):
    __import__(module)
