"""The source of the reference functions an instructor publishes (``public_predicate``).

A predicate is Python code; the pack can carry it only as code. :func:`closure` finds the
top-level definitions of the reference module a set of functions needs (the functions, the
helpers and constants they name, recursively, and the imports those use), and
:func:`extract` writes them out as a module of their own, in the reference's order, with
their text unchanged. Nothing else of the reference module goes into the pack.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .data import PackError


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _uses(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def closure(source: str, names: Iterable[str], filename: str = "<reference>") -> list[str]:
    """The top-level names of ``source`` that ``names`` need, in the module's order."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise PackError(f"{filename}: cannot be parsed: {exc}") from None
    by_name: dict[str, list[ast.stmt]] = {}
    for node in tree.body:
        for name in _defines(node):
            by_name.setdefault(name, []).append(node)
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        for node in by_name[name]:
            todo.extend(_uses(node))
    return [n for n in by_name if n in seen]


def extract(source: str, names: Iterable[str], filename: str = "<reference>") -> str:
    """A module holding exactly what ``names`` need from ``source`` (see the docstring)."""
    needed = set(closure(source, names, filename))
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    out = ""
    previous: ast.stmt | None = None
    for node in tree.body:
        if not (_is_future(node) or _defines(node) & needed):
            continue
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno, *(d.lineno for d in decorators)])
        end = node.end_lineno or node.lineno
        text = "\n".join(lines[start - 1 : end])
        if previous is not None:  # two blank lines around a definition, as black writes them
            block = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            out += "\n\n\n" if isinstance(node, block) or isinstance(previous, block) else "\n"
        out += text
        previous = node
    return out + "\n"
