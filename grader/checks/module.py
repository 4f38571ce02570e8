"""``module``: a student ``nn.Module`` class built, loaded with given parameters and run.

The grader constructs the class with the kernel shape, sets its parameters to hidden
values, runs forward (and backward when asked) and compares the output with the reference
in its own process. With ``consistent_with``, an output that equals the student's *own*
function (e.g. their ``corr2d``) plus the bias is accepted: a bug in that function is
charged once, under its own exercise.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ..i18n import N_
from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from ..values import as_array, decode
from .base import (
    NAMES,
    TOLERANCE,
    FloatArray,
    array_cost,
    difference,
    frozen_array,
    remembered,
    require_functions,
    same,
    schema,
    tolerance,
)
from .context import CheckContext

_USES_HELPER = N_(
    "`{cls}` uses your `{helper}` correctly; the problem in `{helper}` is marked under its own "
    "exercise."
)


class ModuleCheck:
    name: ClassVar[str] = "module"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = schema(
        ["class", "reference", "cases"],
        **{"class": NAMES},
        reference={"type": "string"},
        cases={"type": "string"},
        grads={"type": "string"},
        consistent_with=NAMES,
        tolerance=TOLERANCE,
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        require_functions(spec, reference, "reference", "cases", "grads")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        names = list(spec.options["class"])
        if not ctx.alive:
            return ctx.result(
                spec,
                0,
                [
                    N_(
                        "`{name}` could not be tested: the notebook's process is not running."
                    ).format(name=names[0])
                ],
                found=False,
                errored=True,
            )
        cases = ctx.reference.function(spec.options["cases"])(ctx.rng(spec.label))
        reference = ctx.reference.function(spec.options["reference"])
        rtol, atol = tolerance(spec)
        rtol, atol = max(rtol, 1e-4), max(atol, 1e-4)

        def expected_of(X: Any, weight: Any, bias: Any) -> FloatArray:
            args = (X, weight, bias)
            compute = partial(_expected, reference, args)
            return remembered(ctx.reference, "expected", reference, args, compute, array_cost)

        def behaves(candidate: str) -> bool:
            X, weight, bias = cases[0]
            out = ctx.module(
                candidate, [list(weight.shape)], {"weight": weight, "bias": bias}, [_f32(X)]
            )
            return same(out.array, expected_of(*cases[0]), rtol, atol)

        found, how = ctx.find_callable(names, 1, behaves, classes=True)
        if found is None:
            return ctx.result(
                spec,
                0,
                [N_("No `{name}(nn.Module)` class was found.").format(name=names[0])],
                found=False,
            )
        helper = self._own_function(spec, ctx)
        good, notes, problems = 0.0, [], []
        grads_fn = spec.options.get("grads")
        outs = ctx.module_many(
            found,
            # the input in float32, like the book's X and the layer's own parameters (a
            # forward pass by matrix product cannot mix float32 and float64)
            [([list(w.shape)], {"weight": w, "bias": b}, [_f32(X)]) for X, w, b in cases],
            backward=grads_fn is not None,
        )
        for (X, weight, bias), out in zip(cases, outs, strict=True):
            expected = expected_of(X, weight, bias)
            got = out.array
            if not out.ok:
                if helper and _same_failure(ctx, helper, out.ename, X, weight):
                    good += 1  # it fails exactly where the student's own helper fails
                    notes.append(_USES_HELPER.format(cls=found, helper=helper))
                    continue
                problems.append(
                    N_("building or running `{cls}` raised {error}").format(
                        cls=found, error=out.describe()
                    )
                )
                continue
            if same(got, expected, rtol, atol):
                good += 1
            elif helper and same(got, _own(ctx, helper, X, weight, bias), rtol, atol):
                good += 1
                notes.append(_USES_HELPER.format(cls=found, helper=helper))
                continue  # its gradients follow the wrong helper too: charged there, once
            else:
                problems.append(
                    N_("`{cls}` output: {difference}").format(
                        cls=found, difference=difference(got, expected)
                    )
                    if got is not None
                    else N_("`{cls}` returned a non-tensor").format(cls=found)
                )
                continue
            if grads_fn is not None:
                problem = _grad_problem(ctx, spec, out.extra.get("grads", {}), X, weight, bias)
                if problem:
                    good -= 0.5
                    problems.append(problem)
        fraction = max(0.0, good) / len(cases)
        feedback = (
            [N_("Tested your class `{cls}` (found by what it does).").format(cls=found)]
            if how == "behaviour"
            else []
        )
        feedback += sorted(set(notes)) + problems[:2]
        return ctx.result(spec, fraction, feedback)

    @staticmethod
    def _own_function(spec: CheckSpec, ctx: CheckContext) -> str | None:
        names = spec.options.get("consistent_with") or []
        ns = ctx.namespace()
        return next((n for n in names if ns.get(n, {}).get("callable")), None)


def _expected(reference: Callable[..., Any], args: tuple[Any, ...]) -> FloatArray:
    """The reference's output as a read-only float64 copy (safe to share)."""
    return frozen_array(reference(*args))


def _grads(
    grads_of: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[tuple[Any, npt.NDArray[Any]], ...]:
    """The reference's gradients by parameter name, in its order, each as a read-only copy of
    ``np.asarray`` of it (safe to share)."""
    out = []
    for pname, exp in grads_of(*args).items():
        arr = np.array(exp)
        arr.setflags(write=False)
        out.append((pname, arr))
    return tuple(out)


def _same_failure(ctx: CheckContext, fn: str, ename: str, X: Any, weight: Any) -> bool:
    own = ctx.call(fn, [X, weight])
    return not own.ok and own.ename == ename


def _own(ctx: CheckContext, fn: str, X: Any, weight: Any, bias: Any) -> Any:
    out = ctx.call(fn, [X, weight])
    arr = out.array
    return None if arr is None else arr + float(np.asarray(bias).reshape(-1)[0])


def _grad_problem(
    ctx: CheckContext, spec: CheckSpec, grads: Any, X: Any, weight: Any, bias: Any
) -> str | None:
    grads_of = ctx.reference.function(spec.options["grads"])
    args = (X, weight, bias)
    expected = remembered(
        ctx.reference,
        "grads",
        grads_of,
        args,
        partial(_grads, grads_of, args),
        lambda found: sum(256 + a.nbytes for _, a in found),
    )
    for pname, exp in expected:
        raw = grads.get(pname) if isinstance(grads, dict) else None
        got = as_array(decode(raw)) if raw is not None else None
        if got is None:
            return N_("no gradient reached `{name}` after backward()").format(name=pname)
        if not same(got, np.asarray(exp, dtype=np.float64), 1e-3, 1e-3):
            return N_("the gradient of `{name}` is wrong: {difference}").format(
                name=pname, difference=difference(got, np.asarray(exp))
            )
    return None


def _f32(X: Any) -> Any:
    return np.asarray(X, dtype=np.float32)
