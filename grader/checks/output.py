"""``output``: what the student displayed matches the reference applied to *their* inputs.

"What happens if ...?" exercises are answered by computing something on the student's own
image. The check finds the student's inputs (by name, by a predicate such as "is a diagonal
image", or a default like the section's kernel K), applies the reference, and looks for the
result among the arrays the exercise's cells displayed or printed. With
``consistent_with``, an output equal to the student's own function applied to the same
inputs also counts (a bug in that function is charged under its own exercise).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np

from ..errors import ProbeError
from ..i18n import N_
from ..model import CheckResult
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
    same,
    schema,
    tolerance,
)
from .base import shape_text as st
from .context import CheckContext
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
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        require_functions(spec, reference, "reference")
        for i, inp in enumerate(spec.options["inputs"]):
            pred = inp.get("predicate")
            if pred and (reference is None or not reference.has(pred)):
                raise spec.error(f"inputs[{i}].predicate", f"no reference function {pred!r}")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        what = spec.options.get("what", "result")
        shown = [c for c in ctx.candidates() if c.origin in ("result", "printed")]
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
        choices = [self._inputs(ctx, inp) for inp in spec.options["inputs"]]
        if any(not c for c in choices):
            return ctx.result(
                spec,
                0,
                [
                    N_(
                        "Could not find the input this exercise is about "
                        "(e.g. your image X) in your notebook."
                    )
                ],
                found=False,
            )
        reference = ctx.reference.function(spec.options["reference"])
        rtol, atol = tolerance(spec)
        own = self._own_function(spec, ctx)
        tried: list[str] = []
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
                    return ctx.result(
                        spec,
                        1.0,
                        [
                            N_(
                                "The {what} in cell {cell} is right for your input of shape "
                                "{shape}."
                            ).format(what=what, cell=out.cell + 1, shape=st(combo[0].shape))
                        ],
                    )
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
        shapes = ", ".join(sorted({st(o.value.shape) for o in shown}))
        return ctx.result(
            spec,
            0.0,
            [
                N_(
                    "None of the outputs shown here (shapes {shapes}) is the expected {what} for "
                    "your input (expected shape {expected})."
                ).format(shapes=shapes, what=what, expected=tried[0])
            ],
        )

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
        elif names:
            pool = [(rank, arr) for rank, arr in pool if rank < len(names)]
        pool.sort(key=lambda p: p[0])
        out: list[FloatArray] = []
        for _, arr in pool:
            if not any(a.shape == arr.shape and np.array_equal(a, arr) for a in out):
                out.append(arr)
        if "default" in inp and not out:
            out.append(np.asarray(inp["default"], dtype=np.float64))
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
