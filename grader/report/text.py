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
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from grader.i18n import N_, Translator, language_of, translator
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
    "timeout": N_("timeout (it ran longer than the time limit)"),
    "memory": N_("memory (it used more memory than allowed)"),
    "crashed": N_("crashed (the Python kernel died)"),
}
_STATUS = {
    "pass": N_("pass"),
    "partial": N_("partial"),
    "fail": N_("fail"),
    "missing": N_("missing"),
    "error": N_("error"),
}
_ENGLISH = Translator("en", {})


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


def killed_words(killed: str, t: Translator = _ENGLISH) -> str:
    return t.format(
        N_("the notebook was stopped: {why}"), why=t.gettext(_KILLED.get(killed, killed))
    )


def execution_problems(execution: ExecutionSummary | None, t: Translator = _ENGLISH) -> list[str]:
    """Plain-words lines about errors, a stopped notebook and the runner's notes."""
    if execution is None:
        return []
    lines = [
        ": ".join(
            part
            for part in (
                t.format(N_("cell {cell}"), cell=e.cell),
                one_line(e.ename),
                one_line(e.evalue),
            )
            if part
        )
        for e in execution.errors
    ]
    if execution.killed:
        lines.append(killed_words(execution.killed, t))
    lines.extend(t.format(N_("note: {note}"), note=t.text(one_line(n))) for n in execution.notes)
    return lines


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def _paint(text: str, key: str, color: bool) -> str:
    return f"{_COLORS[key]}{text}{_RESET}" if color and key in _COLORS else text


def _wrap(lines: Iterable[str], indent: str = _INDENT) -> list[str]:
    out: list[str] = []
    for line in lines:
        for part in clean(line).split("\n"):
            if not part.strip():
                continue
            wide = width(part) - len(part)  # Chinese text: fewer characters per line
            out.extend(
                textwrap.wrap(
                    part.strip(),
                    width=WIDTH if not wide else max(40, WIDTH - wide * WIDTH // width(part)),
                    initial_indent=indent,
                    subsequent_indent=indent + "  ",
                    break_on_hyphens=False,
                )
            )
    return out


def _title(title: str, limit: int = 40) -> str:
    title = one_line(title)
    if width(title) <= limit:
        return title
    while width(title) > limit - 1:
        title = title[:-1]
    return title + "…"


def _header(result: SubmissionResult, color: bool, t: Translator = _ENGLISH) -> str:
    name = one_line(result.path)
    if result.student and one_line(result.student) != name:
        name += " " + t.format(N_("(student {student})"), student=one_line(result.student))
    if result.status == "invalid":
        error = one_line(result.error or "") or t.gettext(N_("the submission could not be read"))
        invalid = t.gettext(N_("INVALID"))
        return f"{name}: {_paint(invalid, 'invalid', color)}: {error}"
    edition = result.edition or t.gettext(N_("edition unknown"))
    return f"{name}  {edition}  {fmt_num(result.score)}/{fmt_num(result.max_score)}"


def _exercise_rows(
    exercises: Sequence[ExerciseResult], options: ReportOptions, t: Translator = _ENGLISH
) -> list[str]:
    ids = [one_line(e.id) for e in exercises]
    titles = [_title(e.title) for e in exercises]
    scores = [f"{fmt_num(e.score)}/{fmt_num(e.max_score)}" for e in exercises]
    words = {k: t.gettext(v) for k, v in _STATUS.items()}
    id_w = max(map(len, ids))
    title_w = max(map(width, titles))
    score_w = max(map(len, scores))
    status_w = max(width(words[s]) for s in ("partial", "missing"))
    rows: list[str] = []
    for ex, ex_id, title, score in zip(exercises, ids, titles, scores, strict=True):
        status: Status = ex.status
        row = f"  {ex_id:<{id_w}}  {_pad(title, title_w)}  {score:>{score_w}}  "
        word = words.get(status, status)
        word = _pad(word, status_w) if ex.needs_review else word
        row += _paint(word, status, options.color)
        if ex.needs_review:
            row += "  " + t.gettext(N_("needs review"))
        rows.append(row.rstrip())
        rows.extend(_wrap(feedback_of(ex, options.public_only)))
        if ex.diagnoses:
            rows.extend(_wrap([" ".join(f"[{one_line(d)}]" for d in ex.diagnoses)]))
        if options.show_checks:
            for c in ex.checks:
                if options.public_only and not c.public:
                    continue
                verdict = t.gettext(N_("passed") if c.passed else N_("failed"))
                extra = "" if c.public else " " + t.gettext(N_("(hidden)"))
                rows.extend(
                    _wrap(
                        [
                            t.format(N_("check {check} ({type}):"), check=c.check, type=c.type)
                            + f" {fmt_num(c.score)}/{fmt_num(c.max_score)} {verdict}{extra}"
                        ]
                    )
                )
    return rows


def student_translator(result: SubmissionResult, options: ReportOptions) -> Translator:
    """The translator into the language a student's own report is shown in (``lang``)."""
    dirs = tuple(options.locale_dirs) or None
    return translator(language_of(result, options.lang), dirs)


def _submission(result: SubmissionResult, options: ReportOptions) -> list[str]:
    t = student_translator(result, options)
    result = t.localise(result)
    lines = [_header(result, options.color, t)]
    if result.status == "invalid":
        return lines
    if result.exercises:
        lines.extend(_exercise_rows(result.exercises, options, t))
    else:
        lines.append("  " + t.gettext(N_("(no exercises)")))
    if result.diagnoses:
        lines.extend(
            _wrap(
                [
                    t.gettext(N_("diagnoses:"))
                    + " "
                    + " ".join(f"[{one_line(d)}]" for d in result.diagnoses)
                ],
                "  ",
            )
        )
    problems = execution_problems(result.execution, t)
    if problems:
        seconds = result.execution.seconds if result.execution else 0.0
        lines.append(
            "  " + t.format(N_("running the notebook ({seconds} s):"), seconds=f"{seconds:.1f}")
        )
        lines.extend(_wrap(problems, "    "))
    return lines


def summary_line(results: Sequence[SubmissionResult], t: Translator = _ENGLISH) -> str:
    graded = [r for r in results if r.status == "graded"]
    invalid = len(results) - len(graded)
    text = t.format(
        N_("summary: {n} submissions, graded {graded}, invalid {invalid},"),
        n=len(results),
        graded=len(graded),
        invalid=invalid,
    )
    if not graded:
        return text + " " + t.gettext(N_("mean score n/a"))
    mean = fmt_num(sum(r.score for r in graded) / len(graded))
    maxima = {round(r.max_score, 2) for r in graded}
    if len(maxima) == 1:
        return (
            text
            + " "
            + t.format(N_("mean score {mean}"), mean=f"{mean}/{fmt_num(graded[0].max_score)}")
        )
    return text + " " + t.format(N_("mean score {mean} (maximum scores differ)"), mean=mean)


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    """Each submission in its student's language (``options.lang``); the summary line, the
    instructor's, in ``options.report_lang``."""
    report = translator(options.report_lang, tuple(options.locale_dirs) or None)
    if not results:
        return report.gettext(N_("no submissions")) + "\n"
    blocks = ["\n".join(_submission(r, options)) for r in results]
    if len(results) > 1:
        blocks.append(summary_line(results, report))
    warnings = [f"warning: {w.message}" for w in batch_warnings(results)]
    if warnings:
        blocks.append("\n".join(_wrap(warnings, "")))
    return "\n\n".join(blocks) + "\n"
