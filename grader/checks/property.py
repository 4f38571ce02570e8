"""``property``: a value the student made satisfies a reference predicate.

Candidates are the arrays the student bound, displayed or printed in the exercise's cells
(values captured when each cell ran, so later reassignments do not matter). Names in
``names`` are preferred; otherwise the candidate the predicate likes best is judged
("found by behaviour"). When nothing there is right, a value the predicate fully accepts in
another cell is judged instead (:mod:`grader.behaviour`; ``evidence``: a regex that cell, or
the markdown just before it, must show). A predicate returns ``(fraction, message)`` or
``(fraction, message, diagnosis_ids)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from ..i18n import N_
from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from .base import (
    NAMES,
    remembered,
    require_functions,
    require_regex,
    schema,
    verdict,
    verdict_cost,
)
from .context import Candidate, CheckContext


def judge(ctx: CheckContext, predicate: str, value: Any) -> tuple[float, str, tuple[str, ...]]:
    """Apply a reference predicate in the grader's process.

    Predicates are pure functions of the value, so verdicts are remembered by the rubric's
    Reference, keyed by the function object and a content key of the value (dtype, shape and
    bytes of an array); values without a safe content key are judged every time."""
    fn = ctx.reference.function(predicate)
    return remembered(ctx.reference, "judge", fn, (value,), lambda: _judge(fn, value), verdict_cost)


def _judge(fn: Callable[..., Any], value: Any) -> tuple[float, str, tuple[str, ...]]:
    try:
        return verdict(fn(value))
    except (ValueError, TypeError, IndexError) as exc:
        return 0.0, N_("this value cannot be judged ({error})").format(error=type(exc).__name__), ()


class PropertyCheck:
    name: ClassVar[str] = "property"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = schema(
        ["predicate"],
        predicate={"type": "string"},
        names=NAMES,
        **{"from": NAMES},
        what={"type": "string"},
        min_size={"type": "integer", "minimum": 1},
        evidence={"type": "string"},
        prefer_shown={"type": "boolean"},
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        require_functions(spec, reference, "predicate")
        require_regex(spec, "evidence")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        what = spec.options.get("what", "value")
        names = list(spec.options.get("names", []))
        min_size = int(spec.options.get("min_size", 2))
        sources = list(spec.options.get("from", [ctx.exercise.id]))
        predicate = spec.options["predicate"]
        evidence = spec.options.get("evidence")
        pool = [c for c in ctx.candidates(sources, evidence) if c.value.size >= min_size]
        scored = [(c, *judge(ctx, predicate, c.value)) for c in pool]
        best: tuple[Candidate, float, str, tuple[str, ...]] | None = None
        if scored:
            named = [s for s in scored if s[0].name in names]
            if named:  # the student's own name for it: judge their latest definition (the
                # better one where a cell defines two: X and X_diag)
                best = max(named, key=lambda s: (s[0].cell, s[1]))
            else:  # the one the predicate likes best; an assigned value before a displayed
                # one (K applied to a diagonal image displays another diagonal image)
                # (a learned kernel from the cell that trains, not the section's given K)
                # With `prefer_shown`, what the student displayed wins a tie: the learned
                # weight shown, not the target K = [[1, -1]] assigned in the same cell.
                # The exercise's own cells before those of `from` exercises (the image
                # `Xd` under "1." before `Y1 = corr2d(Xd, K)` under "1.1", which shows a
                # diagonal too), and a drawn value (few distinct entries) before a computed one.
                shows = ctx.attribution.shows
                shown = bool(spec.options.get("prefer_shown", False))
                own = set(ctx.answer().code_cells)
                said = ctx.mentioned(sources)  # `D` = 7x7 anti-diagonal line
                best = max(
                    scored,
                    key=lambda s: (
                        s[1],
                        s[0].name in said,
                        shows(s[0].cell, evidence),
                        s[0].cell in own,
                        (s[0].origin == "binding") != shown,
                        -min(len(np.unique(s[0].value)), 16),
                        s[0].cell,
                    ),
                )
        if (best is None or best[1] < 1.0) and not any(s[0].name in names for s in scored):
            # nothing named and right: a kernel passed inline to corr2d in these cells
            inline = self._inline(spec, ctx, sources, min_size)
            best = inline if inline is not None else best
        found = None
        if best is None or best[1] < 1.0:
            found = self._elsewhere(spec, ctx, sources, min_size)
        if found is None and (best is None or best[1] < 1.0) and ctx.alive:
            found = self._returned(spec, ctx, sources, min_size)
        if found is None and (best is None or best[1] < 1.0):
            return self._from_text(spec, ctx, sources, min_size, best)
        review = False
        if found is not None:
            cand = found[0]
            where = _where(cand, what)
            if best is None:
                note = N_("Found your {what} by what it computes: {where}.").format(
                    what=what, where=where
                )
            else:
                review = True
                note = N_(
                    "Found a right {what} outside this exercise's cells ({where}) and "
                    "judged it instead of {label}; your instructor will check that it is "
                    "your answer."
                ).format(what=what, where=where, label=_label(best[0], what))
            ctx.adopt(cand.cell, note)
            best = found
            lines = [note]
        else:
            lines = []
        assert best is not None  # _from_text handled "nothing found"
        cand, frac, msg, diags = best
        ctx.claim(cand)
        label = _label(cand, what)
        lines.append(_judged(label, msg))
        lines.extend(t for d in diags if (t := ctx.diagnosis(d)))
        return ctx.result(spec, frac, lines, diags, needs_review=review)

    def _from_text(
        self,
        spec: CheckSpec,
        ctx: CheckContext,
        sources: list[str],
        min_size: int,
        best: tuple[Candidate, float, str, tuple[str, ...]] | None,
    ) -> CheckResult:
        """Nothing right was computed anywhere. With a computed value in the answer, that is
        judged; with none, what the student wrote or pasted as text (a docstring with an
        output, code that could not run, a kernel in their words): a value the grader did
        not compute earns credit only for the instructor's review."""
        what = spec.options.get("what", "value")
        predicate = spec.options["predicate"]
        written = [] if best is not None else ctx.pasted(sources)
        scored = [(c, *judge(ctx, predicate, c.value)) for c in written if c.value.size >= min_size]
        text = max(scored, key=lambda s: (s[1], s[0].cell), default=None)
        if text is not None:
            cand, frac, msg, diags = text
            judged = (
                N_("Judged the {what} pasted as text in your answer (cell {cell}): {message}")
                if cand.origin == "pasted"
                else N_(
                    "Judged the {what} in code that could not run in your answer (cell {cell}): "
                    "{message}"
                )
            )
            lines = [
                judged.format(what=what, cell=cand.cell + 1, message=msg),
                N_("The grader could not compute it itself; your instructor will check it."),
            ]
            lines.extend(t for d in diags if (t := ctx.diagnosis(d)))
            return ctx.result(spec, frac, lines, diags, needs_review=frac > 0)
        if best is None:
            why = ctx.failed_cells_note() or self._failed_elsewhere(spec, ctx, sources)
            msg = (
                N_("No {what} could be judged: your answer's code did not run{why}.").format(
                    what=what, why=why
                )
                if why
                else N_(
                    "No {what} was found in your answer to this exercise (define it or "
                    "display it in a code cell)."
                ).format(what=what)
            )
            return ctx.result(spec, 0, [msg], found=False)
        cand, frac, msg, diags = best
        ctx.claim(cand)
        label = _label(cand, what)
        lines = [_judged(label, msg)]
        lines.extend(t for d in diags if (t := ctx.diagnosis(d)))
        return ctx.result(spec, frac, lines, diags)

    @staticmethod
    def _inline(
        spec: CheckSpec, ctx: CheckContext, sources: list[str], min_size: int
    ) -> tuple[Candidate, float, str, tuple[str, ...]] | None:
        """The last array written inline in the answer's code that the predicate fully
        accepts."""
        return _first_right(ctx, spec.options["predicate"], reversed(ctx.inline(sources)), min_size)

    @staticmethod
    def _elsewhere(
        spec: CheckSpec, ctx: CheckContext, sources: list[str], min_size: int
    ) -> tuple[Candidate, float, str, tuple[str, ...]] | None:
        """The right value in a cell outside the answer (grader.behaviour) that the
        predicate fully accepts: the nearest, assigned rather than displayed, latest."""
        predicate = spec.options["predicate"]
        names = spec.options.get("names", [])
        found = ctx.elsewhere(sources, spec.options.get("evidence"))
        # an assigned value before a displayed one (K applied to a diagonal image displays
        # another diagonal image), the student's usual names first
        shown = bool(spec.options.get("prefer_shown", False))
        # ... and what the student made over what a model computed from it: a drawn image
        # (torch.eye(8): 2 distinct values) before net(D), which shows the same diagonal;
        # first of all, the value the answer's text names (`D` = 7x7 anti-diagonal line)
        said = ctx.mentioned(sources)
        found.sort(
            key=lambda c: (
                c.name not in said,
                c.tier,
                (c.origin != "binding") != shown,
                c.name not in names,
                min(len(np.unique(c.value)), 16),
            )
        )
        return _first_right(ctx, predicate, found, min_size)

    @staticmethod
    def _failed_elsewhere(spec: CheckSpec, ctx: CheckContext, sources: list[str]) -> str:
        """' (cell 9 raised SyntaxError: ...)' for a cell that shows the check's evidence
        where the answer may be (the cell that trains, for a learned kernel) and raised."""
        evidence = spec.options.get("evidence")
        if not evidence:
            return ""
        failed = {r.index: r.error for r in ctx.execution.cells if r.error is not None}
        eid = ctx.exercise.id
        for place in ctx.attribution.places(sources):
            err = failed.get(place.cell)
            if err is not None and ctx.attribution.shows(place.cell, evidence, eid):
                return " " + N_("(cell {cell} raised {ename}: {evalue})").format(
                    cell=err.cell, ename=err.ename, evalue=err.evalue[:100]
                )
        return ""

    @staticmethod
    def _returned(
        spec: CheckSpec, ctx: CheckContext, sources: list[str], min_size: int
    ) -> tuple[Candidate, float, str, tuple[str, ...]] | None:
        """A right value returned by a function of no arguments that only builds it
        (``second_derivative_kernel()``, code organised in functions run by ``main()``),
        defined in the answer's cells or where its answer may be; the answer's first."""
        eid = ctx.exercise.id
        evidence = spec.options.get("evidence")
        cells = [i for s in sources for i in ctx.answer(s).code_cells]
        cells += [
            p.cell
            for p in ctx.attribution.places(sources)
            if ctx.attribution.shows(p.cell, evidence, eid)
        ]
        found = [c for c in ctx.returned(cells) if not ctx.attribution.taken(c.key, eid)]
        return _first_right(ctx, spec.options["predicate"], found, min_size)


def _first_right(
    ctx: CheckContext, predicate: str, candidates: Iterable[Candidate], min_size: int
) -> tuple[Candidate, float, str, tuple[str, ...]] | None:
    """The first candidate (of at least ``min_size`` entries) the predicate fully accepts."""
    for c in candidates:
        if c.value.size < min_size:
            continue
        frac, msg, diags = judge(ctx, predicate, c.value)
        if frac >= 1.0:
            return c, frac, msg, diags
    return None


def _where(c: Candidate, what: str) -> str:
    where = {
        "binding": N_("the {what} assigned in cell {cell}"),
        "result": N_("the {what} displayed in cell {cell}"),
        "printed": N_("the {what} printed in cell {cell}"),
        "inline": N_("the {what} written in the code of cell {cell}"),
        "returned": N_("the {what} your function {name} in cell {cell} returns"),
    }[c.origin]
    if c.origin == "returned":
        return where.format(what=what, name=f"`{c.name}`", cell=c.cell + 1)
    return where.format(what=what, cell=c.cell + 1)


def _label(c: Candidate, what: str) -> str:
    if c.name:
        return f"`{c.name}`"
    if c.origin == "inline":
        return N_("the {what} written in the code of cell {cell}").format(
            what=what, cell=c.cell + 1
        )
    return N_("the {what} shown in cell {cell}").format(what=what, cell=c.cell + 1)


def _judged(label: str, msg: str) -> str:
    if msg:
        return N_("Judged {label}: {message}").format(label=label, message=msg)
    return N_("Judged {label}.").format(label=label)
