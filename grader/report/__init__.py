"""Reporters: turn :class:`~grader.model.SubmissionResult` objects into text.

Reporters only format what they are given: they never compute or re-sum scores (a total shown
is the ``score`` field). Each is a function ``(results, options) -> str``; the output is a
whole document ending with a newline, ready to be written to a file or stdout.

========== ==================================================================================
name       output
========== ==================================================================================
text       a readable table per submission, a summary line for several (:mod:`.text`)
json       one JSON document, validated by ``json_report.JSON_SCHEMA`` (:mod:`.json_report`)
junit      JUnit XML, one test suite per submission (:mod:`.junit`)
gradescope Gradescope ``results.json`` for the first submission (:mod:`.gradescope`)
csv        one row per submission for Canvas or Moodle gradebooks (:mod:`.csv_report`)
========== ==================================================================================

Options (:class:`ReportOptions`): ``color`` (ANSI colours, text only), ``public_only`` (drop
the feedback that only non-public checks produced, in every report; the JSON report then says
``"public_only": true``), ``show_checks`` (text: one line per check under its exercise) and
``csv_layout`` (``"canvas"`` or ``"moodle"``), ``hide_expected`` (the student-facing gradescope
report leaves out the expected values on hidden inputs, see ``json_report.hide_expected_values``),
``lang`` and ``report_lang`` (the student's and the instructor's language, :mod:`grader.i18n`:
the text report shows each submission in its student's language and its summary line in the
instructor's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

from grader.model import SubmissionResult
from grader.report import csv_report, gradescope, json_report, junit, text

__all__ = ["REPORTERS", "ReportOptions", "Reporter", "render"]


@dataclass(frozen=True)
class ReportOptions:
    color: bool = False
    public_only: bool = False
    show_checks: bool = False
    csv_layout: Literal["canvas", "moodle"] = "canvas"
    hide_expected: bool = False
    # languages (grader.i18n): a student's own report in ``lang`` ("auto": the language of
    # their prose), what only the instructor reads in ``report_lang``
    lang: str = "auto"
    report_lang: str = "en"
    locale_dirs: tuple[str, ...] = ()  # catalogue folders; () = rubrics/locale + the package's


Reporter: TypeAlias = Callable[[Sequence[SubmissionResult], ReportOptions], str]

REPORTERS: Mapping[str, Reporter] = MappingProxyType(
    {
        "text": text.render,
        "json": json_report.render,
        "junit": junit.render,
        "gradescope": gradescope.render,
        "csv": csv_report.render,
    }
)


def render(
    name: str, results: Sequence[SubmissionResult], options: ReportOptions | None = None
) -> str:
    """Render ``results`` with the reporter called ``name``.

    Raises ``KeyError`` naming the valid reporters when ``name`` is not one of them.
    """
    try:
        reporter = REPORTERS[name]
    except KeyError:
        valid = ", ".join(REPORTERS)
        raise KeyError(f"unknown report format {name!r}; valid formats: {valid}") from None
    return reporter(results, options if options is not None else ReportOptions())
