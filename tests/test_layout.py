"""The library's layout: families over a shared core, no import circle, modules one can read."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "radsynth"
FAMILIES = {"translation", "segmentation", "synthesis", "anomaly", "recon", "temporal"}
MAX_LINES = 450
FRONT_ENDS = {"radsynth.cli"}  # the command line exposes steps of every family


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path, modules) -> set[str]:
    """radsynth modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name in modules}


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _family(module: str) -> str | None:
    part = module.split(".")[1] if "." in module else None
    return part if part in FAMILIES else None


def _cycle(graph) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    assert _cycle(_graph()) is None


def test_the_shared_core_imports_no_family():
    leaks = {m: sorted(i for i in imports if _family(i)) for m, imports in _graph().items() if _family(m) is None and m not in FRONT_ENDS}
    assert {m: i for m, i in leaks.items() if i} == {}


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_is_short_enough_to_read(module):
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it where it reads better"
