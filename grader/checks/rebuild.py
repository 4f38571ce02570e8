"""A value an answer built for one setting of its own numbers, rebuilt for others.

Students often derive a kernel for one direction and build it for that direction only::

    v1, v2 = 0.28, 0.96          # or `#@param` fields in Colab
    K_v = v1 * Dx + v2 * Dy

``K_v`` is a function of ``(v1, v2)`` in all but name. :func:`find` reads such a value from a
cell's source with ``ast`` (nothing is evaluated here): a name the cell binds to a small 2-D
array, the statements of the cell it depends on (its backward slice, later in-place edits
like ``K[0, 1] = v1`` included), and the numbers those statements read that the answer binds
to literals (two scalars, or one 2-vector). The slice, the student's own statements, is sent
to the student's process (probe op ``replay``), which runs it as a function of those numbers
for each hidden case; the grader only judges the arrays that come back.

A value that depends on none of the bound numbers (a kernel typed out for the one direction
the cell binds) is an :class:`Instance` with an empty ``body``: it can be judged for that
direction only.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .. import analysis
from ..model import Value
from ..values import as_array

FloatArray = npt.NDArray[np.float64]

MAX_KERNEL = 7  # rows and columns of a value taken for a kernel
_SUFFIX = re.compile(r"^(?P<stem>.*?)_?(?P<tail>[12xy])$")


@dataclass(frozen=True)
class Instance:
    """A value built in ``cell`` from the numbers ``params`` bound to ``bound``."""

    cell: int
    target: str  # the value's name
    params: tuple[str, ...]  # the bound names it is built from, in v's order
    vector: bool  # one parameter holding the whole vector (v = (0.6, 0.8))
    bound: tuple[float, ...]  # v as the notebook bound it
    value: FloatArray  # the value as the notebook computed it
    body: str  # the slice's statements, the student's own source ("" if none reads params)


def find(
    cell: int,
    source: str,
    env: Mapping[str, Value],
    size: int = 2,
    outer: frozenset[str] = frozenset(),
) -> list[Instance]:
    """Small 2-D arrays ``source`` binds at top level, each with the numbers it is built
    from (``size`` components in all), in source order. ``env``: the values bound once the
    cell ran (earlier cells included); ``outer``: names earlier cells of the answer bound
    to number literals (:func:`literal_names`)."""
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return []
    body = tree.body
    literals = _literal_bindings(body)
    out: list[Instance] = []
    for target in dict.fromkeys(_bound_names(body)):
        value = as_array(env.get(target))
        if value is None or value.ndim != 2 or value.size < 2 or max(value.shape) > MAX_KERNEL:
            continue
        picked = _slice(body, target, set(literals))
        if picked is None:
            continue
        statements, free = picked
        params = _params(sorted(free & (set(literals) | outer)), env, size)
        if params is None:
            params = _params(list(literals), env, size)  # typed out for the cell's v
            if params is None:
                continue
            statements = []
        names, vector, bound = params
        text = "\n".join(ast.get_source_segment(source, s) or "" for s in statements)
        out.append(Instance(cell, target, names, vector, bound, value, text))
    return out


def literal_names(source: str) -> frozenset[str]:
    """Names a cell binds to number literals (``v1, v2 = 0.28, 0.96``)."""
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(_literal_bindings(tree.body))


def _bound_names(body: Sequence[ast.stmt]) -> list[str]:
    names: list[str] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            names += [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
    return names


def _literal_bindings(body: Sequence[ast.stmt]) -> dict[str, int]:
    """Names the cell binds to number literals, with their statement's index:
    ``v1, v2 = 0.28, 0.96``, ``v1 = 0.28  #@param``, ``v = (1, -1)``,
    ``v = torch.tensor([.6, .8])``."""
    out: dict[str, int] = {}
    for i, stmt in enumerate(body):
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and _numeric(value):
                out[target.id] = i
            elif (
                isinstance(target, ast.Tuple)
                and isinstance(value, ast.Tuple)
                and len(target.elts) == len(value.elts)
            ):
                for t, v in zip(target.elts, value.elts, strict=True):
                    if isinstance(t, ast.Name) and _number(v):
                        out[t.id] = i
    return out


def _number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


def _numeric(node: ast.expr) -> bool:
    """A number, a tuple/list of numbers, or a tensor/array constructor over one."""
    if _number(node):
        return True
    if isinstance(node, ast.Tuple | ast.List):
        return bool(node.elts) and all(_number(e) for e in node.elts)
    if isinstance(node, ast.Call) and len(node.args) == 1:
        constructor = analysis.callee(node.func) in ("tensor", "Tensor", "array", "asarray")
        return constructor and _numeric(node.args[0])
    return False


def _writes(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """(names the statement rebinds entirely, names it changes in place)."""
    whole: set[str] = set()
    partly: set[str] = set()

    def visit(target: ast.expr, aug: bool) -> None:
        if isinstance(target, ast.Name):
            (partly if aug else whole).add(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                visit(elt, aug)
        elif isinstance(target, ast.Starred):
            visit(target.value, aug)
        elif isinstance(target, ast.Subscript | ast.Attribute):
            base = target.value
            while isinstance(base, ast.Subscript | ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name):
                partly.add(base.id)

    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            visit(target, False)
    elif isinstance(stmt, ast.AnnAssign):
        visit(stmt.target, False)
    elif isinstance(stmt, ast.AugAssign):
        visit(stmt.target, True)
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func  # K.div_(n), K.fill_diagonal_(0): in-place methods
        if (
            isinstance(func, ast.Attribute)
            and func.attr.endswith("_")
            and not func.attr.startswith("_")
        ):
            base = func.value
            while isinstance(base, ast.Subscript | ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name):
                partly.add(base.id)
    return whole, partly


def _reads(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _slice(
    body: Sequence[ast.stmt], target: str, literals: set[str]
) -> tuple[list[ast.stmt], set[str]] | None:
    """The statements ``target``'s final value depends on, in order, and the names they read
    from outside (the bound literals among them: their binding statements are left out).
    None when that value cannot be rebuilt on its own: a statement other than an assignment
    would be needed (a loop, an ``if``), or the slice would change a value it did not make
    (``K[0, 1] = v1`` on a K from another cell)."""
    needed = {target}
    picked: list[ast.stmt] = []
    for stmt in reversed(body):
        whole, partly = _writes(stmt)
        if not (whole | partly) & needed:
            continue
        if not isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Expr):
            return None
        if whole <= literals and _is_literal_binding(stmt):
            continue  # v1, v2 = 0.28, 0.96: the parameters themselves
        picked.append(stmt)
        needed -= whole
        needed |= _reads(stmt) | partly
    picked.reverse()
    changed = set().union(*(_writes(s)[1] for s in picked)) if picked else set()
    if not picked or target in needed or changed & needed:
        return None
    return picked, needed


def _is_literal_binding(stmt: ast.stmt) -> bool:
    value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
    if value is None:
        return False
    if isinstance(value, ast.Tuple) and not _numeric(value):
        return all(_number(e) or _numeric(e) for e in value.elts)
    return _numeric(value)


def _params(
    names: list[str], env: Mapping[str, Value], size: int
) -> tuple[tuple[str, ...], bool, tuple[float, ...]] | None:
    """The bound names that make up the ``size``-vector, in its order, and its value."""
    values = {n: as_array(env.get(n)) for n in names}
    vectors = [n for n, a in values.items() if a is not None and a.shape == (size,)]
    scalars = [n for n, a in values.items() if a is not None and a.ndim == 0]
    if len(vectors) == 1:  # other numbers (h = 2.0) are constants of the construction
        arr = values[vectors[0]]
        assert arr is not None
        return (vectors[0],), True, tuple(float(x) for x in arr)
    if len(scalars) > size:  # h = 1.0 beside v1, v2: the names of one vector's parts
        stems: dict[str, list[str]] = {}
        for n in scalars:
            if m := _SUFFIX.match(n):
                stems.setdefault(m.group("stem"), []).append(n)
        parts = [group for group in stems.values() if len(group) == size]
        if len(parts) == 1:
            scalars, vectors = parts[0], []
    if len(scalars) == size and not vectors:
        ordered = _component_order(scalars)
        bound = []
        for n in ordered:
            arr = values[n]
            assert arr is not None
            bound.append(float(arr))
        return tuple(ordered), False, tuple(bound)
    return None


def _component_order(names: list[str]) -> list[str]:
    """``v2, v1`` -> ``v1, v2``; ``vy, vx`` -> ``vx, vy``; otherwise as given (by name)."""
    parts = [_SUFFIX.match(n) for n in names]
    if all(parts) and len({p.group("stem") for p in parts if p}) == 1:
        tails = [p.group("tail") for p in parts if p]
        if sorted(tails) in (["1", "2"], ["x", "y"]):
            return [n for _, n in sorted(zip(tails, names, strict=True))]
    return names
