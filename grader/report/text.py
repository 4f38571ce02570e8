"""The ``text`` report: a plain table per submission, for terminals and e-mails.

For each submission: a header line (path, student, edition, ``score/max_score``, or
``INVALID: <error>``), one row per exercise (id, title, ``3/4``, status word, ``needs review``)
with its feedback lines indented and wrapped below, its diagnoses as ``[diagnosis-id]`` and,
with ``show_checks``, one line per check. Then the execution problems in plain words (errors by
cell, whether the notebook was stopped, the runner's notes). With several submissions a final
``summary:`` line gives the graded and invalid counts and the mean score of the graded ones.

Student-derived text (feedback quoting output, error values, file names) is stripped of ANSI
escapes and control characters, so colour codes only appear when ``color=True``.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from grader.model import ExecutionSummary, ExerciseResult, Status, SubmissionResult
from grader.report.json_report import clean_str, feedback_of
from grader.report.warnings import batch_warnings

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["clean", "fmt_num", "killed_words", "one_line", "render"]

WIDTH = 100
_INDENT = " " * 6

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_RESET = "\x1b[0m"
_COLORS: dict[str, str] = {
    "pass": "\x1b[32m",  # green
    "partial": "\x1b[33m",  # yellow
    "fail": "\x1b[31m",  # red
    "error": "\x1b[31m",  # red
    "missing": "\x1b[2m",  # dim
    "invalid": "\x1b[31m",  # red
}

_KILLED = {
    "timeout": "timeout (it ran longer than the time limit)",
    "memory": "memory (it used more memory than allowed)",
    "crashed": "crashed (the Python kernel died)",
}


def clean(text: str) -> str:
    """Text safe for a terminal: no ANSI escapes, no control characters but tab and newline."""
    text = _ANSI.sub("", clean_str(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """``clean`` text with all whitespace runs (newlines too) collapsed to one space."""
    return " ".join(clean(text).split())


def fmt_num(value: float) -> str:
    """A score for humans: at most 2 decimals, no trailing zeros (3, 2.5, 0.33)."""
    if not math.isfinite(value):
        return str(value)
    s = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def killed_words(killed: str) -> str:
    return "the notebook was stopped: " + _KILLED.get(killed, killed)


def execution_problems(execution: ExecutionSummary | None) -> list[str]:
    """Plain-words lines about errors, a stopped notebook and the runner's notes."""
    if execution is None:
        return []
    lines = [
        ": ".join(
            part for part in (f"cell {e.cell}", one_line(e.ename), one_line(e.evalue)) if part
        )
        for e in execution.errors
    ]
    if execution.killed:
        lines.append(killed_words(execution.killed))
    lines.extend(f"note: {one_line(n)}" for n in execution.notes)
    return lines


def _paint(text: str, key: str, color: bool) -> str:
    return f"{_COLORS[key]}{text}{_RESET}" if color and key in _COLORS else text


def _wrap(lines: Iterable[str], indent: str = _INDENT) -> list[str]:
    out: list[str] = []
    for line in lines:
        for part in clean(line).split("\n"):
            if not part.strip():
                continue
            out.extend(
                textwrap.wrap(
                    part.strip(),
                    width=WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + "  ",
                    break_on_hyphens=False,
                )
            )
    return out


def _title(title: str, limit: int = 40) -> str:
    title = one_line(title)
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _header(result: SubmissionResult, color: bool) -> str:
    name = one_line(result.path)
    if result.student and one_line(result.student) != name:
        name += f" (student {one_line(result.student)})"
    if result.status == "invalid":
        error = one_line(result.error or "") or "the submission could not be read"
        return f"{name}: {_paint('INVALID', 'invalid', color)}: {error}"
    edition = result.edition or "edition unknown"
    return f"{name}  {edition}  {fmt_num(result.score)}/{fmt_num(result.max_score)}"


def _exercise_rows(exercises: Sequence[ExerciseResult], options: ReportOptions) -> list[str]:
    ids = [one_line(e.id) for e in exercises]
    titles = [_title(e.title) for e in exercises]
    scores = [f"{fmt_num(e.score)}/{fmt_num(e.max_score)}" for e in exercises]
    id_w = max(map(len, ids))
    title_w = max(map(len, titles))
    score_w = max(map(len, scores))
    status_w = max(len(s) for s in ("partial", "missing"))
    rows: list[str] = []
    for ex, ex_id, title, score in zip(exercises, ids, titles, scores, strict=True):
        status: Status = ex.status
        row = f"  {ex_id:<{id_w}}  {title:<{title_w}}  {score:>{score_w}}  "
        word = f"{status:<{status_w}}" if ex.needs_review else status
        row += _paint(word, status, options.color)
        if ex.needs_review:
            row += "  needs review"
        rows.append(row.rstrip())
        rows.extend(_wrap(feedback_of(ex, options.public_only)))
        if ex.diagnoses:
            rows.extend(_wrap([" ".join(f"[{one_line(d)}]" for d in ex.diagnoses)]))
        if options.show_checks:
            for c in ex.checks:
                if options.public_only and not c.public:
                    continue
                verdict = "passed" if c.passed else "failed"
                extra = "" if c.public else " (hidden)"
                rows.extend(
                    _wrap(
                        [
                            f"check {c.check} ({c.type}): {fmt_num(c.score)}/"
                            f"{fmt_num(c.max_score)} {verdict}{extra}"
                        ]
                    )
                )
    return rows


def _submission(result: SubmissionResult, options: ReportOptions) -> list[str]:
    lines = [_header(result, options.color)]
    if result.status == "invalid":
        return lines
    if result.exercises:
        lines.extend(_exercise_rows(result.exercises, options))
    else:
        lines.append("  (no exercises)")
    if result.diagnoses:
        lines.extend(
            _wrap(["diagnoses: " + " ".join(f"[{one_line(d)}]" for d in result.diagnoses)], "  ")
        )
    problems = execution_problems(result.execution)
    if problems:
        seconds = result.execution.seconds if result.execution else 0.0
        lines.append(f"  running the notebook ({seconds:.1f} s):")
        lines.extend(_wrap(problems, "    "))
    return lines


def summary_line(results: Sequence[SubmissionResult]) -> str:
    graded = [r for r in results if r.status == "graded"]
    invalid = len(results) - len(graded)
    text = f"summary: {len(results)} submissions, graded {len(graded)}, invalid {invalid}, "
    if not graded:
        return text + "mean score n/a"
    mean = fmt_num(sum(r.score for r in graded) / len(graded))
    maxima = {round(r.max_score, 2) for r in graded}
    if len(maxima) == 1:
        return text + f"mean score {mean}/{fmt_num(graded[0].max_score)}"
    return text + f"mean score {mean} (maximum scores differ)"


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    if not results:
        return "no submissions\n"
    blocks = ["\n".join(_submission(r, options)) for r in results]
    if len(results) > 1:
        blocks.append(summary_line(results))
    warnings = [f"warning: {w.message}" for w in batch_warnings(results)]
    if warnings:
        blocks.append("\n".join(_wrap(warnings, "")))
    return "\n\n".join(blocks) + "\n"
