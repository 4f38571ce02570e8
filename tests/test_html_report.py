"""Tests of the instructor's class report: grader.report.html, .annotate and .site.

A hand-built class (good, partial, stopped by a timeout, invalid, a student id that is an HTML
script, ids that differ only in case or punctuation, a .py submission, a notebook that has
disappeared) is written with ``write_site`` and the pages, CSV and annotated notebooks are
checked for content. ``test_browser`` (slow) opens the page in headless Chromium via selenium.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import matplotlib.image
import nbformat
import pytest
from browser import chromium, console_errors, serve

from grader.model import CellError, ExecutionSummary, ExerciseResult, SubmissionResult
from grader.report.annotate import NOT_FOUND_HEADING, annotate, is_feedback_cell
from grader.report.html import render_index, render_student, slugify, student_slugs
from grader.report.site import SiteFiles, write_site

REPO = Path(__file__).resolve().parents[1]
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLE = "CS 101 <convolutions> & co"

# --------------------------------------------------------------------------- the class

# exercise id -> (max score, title)
EXERCISES = {"conv-1": (4.0, "Cross-correlation"), "conv-2": (3.0, "Edges"), "conv-3": (3.0, "")}


def _ex(ex_id: str, score: float, status: str, *feedback: str, **kw: Any) -> ExerciseResult:
    max_score, title = EXERCISES[ex_id]
    return ExerciseResult(
        id=ex_id,
        title=title,
        score=score,
        max_score=max_score,
        status=status,  # type: ignore[arg-type]
        feedback=feedback,
        **kw,
    )


def _run(seconds: float = 2.0, **kw: Any) -> ExecutionSummary:
    return ExecutionSummary(seconds=seconds, errors=kw.pop("errors", ()), killed=None, **kw)


def write_notebook(path: Path) -> Path:
    """Cells: 0 md, 1-2 code (conv-1), 3 md, 4 code (conv-2), 5 code (other), with outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# My answers"),
        nbformat.v4.new_code_cell(
            "import torch",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="imported\n")],
            execution_count=1,
        ),
        nbformat.v4.new_code_cell(
            "def corr2d(X, K):\n    return X",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "tensor([1.])"}, execution_count=2
                )
            ],
            execution_count=2,
        ),
        nbformat.v4.new_markdown_cell("Now the edges"),
        nbformat.v4.new_code_cell("Y = corr2d(X, K)", execution_count=3),
        nbformat.v4.new_code_cell("print('done')", execution_count=4),
    ]
    nbformat.write(nb, str(path))
    return path


@dataclass
class Klass:
    results: list[SubmissionResult]
    dir: Path
    by_name: dict[str, SubmissionResult] = field(default_factory=dict)


def make_class(base: Path) -> Klass:
    subs = base / "subs"
    subs.mkdir(parents=True)
    nb = write_notebook
    script = subs / "frank.py"
    script.write_text(
        "# %% [markdown]\n# Frank's answers\n\n# %%\nimport torch\n\n# %%\ndef corr2d(X, K):\n"
        "    return X\n",
        encoding="utf-8",
    )
    results = [
        SubmissionResult(
            path=str(nb(subs / "alice.ipynb")),
            student="alice",
            status="graded",
            edition="d2l-1.0",
            score=10,
            max_score=10,
            exercises=(
                _ex("conv-1", 4, "pass", "Well done.", cells=(1, 2)),
                _ex("conv-2", 3, "pass", cells=(4,)),
                _ex("conv-3", 3, "pass", cells=(5,)),
            ),
            execution=_run(),
        ),
        SubmissionResult(
            path=str(nb(subs / "bob.ipynb")),
            student="bob",
            status="graded",
            edition="d2l-1.0",
            score=5.5,
            max_score=10,
            exercises=(
                _ex(
                    "conv-1",
                    2.5,
                    "partial",
                    "Right shape, wrong values.",
                    "Your output:\ntensor([[1., 2.],\n        [3., 4.]])",
                    diagnoses=("flipped-kernel", "wrong-shape"),
                    cells=(1, 2),
                ),
                _ex("conv-2", 3, "pass", cells=(4,)),
                _ex(
                    "conv-3",
                    0,
                    "missing",
                    "No answer found.",
                    needs_review=True,
                    cells=(),
                ),
            ),
            diagnoses=("imports-late",),
            execution=_run(notes=("added missing import torch",)),
        ),
        SubmissionResult(
            path=str(nb(subs / "carol.ipynb")),
            student="carol",
            status="graded",
            edition="d2l-1.0",
            score=1,
            max_score=10,
            exercises=(
                _ex("conv-1", 1, "partial", diagnoses=("wrong-shape",), cells=(2,)),
                _ex("conv-2", 0, "error", "The notebook was stopped.", cells=(4,)),
                _ex("conv-3", 0, "error", cells=()),
            ),
            execution=ExecutionSummary(
                seconds=60.0,
                errors=(CellError(cell=5, ename="NameError", evalue="name 'X' is not defined"),),
                killed="timeout",
            ),
        ),
        SubmissionResult(
            path=str(subs / "dave.ipynb"),
            student="dave",
            status="invalid",
            error="subs/dave.ipynb: file is empty",
        ),
        SubmissionResult(
            path=str(nb(subs / "x<b>y.ipynb")),
            student=XSS,
            status="graded",
            edition="d2l-1.0",
            score=3,
            max_score=10,
            exercises=(
                _ex("conv-1", 3, "partial", f"You printed {XSS}", diagnoses=("wrong-shape",)),
                _ex("conv-2", 0, "fail", cells=(4,), diagnoses=(XSS,)),
                _ex("conv-3", 0, "missing"),
            ),
            execution=_run(),
        ),
        SubmissionResult(
            path=str(nb(subs / "Eve.ipynb")),
            student="Eve",
            status="graded",
            edition="d2l-1.0",
            score=7,
            max_score=10,
            exercises=(
                _ex("conv-1", 4, "pass", cells=(2,)),
                _ex("conv-2", 3, "pass", cells=(4,)),
                _ex("conv-3", 0, "fail", diagnoses=("wrong-shape",), cells=(5,)),
            ),
            execution=_run(),
        ),
        SubmissionResult(
            path=str(nb(subs / "eve_2.ipynb")),
            student="eve",
            status="graded",
            edition="d2l-1.0",
            score=7,
            max_score=10,
            exercises=(
                _ex("conv-1", 4, "pass", cells=(2,)),
                _ex("conv-2", 0, "fail", diagnoses=("wrong-shape",), cells=(4,)),
                _ex("conv-3", 3, "pass", cells=(5,)),
            ),
            execution=_run(),
        ),
        SubmissionResult(
            path=str(script),
            student="eve?",
            status="graded",
            edition="d2l-1.0",
            score=2,
            max_score=10,
            exercises=(
                _ex("conv-1", 2, "partial", cells=(2,)),
                _ex("conv-2", 0, "missing"),
                _ex("conv-3", 0, "missing"),
            ),
            execution=_run(),
        ),
        SubmissionResult(
            path=str(subs / "gone.ipynb"),  # graded, then the file disappeared
            student="gone",
            status="graded",
            edition="d2l-1.0",
            score=4,
            max_score=10,
            exercises=(_ex("conv-1", 4, "pass", cells=(1,)),),
            execution=_run(),
        ),
    ]
    klass = Klass(results, base)
    klass.by_name = {r.student or r.path: r for r in results}
    return klass


EXPECTED_SLUGS = [
    "alice",
    "bob",
    "carol",
    "dave",
    "script-alert-1-script",
    "eve",
    "eve-2",
    "eve-3",
    "gone",
]


@pytest.fixture
def klass(tmp_path: Path) -> Klass:
    return make_class(tmp_path)


@pytest.fixture
def site(klass: Klass) -> SiteFiles:
    return write_site(klass.results, klass.dir / "report", title=TITLE)


# --------------------------------------------------------------------------- HTML parsing


class Page(HTMLParser):
    """Tables (by id: rows of cells, each cell's text, attributes and links), images, links,
    headings and script elements of one HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[dict[str, Any]]]] = {}
        self.images: dict[str, str] = {}
        self.links: list[str] = []
        self.headings: list[tuple[str, str]] = []
        self.scripts = 0
        self.title = ""
        self._table: list[str] = []
        self._cell: dict[str, Any] | None = None
        self._heading: list[str] | None = None
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table.append(a.get("id", ""))
            self.tables.setdefault(self._table[-1], [])
        elif tag == "tr" and self._table:
            self.tables[self._table[-1]].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = {"text": "", "attrs": a, "links": []}
            self.tables[self._table[-1]][-1].append(self._cell)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
            if self._cell is not None:
                self._cell["links"].append(a["href"])
        elif tag == "img":
            self.images[a.get("id", "")] = a.get("src", "")
        elif tag in ("h1", "h2", "h3"):
            self._heading = [tag, ""]
        elif tag == "script":
            self.scripts += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th"):
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading:
            self.headings.append((self._heading[0], self._heading[1].strip()))
            self._heading = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data
        if self._heading is not None:
            self._heading[1] += data
        if self._in_title:
            self.title += data

    def body_rows(self, table: str) -> list[list[dict[str, Any]]]:
        return [row for row in self.tables[table][1:] if row]

    def column(self, table: str, header: str) -> int:
        heads = [" ".join(c["text"].split()) for c in self.tables[table][0]]
        return next(i for i, h in enumerate(heads) if h.split(" ")[0] == header)


def _text(cell: dict[str, Any]) -> str:
    return " ".join(str(cell["text"]).split())


def _image_bytes(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    data = base64.b64decode(src[len(prefix) :], validate=True)
    assert data.startswith(PNG_MAGIC)
    return data


# --------------------------------------------------------------------------- slugs


def test_slugs_are_safe_unique_and_stable(klass: Klass) -> None:
    assert student_slugs(klass.results) == EXPECTED_SLUGS
    assert slugify("José Núñez") == "jose-nunez"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("CON") == "student-con"
    assert re.fullmatch(r"student-[0-9a-f]{8}", slugify("王小明"))
    assert slugify("王小明") == slugify("王小明") != slugify("李雷")
    assert len(slugify("x" * 500)) <= 60
    # case-insensitive uniqueness, and a natural "eve-2" does not collide with a generated one
    names = ["Eve", "eve", "eve-2"]
    rs = [SubmissionResult(path=f"{n}.ipynb", status="invalid", student=n) for n in names]
    assert student_slugs(rs) == ["eve", "eve-2", "eve-2-2"]


# --------------------------------------------------------------------------- index page


def test_index_charts_are_embedded_pngs(site: SiteFiles) -> None:
    text = site.index.read_text(encoding="utf-8")
    page = Page(text)
    assert set(page.images) == {"histogram", "pass-rate"}
    for src in page.images.values():
        image = matplotlib.image.imread(io.BytesIO(_image_bytes(src)), format="png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    # self-contained: no external resource of any kind
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert '<link rel="stylesheet"' not in text
    assert "default-src 'none'" in text
    assert page.scripts == 1


def test_index_summary_and_exercise_table(site: SiteFiles) -> None:
    page = Page(site.index.read_text(encoding="utf-8"))
    assert page.title == TITLE  # escaped in the source, plain text once parsed
    assert ("h1", TITLE) in page.headings
    summary = "9 submissions: 8 graded, 1 invalid"
    assert summary in site.index.read_text(encoding="utf-8")
    rows = {_text(r[0]): [_text(c) for c in r] for r in page.body_rows("exercise-table")}
    # conv-1: pass alice, Eve, eve, gone (4 of 8); partial bob, carol, xss, eve? (4)
    assert rows["conv-1"][2:5] == ["4 (50%)", "4 (50%)", "8"]
    # conv-2: pass alice, bob, Eve; no partial; 7 graded submissions have it
    assert rows["conv-2"][2:5] == ["3 (42.86%)", "0 (0%)", "7"]
    assert rows["conv-3"][2:5] == ["2 (28.57%)", "0 (0%)", "7"]
    assert rows["conv-1"][5] == f"{(4 + 2.5 + 1 + 3 + 4 + 4 + 2 + 4) / 8:.2f}/4"


def test_index_diagnoses_counts_and_examples(site: SiteFiles) -> None:
    page = Page(site.index.read_text(encoding="utf-8"))
    rows = page.body_rows("diagnosis-table")
    table = [(_text(r[0]), _text(r[1]), r[2]["links"], _text(r[2])) for r in rows]
    # most frequent first, ties by name
    assert [(name, count) for name, count, _, _ in table] == [
        ("wrong-shape", "5"),
        (XSS, "1"),
        ("flipped-kernel", "1"),
        ("imports-late", "1"),
    ]
    _, _, links, text = table[0]
    # the first three students with it, linked to the exercise where it was found
    assert links == [
        "feedback/bob.html#ex-1",
        "feedback/carol.html#ex-1",
        "feedback/script-alert-1-script.html#ex-1",
    ]
    assert text == f"bob, carol, {XSS} and 2 more"
    assert table[3][2] == ["feedback/bob.html"]  # submission-wide diagnosis: no exercise anchor


def test_index_student_table(site: SiteFiles, klass: Klass) -> None:
    page = Page(site.index.read_text(encoding="utf-8"))
    heads = page.tables["students"][0]
    assert [_text(h) for h in heads] == [
        "Student",
        "Score",
        "Percent",
        "Status",
        "conv-1 /4",
        "conv-2 /3",
        "conv-3 /3",
        "Review",
    ]
    assert all(h["attrs"].get("aria-sort") == "none" for h in heads)
    assert [h["attrs"].get("data-type") for h in heads] == [
        None,
        "num",
        "num",
        None,
        "num",
        "num",
        "num",
        "num",
    ]
    rows = page.body_rows("students")
    assert len(rows) == len(klass.results)
    assert [r[0]["links"] for r in rows] == [[f"feedback/{s}.html"] for s in EXPECTED_SLUGS]
    by_slug = dict(zip(EXPECTED_SLUGS, rows, strict=True))
    bob = [_text(c) for c in by_slug["bob"]]
    assert bob[:4] == ["bob", "5.5/10", "55%", "graded"]
    assert bob[4:7] == ["2.5", "3", "0 ⚑"]
    assert "review" in bob[7]
    assert by_slug["bob"][1]["attrs"]["data-v"] == "5.5"
    assert _text(by_slug["carol"][3]) == "stopped: timeout"
    dave = by_slug["dave"]
    assert _text(dave[3]) == "invalid subs/dave.ipynb: file is empty"
    assert dave[1]["attrs"]["data-v"] == ""  # no score: sorts last
    assert _text(by_slug["script-alert-1-script"][0]) == XSS
    assert [_text(c) for c in by_slug["gone"][4:7]] == ["4", "", ""]


def test_everything_from_students_is_escaped(site: SiteFiles) -> None:
    for page in (site.index, *site.feedback):
        text = page.read_text(encoding="utf-8")
        assert XSS not in text
        assert "<b>" not in text
        assert len(re.findall(r"<script\b", text)) == (1 if page == site.index else 0)
    index = site.index.read_text(encoding="utf-8")
    assert XSS_ESCAPED in index
    assert "CS 101 &lt;convolutions&gt; &amp; co" in index
    xss_page = site.feedback[4].read_text(encoding="utf-8")
    assert f"Feedback for {XSS_ESCAPED}" in xss_page
    assert f"You printed {XSS_ESCAPED}" in xss_page
    assert "x&lt;b&gt;y.ipynb" in xss_page


def test_render_functions_return_strings(klass: Klass) -> None:
    index = render_index(klass.results, title="T", csv_href=None)
    assert index.startswith("<!DOCTYPE html>") and "grades.csv" not in index
    assert 'href="feedback/alice.html"' in index
    empty = render_index([], title="Nobody")
    assert "No graded submissions." in empty and "<img" not in empty
    page = render_student(klass.results[0])
    assert "Total: 10/10 (100%)" in page and 'href="../index.html"' in page
    with pytest.raises(ValueError):
        render_index(klass.results, slugs=["a"])


# --------------------------------------------------------------------------- student pages


def test_student_pages(site: SiteFiles, klass: Klass) -> None:
    assert [p.name for p in site.feedback] == [f"{s}.html" for s in EXPECTED_SLUGS]
    pages = {p.stem: p.read_text(encoding="utf-8") for p in site.feedback}
    bob = Page(pages["bob"])
    assert ("h1", "Feedback for bob") in bob.headings
    assert "../index.html" in bob.links and "../notebooks/bob.ipynb" in bob.links
    assert "<strong>Total: 5.5/10 (55%)</strong>" in pages["bob"]
    assert 'id="ex-1"' in pages["bob"] and 'id="ex-3"' in pages["bob"]
    assert "Right shape, wrong values." in pages["bob"]
    assert "Your output:\ntensor([[1., 2.],\n        [3., 4.]])" in pages["bob"]
    assert "<code>flipped-kernel</code>" in pages["bob"]
    assert "needs review" in pages["bob"] and "note: added missing import torch" in pages["bob"]
    carol = pages["carol"]
    assert "the notebook was stopped: timeout" in carol
    assert "cell 5: NameError: name &#x27;X&#x27; is not defined" in carol
    dave = pages["dave"]
    assert "Invalid submission:" in dave and "subs/dave.ipynb: file is empty" in dave
    assert "notebooks/" not in dave
    gone = pages["gone"]
    assert "No annotated notebook:" in gone and "notebooks/gone.ipynb" not in gone
    assert any(n.startswith("gone: no annotated notebook:") for n in site.notes)


def test_every_link_resolves(site: SiteFiles) -> None:
    for page in (site.index, *site.feedback):
        for href in Page(page.read_text(encoding="utf-8")).links:
            target = (page.parent / unquote(urlsplit(href).path)).resolve()
            assert target.is_file(), f"{page.name}: {href}"


# --------------------------------------------------------------------------- CSV


def test_grades_csv(site: SiteFiles, klass: Klass) -> None:
    with site.grades_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, points, *students = rows
    assert header == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "conv-1",
        "conv-2",
        "conv-3",
        "Final Points",
    ]
    assert points[0] == "Points Possible" and points[5:8] == ["4", "3", "3"]
    assert len(students) == len(klass.results)
    by_name = {r[0]: r for r in students}
    assert by_name["alice"][5:] == ["4", "3", "3", "10"]
    assert by_name["bob"][5:] == ["2.5", "3", "0", "5.5"]
    assert by_name["dave"][5:] == ["", "", "", "0"]
    assert by_name[XSS][3] == XSS  # CSV is not HTML: raw text, quoted by csv
    moodle = write_site(klass.results, klass.dir / "moodle", csv_layout="moodle")
    with moodle.grades_csv.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["Student", "conv-1", "conv-2", "conv-3", "Total", "Max total"]


# --------------------------------------------------------------------------- notebooks


def _grader(cell: Any) -> dict[str, Any]:
    meta: dict[str, Any] = cell.get("metadata", {}).get("grader", {})
    return meta


def test_annotated_notebooks_written(site: SiteFiles) -> None:
    names = [p.name for p in site.notebooks]
    # graded ones only; the vanished file is skipped, the invalid one never annotated
    assert names == [
        "alice.ipynb",
        "bob.ipynb",
        "carol.ipynb",
        "script-alert-1-script.ipynb",
        "eve.ipynb",
        "eve-2.ipynb",
        "eve-3.ipynb",
    ]
    for path in site.notebooks:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        assert is_feedback_cell(nb.cells[0]) and _grader(nb.cells[0])["summary"] is True


def test_annotation_places_feedback_after_each_exercise(klass: Klass) -> None:
    bob = klass.by_name["bob"]
    original = nbformat.read(bob.path, as_version=4)
    nb = annotate(bob.path, bob)
    sources = [c.source for c in nb.cells]
    # summary, 0, 1, 2, [conv-1], 3, 4, [conv-2], 5, heading, [conv-3]
    assert len(nb.cells) == len(original.cells) + 5
    summary = nb.cells[0]
    assert summary.cell_type == "markdown" and "**Total: 5.5/10** (55%)" in summary.source
    assert "| conv-3 | 0/3 | missing, needs review |" in summary.source
    assert "note: added missing import torch" in summary.source
    for ex in bob.exercises:
        fb = [i for i, c in enumerate(nb.cells) if _grader(c).get("exercise") == ex.id]
        assert len(fb) == 1
        cell = nb.cells[fb[0]]
        assert cell.cell_type == "markdown"
        assert _grader(cell) == {"feedback": True, "exercise": ex.id}
        assert f"**Score: {ex.score:g}/{ex.max_score:g}**" in cell.source
        if ex.cells:
            last = original.cells[max(ex.cells)]
            assert nb.cells[fb[0] - 1].source == last.source
            assert not is_feedback_cell(nb.cells[fb[0] - 1])
        else:
            assert fb[0] == len(nb.cells) - 1
            assert sources[fb[0] - 1] == f"## {NOT_FOUND_HEADING}"
    # the student's cells are all there, in order, outputs included
    kept = [c for c in nb.cells if not is_feedback_cell(c)]
    assert [c.source for c in kept] == [c.source for c in original.cells]
    assert kept[1].outputs[0].text == "imported\n"
    assert kept[2].outputs[0].data["text/plain"] == "tensor([1.])"
    conv1 = next(c for c in nb.cells if _grader(c).get("exercise") == "conv-1")
    # multi-line feedback is a code block; markdown specials are escaped
    assert "```text\nYour output:\ntensor([[1., 2.],\n        [3., 4.]])\n```" in conv1.source
    assert "Diagnoses: `flipped-kernel`, `wrong-shape`" in conv1.source
    ids = [c.get("id") for c in nb.cells]
    assert None not in ids and len(set(ids)) == len(ids)


def test_annotation_escapes_and_shared_last_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb")
    result = SubmissionResult(
        path=str(path),
        student=XSS,
        status="graded",
        score=1,
        max_score=7,
        exercises=(
            _ex("conv-1", 1, "partial", f"{XSS} $x$ *bold*", cells=(2,)),
            _ex("conv-2", 0, "fail", cells=(1, 2)),  # ends at the same cell: rubric order
            _ex("conv-3", 0, "missing", cells=(99,)),  # out of range: not found
        ),
    )
    nb = annotate(path, result)
    tags = [_grader(c).get("exercise") for c in nb.cells]
    assert tags[3:6] == [None, "conv-1", "conv-2"] and nb.cells[3].source.startswith("def")
    assert tags[-1] == "conv-3"
    text = "\n".join(c.source for c in nb.cells if is_feedback_cell(c))
    assert "<script>" not in text and r"\<script\>alert(1)\</script\>" in text
    assert r"\$x\$ \*bold\*" in text


def test_annotation_of_old_and_text_formats(tmp_path: Path, klass: Klass) -> None:
    # a .py submission: rebuilt from grader.load's cells, with a note
    frank = klass.by_name["eve?"]
    nb = annotate(frank.path, frank)
    nbformat.validate(nb)
    kept = [c for c in nb.cells if not is_feedback_cell(c)]
    assert [c.cell_type for c in kept] == ["markdown", "code", "code"]
    assert kept[2].source.startswith("def corr2d")
    assert _grader(nb.cells[4]).get("exercise") == "conv-1"  # after cell 2 (summary first)
    assert "rebuilt from its cells, without outputs" in nb.cells[0].source
    # an nbformat 4.4 notebook gets no cell ids (they would make it invalid)
    old = nbformat.v4.new_notebook()
    old.nbformat_minor = 4
    old.cells = [nbformat.v4.new_code_cell("x = 1")]
    for cell in old.cells:
        del cell["id"]
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.v4.writes(old), encoding="utf-8")
    result = SubmissionResult(
        path=str(path),
        status="graded",
        exercises=(_ex("conv-1", 4, "pass", cells=(0,)),),
        score=4,
        max_score=4,
    )
    annotated = annotate(path, result)
    nbformat.validate(annotated)
    assert all("id" not in c for c in annotated.cells)


# --------------------------------------------------------------------------- browser


def _scores(driver: Any) -> list[str]:
    script = (
        "return Array.from(document.querySelectorAll('#students tbody tr'))"
        ".map(r => r.cells[1].dataset.v)"
    )
    values: list[str] = driver.execute_script(script)
    return values


@pytest.mark.slow
def test_browser(
    site: SiteFiles,
    klass: Klass,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selenium.webdriver.common.by import By

    root = site.index.parent
    with chromium(monkeypatch) as driver, serve(root) as base:
        driver.get(base + "index.html")
        assert driver.title == TITLE
        rows = driver.find_elements(By.CSS_SELECTOR, "#students tbody tr")
        assert len(rows) == len(klass.results)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth])"
        )
        assert sorted(i[:2] for i in images) == [["histogram", True], ["pass-rate", True]]
        assert all(i[2] > 300 for i in images)  # decoded and laid out

        # sort by Score: ascending, then descending; the invalid row (no score) stays last
        header = driver.find_element(
            By.XPATH, "//table[@id='students']//th[normalize-space()='Score']"
        )
        numbers = [float(r.score) for r in klass.results if r.status == "graded"]
        header.find_element(By.TAG_NAME, "button").click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert _scores(driver) == [f"{x!r}" for x in sorted(numbers)] + [""]
        first = driver.find_element(By.CSS_SELECTOR, "#students tbody tr td a").text
        assert first == "carol"
        header.find_element(By.TAG_NAME, "button").click()
        assert header.get_attribute("aria-sort") == "descending"
        assert _scores(driver) == [f"{x!r}" for x in sorted(numbers, reverse=True)] + [""]
        others = driver.find_elements(By.CSS_SELECTOR, "#students thead th")
        assert [th.get_attribute("aria-sort") for th in others].count("none") == len(others) - 1

        # the screenshot of the whole page (after sorting by score, descending)
        driver.execute_script("window.scrollTo(0, 0)")
        height = min(int(driver.execute_script("return document.body.scrollHeight")), 8000)
        try:  # the whole page in one image, not just the window
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except Exception:  # no DevTools protocol: a tall window does nearly the same
            driver.set_window_size(1280, height + 150)
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "report-index.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(PNG_MAGIC)
        with capsys.disabled():
            print(f"\nscreenshot: {shot}")

        # every link on the page resolves; feedback pages show the right student
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )
        names = {s: r for s, r in zip(EXPECTED_SLUGS, klass.results, strict=True)}
        assert len(links) >= len(klass.results) + 4
        errors = console_errors(driver)
        visited: set[str] = set()
        for link in links:
            url = urljoin(base, link).split("#")[0]
            assert url.startswith(base), url
            if url in visited:
                continue
            visited.add(url)
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200, url
            if "/feedback/" in url:
                driver.get(url)
                slug = Path(urlsplit(url).path).stem
                h1 = driver.find_element(By.TAG_NAME, "h1").text
                who = names[slug].student
                assert h1 == f"Feedback for {who}"
                for sub in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
                    href = sub.get_attribute("href")
                    with urllib.request.urlopen(href.split("#")[0], timeout=10) as response:
                        assert response.status == 200, href
                errors += console_errors(driver)
        assert {Path(urlsplit(u).path).stem for u in visited if "/feedback/" in u} == set(
            EXPECTED_SLUGS
        )
        assert errors == []
        # back to the index from a student page
        driver.get(base + "feedback/bob.html")
        driver.find_element(By.ID, "back").click()
        assert driver.title == TITLE
        assert console_errors(driver) == []
