"""``property``: a value the student made satisfies a reference predicate.

Candidates are the arrays the student bound, displayed or printed in the exercise's cells
(values captured when each cell ran, so later reassignments do not matter). Names in
``names`` are preferred; otherwise the candidate the predicate likes best is judged
("found by behaviour"). A predicate returns ``(fraction, message)`` or
``(fraction, message, diagnosis_ids)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..i18n import N_
from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from .base import NAMES, remembered, require_functions, schema, verdict, verdict_cost
from .context import CheckContext


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
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        require_functions(spec, reference, "predicate")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        what = spec.options.get("what", "value")
        names = list(spec.options.get("names", []))
        min_size = int(spec.options.get("min_size", 2))
        sources = list(spec.options.get("from", [ctx.exercise.id]))
        pool = [c for c in ctx.candidates(sources) if c.value.size >= min_size]
        if not pool:
            why = ctx.failed_cells_note()
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
        scored = [(c, *judge(ctx, spec.options["predicate"], c.value)) for c in pool]
        named = [s for s in scored if s[0].name in names]
        if named:  # the student's own name for it: judge their latest definition
            best = max(named, key=lambda s: s[0].cell)
        else:  # found by behaviour: the candidate the predicate likes best
            best = max(scored, key=lambda s: (s[1], s[0].cell))
        cand, frac, msg, diags = best
        label = (
            f"`{cand.name}`"
            if cand.name
            else N_("the {what} shown in cell {cell}").format(what=what, cell=cand.cell + 1)
        )
        lines = [
            N_("Judged {label}: {message}").format(label=label, message=msg)
            if msg
            else N_("Judged {label}.").format(label=label)
        ]
        for d in diags:
            text = ctx.diagnosis(d)
            if text:
                lines.append(text)
        return ctx.result(spec, frac, lines, diags)
