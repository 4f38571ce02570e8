"""``function``: a student callable against the reference on generated hidden inputs.

The grader generates the inputs (the reference module's case generator, seeded per rubric
version), sends them to the student's process, receives plain arrays back, and compares
them here with numpy. With ``predicate`` instead of ``reference``, each output is judged by
a reference predicate (e.g. "is an edge detector for this direction").

Diagnoses it evaluates: ``mutant`` (the student's outputs match a buggy variant of the
reference on every case, where that variant differs from the reference) and ``shapes``
(right on some input shapes, wrong or raising on others: a construction hard-coded for
one shape).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np

from .. import analysis
from ..i18n import N_
from ..model import Array, CheckResult
from ..rubric import CheckSpec, Reference
from ..values import as_array
from . import matrix_form, rebuild
from .base import (
    NAMES,
    TOLERANCE,
    FloatArray,
    array_cost,
    difference,
    frozen_array,
    remembered,
    require_functions,
    require_regex,
    same,
    schema,
    tolerance,
    verdict,
    verdict_cost,
)
from .base import shape_text as st
from .context import CallOutcome, CheckContext

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class _Case:
    args: tuple[Any, ...]
    outcome: CallOutcome
    expected: FloatArray | None
    fraction: float
    message: str
    diagnoses: tuple[str, ...] = ()


class FunctionCheck:
    name: ClassVar[str] = "function"
    handles: ClassVar[frozenset[str]] = frozenset({"mutant", "shapes"})
    schema: ClassVar[dict[str, Any]] = schema(
        ["function", "cases"],
        function=NAMES,
        params={"type": "integer", "minimum": 0},
        reference={"type": "string"},
        predicate={"type": "string"},
        cases={"type": "string"},
        dtypes={"type": "array", "items": {"enum": list(DTYPES)}},
        tolerance=TOLERANCE,
        scoring={"enum": ["fraction", "all"]},
        spread={"type": "boolean"},
        kind={"enum": ["torch", "numpy"]},
        search={"enum": ["notebook", "exercise"]},
        evidence={"type": "string"},
        matrix_form={"type": "boolean"},
        rebuild={"type": "boolean"},
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        if ("reference" in spec.options) == ("predicate" in spec.options):
            raise spec.error("reference", "give exactly one of `reference` or `predicate`")
        require_functions(spec, reference, "reference", "predicate", "cases")
        require_regex(spec, "evidence")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        names: list[str] = list(spec.options["function"])
        params = spec.options.get("params")
        cases = ctx.reference.function(spec.options["cases"])(ctx.rng(spec.label))
        if not ctx.alive:
            return ctx.result(spec, 0, [_not_running(names[0])], found=False, errored=True)
        probe = cases[: min(2, len(cases))]

        def behaves(candidate: str) -> bool:
            return all(c.fraction >= 1 for c in self._judge(spec, ctx, candidate, probe))

        only = set(ctx.answer().defines) if spec.options.get("search") == "exercise" else None
        found, how = ctx.find_callable(names, params, behaves, only=only)
        note = ""
        evidence = spec.options.get("evidence")
        if (
            found is not None
            and how == "behaviour"
            and evidence
            and only is not None
            and not re.search(evidence, ctx.attribution.definition(found), re.IGNORECASE)
        ):
            # among the answer's functions that behave, one whose code shows the evidence (the
            # matrix product, not the answer's loop version of corr2d); else one elsewhere
            showing = {n for n in only if re.search(evidence, ctx.attribution.definition(n), re.I)}
            alt = ctx.find_callable([], params, behaves, only=showing)[0] if showing else None
            if alt is None:
                alt, note = self._elsewhere(spec, ctx, params, behaves)
            found = alt or found
        if found is None and only is not None:
            found, note = self._elsewhere(spec, ctx, params, behaves)
            how = "elsewhere"  # the note says where and how it was found
        if found is not None and analysis.is_stub(ctx.attribution.definition(found)):
            # the template's `def corr2d_matmul(X, K): pass`, left unanswered
            blank = N_("`{name}` is still the template's blank.").format(name=found)
            return ctx.result(spec, 0, [blank], found=False)
        if found is not None:
            ctx.attribution.claim(("function", found), ctx.exercise.id)
        if found is None and spec.options.get("matrix_form") and "reference" in spec.options:
            built = self._builder(spec, ctx, cases) or self._hard_coded(spec, ctx)
            if built is not None:
                return built
        if found is None and only is not None:
            # the one function the answer's own cells define, right or wrong, is its answer
            # (a wrong one is judged and its mistake named; only credit comes from elsewhere)
            own = [n for n in ctx.functions(params) if n in only]
            if len(own) == 1:
                found, how = own[0], "own"
        if found is None and "reference" in spec.options:
            # a function that behaves exactly like a catalogued mistake (xcorr reading the
            # output it fills) is the student's answer, wrong in a way the rubric can name
            mutant = self._mutant_match(spec, ctx, params, cases)
            if mutant is not None:
                found, how = mutant, "mutant"
        if found is None and spec.options.get("rebuild"):
            rebuilt = self._rebuilt(spec, ctx, cases)
            if rebuilt is not None:
                return rebuilt
        if found is None:
            why = ctx.failed_cells_note()
            msg = (
                N_(
                    "No function `{name}` could be tested: your answer's code did not run{why}."
                ).format(name=names[0], why=why)
                if why
                else N_(
                    "No function `{name}` was found: define it (any name works if it behaves "
                    "like the book's) so that it can be tested."
                ).format(name=names[0])
            )
            return ctx.result(spec, 0, [msg], found=False)
        judged = self._judge(spec, ctx, found, cases)
        passed = sum(c.fraction for c in judged)
        fraction = passed / len(judged) if judged else 0.0
        if spec.options.get("scoring", "fraction") == "all" and fraction < 1:
            fraction = 0.0
        feedback, diagnoses = self._explain(spec, ctx, found, how, judged)
        if spec.options.get("spread") and _takes_angle(ctx, found, probe[:1]):
            angle = N_(
                "`{fn}` takes an angle: it was called with the angle of each hidden "
                "direction v, atan2(v2, v1)."
            ).format(fn=found)
            note = f"{note} {angle}" if note else angle
        return ctx.result(spec, fraction, [note, *feedback] if note else feedback, diagnoses)

    @staticmethod
    def _builder(
        spec: CheckSpec, ctx: CheckContext, cases: Sequence[tuple[Any, ...]]
    ) -> CheckResult | None:
        """A function that returns the matrix W of the cross-correlation for a kernel and an
        input shape (:mod:`grader.checks.matrix_form`): the answer's own functions first,
        then those in cells no other question holds that show the check's ``evidence``."""
        eid = ctx.exercise.id
        evidence = spec.options.get("evidence")
        names = [n for n in ctx.answer().defines if n in set(ctx.functions())]
        where: dict[str, int] = {}
        for place in ctx.attribution.places([eid]):
            if ctx.attribution.shows(place.cell, evidence, eid):
                for name in analysis.facts(ctx.notebook.cells[place.cell].source).functions:
                    where.setdefault(name, place.cell)
        names += [
            n for n in where if n not in names and not ctx.attribution.taken(("function", n), eid)
        ]
        dtype = spec.options.get("dtypes", DTYPES)[0]
        reference = ctx.reference.function(spec.options["reference"])
        pairs = [tuple(c[:2]) for c in cases if len(c) >= 2]
        built = matrix_form.find_builder(ctx, names, pairs, reference, dtype)
        if built is None:
            return None
        ctx.attribution.claim(("function", built.function), eid)
        diagnoses = [
            d.id for d in ctx.iter_diagnoses("shapes") if 0 < built.passed < built.total
        ]  # right for some input shapes only: a matrix hard-coded for one of them
        line = N_(
            "`{fn}` builds the matrix W of the cross-correlation: W @ vec(X) equals "
            "corr2d(X, K) on {passed} of {total} hidden test inputs."
        ).format(fn=built.function, passed=built.passed, total=built.total)
        if built.function in where and built.function not in ctx.answer().defines:
            ctx.adopt(where[built.function], line)
        lines = [line, *(ctx.diagnosis(d) for d in diagnoses)]
        return ctx.result(spec, built.passed / built.total, lines, diagnoses)

    @staticmethod
    def _hard_coded(spec: CheckSpec, ctx: CheckContext) -> CheckResult | None:
        """No function, but a cell of the answer multiplies a matrix it binds by an input it
        binds ("W @ X.reshape(-1)", a 4×9 W typed for the book's 3×3 input and 2×2 kernel)
        and gets the reference's result: the idea shown for one shape, diagnosed as such, no
        points."""
        diagnoses = [d.id for d in ctx.iter_diagnoses("shapes")]
        reference = ctx.reference.function(spec.options["reference"])
        # the answer's cells, then code no other question holds that shows the product (a
        # diagnosis worth no points either way: it only names what the answer's 0 is for)
        evidence = spec.options.get("evidence")
        eid = ctx.exercise.id
        cells = list(ctx.answer().code_cells) + [
            p.cell
            for p in ctx.attribution.places([eid])
            if evidence and ctx.attribution.shows(p.cell, evidence, eid)
        ]
        for cell in cells:
            source = ctx.notebook.cells[cell].source
            env = {k: a for k, v in ctx.env(cell).items() if (a := as_array(v)) is not None}
            mats = {k: a for k, a in env.items() if a.ndim == 2 and min(a.shape) > 1}
            kernels = {**mats, "": _BOOK_KERNEL}  # K typed into W entry by entry: the book's
            for w, W in mats.items():
                # X as a matrix, or already flattened (Xf = torch.arange(9.0))
                inputs = {k: a for k, a in env.items() if a.ndim in (1, 2) and a.size > 1}
                for x, X0 in inputs.items():
                    if (
                        x == w
                        or X0.size != W.shape[1]
                        or not re.search(
                            rf"\b{re.escape(w)}\s*@\s*{re.escape(x)}\b"
                            rf"|matmul\(\s*{re.escape(w)}\s*,\s*{re.escape(x)}\b",
                            source,
                        )
                    ):
                        continue
                    for X, (k, K) in itertools.product(_shapes_of(X0), kernels.items()):
                        if k in (w, x) or K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
                            continue
                        want = np.asarray(reference(X, K), dtype=np.float64).reshape(-1)
                        if want.size != W.shape[0] or not same(W @ X.reshape(-1), want, 1e-4, 1e-4):
                            continue
                        line = N_(
                            "The matrix in cell {cell} reproduces corr2d for one input "
                            "shape only; write a function that builds it for any shape."
                        ).format(cell=cell + 1)
                        feedback = [line, *(ctx.diagnosis(d) for d in diagnoses)]
                        return ctx.result(spec, 0.0, feedback, diagnoses)
        return None

    def _rebuilt(
        self, spec: CheckSpec, ctx: CheckContext, cases: Sequence[tuple[Any, ...]]
    ) -> CheckResult | None:
        """No function, but a value the answer built from numbers it bound
        (``K_v = v1 * Dx + v2 * Dy`` after ``v1, v2 = 0.28, 0.96``, :mod:`.rebuild`): the
        student's statements are rerun in their process for each case and judged like a
        function's outputs, provided they give back the notebook's own value for the
        notebook's own numbers. A value typed out for the numbers the cell binds, built from
        none of them, is judged for those numbers alone and earns half the points."""
        vectors = [c[0] for c in cases if len(c) == 1 and np.ndim(c[0]) == 1]
        if not vectors or len(vectors) < len(cases):
            return None  # cases must be one vector each (v), like the values bound
        size = int(np.size(vectors[0]))
        kind = spec.options.get("kind", "torch")
        found: list[rebuild.Instance] = []
        outer: frozenset[str] = frozenset()
        for cell in ctx.answer().code_cells:
            source = ctx.notebook.cells[cell].source
            found += rebuild.find(cell, source, ctx.env(cell), size, outer)
            outer |= rebuild.literal_names(source)
        best: tuple[float, rebuild.Instance, list[_Case]] | None = None
        for inst in (i for i in found if i.body):
            replay = partial(_replay, ctx, inst, kind)
            own = replay([(np.asarray(inst.bound),)])[0].array
            if own is None or not same(own, inst.value, 1e-4, 1e-5):
                continue  # the statements do not give the notebook's value back
            judged = self._judge(spec, ctx, inst.target, cases, call=replay)
            fraction = sum(c.fraction for c in judged) / len(judged)
            if best is None or fraction > best[0]:
                best = (fraction, inst, judged)
        if best is not None and best[0] > 0:
            fraction, inst, judged = best
            if spec.options.get("scoring", "fraction") == "all" and fraction < 1:
                fraction = 0.0
            lead = N_(
                "Judged `{name}` (cell {cell}) as a function of {params}: your statements "
                "that build it were rerun for each hidden test input."
            ).format(name=inst.target, cell=inst.cell + 1, params=", ".join(inst.params))
            feedback, diagnoses = self._explain(spec, ctx, inst.target, "rebuilt", judged)
            return ctx.result(spec, fraction, [lead, *feedback], diagnoses)
        for inst in (i for i in found if not i.body):
            held = [CallOutcome(True, Array(frozen_array(inst.value)))]
            judged = self._judge(
                spec, ctx, inst.target, [(np.asarray(inst.bound),)], call=partial(_same, held)
            )
            if judged[0].fraction < 1:
                continue
            fraction = 0.0 if spec.options.get("scoring", "fraction") == "all" else 0.5
            line = N_(
                "`{name}` (cell {cell}) is right for the numbers your cell binds ({params} = "
                "{bound}), but it is typed out for them only: build it from {params}, or write "
                "a function, so that it can be tested on other inputs."
            ).format(
                name=inst.target,
                cell=inst.cell + 1,
                params=", ".join(inst.params),
                bound=", ".join(f"{x:g}" for x in inst.bound),
            )
            return ctx.result(spec, fraction, [line])
        if best is not None:
            _, inst, judged = best
            feedback, diagnoses = self._explain(spec, ctx, inst.target, "rebuilt", judged)
            return ctx.result(spec, 0.0, feedback, diagnoses)
        return None

    def _mutant_match(
        self, spec: CheckSpec, ctx: CheckContext, params: int | None, cases: Sequence[Any]
    ) -> str | None:
        mutants = [ctx.reference.function(d.mutant) for d in ctx.iter_diagnoses("mutant")]
        if not mutants or not ctx.alive:
            return None
        rtol, atol = tolerance(spec)
        for name in ctx.functions(params)[:12]:
            if ctx.attribution.taken(("function", name), ctx.exercise.id):
                continue
            judged = self._judge(spec, ctx, name, cases)
            if any(_matches_mutant(ctx.reference, m, judged, rtol, atol) for m in mutants):
                return name
        return None

    @staticmethod
    def _elsewhere(
        spec: CheckSpec, ctx: CheckContext, params: int | None, behaves: Callable[[str], bool]
    ) -> tuple[str | None, str]:
        """A function defined outside the exercise's cells that behaves right on the first
        cases (:mod:`grader.behaviour`), unclaimed by another exercise, from a cell that shows
        the check's ``evidence``; its cell joins the answer."""
        eid = ctx.exercise.id
        where: dict[str, int] = {}
        for place in ctx.attribution.places([eid]):
            if not ctx.attribution.shows(place.cell, spec.options.get("evidence"), eid):
                continue
            for name in analysis.facts(ctx.notebook.cells[place.cell].source).functions:
                if not ctx.attribution.taken(("function", name), eid):
                    where.setdefault(name, place.cell)  # places come latest first
        if not where:
            return None, ""
        found, _ = ctx.find_callable([], params, behaves, only=set(where))
        if found is None:
            return None, ""
        note = N_("Found your function `{fn}` in cell {cell} by what it does.").format(
            fn=found, cell=where[found] + 1
        )
        ctx.adopt(where[found], note)
        return found, note

    # ------------------------------------------------------------------ judging
    def _judge(
        self,
        spec: CheckSpec,
        ctx: CheckContext,
        fn: str,
        cases: Sequence[tuple[Any, ...]],
        call: Callable[[Sequence[tuple[Any, ...]]], list[CallOutcome]] | None = None,
    ) -> list[_Case]:
        """Each case's output (``fn`` called in the student's process, or ``call``) judged
        against the reference or by the predicate."""
        rtol, atol = (float(x) for x in tolerance(spec))
        dtypes = spec.options.get("dtypes", DTYPES)
        kind = spec.options.get("kind", "torch")
        reference = spec.options.get("reference")
        predicate = spec.options.get("predicate")
        calls = []
        for i, case in enumerate(cases):
            args = tuple(_as_dtype(a, dtypes[i % len(dtypes)]) for a in case)
            spread = call is None and spec.options.get("spread")
            calls.append(_spread(args, ctx, fn) if spread else args)
        # one round trip, in order
        outcomes = ctx.call_many(fn, calls, kind) if call is None else call(calls)
        if call is None and kind == "torch" and outcomes and not any(o.ok for o in outcomes):
            # a numpy-only student (np.lib.stride_tricks, np.zeros): their own kind of array
            retry = ctx.call_many(fn, calls, "numpy")
            if any(o.ok for o in retry):
                outcomes, kind = retry, "numpy"
        if call is None and spec.options.get("spread") and _takes_angle(ctx, fn, calls, outcomes):
            outcomes = ctx.call_many(fn, [(_angle(c[0]),) for c in calls], kind)
        out: list[_Case] = []
        for i, (case, outcome) in enumerate(zip(cases, outcomes, strict=True)):
            got = outcome.array
            if reference is not None:
                ref = ctx.reference.function(reference)
                expected = remembered(
                    ctx.reference, "expected", ref, case, partial(_expected, ref, case), array_cost
                )
                tol = (
                    (max(rtol, 1e-4), max(atol, 1e-4))
                    if dtypes[i % len(dtypes)] == "float32"
                    else (rtol, atol)
                )
                ok = same(got, expected, *tol)
                msg = (
                    "" if ok else (outcome.describe() if got is None else difference(got, expected))
                )
                out.append(_Case(case, outcome, expected, 1.0 if ok else 0.0, msg))
            else:
                pred = ctx.reference.function(str(predicate))
                if got is None:
                    out.append(_Case(case, outcome, None, 0.0, outcome.describe()))
                    continue
                args = (got, *case)
                frac, msg, diags = remembered(
                    ctx.reference,
                    "verdict",
                    pred,
                    args,
                    partial(_verdict, pred, args),
                    verdict_cost,
                )
                out.append(_Case(case, outcome, None, frac, msg, diags))
        return out

    def _explain(
        self, spec: CheckSpec, ctx: CheckContext, fn: str, how: str, judged: list[_Case]
    ) -> tuple[list[str], list[str]]:
        feedback: list[str] = []
        diagnoses: list[str] = []
        failed = [c for c in judged if c.fraction < 1]
        # grading from a public pack (grader.pack), the inputs are the public ones
        public = bool(getattr(ctx.reference.module, "__grader_pack__", 0))
        if how == "behaviour":
            feedback.append(
                N_("Tested your function `{fn}` (found by what it does).").format(fn=fn)
            )
        if not failed:
            if not spec.feedback_pass:
                right = (
                    N_("`{fn}` is right on all {n} public test inputs.")
                    if public
                    else N_("`{fn}` is right on all {n} hidden test inputs.")
                )
                feedback.append(right.format(fn=fn, n=len(judged)))
            return feedback, diagnoses
        for diag_id in dict.fromkeys(d for c in failed for d in c.diagnoses):
            diagnoses.append(diag_id)
            feedback.append(ctx.diagnosis(diag_id))
        for d in ctx.iter_diagnoses("mutant"):
            mutant = ctx.reference.function(d.mutant)
            if _matches_mutant(ctx.reference, mutant, judged, *tolerance(spec)):
                diagnoses.append(d.id)
                feedback.append(d.feedback)
        if not diagnoses:
            for d in ctx.iter_diagnoses("shapes"):
                if _shape_dependent(judged):
                    diagnoses.append(d.id)
                    feedback.append(d.feedback)
        first = failed[0]
        shapes = ", ".join(st(np.shape(a)) for a in first.args if np.ndim(a) > 0)
        detail = first.message or first.outcome.describe()
        wrong = (
            N_(
                "`{fn}` is wrong on {k} of {n} public test inputs; "
                "e.g. with inputs of shape {shapes}: {detail}"
            )
            if public
            else N_(
                "`{fn}` is wrong on {k} of {n} hidden test inputs; "
                "e.g. with inputs of shape {shapes}: {detail}"
            )
        )
        feedback.append(
            wrong.format(fn=fn, k=len(failed), n=len(judged), shapes=shapes, detail=detail)
        )
        return feedback, diagnoses


def _as_dtype(arg: Any, dtype: str) -> Any:
    if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
        return arg.astype(dtype)
    return arg


_BOOK_KERNEL = np.array([[0.0, 1.0], [2.0, 3.0]])  # the section's example K


def _shapes_of(X: FloatArray) -> list[FloatArray]:
    """``X`` if it is a matrix; a flattened input as each matrix it may have been."""
    if X.ndim == 2:
        return [X]
    n = X.size
    return [X.reshape(h, n // h) for h in range(2, n) if n % h == 0 and n // h > 1]


def _replay(
    ctx: CheckContext, inst: rebuild.Instance, kind: str, calls: Sequence[tuple[Any, ...]]
) -> list[CallOutcome]:
    """Rerun ``inst``'s statements for each case (one vector: v, or its components)."""
    args = [c if inst.vector else tuple(float(x) for x in c[0]) for c in calls]
    return ctx.replay_many(inst.params, inst.body, inst.target, args, kind)


def _same(outcomes: list[CallOutcome], calls: Sequence[tuple[Any, ...]]) -> list[CallOutcome]:
    return outcomes


def _takes_angle(
    ctx: CheckContext,
    fn: str,
    calls: Sequence[tuple[Any, ...]],
    outcomes: Sequence[CallOutcome] | None = None,
) -> bool:
    """``f(theta)`` for a direction: one parameter, every call with the vector v raised."""
    if ctx.namespace().get(fn, {}).get("params") != 1 or not calls:
        return False
    if not all(len(c) == 1 and np.shape(c[0]) == (2,) for c in calls):
        return False
    if outcomes is None:
        outcomes = ctx.call_many(fn, calls, "torch")
    return not any(o.ok for o in outcomes)


def _angle(v: Any) -> float:
    return float(np.arctan2(float(v[1]), float(v[0])))


def _spread(args: tuple[Any, ...], ctx: CheckContext, fn: str) -> tuple[Any, ...]:
    """Call ``f(v1, v2)`` with the components of a single vector argument if f wants that."""
    entry = ctx.namespace().get(fn, {})
    want = entry.get("params")
    if (
        len(args) == 1
        and isinstance(args[0], np.ndarray)
        and args[0].ndim == 1
        and isinstance(want, int)
        and want == args[0].size > 1
    ):
        return tuple(float(x) for x in args[0])
    return args


def _expected(ref: Callable[..., Any], case: tuple[Any, ...]) -> FloatArray:
    return frozen_array(ref(*case))


def _verdict(pred: Callable[..., Any], args: tuple[Any, ...]) -> tuple[float, str, tuple[str, ...]]:
    return verdict(pred(*args))


def _mutant_output(mutant: Callable[..., Any], args: tuple[Any, ...]) -> FloatArray | None:
    try:
        return frozen_array(mutant(*args))
    except Exception:
        return None


def _matches_mutant(
    reference: Reference,
    mutant: Callable[..., Any],
    judged: list[_Case],
    rtol: float,
    atol: float,
) -> bool:
    """The student's function behaves like ``mutant`` everywhere the mutant is wrong."""
    differs = False
    for case in judged:
        m_out = remembered(
            reference,
            "mutant",
            mutant,
            case.args,
            partial(_mutant_output, mutant, case.args),
            array_cost,
        )
        if case.expected is not None and (
            m_out is None or not same(m_out, case.expected, rtol, atol)
        ):
            differs = True
        if m_out is None:
            if case.outcome.ok:
                return False
        elif not same(case.outcome.array, m_out, max(rtol, 1e-4), max(atol, 1e-4)):
            return False
    return differs


def _shape_dependent(judged: list[_Case]) -> bool:
    ok_shapes = {tuple(np.shape(a) for a in c.args) for c in judged if c.fraction >= 1}
    bad_shapes = {tuple(np.shape(a) for a in c.args) for c in judged if c.fraction < 1}
    return bool(ok_shapes) and bool(bad_shapes) and not (ok_shapes & bad_shapes)


def _not_running(name: str) -> str:
    return N_("`{name}` could not be tested: the notebook's process is not running.").format(
        name=name
    )
