"""``runs``: the notebook runs top to bottom in a fresh process.

Also evaluates the execution diagnoses: ``out-of-order`` (a cell used a name that only a
later cell, or no cell, defines: the notebook only worked in the student's own session),
``missing-module`` (an import the grading environment lacks, outside the course's list of
modules: a module of that list is the course's gap, see :mod:`grader.course`, and costs the
student nothing), ``indentation-lost`` (code whose indentation was collapsed, e.g. by
copying it through a web form) and ``typographic-quotes`` (code pasted with “ ” ‘ ’ from a
web page, which cannot run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .. import analysis
from ..course import excused_cells
from ..i18n import N_
from ..model import CheckResult
from ..rubric import CheckSpec, Reference
from .base import schema
from .context import CheckContext
from .error import matches_kind


def _unparsed(ctx: CheckContext, cause: Callable[[str], bool]) -> list[int]:
    """1-based numbers of cells that failed to parse for ``cause`` (a test of the source)."""
    sources = {c.index: c.source for c in ctx.notebook.cells}
    return [
        r.index + 1
        for r in ctx.execution.cells
        if r.error is not None
        and r.error.ename in ("IndentationError", "SyntaxError")
        and cause(sources.get(r.index, ""))
    ]


def _indentation_lost(ctx: CheckContext) -> list[int]:
    """Cells that failed to parse because their indentation is gone."""
    return _unparsed(ctx, analysis.indentation_lost)


def _typographic(ctx: CheckContext) -> list[int]:
    """Cells that failed to parse because of typographic quotes."""
    return _unparsed(ctx, analysis.typographic_quotes)


def _relied_on_added_imports(ctx: CheckContext) -> set[int]:
    """Cells that use a name the notebook never imports (the grader imported it for them)."""
    added = {
        name
        for name, line in analysis.COMMON_IMPORTS.items()
        if f"added missing `{line}`" in ctx.execution.notes
    }
    return {
        c.index
        for c in ctx.notebook.cells
        if c.kind == "code" and added & analysis.facts(c.source).uses
    }


def _demonstrated(ctx: CheckContext) -> set[int]:
    """Cells whose error is one the rubric's ``error`` checks accept as a demonstration."""
    kinds = [
        kind
        for ex in ctx.rubric.exercises
        for check in ex.checks
        if check.type == "error"
        for kind in check.options.get("accept", [])
    ]
    return {
        r.index
        for r in ctx.execution.cells
        if r.error is not None and any(matches_kind(kind, r.error) for kind in kinds)
    }


KILLED = {
    "timeout": N_("The notebook was stopped because it ran out of time."),
    "memory": N_("The notebook was stopped because it used more memory than allowed."),
    "crashed": N_("The notebook's process crashed."),
}


class RunsCheck:
    name: ClassVar[str] = "runs"
    handles: ClassVar[frozenset[str]] = frozenset({"execution"})
    schema: ClassVar[dict[str, Any]] = schema([])

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        return None

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        ex = ctx.execution
        runs = ex.cells
        if not runs:
            return ctx.result(spec, 0.0, [N_("The notebook has no code to run.")], found=False)
        relied = _relied_on_added_imports(ctx)
        # the course's environment gap (grader.course) is not the student's: those cells
        # count as clean and their errors are not the student's feedback
        excused = excused_cells(ex, (c.source for c in ctx.notebook.cells if c.kind == "code"))
        # an error another exercise asks the student to show (backward() on a non-scalar
        # output, for the autograd question) is an answer, not a failure to run
        excused |= _demonstrated(ctx)
        clean = sum(
            1
            for r in runs
            if (r.error is None or r.index in excused) and r.attempts == 1 and r.index not in relied
        )
        fraction = clean / len(runs)
        lines: list[str] = []
        diagnoses: list[str] = []
        if ex.killed:
            fraction = 0.0
            lines.append(KILLED[ex.killed])
        errors = [r.error for r in runs if r.error is not None and r.index not in excused]
        for err in errors[:5]:
            lines.append(
                N_("Cell {cell} raised {ename}: {evalue}").format(
                    cell=err.cell, ename=err.ename, evalue=err.evalue[:160]
                )
            )
        if len(errors) > 5:
            lines.append(N_("... and {n} more cells raised errors.").format(n=len(errors) - 5))
        out_of_order = [r for r in runs if r.attempts > 1]
        added = [n for n in ex.notes if n.startswith("added missing")]
        for d in ctx.iter_diagnoses("execution"):
            if d.execution == "out-of-order" and (out_of_order or added):
                diagnoses.append(d.id)
                cells = ", ".join(str(r.index + 1) for r in out_of_order)
                where = (
                    " " + N_("(cells {cells} ran only after later cells)").format(cells=cells)
                    if cells
                    else ""
                )
                lines.append(d.feedback + where)
            if d.execution == "indentation-lost" and (lost := _indentation_lost(ctx)):
                diagnoses.append(d.id)
                lines.append(
                    d.feedback + " " + N_("Cells: {cells}.").format(cells=", ".join(map(str, lost)))
                )
            if d.execution == "typographic-quotes" and (curly := _typographic(ctx)):
                diagnoses.append(d.id)
                lines.append(
                    d.feedback
                    + " "
                    + N_("Cells: {cells}.").format(cells=", ".join(map(str, curly)))
                )
            if d.execution == "missing-module" and ex.missing_modules:
                diagnoses.append(d.id)
                lines.append(
                    d.feedback
                    + " "
                    + N_("Missing here: {modules}.").format(modules=", ".join(ex.missing_modules))
                )
        lines.extend(n[0].upper() + n[1:] + "." for n in ex.notes)
        return ctx.result(spec, fraction, lines, diagnoses)
