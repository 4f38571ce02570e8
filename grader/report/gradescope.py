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

from grader.model import ExerciseResult, SubmissionResult
from grader.report.json_report import feedback_of
from grader.report.text import clean, execution_problems, fmt_num, one_line

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["render", "results_json"]


def _score(value: float) -> float:
    return round(float(value), 2) + 0.0


def _test(ex: ExerciseResult, public_only: bool) -> dict[str, Any]:
    name = f"{ex.id}: {ex.title}" if ex.title else ex.id
    return {
        "name": one_line(name),
        "score": _score(ex.score),
        "max_score": _score(ex.max_score),
        "status": "passed" if ex.status == "pass" else "failed",
        "output": "\n".join(clean(line) for line in feedback_of(ex, public_only)),
        "visibility": "visible",
    }


def _output(result: SubmissionResult) -> str:
    if result.status == "invalid":
        error = clean(result.error or "").strip() or "The submission could not be read."
        return f"This submission could not be graded: {error}"
    lines = [f"Score: {fmt_num(result.score)}/{fmt_num(result.max_score)}"]
    if result.edition:
        lines.append(f"Edition: {result.edition}")
    if result.diagnoses:
        lines.append("Diagnoses: " + " ".join(f"[{one_line(d)}]" for d in result.diagnoses))
    problems = execution_problems(result.execution)
    if problems:
        lines.append("")
        lines.append("Running the notebook:")
        lines.extend(f"  {p}" for p in problems)
    return "\n".join(lines)


def results_json(result: SubmissionResult | None, *, public_only: bool = False) -> dict[str, Any]:
    """The ``results.json`` document for one submission (``None``: no submission found)."""
    doc: dict[str, Any] = {"score": 0.0}
    if result is None:
        doc["output"] = "No submission was found to grade."
        tests: list[dict[str, Any]] = []
    else:
        doc["score"] = _score(result.score)
        if result.execution is not None and result.status == "graded":
            doc["execution_time"] = round(result.execution.seconds)
        doc["output"] = _output(result)
        tests = (
            [] if result.status == "invalid" else [_test(e, public_only) for e in result.exercises]
        )
    doc["output_format"] = "text"
    doc["tests"] = tests
    doc["visibility"] = "visible"
    doc["stdout_visibility"] = "hidden"
    return doc


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    first = results[0] if results else None
    if first is not None:  # the student reads it: feedback in their language
        from grader.report.text import student_translator

        first = student_translator(first, options).localise(first)
    doc = results_json(first, public_only=options.public_only)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
