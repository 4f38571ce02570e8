"""HTML pages of the instructor's class report (written to disk by :mod:`grader.report.site`).

:func:`render_index` gives the class page: summary line, a histogram of the scores (percent of
the maximum), the pass rate per exercise (share of the graded submissions with status ``pass``,
stacked with ``partial``) as a chart and a table, the most frequent diagnoses with how many
submissions have them and up to three example students, and a per-student table whose column
headers sort it (numbers numerically, click again to reverse; ``aria-sort`` says which way).
:func:`render_student` gives one submission's feedback page.

Pages are Jinja2 templates (grader/templates/report/, autoescaping on) shared with the
review app. They are self-contained: CSS and the sorting script are inline, charts are PNG
images drawn with matplotlib's Agg renderer (no pyplot state) and embedded as ``data:``
URIs, and a Content-Security-Policy forbids any network access and any script but the page's
own. All text that comes from submissions (student ids, file names, feedback quoting output,
error messages) is escaped; student ids become file names with :func:`student_slugs`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import quote

from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grader.i18n import N_, Translator
from grader.model import ExerciseResult, SubmissionResult
from grader.report.json_report import feedback_of, without_expected
from grader.report.text import clean, execution_problems, killed_words, one_line
from grader.report.warnings import batch_warnings
from grader.templates import asset, csp_hash, environment

__all__ = [
    "Decision",
    "ExerciseStats",
    "diagnosis_counts",
    "exercise_stats",
    "percent",
    "render_index",
    "render_student",
    "slugify",
    "student_name",
    "student_slugs",
]

TOP_DIAGNOSES = 15  # rows in the "most frequent diagnoses" table
EXAMPLES_PER_DIAGNOSIS = 3
_SLUG_MAX = 60
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
_COLORS = {"pass": "#2e7d32", "partial": "#f9a825", "fail": "#c62828"}
_CSS = "report/report.css"  # assets of grader/templates
_SORT_JS = "report/sort.js"

# --------------------------------------------------------------------------- names


def student_name(result: SubmissionResult) -> str:
    """The name shown for a submission: its student id, else its file name."""
    if result.student and one_line(result.student):
        return one_line(result.student)
    return one_line(PurePath(result.path).name) or one_line(result.path) or "(unnamed)"


def slugify(text: str) -> str:
    """A safe file name stem for ``text``: lower-case ASCII letters, digits, ``-``, ``_``, ``.``.

    Accents are dropped (``José`` -> ``jose``); text with no usable character gets a stable
    ``student-<hash>`` name.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_text.lower()).strip("-._")
    slug = slug[:_SLUG_MAX].strip("-._")
    if not slug:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"student-{digest}"
    if slug.split(".")[0] in _WINDOWS_RESERVED:
        slug = "student-" + slug
    return slug


def student_slugs(results: Sequence[SubmissionResult]) -> list[str]:
    """One unique file name stem per submission, in order (``alice``, ``alice-2``, ...).

    Uniqueness ignores case, so the pages also work on case-insensitive file systems.
    """
    used: set[str] = set()
    slugs: list[str] = []
    for result in results:
        base = slugify(student_name(result))
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        slugs.append(slug)
    return slugs


@dataclass(frozen=True)
class Decision:
    """An instructor's decision in force on one answer (from the gradebook's overrides),
    shown by the class page and the feedback page when the caller passes them."""

    student: str
    exercise: str
    score: float
    kind: str  # accept | score | comment | command
    author: str
    created_at: str
    reason: str
    recheck: bool = False  # the grader's verdict changed since


# --------------------------------------------------------------------------- statistics


def percent(result: SubmissionResult) -> float | None:
    """Score as a percentage of the maximum; None for invalid or zero-maximum submissions."""
    if result.status != "graded" or not result.max_score > 0 or not math.isfinite(result.score):
        return None
    return 100.0 * result.score / result.max_score


@dataclass(frozen=True)
class ExerciseStats:
    id: str
    title: str
    max_score: float
    graded: int  # graded submissions that have this exercise
    passed: int
    partial: int
    mean_score: float

    @property
    def pass_rate(self) -> float:
        return 100.0 * self.passed / self.graded if self.graded else 0.0

    @property
    def partial_rate(self) -> float:
        return 100.0 * self.partial / self.graded if self.graded else 0.0


def exercise_stats(results: Sequence[SubmissionResult]) -> list[ExerciseStats]:
    """Per exercise (in order of first appearance): counts of pass and partial statuses."""
    found: dict[str, list[ExerciseResult]] = {}
    for result in results:
        if result.status != "graded":
            continue
        seen: set[str] = set()
        for ex in result.exercises:
            if ex.id not in seen:
                seen.add(ex.id)
                found.setdefault(ex.id, []).append(ex)
    stats = []
    for ex_id, exercises in found.items():
        first = exercises[0]
        stats.append(
            ExerciseStats(
                id=ex_id,
                title=first.title,
                max_score=first.max_score,
                graded=len(exercises),
                passed=sum(1 for e in exercises if e.status == "pass"),
                partial=sum(1 for e in exercises if e.status == "partial"),
                mean_score=sum(e.score for e in exercises) / len(exercises),
            )
        )
    return stats


def _diagnoses_of(result: SubmissionResult) -> dict[str, int | None]:
    """Diagnosis -> 1-based index of the first exercise that has it (None: submission-wide)."""
    out: dict[str, int | None] = {}
    for number, ex in enumerate(result.exercises, start=1):
        for d in ex.diagnoses:
            out.setdefault(d, number)
    for d in result.diagnoses:
        out.setdefault(d, None)
    return out


def diagnosis_counts(
    results: Sequence[SubmissionResult],
) -> list[tuple[str, list[tuple[int, int | None]]]]:
    """Diagnoses by number of submissions that have them (most frequent first, then by name).

    Each comes with its submissions as ``(index in results, exercise number or None)``.
    """
    where: dict[str, list[tuple[int, int | None]]] = {}
    for i, result in enumerate(results):
        for diagnosis, exercise in _diagnoses_of(result).items():
            where.setdefault(diagnosis, []).append((i, exercise))
    return sorted(where.items(), key=lambda item: (-len(item[1]), item[0]))


# --------------------------------------------------------------------------- charts


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(text: str, limit: int = 28) -> str:
    text = one_line(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")  # no mathtext


def histogram_png(percents: Sequence[float]) -> str:
    """A histogram of scores (0-100 %, bins of 10 %) as a PNG ``data:`` URI.

    Scores above the maximum (extra credit) are counted in the last bin, below 0 in the first.
    """
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.add_subplot()
    values = [min(100.0, max(0.0, p)) for p in percents]
    ax.hist(values, bins=[10.0 * i for i in range(11)], color="#1565c0", edgecolor="white")
    if values:
        mean = sum(values) / len(values)
        ax.axvline(mean, color="#424242", linestyle="--", linewidth=1.2)
        ax.legend([f"mean {mean:.0f}%"], loc="upper left", frameon=False)
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (% of maximum)")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def pass_rate_png(stats: Sequence[ExerciseStats]) -> str:
    """Horizontal stacked bars: % pass and % partial per exercise, as a PNG ``data:`` URI."""
    fig = Figure(figsize=(6.4, 1.2 + 0.38 * len(stats)), layout="constrained")
    ax = fig.add_subplot()
    labels = [_label(s.id) for s in stats]
    positions = list(range(len(stats)))
    passed = [s.pass_rate for s in stats]
    partial = [s.partial_rate for s in stats]
    ax.barh(positions, passed, color=_COLORS["pass"], label="pass")
    ax.barh(positions, partial, left=passed, color=_COLORS["partial"], label="partial")
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded submissions")
    ax.legend(loc="lower right", ncols=2, frameon=False, bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# --------------------------------------------------------------------------- pages


def _csp(script: str | None) -> Markup:
    """The pages' policy: no network, their own stylesheet and script and nothing else."""
    csp = f"default-src 'none'; img-src data:; style-src '{csp_hash(asset(_CSS))}'; " + (
        f"script-src '{csp_hash(script)}'; " if script else "script-src 'none'; "
    )
    return Markup(csp + "base-uri 'none'; form-action 'none'")


def _render(template: str, *, script: str | None = None, **context: object) -> str:
    return (
        environment()
        .get_template(template)
        .render(
            csp=_csp(script),
            css=Markup(asset(_CSS)),
            script=Markup(script) if script else None,
            one_line=one_line,
            **context,
        )
    )


def _status_word(result: SubmissionResult) -> tuple[str, str]:
    """(css class, text) of a submission's state."""
    if result.status == "invalid":
        return "invalid", "invalid"
    if result.execution is not None and result.execution.killed:
        return "stopped", f"stopped: {result.execution.killed}"
    return "graded", "graded"


def _feedback_href(slug: str, exercise: int | None = None) -> str:
    href = f"feedback/{quote(slug)}.html"
    return href if exercise is None else f"{href}#ex-{exercise}"


def _exercises_by_id(result: SubmissionResult) -> dict[str, ExerciseResult]:
    by_id: dict[str, ExerciseResult] = {}
    for ex in result.exercises:
        by_id.setdefault(ex.id, ex)
    return by_id


_ENGLISH = Translator("en", {})
_WORDS = {
    "back": N_("Class report"),
    "submission": N_("Submission"),
    "invalid": N_("Invalid submission:"),
    "not_run": N_("It was not run or graded."),
    "annotated": N_("Annotated notebook"),
    "annotated_note": N_("(your notebook with this feedback after each exercise)"),
    "no_notebook": N_("No annotated notebook:"),
    "review": N_("The instructor will review:"),
    "diagnoses": N_("Diagnoses:"),
    "no_exercises": N_("No exercises."),
    "running": N_("Running the notebook"),
    "needs_review": N_("needs review"),
    "unsure": N_(
        "The grader could not decide this exercise with confidence; the instructor will look at it."
    ),
    "unreadable": N_("the submission could not be read"),
    # templates, formatted in the page
    "feedback_for": N_("Feedback for {name}"),
    "title": N_("Feedback: {name}"),
    "total": N_("Total: {score}"),
    "exercises": N_("Exercises ({n})"),
}


def _words(t: Translator) -> dict[str, str]:
    """The student page's fixed words (and ``{field}`` templates) in ``t``'s language; the
    template escapes them."""
    return {key: t.gettext(text) for key, text in _WORDS.items()}


def render_index(
    results: Sequence[SubmissionResult],
    *,
    title: str = "Class report",
    slugs: Sequence[str] | None = None,
    csv_href: str | None = "grades.csv",
    decisions: Sequence[Decision] = (),
) -> str:
    """The class page. ``slugs`` (default :func:`student_slugs`) name the feedback pages;
    ``decisions`` (the instructors' overrides in force) get a table of their own."""
    slugs = list(slugs) if slugs is not None else student_slugs(results)
    if len(slugs) != len(results):
        raise ValueError("render_index: one slug per result is needed")
    percents = [p for p in map(percent, results) if p is not None]
    ordered = sorted(percents)
    mean = median = None
    if ordered:
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        mean = sum(ordered) / len(ordered)
    stats = exercise_stats(results)
    return _render(
        "report/index.html",
        script=asset(_SORT_JS),
        title=title,
        results=results,
        names=[student_name(r) for r in results],
        slugs=slugs,
        graded=sum(1 for r in results if r.status == "graded"),
        mean=mean,
        median=median,
        csv_href=csv_href,
        percents=percents,
        left_out=len(results) - len(percents),
        histogram=histogram_png(percents) if percents else "",
        stats=stats,
        pass_rate=pass_rate_png(stats) if stats else "",
        diagnoses=diagnosis_counts(results),
        top=TOP_DIAGNOSES,
        examples=EXAMPLES_PER_DIAGNOSIS,
        feedback_href=_feedback_href,
        status_word=_status_word,
        percent=percent,
        exercises_by_id=_exercises_by_id,
        decisions=decisions,
        slug_of=dict(zip((student_name(r) for r in results), slugs, strict=True)),
        warnings=batch_warnings(results),
    )


def render_student(
    result: SubmissionResult,
    *,
    index_href: str = "../index.html",
    notebook_href: str | None = None,
    notebook_note: str | None = None,
    public_only: bool = False,
    hide_expected: bool = False,
    decisions: Sequence[Decision] = (),
    t: Translator = _ENGLISH,
) -> str:
    """One submission's feedback page, in the language of translator ``t`` (its chrome and,
    through ``t.localise``, its titles and feedback).

    ``notebook_href`` links the annotated notebook; ``notebook_note`` says why there is none.
    ``decisions`` (this student's overrides in force) say who decided a score, and when.
    """

    def feedback_lines(ex: ExerciseResult) -> list[str]:
        return [line for line in feedback_of(ex, public_only) if clean(line).strip()]

    # the expected values are hidden on the English text, before it is translated
    result = t.localise(without_expected(result) if hide_expected else result)
    name = student_name(result)
    return _render(
        "report/student.html",
        lang=t.lang,
        w=_words(t),
        tf=t.format,
        status_word=t.gettext,
        result=result,
        name=name,
        index_href=index_href,
        notebook_href=notebook_href,
        notebook_note=notebook_note,
        pct=percent(result),
        problems=execution_problems(result.execution, t) if result.execution else [],
        killed_words=lambda killed: killed_words(killed, t),
        feedback_lines=feedback_lines,
        decided={d.exercise: d for d in decisions},
    )
