"""``source``: the student's function is written with a required construct.

Reads the source of the cell that defines the function (by name, else any function the
exercise's cells define) with :mod:`ast` and looks for the construct inside the function:
``@`` and calls such as ``matmul``/``mm``/``einsum`` for "use a matrix product".
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from .. import analysis
from ..i18n import N_
from ..memo import Memo
from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from .base import NAMES, schema
from .context import CheckContext


def _uses(fn: ast.AST, operators: set[str], calls: set[str]) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op).__name__ in operators:
            return True
        if isinstance(node, ast.Call) and analysis.callee(node.func) in calls:
            return True
    return False


# Per cell source and construct: its top-level functions and whether each uses the construct.
# Book and template cells recur across submissions; keys and values are plain strings.
_FUNCTIONS: Memo[
    tuple[str, frozenset[str], frozenset[str]], tuple[tuple[str, bool], ...] | None
] = Memo(max_entries=4096, max_cost=32 * 1024 * 1024)


def _functions(
    source: str, operators: set[str], calls: set[str]
) -> tuple[tuple[str, bool], ...] | None:
    """(name, uses the construct) of each top-level ``def`` of ``source``; None if it does not
    parse. Other errors of :func:`ast.parse` propagate (and are not remembered)."""

    def compute() -> tuple[tuple[str, bool], ...] | None:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return None
        # A function that builds the matrix and the cell's own code that multiplies by it
        # ("W = toeplitz_matrix(K, 3, 3); W @ X.reshape(-1)") use the product together.
        top = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)]
        applied = {
            node.id
            for stmt in top
            if _uses(stmt, operators, calls)
            for node in ast.walk(stmt)
            if isinstance(node, ast.Name)
        }
        assigned = {
            target.id: stmt.value
            for stmt in top
            if isinstance(stmt, ast.Assign)
            for target in stmt.targets
            if isinstance(target, ast.Name)
        }
        called = {
            name
            for var in applied
            if var in assigned
            for node in ast.walk(assigned[var])
            if isinstance(node, ast.Name) and (name := node.id)
        } | applied
        return tuple(
            (node.name, _uses(node, operators, calls) or node.name in called)
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
        )

    key = (source, frozenset(operators), frozenset(calls))
    return _FUNCTIONS.get(key, compute, lambda _: 2 * len(source) + 512)


class SourceCheck:
    name: ClassVar[str] = "source"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = schema(
        ["function", "describe"],
        function=NAMES,
        operators={"type": "array", "items": {"enum": ["MatMult", "Mult", "Add"]}},
        calls={"type": "array", "items": {"type": "string"}},
        describe={"type": "string"},
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        if not spec.options.get("operators") and not spec.options.get("calls"):
            raise spec.error("operators", "give `operators`, `calls`, or both")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        names = list(spec.options["function"])
        operators = set(spec.options.get("operators", []))
        calls = set(spec.options.get("calls", []))
        describe = spec.options["describe"]
        answer = ctx.answer()
        defs: list[tuple[str, bool]] = []  # (function name, uses the construct)
        for cell in ctx.notebook.cells:
            if cell.kind != "code" or not analysis.facts(cell.source).functions:
                continue
            functions = _functions(cell.source, operators, calls)
            if functions is None:  # a SyntaxError
                continue
            for name, uses in functions:
                if name in names or cell.index in answer.code_cells:
                    defs.append((name, uses))
        # the template's blank (`def corr2d_matmul(X, K): pass`) is no answer yet
        defs = [d for d in defs if not analysis.is_stub(ctx.attribution.definition(d[0]))]
        if not defs:
            return ctx.result(
                spec,
                0.0,
                [
                    N_("No function for this exercise was found (e.g. `{name}`).").format(
                        name=names[0]
                    )
                ],
                found=False,
            )
        defs.sort(key=lambda d: d[0] not in names)
        for fname, uses in defs:
            if uses:
                return ctx.result(
                    spec, 1.0, [N_("`{fn}` uses {what}.").format(fn=fname, what=describe)]
                )
        return ctx.result(
            spec, 0.0, [N_("`{fn}` does not use {what}.").format(fn=defs[0][0], what=describe)]
        )
