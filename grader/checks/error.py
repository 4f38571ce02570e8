"""``error``: the exercise shows (or shows the absence of) an error of an accepted kind.

Evidence comes from the grader's own execution of the student's cells, never from outputs
saved in the file: an error a cell raised here, or code that ran cleanly and matches
``works`` (e.g. a ``.backward(`` call that succeeded shows that PyTorch differentiates it).
An error of a kind not in ``accept`` gets the message of the matching ``explain`` entry
(the rubric says why that error happens and how to avoid it).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .. import analysis
from ..i18n import N_
from ..model import CellError, CheckResult
from ..rubric import CheckSpec, Reference
from .base import schema
from .context import CheckContext

_KIND: dict[str, Any] = {
    "type": "object",
    "required": ["ename"],
    "additionalProperties": False,
    "properties": {
        "ename": {"type": "string"},
        "evalue": {"type": "string"},
        "message": {"type": "string"},
    },
}


def matches_kind(kind: dict[str, Any], err: CellError) -> bool:
    if not re.fullmatch(kind["ename"], err.ename):
        return False
    return not kind.get("evalue") or re.search(kind["evalue"], err.evalue, re.I) is not None


class ErrorCheck:
    name: ClassVar[str] = "error"
    handles: ClassVar[frozenset[str]] = frozenset()
    schema: ClassVar[dict[str, Any]] = schema(
        [],
        accept={"type": "array", "items": _KIND},
        explain={"type": "array", "items": _KIND},
        works={"type": "string"},
        evidence={"type": "string"},
        own_module={"type": "boolean"},
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        for key in ("accept", "explain"):
            for i, kind in enumerate(spec.options.get(key, [])):
                for f in ("ename", "evalue"):
                    try:
                        re.compile(kind.get(f, ""))
                    except re.error as exc:
                        raise spec.error(f"{key}[{i}].{f}", f"not a valid regex: {exc}") from None
        if not spec.options.get("accept") and not spec.options.get("works"):
            raise spec.error("accept", "give `accept` kinds, `works`, or both")

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        answer = ctx.answer()
        runs = [r for r in ctx.execution.cells if r.index in answer.code_cells]
        errors = [r.error for r in runs if r.error is not None]
        accept = spec.options.get("accept", [])
        explain = spec.options.get("explain", [])
        for err in errors:
            for kind in accept:
                if matches_kind(kind, err):
                    note = kind.get("message", "")
                    return ctx.result(
                        spec,
                        1.0,
                        [
                            N_("Cell {cell} shows {ename}: {evalue}.").format(
                                cell=err.cell, ename=err.ename, evalue=err.evalue[:120]
                            )
                            + (f" {note}" if note else "")
                        ],
                    )
        works = spec.options.get("works")
        if works:
            for r in runs:
                if r.error is None and re.search(works, _ran(ctx, r.index)):
                    return ctx.result(
                        spec,
                        1.0,
                        [N_("Cell {cell} runs it without an error.").format(cell=r.index + 1)],
                    )
        if works and not errors:
            found = self._elsewhere(spec, ctx, works)
            if found is not None:
                return found
        if errors:
            lines = []
            for err in errors[:2]:
                hint = next((k.get("message", "") for k in explain if matches_kind(k, err)), "")
                lines.append(
                    N_("Cell {cell} raised {ename}: {evalue}.").format(
                        cell=err.cell, ename=err.ename, evalue=err.evalue[:120]
                    )
                    + (f" {hint}" if hint else "")
                )
            return ctx.result(spec, 0.0, lines)
        return ctx.result(
            spec,
            0.0,
            [
                N_(
                    "This exercise shows no code that demonstrates the "
                    "behaviour (run it and keep the output)."
                )
            ],
            found=bool(runs),
        )

    @staticmethod
    def _elsewhere(spec: CheckSpec, ctx: CheckContext, works: str) -> CheckResult | None:
        """Code matching ``works`` that ran cleanly in a cell outside the answer that the
        text gives to no other question (:mod:`grader.behaviour`) and that shows the check's
        ``evidence`` (the section's own training loop calls backward() too, but not on the
        student's Conv2D). It only credits; its cell joins the answer."""
        evidence = spec.options.get("evidence")
        if evidence is None:
            return None
        eid = ctx.exercise.id
        runs = {r.index: r for r in ctx.execution.cells}
        own = _module_classes(ctx) if spec.options.get("own_module") else set()
        for place in ctx.attribution.places([eid]):
            run = runs.get(place.cell)
            source = _ran(ctx, place.cell)
            if run is None or run.error is not None or not re.search(works, source):
                continue
            if not ctx.attribution.shows(place.cell, evidence, eid) and not any(
                re.search(rf"\b{re.escape(name)}\s*\(", source) for name in own
            ):  # TinyConv((1, 2)): the student's nn.Module under its own name
                continue
            note = N_("Found it by what your code does: cell {cell} runs it without an error.")
            note = note.format(cell=place.cell + 1)
            ctx.adopt(place.cell, note)
            return ctx.result(spec, 1.0, [note])
        return None


def _ran(ctx: CheckContext, cell: int) -> str:
    """What ``cell`` ran: its code without comments (``# out.sum().backward()`` did not run)
    and the code of the notebook's functions it calls (``check_ex3(img)`` trains)."""
    code = analysis.without_comments(ctx.notebook.cells[cell].source)
    return code + "\n" + ctx.attribution.runs_code(cell)


def _module_classes(ctx: CheckContext) -> set[str]:
    """The ``nn.Module`` classes the notebook defines (``class TinyConv(nn.Module)``)."""
    return {
        name
        for c in ctx.notebook.cells
        if c.kind == "code"
        for name in analysis.module_classes(c.source)
    }
