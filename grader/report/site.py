"""The instructor's class report as a folder of static files (:func:`write_site`).

Layout of ``out_dir``::

    index.html                   class page (grader.report.html.render_index)
    feedback/<student>.html      one feedback page per submission (render_student)
    grades.csv                   the csv report (grader.report.csv_report), Canvas or Moodle
    notebooks/<student>.ipynb    annotated copy of each graded submission (annotate.annotate)

``<student>`` is :func:`grader.report.html.student_slugs`: a safe, unique file name derived
from the student id (or the file name). Every page works offline, opened from disk or served
by any static web server. A submission whose notebook cannot be read again (moved, deleted,
unreadable) gets no annotated copy: its feedback page and ``SiteFiles.notes`` say why.
Existing files of the same names are overwritten; other files in ``out_dir`` are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.i18n import Translator, language_of, translator
from grader.model import SubmissionResult
from grader.report import ReportOptions, csv_report
from grader.report.annotate import annotate, dumps
from grader.report.html import render_index, render_student, student_name, student_slugs
from grader.report.json_report import without_expected
from grader.report.text import one_line

__all__ = ["SiteFiles", "write_site"]


@dataclass(frozen=True)
class SiteFiles:
    """What :func:`write_site` wrote. ``feedback`` and ``slugs`` follow the order of results;
    ``notebooks`` lists the annotated notebooks that were written."""

    index: Path
    grades_csv: Path
    feedback: tuple[Path, ...]
    notebooks: tuple[Path, ...]
    slugs: tuple[str, ...]
    notes: tuple[str, ...] = ()  # e.g. "alice: no annotated notebook: file not found"

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every written file."""
        return (self.index, self.grades_csv, *self.feedback, *self.notebooks)


def write_site(
    results: Sequence[SubmissionResult],
    out_dir: Path,
    *,
    title: str = "Class report",
    csv_layout: csv_report.Layout = "canvas",
    public_only: bool = False,
    hide_expected: bool = False,
    lang: str = "auto",
    locale_dirs: tuple[str, ...] = (),
) -> SiteFiles:
    """Write the class report for ``results`` into ``out_dir`` (created if needed).

    ``public_only`` drops the feedback lines that only non-public checks produced from the
    feedback pages and annotated notebooks (for pages handed to students); ``hide_expected``
    leaves the expected values on hidden inputs out of them (the index page, which is the
    instructor's, keeps them). Feedback pages and annotated notebooks speak each student's
    language (``lang``, "auto": the language of their prose, :mod:`grader.i18n`); the class
    page and the CSV stay in English.
    """
    out_dir = Path(out_dir)
    feedback_dir = out_dir / "feedback"
    notebook_dir = out_dir / "notebooks"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    slugs = student_slugs(results)
    notes: list[str] = []
    notebooks: list[Path] = []
    pages: list[Path] = []
    for result, slug in zip(results, slugs, strict=True):
        href: str | None = None
        problem: str | None = None
        t = translator(language_of(result, lang), locale_dirs or None)
        # what the student is shown: the expected values hidden on the English text, before
        # it is translated
        shown = without_expected(result) if hide_expected else result
        if result.status == "graded":
            target = notebook_dir / f"{slug}.ipynb"
            problem = _write_notebook(t.localise(shown), target, public_only, t)
            if problem is None:
                notebooks.append(target)
                href = f"../notebooks/{slug}.ipynb"
            else:
                notes.append(f"{student_name(result)}: no annotated notebook: {problem}")
        page = feedback_dir / f"{slug}.html"
        page.write_text(
            render_student(
                shown, notebook_href=href, notebook_note=problem, public_only=public_only, t=t
            ),
            encoding="utf-8",
        )
        pages.append(page)
    index = out_dir / "index.html"
    index.write_text(render_index(results, title=title, slugs=slugs), encoding="utf-8")
    grades = out_dir / "grades.csv"
    text = csv_report.render(results, ReportOptions(csv_layout=csv_layout))
    grades.write_text(text, encoding="utf-8", newline="")  # the text has CRLF line ends already
    return SiteFiles(
        index=index,
        grades_csv=grades,
        feedback=tuple(pages),
        notebooks=tuple(notebooks),
        slugs=tuple(slugs),
        notes=tuple(notes),
    )


def _write_notebook(
    result: SubmissionResult, target: Path, public_only: bool, t: Translator
) -> str | None:
    """Write the annotated notebook; the reason in plain words when it cannot be done."""
    try:
        text = dumps(annotate(result.path, result, public_only=public_only, t=t))
    except GraderError as exc:
        problem = getattr(exc, "problem", None)
        return one_line(str(problem or exc))
    except FileNotFoundError:
        return "the submission file is no longer there"
    except OSError as exc:
        return one_line(f"the submission file cannot be read ({exc.strerror or exc})")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return one_line(f"the submission could not be turned into a notebook ({exc})")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return None
