"""``output``: what the student displayed matches the reference applied to *their* inputs.

"What happens if ...?" exercises are answered by computing something on the student's own
image. The check finds the student's inputs (by name, by a predicate such as "is a diagonal
image", or a default like the section's kernel K), applies the reference, and looks for the
result among the arrays the exercise's cells displayed or printed. With
``consistent_with``, an output equal to the student's own function applied to the same
inputs also counts (a bug in that function is charged under its own exercise). When no
output of the exercise's cells is right, a right output displayed in another cell counts
(:mod:`grader.behaviour`; ``evidence``: a regex that cell, or the markdown before it, must
show; ``avoid``: a regex the code that showed it may not match: its own print or
expression where the cell shows several, else the cell), earliest first, unless another exercise
already took that output.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

import numpy as np

from .. import analysis
from ..errors import ProbeError
from ..i18n import N_
from ..model import Array, CheckResult, Value
from ..rubric import CheckSpec, Reference
from ..values import as_array
from .base import (
    NAMES,
    TOLERANCE,
    FloatArray,
    array_cost,
    frozen_array,
    remembered,
    require_functions,
    require_regex,
    same,
    schema,
    tolerance,
)
from .base import shape_text as st
from .context import Candidate, CheckContext
from .property import judge

_INPUT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "names": NAMES,
        "predicate": {"type": "string"},
        "from": NAMES,
        "default": {},
    },
}
MAX_PER_INPUT = 4
_NO_INPUT = N_(
    "Could not find the input this exercise is about (e.g. your image X) in your notebook."
)


class OutputCheck:
    name: ClassVar[str] = "output"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = schema(
        ["reference", "inputs"],
        reference={"type": "string"},
        inputs={"type": "array", "items": _INPUT, "minItems": 1},
        consistent_with=NAMES,
        tolerance=TOLERANCE,
        what={"type": "string"},
        evidence={"type": "string"},
        avoid={"type": "string"},
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        require_functions(spec, reference, "reference")
        require_regex(spec, "evidence", "avoid")
        for i, inp in enumerate(spec.options["inputs"]):
            pred = inp.get("predicate")
            if pred and (reference is None or not reference.has(pred)):
                raise spec.error(f"inputs[{i}].predicate", f"no reference function {pred!r}")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        what = spec.options.get("what", "result")
        evidence = spec.options.get("evidence")
        shown = [
            c
            for c in ctx.candidates(None, evidence)
            if c.origin in ("result", "printed") and not _truth_table(ctx, c)
        ]
        avoid = spec.options.get("avoid")
        # torch.equal(corr2d(X.T, K), Y1) -> True: the result is Y1's value
        equal = _shown_equal(ctx, evidence, avoid)
        if not any(c.value.ndim >= 2 for c in shown):  # no matrix shown (Y13.shape, True)
            shown += equal or _computed(ctx, evidence, avoid)
        else:
            shown += equal
        if avoid:  # a cell held only by position that does another question's work is not ours
            rx, weak = re.compile(avoid, re.IGNORECASE), set(ctx.answer().weak)
            shown = [c for c in shown if c.cell not in weak or not rx.search(ctx.shown_source(c))]
        choices = [self._inputs(ctx, inp) for inp in spec.options["inputs"]]
        if all(choices):
            own = self._own_function(spec, ctx)
            tried: list[str] = []
            hit = self._match(spec, ctx, shown, choices, own, tried)
            if hit is not None:
                return hit
            elsewhere = [
                c
                for c in ctx.elsewhere(evidence=spec.options.get("evidence"), latest=False)
                if c.origin in ("result", "printed")
            ]
            if avoid:  # cells that do what another question asks are that question's
                rx = re.compile(avoid, re.IGNORECASE)
                elsewhere = [c for c in elsewhere if not rx.search(ctx.shown_source(c))]
            # outside the answer, only the book's own inputs where the rubric names them (the
            # section's K, not a kernel the student redefined for another question)
            canon = [
                [np.asarray(inp["default"], dtype=np.float64)] if "default" in inp else ch
                for inp, ch in zip(spec.options["inputs"], choices, strict=True)
            ]
            hit = self._match(spec, ctx, elsewhere, canon, None, [])
            firm = [c for c in shown if c.cell not in set(ctx.answer().weak)]
            if hit is not None and firm:  # the answer's own outputs (under its heading)
                # disagree: best for the student, and the instructor looks
                note = N_(
                    "The outputs in this exercise's own cells differ from it; your instructor "
                    "will check which one is your answer."
                )
                return replace(hit, needs_review=True, feedback=(*hit.feedback, note))
            if hit is not None:
                return hit
            if shown:
                shapes = ", ".join(sorted({st(o.value.shape) for o in shown}))
                return ctx.result(
                    spec,
                    0.0,
                    [
                        N_(
                            "None of the outputs shown here (shapes {shapes}) is the expected "
                            "{what} for your input (expected shape {expected})."
                        ).format(shapes=shapes, what=what, expected=tried[0])
                    ],
                )
        if not shown:
            failed = [
                r.error
                for r in ctx.execution.cells
                if r.index in ctx.answer().code_cells and r.error is not None
            ]
            if failed:
                err = failed[0]
                return ctx.result(
                    spec,
                    0,
                    [
                        N_(
                            "The {what} could not be checked: cell {cell} raised {ename}: {evalue}"
                        ).format(what=what, cell=err.cell, ename=err.ename, evalue=err.evalue[:120])
                    ],
                )
            return ctx.result(
                spec,
                0,
                [
                    N_(
                        "No output was displayed for this exercise: show the "
                        "{what} (e.g. end a code cell with it)."
                    ).format(what=what)
                ],
                found=False,
            )
        return ctx.result(
            spec,
            0,
            [_NO_INPUT],
            found=False,
        )

    @staticmethod
    def _match(
        spec: CheckSpec,
        ctx: CheckContext,
        shown: Sequence[Candidate],
        choices: Sequence[Sequence[FloatArray]],
        own: str | None,
        tried: list[str],
    ) -> CheckResult | None:
        """A passing result for the first of ``shown`` that is the reference's output on
        some choice of the student's inputs (or, with ``own``, their function's output)."""
        what = spec.options.get("what", "result")
        reference = ctx.reference.function(spec.options["reference"])
        rtol, atol = tolerance(spec)
        for combo in itertools.product(*choices):
            expected = remembered(
                ctx.reference,
                "outputs",
                reference,
                combo,
                partial(_outputs, reference, combo),
                lambda es: sum(map(array_cost, es)),
            )
            for out in shown:
                if any(same(out.value, e, max(rtol, 1e-4), max(atol, 1e-4)) for e in expected):
                    ctx.claim(out)
                    right = N_(
                        "The {what} in cell {cell} is right for your input of shape {shape}."
                    ).format(what=what, cell=out.cell + 1, shape=st(combo[0].shape))
                    if out.tier == 0:
                        return ctx.result(spec, 1.0, [right])
                    note = N_("Found the {what} by what it computes, in cell {cell}.").format(
                        what=what, cell=out.cell + 1
                    )
                    ctx.adopt(out.cell, note)
                    return ctx.result(spec, 1.0, [note, right])
            if own is not None:
                mine = ctx.call(own, list(combo)).array
                if mine is not None and any(same(o.value, mine, 1e-4, 1e-4) for o in shown):
                    return ctx.result(
                        spec,
                        1.0,
                        [
                            N_(
                                "Your {what} is what your `{own}` gives for these inputs; "
                                "`{own}` itself is wrong (marked under its own exercise)."
                            ).format(what=what, own=own)
                        ],
                    )
            tried.append(", ".join(st(e.shape) for e in expected))
        return None

    @staticmethod
    def _inputs(ctx: CheckContext, inp: Mapping[str, Any]) -> list[FloatArray]:
        names: Sequence[str] = inp.get("names", [])
        sources = list(inp.get("from", [ctx.exercise.id]))
        pred = inp.get("predicate")
        first_cell = min(ctx.answer().code_cells, default=None)
        env = ctx.env(first_cell)
        pool: list[tuple[int, FloatArray]] = []
        for i, name in enumerate(names):
            arr = as_array(env.get(name))
            if arr is not None:
                pool.append((i, arr))
        for c in ctx.candidates(sources):
            if c.origin == "binding" or pred:
                pool.append((len(names) + (0 if c.name in names else 1), c.value))
        if pred:
            pool = [
                (rank, arr)
                for rank, arr in pool
                if arr.ndim == 2 and judge(ctx, pred, arr)[0] >= 1.0
            ]
            if not pool:  # no image in those answers' cells: one drawn where no text says
                # (code under a summary of all the answers): the nearest the predicate accepts
                for c in ctx.elsewhere(sources, latest=False, allow=sources):
                    if c.value.ndim == 2 and judge(ctx, pred, c.value)[0] >= 1.0:
                        pool.append((len(names) + 2, c.value))
                        if len(pool) >= MAX_PER_INPUT:
                            break
        elif names:
            pool = [(rank, arr) for rank, arr in pool if rank < len(names)]
        pool.sort(key=lambda p: p[0])
        out: list[FloatArray] = []
        for _, arr in pool:
            if not any(a.shape == arr.shape and np.array_equal(a, arr) for a in out):
                out.append(arr)
        if "default" in inp:  # the book's own value ("the kernel K in this section") counts
            # even when the student's `K` is now another kernel (the section's 2x2 example)
            default = np.asarray(inp["default"], dtype=np.float64)
            out = [a for a in out if not (a.shape == default.shape and np.array_equal(a, default))]
            out = [*out[: MAX_PER_INPUT - 1], default]
        return out[:MAX_PER_INPUT]

    @staticmethod
    def _own_function(spec: CheckSpec, ctx: CheckContext) -> str | None:
        if not ctx.alive:
            return None
        try:
            ns = ctx.namespace()
        except ProbeError:
            return None  # the fallback is optional: judge the displayed output alone
        names = spec.options.get("consistent_with") or []
        return next((n for n in names if ns.get(n, {}).get("callable")), None)


def _outputs(reference: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[FloatArray, ...]:
    """The acceptable outputs for the student's inputs (read-only: they are remembered)."""
    return tuple(frozen_array(e) for e in reference(*inputs))


_EQUALITY = frozenset({"equal", "allclose", "array_equal", "isclose"})


def _shown_equal(ctx: CheckContext, evidence: str | None, avoid: str | None) -> list[Candidate]:
    """Results a cell of the answer shows by equality: it displays ``True`` for
    ``torch.equal(<computation>, <name>)`` (or ``allclose``, or ``a == b`` elementwise), or
    prints only ``True`` for such calls (``print(Y.shape, torch.equal(Y, Y1.t()))``), where
    ``<name>`` holds an array: the computation's value is that array. The computation must
    show the check's ``evidence`` and not its ``avoid``. Read from the source with ``ast``;
    nothing runs."""
    out: list[Candidate] = []
    runs = {r.index: r for r in ctx.execution.cells}
    for i in ctx.answer().code_cells:
        run = runs.get(i)
        if run is None or run.error is not None:
            continue
        source = analysis.parseable(ctx.notebook.cells[i].source)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        shown: list[ast.expr] = []
        last = tree.body[-1] if tree.body else None
        if run.results and _all_true(run.results[-1]) and isinstance(last, ast.Expr):
            shown.append(last.value)
        if "True" in run.text and "False" not in run.text:  # printed checks, all True
            for stmt in tree.body:
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "print":
                    shown += call.args
        env = ctx.env(i)
        for node in shown:
            sides = _equality_sides(node)
            if sides is None:
                continue
            for this, other in (sides, sides[::-1]):
                value = _operand(ctx, other, env)
                text = ast.get_source_segment(source, this) or ""
                if value is None or value.ndim < 1 or not _calls_a_function(this):
                    continue  # torch.equal(X.t(), X) compares images, it computes nothing
                if evidence and not re.search(evidence, text, re.IGNORECASE):
                    continue
                if avoid and re.search(avoid, text, re.IGNORECASE):
                    continue
                out.append(Candidate(value, i, None, "result", len(run.results)))
                break
    return out


def _calls_a_function(node: ast.expr) -> bool:
    """Whether ``node`` calls a function by name (``corr2d(X.t(), K)``), not only methods."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) for n in ast.walk(node))


def _all_true(value: Value) -> bool:
    """``True``, or a boolean array of all ``True`` (``A == B`` shown elementwise)."""
    if value is True:
        return True
    return isinstance(value, Array) and value.data.dtype == np.bool_ and bool(value.data.all())


def _truth_table(ctx: CheckContext, candidate: Candidate) -> bool:
    """Whether a displayed value is a boolean array (``c2d(X.t(), K) == c2d(X, K)``): the
    answer to "are they equal?", not a result of the operation."""
    if candidate.origin != "result":
        return False
    run = next((r for r in ctx.execution.cells if r.index == candidate.cell), None)
    if run is None or candidate.position >= len(run.results):
        return False
    value = run.results[candidate.position]
    return isinstance(value, Array) and value.data.dtype == np.bool_


def _equality_sides(node: ast.expr | None) -> tuple[ast.expr, ast.expr] | None:
    """The two sides of ``torch.equal(a, b)`` (``allclose``, ...) or of ``a == b``."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        return node.left, node.comparators[0]
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    return (node.args[0], node.args[1]) if analysis.callee(node.func) in _EQUALITY else None


def _operand(ctx: CheckContext, node: ast.expr, env: Mapping[str, Any]) -> FloatArray | None:
    """The value of an equality's other side when it is plain: a bound array, its transpose
    (``Y.T``, ``Y.t()``), or ``corr2d(A, B)`` of such operands, computed with the rubric's
    reference ``corr2d`` (never the student's code)."""
    if isinstance(node, ast.Name):
        return as_array(env[node.id]) if node.id in env else None
    if isinstance(node, ast.Attribute) and node.attr == "T":
        inner = _operand(ctx, node.value, env)
        return inner.T if inner is not None else None
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "t" and not node.args:
        inner = _operand(ctx, func.value, env)
        return inner.T if inner is not None else None
    if isinstance(func, ast.Name) and len(node.args) == 2 and ctx.reference.has("corr2d"):
        args = [_operand(ctx, a, env) for a in node.args]
        if any(a is None or a.ndim != 2 for a in args):
            return None
        x, k = args
        assert x is not None and k is not None
        if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
            return None
        want = np.asarray(ctx.reference.function("corr2d")(x, k), dtype=np.float64)
        if func.id != "corr2d" and not _correlates(ctx, func.id, x, k, want):
            return None
        return want
    return None


def _correlates(
    ctx: CheckContext, name: str, x: FloatArray, k: FloatArray, want: FloatArray
) -> bool:
    """Whether the student's ``name`` (``c2d``, ``xcorr``) is a cross-correlation on these
    inputs: called in their process, judged here."""
    try:
        got = ctx.call(name, [x, k]).array
    except ProbeError:
        return False
    return got is not None and got.shape == want.shape and bool(np.allclose(got, want, atol=1e-4))


def _computed(ctx: CheckContext, evidence: str | None, avoid: str | None) -> list[Candidate]:
    """Results the answer's own cells computed but did not display: ``Y13 = corr2d(X,
    K.t())`` followed by ``Y13.shape, torch.equal(Y13, ...)``. The assignment must show the
    check's ``evidence`` and not its ``avoid``; a cell held only by position counts only
    for a check that declares evidence."""
    out: list[Candidate] = []
    weak = set(ctx.answer().weak)
    runs = {r.index: r for r in ctx.execution.cells}
    for i in ctx.answer().code_cells:
        run = runs.get(i)
        if (i in weak and not evidence) or run is None or run.error is not None:
            continue
        source = analysis.parseable(ctx.notebook.cells[i].source)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)):
                continue
            text = ast.get_source_segment(source, stmt.value) or ""
            if evidence and not re.search(evidence, text, re.IGNORECASE):
                continue
            if avoid and re.search(avoid, text, re.IGNORECASE):
                continue
            for target in stmt.targets:
                if not isinstance(target, ast.Name) or target.id not in run.bindings:
                    continue
                arr = as_array(run.bindings[target.id])
                if arr is not None and arr.ndim == 2:
                    out.append(Candidate(arr, i, target.id, "result", len(run.results)))
    return out
