"""The ``csv`` report: one row per submission, one column per exercise, for LMS gradebooks.

Exercise columns are the union of the exercise ids of all submissions, in order of first
appearance; a cell is the exercise score (at most 2 decimals, ``.`` as decimal separator), empty
when that submission has no such exercise (always for an invalid one). The total is the
submission's ``score`` field, never a sum of the cells. Two layouts
(``ReportOptions.csv_layout``); Canvas and Moodle cannot share one, because a Moodle import
aborts as a whole on any row whose user it cannot find, and Canvas needs its ``Points Possible``
row to give new assignments their points.

``canvas`` (default)::

    Student,ID,SIS User ID,SIS Login ID,Section,<exercise id>...,Final Points
    Points Possible,,,,,<max score of the exercise>...,(read only)
    <student or path>,,,<student>,,<score>...,<submission score>

* The header must start with ``Student``, ``ID`` and, when the SIS columns are present,
  ``SIS User ID``, ``SIS Login ID``, then ``Section``; every later column is an assignment
  (matched by title, or by ``Title (canvas id)``; an unknown title creates a new assignment).
  A row whose first cell contains ``Points Possible`` gives the new assignments their points.
  Trailing ``Current Score``/``Current Points``/``Final Score``/``Final Points``/``Final Grade``
  columns are read-only and ignored, so ``Final Points`` carries our total harmlessly.
* Students are matched by ``ID`` (the numeric Canvas user id, which we do not know: left
  empty), then ``SIS User ID``, then ``SIS Login ID``, then by name. The student id from the
  file name is put in ``SIS Login ID``; rows Canvas cannot match are listed on its import page
  for the instructor to assign or ignore. A ``Points Possible`` inside a student-derived name
  is defused (``Points_Possible``) so a file name cannot set the points.
* Sources: Canvas Instructor Guide "How do I import grades in the Gradebook?"; Canvas LMS
  ``app/models/gradebook_importer.rb`` (``header?``, ``strip_non_assignment_columns``,
  ``process_pp``, ``process_student``).

``moodle``::

    Student,<exercise id>...,Total,Max total
    <student>,<score>...,<submission score>,<submission max score>

* In Grades > Import > CSV file, choose "Map from" = ``Student`` and "Map to" = the user
  field the file names carry (username, ID number or email address); map each exercise column
  to an existing grade item or "New grade item", and ``Total``/``Max total`` to "Ignore"
  (Moodle cannot import into the course total).
* Submissions without a student id are left out: Moodle stops the whole import at a row whose
  user it cannot find, and a row with an empty identifier would be given to the previous
  student. The text or JSON report still lists them.
* Sources: MoodleDocs "Grade import" (CSV import, "Map from"/"Map to": userid, useridnumber,
  useremail, username); Moodle ``grade/import/csv/classes/load_data.php``
  (``prepare_import_grade_data``: "User not found, abort whole import").

Both: UTF-8, comma separated, RFC 4180 quoting by the :mod:`csv` module, a header row. Text
cells (names, ids, titles) starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
leading apostrophe so spreadsheets do not run them as formulas (student ids come from file
names); numbers are written as plain numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from grader.model import SubmissionResult
from grader.report.text import one_line

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["CANVAS_ID_COLUMNS", "Layout", "render", "rows", "safe_cell"]

Layout = Literal["canvas", "moodle"]
CANVAS_ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not evaluate: formula-like text gets a leading ``'``."""
    text = one_line(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"score is not a finite number: {value!r}")
    s = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _exercise_columns(results: Sequence[SubmissionResult]) -> dict[str, float]:
    """Exercise id -> max score (from its first appearance), in order of first appearance."""
    columns: dict[str, float] = {}
    for r in results:
        if r.status == "invalid":
            continue
        for ex in r.exercises:
            columns.setdefault(ex.id, ex.max_score)
    return columns


def _scores(result: SubmissionResult, ids: Sequence[str]) -> list[str]:
    if result.status == "invalid":
        return ["" for _ in ids]
    by_id: dict[str, float] = {}
    for ex in result.exercises:
        by_id.setdefault(ex.id, ex.score)
    return [_number(by_id[i]) if i in by_id else "" for i in ids]


def _defuse(name: str) -> str:
    return name.replace("Points Possible", "Points_Possible")


def rows(results: Sequence[SubmissionResult], layout: Layout = "canvas") -> list[list[str]]:
    """The table, header first, as strings (what :func:`render` writes)."""
    if layout == "moodle":
        results = [r for r in results if r.student and one_line(r.student)]
    columns = _exercise_columns(results)
    ids = list(columns)
    headers = [safe_cell(i) for i in ids]
    table: list[list[str]] = []
    if layout == "canvas":
        table.append([*CANVAS_ID_COLUMNS, *headers, "Final Points"])
        blank_ids = [""] * (len(CANVAS_ID_COLUMNS) - 1)
        table.append(
            ["Points Possible", *blank_ids, *(_number(m) for m in columns.values()), "(read only)"]
        )
        for r in results:
            student = _defuse(safe_cell(r.student)) if r.student else ""
            name = student or _defuse(safe_cell(r.path))
            table.append([name, "", "", student, "", *_scores(r, ids), _number(r.score)])
    elif layout == "moodle":
        table.append(["Student", *headers, "Total", "Max total"])
        for r in results:
            table.append(
                [
                    safe_cell(r.student or ""),
                    *_scores(r, ids),
                    _number(r.score),
                    _number(r.max_score),
                ]
            )
    else:
        raise ValueError(f"unknown CSV layout {layout!r}; choose 'canvas' or 'moodle'")
    return table


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: RFC 4180 quoting, CRLF line ends
    writer.writerows(rows(results, options.csv_layout))
    return buffer.getvalue()
