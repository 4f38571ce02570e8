"""A correct, displayed demonstration as the answer to a "how do you ..." question.

Used by the ``prose`` check's ``demonstration`` option::

    - type: prose
      name: matmul-explained
      points: 1
      demonstration: {check: matmul-equals-corr2d, against: [corr2d]}
      required: [...]

The written-answer points are earned without the words when both hold:

1. the exercise's ``function`` check named ``check`` passes on the grader's hidden inputs
   (it is run again here: its probe replies are remembered per submission, so that costs no
   new call into the student's process); and
2. the notebook shows the function agreeing with one of ``against`` (the student's own
   section function, e.g. ``corr2d``): a code cell of the exercise calls both and displays a
   comparison that came out true (``True``, ``tensor(True)``, an ``assert`` that passed), or
   displays the same array from both (in one cell, or one cell each).

Nothing here runs student code: it reads the execution record (sources, printed text and
displayed values) and compares plain arrays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..model import CellRun
from ..rubric import CheckSpec
from ..tensor_text import parse_arrays
from ..values import as_array
from .base import allclose
from .context import CheckContext

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["check"],
    "additionalProperties": False,
    "properties": {
        "check": {"type": "string", "minLength": 1},
        "against": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
}
_COMPARE = re.compile(
    r"==|\b(?:allclose|isclose|equal|array_equal|assert_close|assert_allclose|assert_equal)\b"
)
_ASSERT = re.compile(r"^\s*assert\b(?P<rest>.*)$", re.MULTILINE)
_TRUE = re.compile(r"\bTrue\b")
_FALSE = re.compile(r"\bFalse\b")


def target(spec: CheckSpec, ctx: CheckContext) -> CheckSpec:
    """The exercise's ``function`` check the option names; an instructor error otherwise."""
    name = str(spec.options["demonstration"]["check"])
    for check in ctx.exercise.checks:
        if check.label == name and check.type == "function":
            return check
    raise spec.error(
        "demonstration.check",
        f"exercise {ctx.exercise.id!r} has no function check named {name!r}",
    )


def demonstrated(spec: CheckSpec, ctx: CheckContext) -> str | None:
    """Where the notebook demonstrates the answer ("cell 57"), or None."""
    from . import registry  # the registry imports this module's check types

    option: Mapping[str, Any] = spec.options["demonstration"]
    function = target(spec, ctx)
    if not registry()["function"].run(function, ctx).passed:
        return None
    names = [str(n) for n in function.options.get("function", ())]
    names += [n for n in ctx.answer().defines if n not in names]
    against = [str(n) for n in option.get("against", ("corr2d",))]
    return _shown(ctx, names, against)


def _calls(source: str, names: Sequence[str]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\s*\(", source) for n in names)


def _runs(ctx: CheckContext) -> Iterator[tuple[CellRun, str]]:
    cells = set(ctx.answer().code_cells)
    sources = {c.index: c.source for c in ctx.notebook.cells}
    for run in ctx.execution.cells:
        if run.index in cells and run.error is None and not run.timed_out:
            yield run, sources.get(run.index, "")


def _shown(ctx: CheckContext, names: Sequence[str], against: Sequence[str]) -> str | None:
    mine: list[tuple[int, np.ndarray[Any, Any]]] = []
    theirs: list[tuple[int, np.ndarray[Any, Any]]] = []
    for run, source in _runs(ctx):
        calls_mine, calls_theirs = _calls(source, names), _calls(source, against)
        if calls_mine and calls_theirs and _compared_true(source, run.text, against):
            return f"cell {run.index + 1}"
        shown = _displayed(run)
        if calls_mine and not calls_theirs:
            mine += [(run.index, a) for a in shown]
        elif calls_theirs and not calls_mine:
            theirs += [(run.index, a) for a in shown]
        elif calls_mine and calls_theirs:
            for i, a in enumerate(shown):  # both printed by one cell
                if any(_same(a, b) for b in shown[i + 1 :]):
                    return f"cell {run.index + 1}"
    for cell, a in mine:
        if any(_same(a, b) for _, b in theirs):
            return f"cell {cell + 1}"
    return None


def _compared_true(source: str, text: str, against: Sequence[str]) -> bool:
    """A comparison displayed as true, or an ``assert`` comparing with ``against`` that
    passed (the cell ran without error)."""
    if _COMPARE.search(source) and _TRUE.search(text) and not _FALSE.search(text):
        return True
    return any(
        _COMPARE.search(m.group("rest")) and _calls(m.group("rest"), against)
        for m in _ASSERT.finditer(source)
    )


def _displayed(run: CellRun) -> list[np.ndarray[Any, Any]]:
    arrays = [a for a in (as_array(v) for v in run.results) if a is not None and a.size > 1]
    for printed in parse_arrays(run.text):
        if printed.size > 1 and not any(_same(printed, a) for a in arrays):
            arrays.append(printed)
    return arrays


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    return a.shape == b.shape and allclose(a, b, rtol=1e-4, atol=1e-5)
