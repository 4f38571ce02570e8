"""No import cycles in ``grader/`` (docs/design.md, "What may import what").

Every import counts, at module level or inside a function (a lazy import hides a cycle
but does not remove it); only imports under ``if TYPE_CHECKING:`` are left out, as they
never run. Importing ``a.b.c`` from outside ``a.b`` also runs ``a/b/__init__.py`` (and
``a/__init__.py``), so such an import depends on those packages too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in (ROOT / "grader").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The grader modules that importing ``name`` runs, directly."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_checking_only(tree)
    targets: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
    found: set[str] = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        while target:  # the packages whose __init__ the import runs
            if target != name and not name.startswith(f"{target}."):
                found.add(target)
            target = target.rpartition(".")[0]
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_grader_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_an_import_inside_a_function_counts(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from .other import x\n")
    modules = {"pkg.m": source, "pkg.other": source, "pkg": source}
    assert _imported("pkg.m", source, modules) == {"pkg.other"}


def test_an_import_for_type_checking_only_does_not_count(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .other import x\n"
    )
    modules = {"pkg.m": source, "pkg.other": source, "pkg": source}
    assert _imported("pkg.m", source, modules) == set()


def test_importing_a_submodule_of_another_package_runs_its_init(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from ..other.leaf import x\n")
    modules = {"pkg.sub.m": source, "pkg.other.leaf": source, "pkg.other": source, "pkg": source}
    assert _imported("pkg.sub.m", source, modules) == {"pkg.other.leaf", "pkg.other"}


def test_the_warm_engine_and_the_driver_do_not_import_each_other() -> None:
    graph = import_graph()
    warm = {name for name in graph if name.startswith("grader.execute.warm")}
    assert not graph["grader.execute.driver"] & warm
    assert all("grader.execute.driver" not in graph[name] for name in warm)


def test_the_rubric_does_not_import_the_checks() -> None:
    graph = import_graph()
    rubric = [name for name in graph if name.split(".")[:2] == ["grader", "rubric"]]
    assert rubric and all(not any(t.startswith("grader.checks") for t in graph[n]) for n in rubric)
