"""Kernels written inline in code that ran: ``corr2d(x ** 2, torch.tensor([[1., -2., 1.]]))``.

Students often pass a kernel straight to ``corr2d`` without naming or displaying it, so no
value of the cell holds it. The grader reads such kernels from the source, without running
anything: the list literal inside a tensor constructor (``torch.tensor``, ``np.array``, ...)
and ``ones`` / ``zeros`` / ``full`` shapes whose sizes are integer literals or integers the
cell's run bound (``torch.ones(1, n)``). Parsing only: ``ast`` and the grader's own array
text parser; nothing is evaluated.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from .. import analysis
from ..tensor_text import parse_arrays

FloatArray = npt.NDArray[np.float64]

_FROM_LIST = frozenset(
    {"tensor", "Tensor", "FloatTensor", "DoubleTensor", "array", "asarray", "as_tensor"}
)
_FILLED: dict[str, Callable[[tuple[int, ...], float], FloatArray]] = {
    "ones": lambda shape, _: np.ones(shape),
    "zeros": lambda shape, _: np.zeros(shape),
    "full": lambda shape, fill: np.full(shape, fill),
}
MAX_ELEMENTS = 10_000


def inline_arrays(source: str, scalars: Mapping[str, float]) -> list[FloatArray]:
    """Arrays written as constructor calls anywhere in ``source``, in source order.
    ``scalars``: integer values the cell's run bound (sizes like ``n``)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out: list[FloatArray] = []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        name = analysis.callee(call.func)
        if name in _FROM_LIST and call.args and isinstance(call.args[0], ast.List | ast.Tuple):
            text = ast.get_source_segment(source, call.args[0]) or ""
            found = parse_arrays(text)
            if len(found) == 1:
                out.append(found[0])
        elif name in _FILLED:
            made = _filled(call, name, scalars)
            if made is not None:
                out.append(made)
    return out


def _filled(call: ast.Call, name: str, scalars: Mapping[str, float]) -> FloatArray | None:
    args = list(call.args)
    fill = 0.0
    if name == "full":
        if len(args) != 2:
            return None
        value = _number(args[1], scalars)
        if value is None:
            return None
        fill, args = value, [args[0]]
    if len(args) == 1 and isinstance(args[0], ast.Tuple | ast.List):
        args = list(args[0].elts)
    sizes = [_number(a, scalars) for a in args]
    if not sizes or any(s is None or s != int(s) or not 0 < s <= MAX_ELEMENTS for s in sizes):
        return None
    shape = tuple(int(s) for s in sizes if s is not None)
    if int(np.prod(shape)) > MAX_ELEMENTS:
        return None
    return _FILLED[name](shape, fill)


def _number(node: ast.expr, scalars: Mapping[str, float]) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            return None
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand, scalars)
        return -inner if inner is not None else None
    if isinstance(node, ast.Name):
        return scalars.get(node.id)
    return None
