"""The ``gradescope`` report: ``/autograder/results/results.json`` for a Gradescope autograder.

Follows Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format")::

    {"score": <submission score>,                 # overrides the sum of the tests
     "execution_time": <whole seconds>,           # only when the notebook ran
     "output": "<submission-level text>",         # edition, diagnoses, execution problems
     "output_format": "text",                     # the default, simple_format, renders HTML
     "tests": [{"name": "<id>: <title>", "score", "max_score",
                "status": "passed"|"failed",      # "passed" only for status "pass"
                "output": "<feedback lines joined by newlines>",
                "visibility": "visible"}],
     "visibility": "visible",
     "stdout_visibility": "hidden"}

A Gradescope autograder grades ONE submission: given several results, only the FIRST is
reported (the others are ignored). Given none, the document says so with a score of 0 and no
tests, so that Gradescope still receives a valid ``results.json``. An invalid submission has
its error as ``output`` and no tests. Scores are the given ones rounded to 2 decimals; nothing
is re-summed. Text is stripped of ANSI escapes and control characters and is shown as plain
text (``output_format`` ``"text"``), so a student's output cannot inject HTML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from grader.i18n import N_, Translator
from grader.model import ExerciseResult, SubmissionResult
from grader.report.json_report import feedback_of, without_expected
from grader.report.text import clean, execution_problems, fmt_num, one_line, student_translator

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["render", "results_json"]

_ENGLISH = Translator("en", {})


def _score(value: float) -> float:
    return round(float(value), 2) + 0.0


def _test(ex: ExerciseResult, public_only: bool, hide_expected: bool = False) -> dict[str, Any]:
    name = f"{ex.id}: {ex.title}" if ex.title else ex.id
    return {
        "name": one_line(name),
        "score": _score(ex.score),
        "max_score": _score(ex.max_score),
        "status": "passed" if ex.status == "pass" else "failed",
        "output": "\n".join(clean(line) for line in feedback_of(ex, public_only, hide_expected)),
        "visibility": "visible",
    }


def _output(result: SubmissionResult, t: Translator = _ENGLISH) -> str:
    if result.status == "invalid":
        error = clean(result.error or "").strip() or t.gettext(
            N_("The submission could not be read.")
        )
        return t.format(N_("This submission could not be graded: {error}"), error=error)
    lines = [
        t.format(N_("Score: {score}"), score=f"{fmt_num(result.score)}/{fmt_num(result.max_score)}")
    ]
    if result.edition:
        lines.append(t.format(N_("Edition: {edition}"), edition=result.edition))
    if result.diagnoses:
        codes = " ".join(f"[{one_line(d)}]" for d in result.diagnoses)
        lines.append(t.format(N_("Diagnoses: {codes}"), codes=codes))
    problems = execution_problems(result.execution, t)
    if problems:
        lines.append("")
        lines.append(t.gettext(N_("Running the notebook:")))
        lines.extend(f"  {p}" for p in problems)
    return "\n".join(lines)


def results_json(
    result: SubmissionResult | None,
    *,
    public_only: bool = False,
    hide_expected: bool = False,
    t: Translator = _ENGLISH,
) -> dict[str, Any]:
    """The ``results.json`` document for one submission (``None``: no submission found), its
    fixed sentences in ``t``'s language."""
    doc: dict[str, Any] = {"score": 0.0}
    if result is None:
        doc["output"] = "No submission was found to grade."
        tests: list[dict[str, Any]] = []
    else:
        doc["score"] = _score(result.score)
        if result.execution is not None and result.status == "graded":
            doc["execution_time"] = round(result.execution.seconds)
        doc["output"] = _output(result, t)
        tests = (
            []
            if result.status == "invalid"
            else [_test(e, public_only, hide_expected) for e in result.exercises]
        )
    doc["output_format"] = "text"
    doc["tests"] = tests
    doc["visibility"] = "visible"
    doc["stdout_visibility"] = "hidden"
    return doc


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    first = results[0] if results else None
    t = _ENGLISH
    if first is not None:  # the student reads it: feedback in their language
        if options.hide_expected:  # on the English text, before it is translated
            first = without_expected(first)
        t = student_translator(first, options)
        first = t.localise(first)
    doc = results_json(first, public_only=options.public_only, t=t)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
