"""HTML pages of the instructor's class report (written to disk by :mod:`grader.report.site`).

:func:`render_index` gives the class page: summary line, a histogram of the scores (percent of
the maximum), the pass rate per exercise (share of the graded submissions with status ``pass``,
stacked with ``partial``) as a chart and a table, the most frequent diagnoses with how many
submissions have them and up to three example students, and a per-student table whose column
headers sort it (numbers numerically, click again to reverse; ``aria-sort`` says which way).
:func:`render_student` gives one submission's feedback page.

Pages are self-contained: CSS and the sorting script are inline, charts are PNG images drawn
with matplotlib's Agg renderer (no pyplot state) and embedded as ``data:`` URIs, and a
Content-Security-Policy forbids any network access and any script but the page's own. All text
that comes from submissions (student ids, file names, feedback quoting output, error messages)
is escaped; student ids become file names with :func:`student_slugs`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import quote

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grader.i18n import N_, Translator
from grader.model import ExerciseResult, SubmissionResult
from grader.report.json_report import feedback_of
from grader.report.text import clean, execution_problems, fmt_num, killed_words, one_line

__all__ = [
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


# --------------------------------------------------------------------------- HTML helpers


def _e(text: str) -> str:
    """One line of text, escaped for HTML text and attribute values."""
    return html.escape(one_line(text), quote=True)


def _multiline(text: str) -> str:
    return html.escape(clean(text).strip("\n"), quote=True)


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--pass:#2e7d32;
--partial:#8a6100;--fail:#c62828;--link:#0b5cad}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
margin:0 auto;padding:1rem 1.5rem 3rem;max-width:1200px}
a{color:var(--link)}
h1{font-size:1.6rem;margin:.4rem 0}
h2{font-size:1.2rem;margin:1.8rem 0 .6rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
h3{font-size:1.05rem;margin:0 0 .3rem}
.muted,.note{color:var(--muted)}
img.chart{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.3rem .55rem;text-align:left;vertical-align:top}
thead th{background:var(--bg);position:sticky;top:0}
td.num,th.num{text-align:right}
.wrap{overflow-x:auto}
th button{font:inherit;font-weight:600;border:0;background:none;padding:0;cursor:pointer;
color:inherit;text-align:inherit}
th button::after{content:" \\2195";color:var(--muted)}
th[aria-sort=ascending] button::after{content:" \\2191"}
th[aria-sort=descending] button::after{content:" \\2193"}
.pass{color:var(--pass)}.partial{color:var(--partial)}
.fail,.error,.invalid,.stopped{color:var(--fail)}.missing{color:var(--muted)}
.err{display:block;color:var(--fail);font-size:.85em;max-width:40ch}
.review{color:#6a1b9a;font-weight:600}
code{font-size:.9em;background:var(--bg);padding:0 .25em;border-radius:3px}
.exercise{border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;margin:.8rem 0}
.feedback li{white-space:pre-wrap}
pre{white-space:pre-wrap;background:var(--bg);padding:.5rem;border-radius:4px;margin:.3rem 0}
"""

_SORT_JS = """
(() => {
  const table = document.getElementById("students");
  if (!table) return;
  const heads = Array.from(table.tHead.rows[0].cells);
  const body = table.tBodies[0];
  const key = (row, col) => {
    const cell = row.cells[col];
    if (!cell) return "";
    const v = cell.dataset.v;
    return v === undefined ? cell.textContent.trim() : v;
  };
  heads.forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const asc = th.getAttribute("aria-sort") !== "ascending";
      const num = th.dataset.type === "num";
      for (const h of heads) if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      const rows = Array.from(body.rows).map((row, i) => [row, key(row, col), i]);
      rows.sort((a, b) => {
        const x = a[1], y = b[1];
        if (x === "" || y === "") return x === y ? a[2] - b[2] : (x === "" ? 1 : -1);
        let c = num ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
        if (!asc) c = -c;
        return c || a[2] - b[2];
      });
      for (const [row] of rows) body.appendChild(row);
    });
  });
})();
"""


def _page(title: str, body: str, *, script: str | None = None, lang: str = "en") -> str:
    csp = f"default-src 'none'; img-src data:; style-src '{_sha256(_CSS)}'; " + (
        f"script-src '{_sha256(script)}'; " if script else "script-src 'none'; "
    )
    csp += "base-uri 'none'; form-action 'none'"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(lang, quote=True)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        '<link rel="icon" href="data:,">',
        f"<title>{title}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        body,
    ]
    if script:
        parts.append(f"<script>{script}</script>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _status_word(result: SubmissionResult) -> tuple[str, str]:
    """(css class, text) of a submission's state."""
    if result.status == "invalid":
        return "invalid", "invalid"
    if result.execution is not None and result.execution.killed:
        return "stopped", f"stopped: {result.execution.killed}"
    return "graded", "graded"


def _score_text(score: float, max_score: float) -> str:
    return f"{fmt_num(score)}/{fmt_num(max_score)}"


def _feedback_href(slug: str, exercise: int | None = None) -> str:
    href = f"feedback/{quote(slug)}.html"
    return href if exercise is None else f"{href}#ex-{exercise}"


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
}


def _words(t: Translator) -> dict[str, str]:
    """The student page's fixed words in ``t``'s language, HTML-escaped."""
    return {key: _e(t.gettext(text)) for key, text in _WORDS.items()}


# --------------------------------------------------------------------------- index page


def render_index(
    results: Sequence[SubmissionResult],
    *,
    title: str = "Class report",
    slugs: Sequence[str] | None = None,
    csv_href: str | None = "grades.csv",
) -> str:
    """The class page. ``slugs`` (default :func:`student_slugs`) name the feedback pages."""
    slugs = list(slugs) if slugs is not None else student_slugs(results)
    if len(slugs) != len(results):
        raise ValueError("render_index: one slug per result is needed")
    graded = [r for r in results if r.status == "graded"]
    percents = [p for p in map(percent, results) if p is not None]
    stats = exercise_stats(results)
    body = [
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted" id="summary">{_summary(results, graded, percents)}'
        + (f' &middot; <a href="{html.escape(csv_href)}">grades.csv</a>' if csv_href else "")
        + "</p>",
        "</header>",
        _histogram_section(percents, len(results) - len(percents)),
        _exercise_section(stats),
        _diagnosis_section(results, slugs),
        _student_section(results, slugs, stats),
    ]
    return _page(_e(title), "\n".join(body), script=_SORT_JS)


def _summary(
    results: Sequence[SubmissionResult],
    graded: Sequence[SubmissionResult],
    percents: Sequence[float],
) -> str:
    invalid = len(results) - len(graded)
    text = f"{len(results)} submissions: {len(graded)} graded, {invalid} invalid"
    if percents:
        ordered = sorted(percents)
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        mean = sum(ordered) / len(ordered)
        text += f" &middot; mean {fmt_num(mean)}% &middot; median {fmt_num(median)}%"
    return text


def _histogram_section(percents: Sequence[float], left_out: int) -> str:
    out = ['<section id="distribution">', "<h2>Score distribution</h2>"]
    if percents:
        alt = f"Histogram of the scores of {len(percents)} graded submissions, in % of maximum"
        out.append(
            f'<img class="chart" id="histogram" src="{histogram_png(percents)}" alt="{alt}">'
        )
        if left_out:
            out.append(
                f'<p class="note">{left_out} submission(s) without a score (invalid, or a '
                "maximum of 0) are not in the histogram.</p>"
            )
    else:
        out.append('<p class="note">No graded submissions.</p>')
    out.append("</section>")
    return "\n".join(out)


def _exercise_section(stats: Sequence[ExerciseStats]) -> str:
    out = ['<section id="exercises">', "<h2>Pass rate per exercise</h2>"]
    if not stats:
        out += ['<p class="note">No exercises graded.</p>', "</section>"]
        return "\n".join(out)
    alt = "Bar chart: share of graded submissions with status pass, and partial, per exercise"
    out.append(f'<img class="chart" id="pass-rate" src="{pass_rate_png(stats)}" alt="{alt}">')
    out.append('<div class="wrap"><table id="exercise-table">')
    out.append(
        "<thead><tr><th>Exercise</th><th>Title</th><th class=num>Pass</th>"
        "<th class=num>Partial</th><th class=num>Graded</th><th class=num>Mean score</th>"
        "</tr></thead><tbody>"
    )
    for s in stats:
        out.append(
            f"<tr><td><code>{_e(s.id)}</code></td><td>{_e(s.title)}</td>"
            f'<td class="num pass">{s.passed} ({fmt_num(s.pass_rate)}%)</td>'
            f'<td class="num partial">{s.partial} ({fmt_num(s.partial_rate)}%)</td>'
            f"<td class=num>{s.graded}</td>"
            f"<td class=num>{_score_text(s.mean_score, s.max_score)}</td></tr>"
        )
    out.append("</tbody></table></div></section>")
    return "\n".join(out)


def _diagnosis_section(results: Sequence[SubmissionResult], slugs: Sequence[str]) -> str:
    counts = diagnosis_counts(results)
    out = ['<section id="diagnoses">', "<h2>Most frequent diagnoses</h2>"]
    if not counts:
        out += ['<p class="note">No diagnoses.</p>', "</section>"]
        return "\n".join(out)
    if len(counts) > TOP_DIAGNOSES:
        out.append(f'<p class="note">The {TOP_DIAGNOSES} most frequent of {len(counts)}.</p>')
    out.append('<div class="wrap"><table id="diagnosis-table">')
    out.append(
        "<thead><tr><th>Diagnosis</th><th class=num>Submissions</th><th>Examples</th></tr>"
        "</thead><tbody>"
    )
    for diagnosis, where in counts[:TOP_DIAGNOSES]:
        links = ", ".join(
            f'<a href="{_feedback_href(slugs[i], ex)}">{_e(student_name(results[i]))}</a>'
            for i, ex in where[:EXAMPLES_PER_DIAGNOSIS]
        )
        more = len(where) - EXAMPLES_PER_DIAGNOSIS
        if more > 0:
            links += f' <span class="muted">and {more} more</span>'
        out.append(
            f"<tr><td><code>{_e(diagnosis)}</code></td><td class=num>{len(where)}</td>"
            f"<td>{links}</td></tr>"
        )
    out.append("</tbody></table></div></section>")
    return "\n".join(out)


def _th(label: str, *, num: bool = False, title: str = "") -> str:
    attrs = ' data-type="num" class="num"' if num else ""
    if title:
        attrs += f' title="{title}"'
    return f'<th scope="col" aria-sort="none"{attrs}><button type="button">{label}</button></th>'


def _td(text: str, value: str | float | None = None, cls: str = "", title: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    if value is not None:
        v = value if isinstance(value, str) else repr(round(float(value), 6))
        attrs += f' data-v="{html.escape(v, quote=True)}"'
    elif cls.startswith("num"):
        attrs += ' data-v=""'
    if title:
        attrs += f' title="{title}"'
    return f"<td{attrs}>{text}</td>"


def _student_section(
    results: Sequence[SubmissionResult], slugs: Sequence[str], stats: Sequence[ExerciseStats]
) -> str:
    heads = [_th("Student"), _th("Score", num=True), _th("Percent", num=True), _th("Status")]
    for s in stats:
        label = f"{_e(s.id)} <span class=muted>/{fmt_num(s.max_score)}</span>"
        heads.append(_th(label, num=True, title=_e(s.title)))
    heads.append(_th("Review", num=True, title="needs review by the instructor"))
    out = [
        '<section id="students-section">',
        f"<h2>Students ({len(results)})</h2>",
        '<p class="note">Click a column header to sort; click again to reverse.</p>',
        '<div class="wrap"><table id="students">',
        f"<thead><tr>{''.join(heads)}</tr></thead>",
        "<tbody>",
    ]
    for result, slug in zip(results, slugs, strict=True):
        out.append(_student_row(result, slug, stats))
    out.append("</tbody></table></div></section>")
    return "\n".join(out)


def _student_row(result: SubmissionResult, slug: str, stats: Sequence[ExerciseStats]) -> str:
    name = student_name(result)
    cells = [_td(f'<a href="{_feedback_href(slug)}">{_e(name)}</a>', name.casefold())]
    cls, word = _status_word(result)
    if result.status == "invalid":
        error = one_line(result.error or "") or "the submission could not be read"
        cells += [_td("&mdash;", None, "num"), _td("&mdash;", None, "num")]
        cells.append(_td(f'invalid <span class="err">{_e(error)}</span>', "invalid", cls))
        cells += [_td("", None, "num") for _ in stats]
        cells.append(_td("", 0.0, "num"))
        return f"<tr>{''.join(cells)}</tr>"
    pct = percent(result)
    cells.append(_td(_score_text(result.score, result.max_score), result.score, "num"))
    cells.append(_td("&mdash;" if pct is None else f"{fmt_num(pct)}%", pct, "num"))
    cells.append(_td(_e(word), word, cls))
    by_id: dict[str, ExerciseResult] = {}
    for ex in result.exercises:
        by_id.setdefault(ex.id, ex)
    for s in stats:
        found = by_id.get(s.id)
        if found is None:
            cells.append(_td("", None, "num"))
        else:
            flag = " &#9873;" if found.needs_review else ""
            status = found.status
            cells.append(_td(f"{fmt_num(found.score)}{flag}", found.score, f"num {status}", status))
    review = [ex.id for ex in result.exercises if ex.needs_review]
    if review:
        what = "needs review: " + ", ".join(one_line(r) for r in review)
        cells.append(_td('<span class="review">&#9873; review</span>', 1.0, "num", _e(what)))
    else:
        cells.append(_td("", 0.0, "num"))
    return f"<tr>{''.join(cells)}</tr>"


# --------------------------------------------------------------------------- student page


def render_student(
    result: SubmissionResult,
    *,
    index_href: str = "../index.html",
    notebook_href: str | None = None,
    notebook_note: str | None = None,
    public_only: bool = False,
    t: Translator = _ENGLISH,
) -> str:
    """One submission's feedback page, in the language of translator ``t`` (its chrome and,
    through ``t.localise``, its titles and feedback).

    ``notebook_href`` links the annotated notebook; ``notebook_note`` says why there is none.
    """
    result = t.localise(result)
    w = _words(t)
    name = student_name(result)
    out = [
        f'<nav><a href="{html.escape(index_href, quote=True)}" id="back">&larr; '
        f"{w['back']}</a></nav>",
        "<h1>" + _e(t.format(N_("Feedback for {name}"), name=name)) + "</h1>",
        f'<p class="muted">{w["submission"]} <code>{_e(result.path)}</code>'
        + (f", {_e(result.edition)}" if result.edition else "")
        + "</p>",
    ]
    title = _e(t.format(N_("Feedback: {name}"), name=name))
    if result.status == "invalid":
        error = one_line(result.error or "") or t.gettext(N_("the submission could not be read"))
        out.append(f'<p id="total" class="invalid"><strong>{w["invalid"]}</strong> {_e(error)}</p>')
        out.append(f'<p class="note">{w["not_run"]}</p>')
        return _page(title, "\n".join(out), lang=t.lang)
    pct = percent(result)
    total = t.format(N_("Total: {score}"), score=_score_text(result.score, result.max_score))
    if pct is not None:
        total += f" ({fmt_num(pct)}%)"
    out.append(f'<p id="total"><strong>{_e(total)}</strong></p>')
    if notebook_href:
        out.append(
            f'<p><a href="{html.escape(notebook_href, quote=True)}" id="notebook">'
            f"{w['annotated']}</a> "
            f"{w['annotated_note']}</p>"
        )
    elif notebook_note:
        out.append(f'<p class="note">{w["no_notebook"]} {_e(notebook_note)}</p>')
    review = [ex for ex in result.exercises if ex.needs_review]
    if review:
        out.append(
            f'<p class="review">{w["review"]} ' + ", ".join(_e(ex.id) for ex in review) + "</p>"
        )
    out.append(_problems_section(result, t))
    if result.diagnoses:
        out.append(f"<p>{w['diagnoses']} " + _codes(result.diagnoses) + "</p>")
    out.append('<section id="exercises">')
    heading = t.format(N_("Exercises ({n})"), n=len(result.exercises))
    out.append(f"<h2>{_e(heading)}</h2>")
    if not result.exercises:
        out.append(f'<p class="note">{w["no_exercises"]}</p>')
    for number, ex in enumerate(result.exercises, start=1):
        out.append(_exercise_block(number, ex, public_only, t))
    out.append("</section>")
    return _page(title, "\n".join(out), lang=t.lang)


def _codes(items: Iterable[str]) -> str:
    return ", ".join(f"<code>{_e(d)}</code>" for d in items)


def _problems_section(result: SubmissionResult, t: Translator = _ENGLISH) -> str:
    execution = result.execution
    problems = execution_problems(execution, t)
    if execution is None or not problems:
        return ""
    w = _words(t)
    out = ['<section id="execution">', f"<h2>{w['running']}</h2>"]
    if execution.killed:
        killed = killed_words(execution.killed, t)
        out.append(f'<p class="stopped"><strong>{_e(killed)}</strong></p>')
    out.append(f'<p class="muted">{execution.seconds:.1f} s</p><ul>')
    out += [f"<li>{_e(p)}</li>" for p in problems]
    out.append("</ul></section>")
    return "\n".join(out)


def _exercise_block(
    number: int, ex: ExerciseResult, public_only: bool, t: Translator = _ENGLISH
) -> str:
    w = _words(t)
    heading = f"<code>{_e(ex.id)}</code>"
    if one_line(ex.title) and one_line(ex.title) != one_line(ex.id):
        heading += f" {_e(ex.title)}"
    out = [
        f'<div class="exercise" id="ex-{number}">',
        f"<h3>{heading}</h3>",
        f"<p><strong>{_score_text(ex.score, ex.max_score)}</strong> "
        f'<span class="{_e(ex.status)}">{_e(t.gettext(ex.status))}</span>'
        + (f' <span class="review">&#9873; {w["needs_review"]}</span>' if ex.needs_review else "")
        + "</p>",
    ]
    lines = [line for line in feedback_of(ex, public_only) if clean(line).strip()]
    if lines:
        out.append('<ul class="feedback">')
        for line in lines:
            text = _multiline(line)
            out.append(f"<li><pre>{text}</pre></li>" if "\n" in text else f"<li>{text}</li>")
        out.append("</ul>")
    if ex.diagnoses:
        out.append(f"<p>{w['diagnoses']} {_codes(ex.diagnoses)}</p>")
    if ex.needs_review:
        unsure = N_(
            "The grader could not decide this exercise with confidence; "
            "the instructor will look at it."
        )
        out.append(f'<p class="note">{_e(t.gettext(unsure))}</p>')
    out.append("</div>")
    return "\n".join(out)
