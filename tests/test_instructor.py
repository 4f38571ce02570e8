"""An instructor's term, end to end, with the real ``grade`` command in subprocesses.

One class folder of mixed submissions (two copies of the reference notebook, a partial one, a
notebook with a SyntaxError, the real ``student-a.ipynb`` whose indentation was lost, a cut-off
JSON file and a PDF) is graded with ``--jobs 2``, a gradebook and the class report, and every
output is read back for content: the JSON scores, the SQLite gradebook, ``index.html``, the
feedback pages, ``grades.csv`` (Canvas and Moodle), the annotated notebooks. Then the term goes
on: a batch interrupted with Ctrl-C resumes without grading anything twice or losing anything;
an unchanged re-run grades nothing; a changed file is the only one graded again; an
instructor's override survives ``--regrade``; JUnit, Gradescope, the GitHub job summary,
``--fail-under`` and ``--check`` say what they should; the report works in a real headless
Chromium (screenshot in ``artifacts/instructor-report.png``). The last test checks that
``action.yml`` is a composite GitHub Action and runs its grading script.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import matplotlib.image
import pytest
import yaml
from browser import chromium, console_errors, serve
from conftest import ROOT, default_sigint

pytestmark = [pytest.mark.slow, pytest.mark.kernel]

RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
REFERENCE = ROOT / "reference" / "d2l-1.0.ipynb"
LIMITS = ("--rubric", str(RUBRIC), "--timeout", "10", "--jobs", "2")
GOOD = ("alice", "bob")
PARTIAL = "carol"
BROKEN = ("dave", "student-a")
INVALID = ("erin", "frank")
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "student-a")  # file name order
GRADED = tuple(s for s in STUDENTS if s not in INVALID)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REASON = "Exercise 4 was answered in a separate file, accepted by email"


# --------------------------------------------------------------------------- helpers


def grade(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``grade ARGS`` as a user runs it (``python -m grader.cli``), in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # a test run inside GitHub Actions must not write into the real job summary
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env.update(extra or {})
    return env


def num(value: float) -> str:
    """A score as the reports print it: at most 2 decimals, no trailing zeros."""
    s = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def read_notebook(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_notebook(path: Path, nb: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")


def find_cell(nb: Mapping[str, Any], predicate: Any) -> dict[str, Any]:
    found = [c for c in nb["cells"] if predicate(source(c))]
    assert len(found) == 1, f"expected one matching cell, found {len(found)}"
    cell: dict[str, Any] = found[0]
    return cell


def partial_notebook() -> dict[str, Any]:
    """The reference without Exercise 4 and with a wrong blur kernel (negative weights)."""
    nb = read_notebook(REFERENCE)
    cut = next(i for i, c in enumerate(nb["cells"]) if source(c).startswith("### Exercise 4"))
    nb["cells"] = nb["cells"][:cut]
    blur = find_cell(nb, lambda s: "blur_kernel =" in s)
    blur["source"] = "blur_kernel = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])\nblur_kernel"
    blur["outputs"] = []
    return nb


def syntax_error_notebook() -> tuple[dict[str, Any], int]:
    """The reference with the colon of ``def corr2d`` forgotten; and that cell's number."""
    nb = read_notebook(REFERENCE)
    cell = find_cell(nb, lambda s: s.startswith("def corr2d(X, K):"))
    cell["source"] = source(cell).replace("def corr2d(X, K):", "def corr2d(X, K)", 1)
    cell["outputs"] = []
    return nb, nb["cells"].index(cell) + 1


def make_class(folder: Path, shared: Path) -> None:
    folder.mkdir(parents=True)
    for name in GOOD:
        shutil.copy(REFERENCE, folder / f"{name}.ipynb")
    write_notebook(folder / f"{PARTIAL}.ipynb", partial_notebook())
    write_notebook(folder / "dave.ipynb", syntax_error_notebook()[0])
    shutil.copy(shared / "student-a.ipynb", folder / "student-a.ipynb")
    # a download cut short, and a PDF export uploaded under the notebook's name
    (folder / "erin.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    (folder / "frank.ipynb").write_bytes(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        + bytes(range(256))
        + b"\n%%EOF\n"
    )


def exercise(sub: Mapping[str, Any], exercise_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in sub["exercises"] if e["id"] == exercise_id)
    return found


def by_student(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["student"]: s for s in doc["submissions"]}


def scores(sub: Mapping[str, Any]) -> list[tuple[str, float, float, str]]:
    return [(e["id"], e["score"], e["max_score"], e["status"]) for e in sub["exercises"]]


class Row(NamedTuple):
    student: str
    content_hash: str
    graded_at: str
    score: float


def stored(db: Path) -> dict[int, Row]:
    """Every row of ``submissions`` by id (read-only; the file may be in use)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT s.id, st.name, s.content_hash, s.graded_at, s.score FROM submissions s "
            "JOIN students st ON st.id = s.student_id ORDER BY s.id"
        ).fetchall()
    finally:
        con.close()
    return {r[0]: Row(r[1], r[2], r[3], r[4]) for r in rows}


def fork(term: Term, dest: Path) -> Path:
    """A private copy of the term's folder (class, gradebook, report) to go on from."""
    work = dest / "term"
    shutil.copytree(term.dir, work)
    return work


class TableParser(HTMLParser):
    """The header texts and body rows of the ``<table id=...>``; a cell is its text, its
    attributes and the links in it."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.part = ""
        self.head: list[str] = []
        self.rows: list[list[dict[str, Any]]] = []
        self.cell: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            if self.depth or a.get("id") == self.table_id:
                self.depth += 1
            return
        if not self.depth:
            return
        if tag in ("thead", "tbody"):
            self.part = tag
        elif tag == "tr" and self.part == "tbody":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = {"text": "", "attrs": a, "links": []}
            if self.part == "tbody":
                self.rows[-1].append(self.cell)
        elif tag == "a" and self.cell is not None:
            self.cell["links"].append(a.get("href", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag in ("td", "th") and self.cell is not None:
            if self.part == "thead":
                self.head.append(" ".join(self.cell["text"].split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data


def table(page: str, table_id: str) -> TableParser:
    parser = TableParser(table_id)
    parser.feed(page)
    assert parser.rows, f"no rows in table {table_id}"
    return parser


def section(page: str, start: str, end: str) -> str:
    i = page.index(start)
    j = page.find(end, i + len(start))
    return page[i : j if j >= 0 else len(page)]


# --------------------------------------------------------------------------- the term


@dataclass(frozen=True)
class Term:
    dir: Path  # class/, gb.db, report/
    proc: subprocess.CompletedProcess[str]
    doc: dict[str, Any]
    subs: dict[str, dict[str, Any]]
    full: float  # the maximum score of a 1.0-edition notebook

    @property
    def report(self) -> Path:
        return self.dir / "report"


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory, shared_submissions: Path) -> Term:
    base = tmp_path_factory.mktemp("term")
    make_class(base / "class", shared_submissions)
    proc = grade(
        base, "class", *LIMITS, "--gradebook", "gb.db", "--report", "report", "--format", "json"
    )
    assert proc.stdout.startswith("{"), proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    subs = by_student(doc)
    return Term(base, proc, doc, subs, float(subs["alice"]["max_score"]))


# --------------------------------------------------------------------------- grading


def test_every_kind_of_submission_gets_the_score_it_deserves(term: Term) -> None:
    subs = term.subs
    assert sorted(GRADED) == sorted([*GOOD, PARTIAL, *BROKEN])
    assert [s["student"] for s in term.doc["submissions"]] == list(STUDENTS)
    assert [s["path"] for s in term.doc["submissions"]] == [f"class/{s}.ipynb" for s in STUDENTS]
    full = term.full
    assert full == sum(e["max_score"] for e in subs["alice"]["exercises"]) > 20

    for name in GOOD:  # the reference notebook: full marks, every exercise passes
        good = subs[name]
        assert good["status"] == "graded" and good["edition"] == "d2l-1.0"
        assert good["score"] == good["max_score"] == full
        assert {e["status"] for e in good["exercises"]} == {"pass"}
        assert good["execution"]["errors"] == [] and good["execution"]["killed"] is None
    assert scores(subs["alice"]) == scores(subs["bob"])

    # partial: Exercise 4 left out, a blur kernel with negative weights
    carol = subs[PARTIAL]
    assert 0 < carol["score"] < full and carol["max_score"] == full
    assert {e["id"] for e in carol["exercises"] if e["status"] != "pass"} == {
        "blur-kernel",
        "corr2d-as-matmul",
    }
    matmul = exercise(carol, "corr2d-as-matmul")
    assert matmul["score"] == 0 and matmul["status"] == "missing" and matmul["feedback"]
    blur = exercise(carol, "blur-kernel")
    assert blur["score"] < blur["max_score"] and blur["status"] in ("partial", "fail")
    assert "blur-negative-weights" in blur["diagnoses"]
    assert any("negative" in line for line in blur["feedback"])
    assert carol["score"] == pytest.approx(full - 4 - (blur["max_score"] - blur["score"]))

    # broken: a SyntaxError in corr2d; the real student-a (indentation collapsed)
    dave = subs["dave"]
    cell = syntax_error_notebook()[1]
    assert dave["status"] == "graded" and 0 < dave["score"] < carol["score"]
    first = dave["execution"]["errors"][0]
    assert (first["cell"], first["ename"]) == (cell, "SyntaxError")
    runs = exercise(dave, "notebook-runs")
    assert runs["status"] != "pass"
    assert runs["feedback"][0].startswith(f"Cell {cell} raised SyntaxError")
    layer = exercise(dave, "conv2d-layer")
    assert layer["score"] == 0 and any("corr2d" in line for line in layer["feedback"])

    a = subs["student-a"]
    assert a["status"] == "graded" and a["edition"] == "d2l-1.0"
    assert 0 <= a["score"] < 0.25 * full
    assert "IndentationError" in {e["ename"] for e in a["execution"]["errors"]}
    assert "indentation-lost" in exercise(a, "notebook-runs")["diagnoses"]

    # invalid: one line each on stderr, exit code 2, the others graded anyway
    assert term.proc.returncode == 2
    errors = [ln for ln in term.proc.stderr.splitlines() if ln.startswith("grade: class/")]
    for name, why in (("erin", "not valid JSON"), ("frank", "PDF")):
        bad = subs[name]
        assert bad["status"] == "invalid" and bad["execution"] is None
        assert bad["exercises"] == [] and bad["score"] == 0
        assert bad["error"].startswith(f"class/{name}.ipynb: ") and why in bad["error"]
        assert "\n" not in bad["error"]
        assert f"grade: {bad['error']}" in errors
    assert len(errors) == 2


def test_gradebook_holds_what_was_reported(term: Term) -> None:
    con = sqlite3.connect(f"file:{term.dir / 'gb.db'}?mode=ro", uri=True)
    try:
        names = sorted(r[0] for r in con.execute("SELECT name FROM students"))
        # invalid files are not stored: they are read again (cheaply) on every run
        assert names == sorted(GRADED)
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        rows = con.execute(
            "SELECT s.id, st.name, s.path, s.content_hash, s.status, s.edition, s.score, "
            "s.max_score, s.graded_at, s.cell_errors FROM submissions s "
            "JOIN students st ON st.id = s.student_id ORDER BY st.name"
        ).fetchall()
        assert [r[1] for r in rows] == sorted(GRADED)  # one row per submission
        hashes = {}
        for sid, name, path, digest, status, edition, score, max_score, graded_at, errs in rows:
            sub = term.subs[name]
            assert path == sub["path"]
            assert digest == hashlib.sha256((term.dir / path).read_bytes()).hexdigest()
            hashes[name] = digest
            assert (status, edition, max_score) == ("graded", sub["edition"], sub["max_score"])
            assert score == pytest.approx(sub["score"], abs=0.005)
            assert graded_at.endswith("+00:00")
            assert json.loads(errs) == sub["execution"]["errors"]
            exercises = con.execute(
                "SELECT position, exercise_id, title, score, max_score, status, needs_review, "
                "feedback FROM exercise_results WHERE submission_id = ? ORDER BY position",
                (sid,),
            ).fetchall()
            assert [
                (p, i, t, pytest.approx(s, abs=0.005), m, st, bool(r), json.loads(f))
                for p, i, t, s, m, st, r, f in exercises
            ] == [
                (
                    n,
                    e["id"],
                    e["title"],
                    e["score"],
                    e["max_score"],
                    e["status"],
                    e["needs_review"],
                    e["feedback"],
                )
                for n, e in enumerate(sub["exercises"])
            ]
            diagnosed: dict[str | None, list[str]] = {}
            for exercise_id, diagnosis in con.execute(
                "SELECT exercise_id, diagnosis FROM diagnoses WHERE submission_id = ? ORDER BY id",
                (sid,),
            ):
                diagnosed.setdefault(exercise_id, []).append(diagnosis)
            expected = {e["id"]: e["diagnoses"] for e in sub["exercises"] if e["diagnoses"]}
            if sub["diagnoses"]:
                expected[None] = sub["diagnoses"]
            assert diagnosed == expected
        assert hashes["alice"] == hashes["bob"] != hashes["carol"]
        assert con.execute("SELECT count(*) FROM overrides").fetchone() == (0,)
    finally:
        con.close()


# --------------------------------------------------------------------------- the report


def test_index_page_lists_students_diagnoses_and_charts(term: Term) -> None:
    page = (term.report / "index.html").read_text(encoding="utf-8")
    summary = section(page, 'id="summary"', "</p>")
    assert "7 submissions: 5 graded, 2 invalid" in summary
    assert 'href="grades.csv"' in summary

    students = table(page, "students")
    ids = [e["id"] for e in term.subs["alice"]["exercises"]]
    assert students.head[:4] == ["Student", "Score", "Percent", "Status"]
    assert students.head[-1] == "Review"
    assert [h.split()[0] for h in students.head[4:-1]] == ids
    assert [row[0]["text"] for row in students.rows] == list(STUDENTS)
    for row in students.rows:
        name = row[0]["text"]
        sub = term.subs[name]
        assert row[0]["links"] == [f"feedback/{name}.html"]
        if sub["status"] == "invalid":
            assert row[3]["text"].startswith("invalid") and sub["error"] in row[3]["text"]
            assert row[1]["attrs"]["data-v"] == ""
            continue
        assert row[1]["text"] == f"{num(sub['score'])}/{num(sub['max_score'])}"
        assert float(row[1]["attrs"]["data-v"]) == pytest.approx(sub["score"], abs=0.005)
        for cell, e in zip(row[4:-1], sub["exercises"], strict=True):
            assert float(cell["attrs"]["data-v"]) == pytest.approx(e["score"], abs=0.005)
            assert e["status"] in cell["attrs"]["class"].split()
        review = [e["id"] for e in sub["exercises"] if e["needs_review"]]
        if review:
            assert row[-1]["attrs"]["title"] == "needs review: " + ", ".join(review)
            assert "review" in row[-1]["text"]
        else:
            assert row[-1]["text"] == ""
    assert any(e["needs_review"] for s in term.subs.values() for e in s["exercises"])

    # the diagnoses section: every diagnosis, how many submissions have it, where to look
    expected: dict[str, list[str]] = {}
    for name in STUDENTS:
        sub = term.subs[name]
        found = [d for e in sub["exercises"] for d in e["diagnoses"]] + sub["diagnoses"]
        for d in dict.fromkeys(found):
            expected.setdefault(d, []).append(name)
    assert len(expected) >= 3
    diagnoses = table(section(page, '<section id="diagnoses">', "</section>"), "diagnosis-table")
    shown = {row[0]["text"]: row for row in diagnoses.rows}
    assert set(shown) == set(expected)
    for d, row in shown.items():
        assert int(row[1]["text"]) == len(expected[d])
        pages = [urlsplit(h).path for h in row[2]["links"]]
        assert pages == [f"feedback/{n}.html" for n in expected[d][:3]]
        for href in row[2]["links"]:
            target = urlsplit(href)
            assert (term.report / target.path).is_file()
            if target.fragment:
                number = int(target.fragment.removeprefix("ex-"))
                who = term.subs[Path(target.path).stem]
                first = next(i for i, e in enumerate(who["exercises"], 1) if d in e["diagnoses"])
                assert number == first

    # the charts are real PNG images embedded in the page
    for image_id in ("histogram", "pass-rate"):
        m = re.search(
            rf'<img class="chart" id="{image_id}" src="data:image/png;base64,([^"]+)"', page
        )
        assert m, image_id
        png = base64.b64decode(m.group(1))
        assert png.startswith(PNG_MAGIC)
        pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert pixels.shape[1] > 300 and pixels.std() > 0  # drawn, not blank


def test_feedback_pages_show_scores_and_feedback(term: Term) -> None:
    assert sorted(p.name for p in (term.report / "feedback").iterdir()) == sorted(
        f"{s}.html" for s in STUDENTS
    )
    for name in STUDENTS:
        sub = term.subs[name]
        page = (term.report / "feedback" / f"{name}.html").read_text(encoding="utf-8")
        assert f"<h1>Feedback for {name}</h1>" in page
        assert 'href="../index.html"' in page
        if sub["status"] == "invalid":
            assert "Invalid submission:" in page and html.escape(sub["error"]) in page
            assert "notebooks/" not in page
            continue
        assert f"Total: {num(sub['score'])}/{num(sub['max_score'])}" in page
        assert f'href="../notebooks/{name}.ipynb"' in page
        for number, e in enumerate(sub["exercises"], start=1):
            block = section(page, f'<div class="exercise" id="ex-{number}">', "</div>")
            assert f"<code>{html.escape(e['id'])}</code>" in block
            assert f"<strong>{num(e['score'])}/{num(e['max_score'])}</strong>" in block
            assert f'class="{e["status"]}"' in block
            for line in e["feedback"]:
                assert html.escape(line.strip("\n"), quote=True) in block, (name, e["id"], line)
            for d in e["diagnoses"]:
                assert f"<code>{html.escape(d)}</code>" in block
            assert ("needs review" in block) == e["needs_review"]
    dave = (term.report / "feedback" / "dave.html").read_text(encoding="utf-8")
    assert "SyntaxError" in section(dave, '<section id="execution">', "</section>")


def test_grades_csv_canvas_and_moodle(term: Term, tmp_path: Path) -> None:
    ids = [e["id"] for e in term.subs["alice"]["exercises"]]
    raw = (term.report / "grades.csv").read_bytes()
    assert b"\r\n" in raw  # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    canvas_ids = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0] == [*canvas_ids, *ids, "Final Points"]
    maxima = [num(e["max_score"]) for e in term.subs["alice"]["exercises"]]
    assert rows[1] == ["Points Possible", "", "", "", "", *maxima, "(read only)"]
    assert len(rows) == 2 + len(STUDENTS)  # one row per submission
    for row, name in zip(rows[2:], STUDENTS, strict=True):
        sub = term.subs[name]
        assert row[:5] == [name, "", "", name, ""]
        if sub["status"] == "invalid":
            assert row[5:] == [""] * len(ids) + ["0"]
        else:
            assert row[5:] == [num(e["score"]) for e in sub["exercises"]] + [num(sub["score"])]

    # Moodle: the same numbers in its own layout, from the gradebook (nothing graded again)
    work = fork(term, tmp_path)
    before = stored(work / "gb.db")
    moodle = grade(
        work,
        "class",
        *LIMITS,
        "--gradebook",
        "gb.db",
        "--report",
        "report-moodle",
        "--csv-layout",
        "moodle",
        "--format",
        "csv",
    )
    assert moodle.returncode == 2, moodle.stderr
    assert stored(work / "gb.db") == before
    written = (work / "report-moodle" / "grades.csv").read_text(encoding="utf-8")
    assert moodle.stdout.replace("\r\n", "\n") == written.replace("\r\n", "\n")
    rows = list(csv.reader(io.StringIO(written, newline="")))
    assert rows[0] == ["Student", *ids, "Total", "Max total"]
    assert [r[0] for r in rows[1:]] == list(STUDENTS)
    for row in rows[1:]:
        sub = term.subs[row[0]]
        if sub["status"] == "invalid":
            assert row[1:] == [""] * len(ids) + ["0", "0"]
        else:
            expected = [num(e["score"]) for e in sub["exercises"]]
            assert row[1:] == [*expected, num(sub["score"]), num(sub["max_score"])]


def test_annotated_notebooks_have_feedback_after_each_exercise(term: Term) -> None:
    folder = term.report / "notebooks"
    assert sorted(p.stem for p in folder.iterdir()) == sorted(GRADED)  # none for invalid ones
    for name in GRADED:
        sub = term.subs[name]
        nb = read_notebook(folder / f"{name}.ipynb")
        original = read_notebook(term.dir / "class" / f"{name}.ipynb")
        cells = nb["cells"]

        def feedback(cell: Mapping[str, Any]) -> bool:
            return bool(cell.get("metadata", {}).get("grader", {}).get("feedback"))

        # the student's cells, unchanged and in order, outputs included
        own = [c for c in cells if not feedback(c)]
        assert [source(c) for c in own] == [source(c) for c in original["cells"]]
        assert [c.get("outputs") for c in own] == [c.get("outputs") for c in original["cells"]]
        # a summary first, then one feedback cell per exercise with its score
        assert cells[0]["metadata"]["grader"].get("summary") is True
        assert f"**Total: {num(sub['score'])}/{num(sub['max_score'])}**" in source(cells[0])
        placed = {
            c["metadata"]["grader"]["exercise"]: i
            for i, c in enumerate(cells)
            if feedback(c) and "exercise" in c["metadata"]["grader"]
        }
        assert sorted(placed) == sorted(e["id"] for e in sub["exercises"])
        for e in sub["exercises"]:
            text = source(cells[placed[e["id"]]])
            assert f"**Score: {num(e['score'])}/{num(e['max_score'])}**, {e['status']}" in text
        heading = next(
            (i for i, c in enumerate(cells) if feedback(c) and "Not found" in source(c)), None
        )
        for e in sub["exercises"]:
            if e["status"] == "missing":
                assert heading is not None and placed[e["id"]] > heading
        if name in GOOD or name == PARTIAL:  # right after the answer, before the next topic

            def at(predicate: Any, cells: list[Any] = cells) -> int:
                return next(i for i, c in enumerate(cells) if predicate(source(c)))

            start = at(lambda s: s.startswith("def corr2d(X, K):"))
            nxt = at(lambda s: s.startswith("## 7.2.2"))
            assert start < placed["corr2d"] < nxt
            assert all(not feedback(c) for c in cells[start : placed["corr2d"]])
            start = at(lambda s: "blur_kernel =" in s)
            nxt = at(lambda s: s.startswith("### Exercise 2.4"))
            assert start < placed["blur-kernel"] < nxt
    carol = read_notebook(folder / f"{PARTIAL}.ipynb")["cells"]
    assert source(carol[-1]).startswith("### Grader feedback: corr2d-as-matmul")


# --------------------------------------------------------------------------- resuming


def _processes_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _end_group(pgid: int) -> None:
    """SIGKILL whatever is left of the process group we started, and wait for it to go."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _processes_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


SIGINT_GRACE = 10.0  # seconds a Ctrl-C'd batch may take to stop before it is SIGKILLed


@dataclass(frozen=True)
class Interrupted:
    dir: Path  # batch/ (six submissions), gb.db
    names: list[str]
    args: tuple[str, ...]
    kept: dict[int, Row]  # the gradebook after the interruption
    returncode: int
    stopped_by_sigint: bool
    seconds_to_stop: float
    stderr: str


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    """A batch of six submissions, Ctrl-C'd (SIGINT to its process group, as a terminal
    does) once the first result is in the gradebook; SIGKILLed if it does not stop within
    SIGINT_GRACE seconds."""
    base = tmp_path_factory.mktemp("interrupted")
    folder = base / "batch"
    folder.mkdir()
    names = [f"s{i}" for i in range(1, 7)]
    for name in names:
        nb = read_notebook(REFERENCE)
        nb["metadata"]["submitted_by"] = name  # six different files
        # ~0.15 s of grading each is too quick to be interrupted part-way reliably
        nb["cells"].append(
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": "import time\ntime.sleep(0.5)",
            }
        )
        write_notebook(folder / f"{name}.ipynb", nb)
    db = base / "gb.db"
    args = ("batch", *LIMITS, "--gradebook", "gb.db", "--format", "json")
    err = base / "interrupted.err"
    with (base / "interrupted.out").open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.cli", *args],
            cwd=base,
            env=_env(),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, as a terminal job
            preexec_fn=default_sigint,
        )
    try:
        deadline = time.monotonic() + 240
        first: dict[int, Row] = {}
        while not first:
            assert proc.poll() is None, f"the batch ended early: {err.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no result was committed within 240 s"
            time.sleep(0.2)
            with contextlib.suppress(sqlite3.Error):
                first = stored(db) if db.exists() else {}
        os.killpg(proc.pid, signal.SIGINT)
        signalled = time.monotonic()
        try:
            proc.wait(SIGINT_GRACE)
            by_sigint = True
        except subprocess.TimeoutExpired:
            by_sigint = False
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        seconds = time.monotonic() - signalled
    finally:
        _end_group(proc.pid)
    assert not _processes_in_group(proc.pid)
    return Interrupted(
        dir=base,
        names=names,
        args=args,
        kept=stored(db),
        returncode=proc.returncode,
        stopped_by_sigint=by_sigint,
        seconds_to_stop=seconds,
        stderr=err.read_text(),
    )


def test_interrupted_batch_resumes_without_repeating_or_losing_work(
    interrupted: Interrupted,
) -> None:
    db = interrupted.dir / "gb.db"
    kept = interrupted.kept
    assert interrupted.returncode != 0
    assert 1 <= len(kept) < len(interrupted.names), "the batch was not interrupted part-way"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = con.execute(
            "SELECT submission_id, count(*) FROM exercise_results GROUP BY submission_id"
        ).fetchall()
        assert sorted(sid for sid, _ in counts) == sorted(kept)
        assert len({n for _, n in counts}) == 1  # every stored result whole (checked below)
    finally:
        con.close()

    resumed = grade(interrupted.dir, *interrupted.args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    doc = by_student(json.loads(resumed.stdout))
    assert sorted(doc) == interrupted.names  # nothing lost
    assert all(s["status"] == "graded" and s["score"] == s["max_score"] for s in doc.values())
    rows = stored(db)
    # each submission stored exactly once: the stored ones were not graded again ...
    assert len(rows) == len(interrupted.names) == len({r.student for r in rows.values()})
    for sid, row in kept.items():
        assert rows[sid] == row  # ... same row, same graded_at
    # ... and the rest were graded by this run, after the interruption
    new = [r for sid, r in rows.items() if sid not in kept]
    assert sorted(r.student for r in new) == sorted(
        set(interrupted.names) - {r.student for r in kept.values()}
    )
    assert min(r.graded_at for r in new) > max(r.graded_at for r in kept.values())
    for row in rows.values():
        data = (interrupted.dir / "batch" / f"{row.student}.ipynb").read_bytes()
        assert row.content_hash == hashlib.sha256(data).hexdigest()
    con = sqlite3.connect(db)
    try:
        counts = con.execute(
            "SELECT submission_id, count(*) FROM exercise_results GROUP BY submission_id"
        ).fetchall()
    finally:
        con.close()
    exercises = len(doc[interrupted.names[0]]["exercises"])
    assert sorted(counts) == [(sid, exercises) for sid in sorted(rows)]


def test_ctrl_c_stops_the_batch_promptly(interrupted: Interrupted) -> None:
    assert interrupted.stopped_by_sigint, (
        f"still running {interrupted.seconds_to_stop:.0f} s after Ctrl-C"
    )
    assert "Traceback" not in interrupted.stderr


# --------------------------------------------------------------------------- the term goes on


def test_rerun_change_one_file_override_and_regrade(term: Term, tmp_path: Path) -> None:
    work = fork(term, tmp_path)
    db = work / "gb.db"
    args = ("class", *LIMITS, "--gradebook", "gb.db", "--format", "json")
    before = stored(db)

    # 1. nothing changed: nothing graded again, the same output and the same report
    again = grade(work, *args, "--report", "report-again")
    assert again.returncode == 2
    assert stored(db) == before
    assert again.stdout == term.proc.stdout
    original = sorted(p.relative_to(term.report) for p in term.report.rglob("*") if p.is_file())
    rerun = work / "report-again"
    assert sorted(p.relative_to(rerun) for p in rerun.rglob("*") if p.is_file()) == original
    for rel in original:
        if rel.suffix == ".ipynb":  # see test_report_is_byte_identical_on_an_unchanged_rerun
            assert _without_feedback_ids(rerun / rel) == _without_feedback_ids(term.report / rel)
        else:
            assert (rerun / rel).read_bytes() == (term.report / rel).read_bytes(), rel

    # 2. dave fixes his syntax error: only his submission is graded again
    fixed = read_notebook(REFERENCE)
    fixed["metadata"]["resubmitted"] = True
    write_notebook(work / "class" / "dave.ipynb", fixed)
    changed = grade(work, *args)
    assert changed.returncode == 2
    rows = stored(db)
    new = {sid: r for sid, r in rows.items() if sid not in before}
    assert [r.student for r in new.values()] == ["dave"]
    assert all(rows[sid] == row for sid, row in before.items())
    subs = by_student(json.loads(changed.stdout))
    assert subs["dave"]["score"] == subs["dave"]["max_score"] == term.full
    for name in STUDENTS:
        if name != "dave":
            assert subs[name] == term.subs[name]

    # 3. an instructor's override
    override = grade(
        work,
        "override",
        PARTIAL,
        "corr2d-as-matmul",
        "2",
        "--reason",
        REASON,
        "--author",
        "prof",
        "--gradebook",
        "gb.db",
    )
    assert override.returncode == 0, override.stderr
    assert f"{PARTIAL} / corr2d-as-matmul: score set to 2" in override.stdout
    con = sqlite3.connect(db)
    try:
        assert con.execute(
            "SELECT st.name, o.exercise_id, o.score, o.reason, o.author FROM overrides o "
            "JOIN students st ON st.id = o.student_id"
        ).fetchall() == [(PARTIAL, "corr2d-as-matmul", 2.0, REASON, "prof")]
    finally:
        con.close()

    # 4. --regrade grades everything again; the override is kept
    snapshot = stored(db)
    regraded = grade(work, *args, "--regrade", "--report", "report-regraded")
    assert regraded.returncode == 2
    rows = stored(db)
    new = {sid: r for sid, r in rows.items() if sid not in snapshot}
    assert sorted(r.student for r in new.values()) == sorted(GRADED)  # each graded once more
    assert min(r.graded_at for r in new.values()) > max(r.graded_at for r in snapshot.values())
    assert all(rows[sid] == row for sid, row in snapshot.items())  # history is kept
    subs = by_student(json.loads(regraded.stdout))
    carol, before_carol = subs[PARTIAL], term.subs[PARTIAL]
    matmul = exercise(carol, "corr2d-as-matmul")
    assert (matmul["score"], matmul["max_score"], matmul["status"]) == (2, 4, "partial")
    assert matmul["feedback"][-1] == f"score set by instructor: {REASON}"
    assert matmul["needs_review"] is False
    assert carol["score"] == pytest.approx(before_carol["score"] + 2)
    for e, old in zip(carol["exercises"], before_carol["exercises"], strict=True):
        if e["id"] != "corr2d-as-matmul":
            assert e == old
    for name in ("alice", "bob", "dave"):  # regrading is deterministic
        assert scores(subs[name]) == scores(term.subs["alice"])

    report = work / "report-regraded"
    page = (report / "feedback" / f"{PARTIAL}.html").read_text(encoding="utf-8")
    number = next(i for i, e in enumerate(carol["exercises"], 1) if e["id"] == "corr2d-as-matmul")
    block = section(page, f'<div class="exercise" id="ex-{number}">', "</div>")
    assert "<strong>2/4</strong>" in block
    assert html.escape(f"score set by instructor: {REASON}") in block
    assert f"Total: {num(carol['score'])}/{num(carol['max_score'])}" in page
    grades = list(csv.reader(io.StringIO((report / "grades.csv").read_text(), newline="")))
    row = next(r for r in grades if r[0] == PARTIAL)
    column = grades[0].index("corr2d-as-matmul")
    assert (row[column], row[-1]) == ("2", num(carol["score"]))
    index = table((report / "index.html").read_text(encoding="utf-8"), "students")
    row_cells = next(r for r in index.rows if r[0]["text"] == PARTIAL)
    assert row_cells[1]["text"] == f"{num(carol['score'])}/{num(carol['max_score'])}"


def _without_feedback_ids(path: Path) -> dict[str, Any]:
    nb = read_notebook(path)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("grader", {}).get("feedback"):
            cell.pop("id", None)
    return nb


def test_report_is_byte_identical_on_an_unchanged_rerun(term: Term, tmp_path: Path) -> None:
    work = fork(term, tmp_path)
    again = grade(work, "class", *LIMITS, "--gradebook", "gb.db", "--report", "again")
    assert again.returncode == 2
    for page in term.report.rglob("*.ipynb"):
        rel = page.relative_to(term.report)
        assert (work / "again" / rel).read_bytes() == page.read_bytes(), rel


# --------------------------------------------------------------------------- other formats


def test_junit_gradescope_job_summary_and_fail_under(term: Term, tmp_path: Path) -> None:
    work = fork(term, tmp_path)
    cached = (*LIMITS, "--gradebook", "gb.db")  # the stored results: nothing runs again
    before = stored(work / "gb.db")

    junit = grade(work, "class", *cached, "--format", "junit")
    assert junit.returncode == 2
    root = ET.fromstring(junit.stdout)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == list(STUDENTS)
    total = 0
    for suite in suites:
        sub = term.subs[suite.get("name", "")]
        cases = suite.findall("testcase")
        total += len(cases)
        if sub["status"] == "invalid":
            assert [c.get("name") for c in cases] == ["submission"]
            error = cases[0].find("error")
            assert error is not None and error.text == sub["error"]
            continue
        assert len(cases) == len(sub["exercises"])  # one test case per exercise
        assert suite.get("tests") == str(len(cases))
        failing = sum(e["status"] in ("fail", "partial", "missing") for e in sub["exercises"])
        assert suite.get("failures") == str(failing)
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["score"] == num(sub["score"]) and props["student"] == sub["student"]
        for case, e in zip(cases, sub["exercises"], strict=True):
            assert case.get("name") == f"{e['id']}: {e['title']}"
            failure = case.find("failure")
            if e["status"] == "pass":
                assert failure is None and case.find("error") is None
                continue
            assert failure is not None, (sub["student"], e["id"])
            assert failure.get("message") == f"score {num(e['score'])}/{num(e['max_score'])}"
            assert failure.get("type") == e["status"]
            for line in e["feedback"]:
                assert line in (failure.text or "")
    assert root.get("tests") == str(total)

    # Gradescope: results.json of one submission
    gs = grade(work, "class/carol.ipynb", *cached, "--format", "gradescope")
    assert gs.returncode == 0, gs.stderr
    doc = json.loads(gs.stdout)
    carol = term.subs[PARTIAL]
    assert set(doc) == {
        "score",
        "execution_time",
        "output",
        "output_format",
        "tests",
        "visibility",
        "stdout_visibility",
    }
    assert doc["score"] == carol["score"] and isinstance(doc["execution_time"], int)
    assert f"Score: {num(carol['score'])}/{num(carol['max_score'])}" in doc["output"]
    assert (doc["output_format"], doc["visibility"], doc["stdout_visibility"]) == (
        "text",
        "visible",
        "hidden",
    )
    assert [t["name"] for t in doc["tests"]] == [
        f"{e['id']}: {e['title']}" for e in carol["exercises"]
    ]
    for test, e in zip(doc["tests"], carol["exercises"], strict=True):
        assert (test["score"], test["max_score"]) == (e["score"], e["max_score"])
        assert test["status"] == ("passed" if e["status"] == "pass" else "failed")
        assert test["output"] == "\n".join(e["feedback"])
        assert test["visibility"] == "visible"
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(doc["score"])
    bad = grade(work, "class/frank.ipynb", *cached, "--format", "gradescope")
    assert bad.returncode == 2
    bad_doc = json.loads(bad.stdout)
    assert bad_doc["score"] == 0 and bad_doc["tests"] == [] and "PDF" in bad_doc["output"]

    # --fail-under and the GitHub job summary
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    low = grade(work, "class/carol.ipynb", *cached, "--fail-under", "90", env=env)
    assert low.returncode == 1, low.stderr
    high = grade(work, "class/alice.ipynb", *cached, "--fail-under", "90", env=env)
    assert high.returncode == 0, high.stderr
    text = summary.read_text(encoding="utf-8")
    assert text.count("## Grading results") == 2  # appended, as GitHub expects
    percent = round(100 * carol["score"] / carol["max_score"])
    assert (
        f"### carol: {num(carol['score'])}/{num(carol['max_score'])} ({percent}%) "
        "(below the required 90%)" in text
    )
    full = num(term.full)
    assert f"### alice: {full}/{full} (100%) (passes)" in text
    carol_part = section(text, "### carol", "### alice")
    lines = [ln for ln in carol_part.splitlines() if ln.startswith("|")]
    assert lines[:2] == ["| exercise | score | status | feedback |", "|---|---|---|---|"]
    cells = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]
    assert [(c[0], c[1]) for c in cells] == [
        (e["id"], f"{num(e['score'])}/{num(e['max_score'])}") for e in carol["exercises"]
    ]
    assert [c[2].split()[-1] for c in cells] == [e["status"] for e in carol["exercises"]]
    assert stored(work / "gb.db") == before


def test_check_is_labelled_as_public_checks_only(term: Term, tmp_path: Path) -> None:
    shutil.copy(term.dir / "class" / f"{PARTIAL}.ipynb", tmp_path / "mine.ipynb")
    limits = ("--rubric", str(RUBRIC), "--timeout", "10")
    text = grade(tmp_path, "mine.ipynb", "--check", *limits)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("PUBLIC CHECKS ONLY:") and "hidden checks" in lines[0]
    m = re.search(r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)$", lines[2])
    assert m, lines[2]
    public_max = float(m.group(2))
    assert 0 < public_max < term.full
    js = grade(tmp_path, "mine.ipynb", "--check", *limits, "--format", "json")
    doc = json.loads(js.stdout)
    assert doc["public_only"] is True
    (sub,) = doc["submissions"]
    assert sub["max_score"] == public_max and sub["score"] == float(m.group(1))
    assert not (tmp_path / "gradebook.db").exists()  # one file: no gradebook by default


def test_check_results_are_not_reused_as_grades(term: Term, tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    shutil.copy(term.dir / "class" / f"{PARTIAL}.ipynb", tmp_path / "class" / "carol.ipynb")
    args = ("class", *LIMITS, "--gradebook", "gb.db", "--format", "json")
    check = grade(tmp_path, *args, "--check")
    assert check.returncode == 0 and json.loads(check.stdout)["public_only"] is True
    final = by_student(json.loads(grade(tmp_path, *args).stdout))[PARTIAL]
    assert final["max_score"] == term.full
    assert scores(final) == scores(term.subs[PARTIAL])


# --------------------------------------------------------------------------- the browser


def test_report_in_headless_chromium(
    term: Term, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By

    def names() -> list[str]:
        script = (
            "return Array.from(document.querySelectorAll('#students tbody tr'))"
            ".map(r => r.cells[0].textContent.trim())"
        )
        found: list[str] = driver.execute_script(script)
        return found

    graded = [(term.subs[n]["score"], i, n) for i, n in enumerate(STUDENTS) if n in GRADED]
    invalid = [n for n in STUDENTS if n in INVALID]  # no score: last, either way
    ascending = [n for _, _, n in sorted(graded)] + invalid
    descending = [n for _, _, n in sorted(graded, key=lambda t: (-t[0], t[1]))] + invalid

    with chromium(monkeypatch) as driver, serve(term.report) as base:
        driver.get(base + "index.html")
        assert driver.title == "Class report"
        assert names() == list(STUDENTS)
        summary = driver.find_element(By.ID, "summary").text
        assert summary.startswith("7 submissions: 5 graded, 2 invalid")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth])"
        )
        assert sorted(i[:2] for i in images) == [["histogram", True], ["pass-rate", True]]
        assert all(i[2] > 300 for i in images)

        header = driver.find_element(
            By.XPATH, "//table[@id='students']//th[normalize-space()='Score']"
        )
        header.find_element(By.TAG_NAME, "button").click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert names() == ascending
        header.find_element(By.TAG_NAME, "button").click()
        assert header.get_attribute("aria-sort") == "descending"
        assert names() == descending

        driver.execute_script("window.scrollTo(0, 0)")
        height = min(int(driver.execute_script("return document.body.scrollHeight")), 8000)
        try:  # the whole page in one image
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except Exception:
            driver.set_window_size(1280, height + 150)
        shot = ROOT / "artifacts" / "instructor-report.png"
        shot.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(PNG_MAGIC)
        with capsys.disabled():
            print(f"\nscreenshot: {shot}")
        errors = console_errors(driver)

        # every link resolves; each feedback page is its student's; fragments exist
        links: list[str] = driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )
        pages = {urljoin(base, link).split("#")[0] for link in links}
        assert {base + f"feedback/{n}.html" for n in STUDENTS} <= pages
        assert base + "grades.csv" in pages
        for url in sorted(pages):
            assert url.startswith(base), url
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200, url
        for link in links:
            if "/feedback/" in link and "#" in link:
                driver.get(link)
                fragment = urlsplit(link).fragment
                assert driver.find_elements(By.ID, fragment), link
        for name in STUDENTS:
            sub = term.subs[name]
            driver.get(base + f"feedback/{name}.html")
            assert driver.find_element(By.TAG_NAME, "h1").text == f"Feedback for {name}"
            total = driver.find_element(By.ID, "total").text
            if sub["status"] == "invalid":
                assert total.startswith("Invalid submission:")
                assert not driver.find_elements(By.ID, "notebook")
            else:
                assert total.startswith(f"Total: {num(sub['score'])}/{num(sub['max_score'])}")
                href = driver.find_element(By.ID, "notebook").get_attribute("href")
                with urllib.request.urlopen(href, timeout=10) as response:
                    nb = json.loads(response.read())
                assert nb["cells"][0]["metadata"]["grader"]["summary"] is True
            errors += console_errors(driver)
        driver.find_element(By.ID, "back").click()
        assert driver.title == "Class report"
        assert errors + console_errors(driver) == []


# --------------------------------------------------------------------------- action.yml


def _expand(value: str, inputs: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        if expr == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"unexpected expression in action.yml: {expr}")

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def test_action_yml_is_a_composite_action_that_grades(term: Term, tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["name"] and action["description"]
    inputs = action["inputs"]
    defaults = {k: str(v.get("default", "")) for k, v in inputs.items()}
    assert {
        "path": ".",
        "fail-under": "",
        "format": "text",
        "python-version": "3.11",
        "torch-spec": "torch",
        "args": "",
        "report": "",
    }.items() <= defaults.items()
    assert all(v.get("description") for v in inputs.values())
    assert "download.pytorch.org/whl/cpu" in inputs["torch-spec"]["description"]
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    scripts = [s for s in steps if "run" in s]
    for step in scripts:
        assert step["shell"] == "bash"  # composite run steps must name their shell
        assert "${{" not in step["run"], "pass inputs through env, not into the script text"
        check = subprocess.run(["bash", "-n"], input=step["run"], text=True, capture_output=True)
        assert check.returncode == 0, check.stderr
    text = "\n".join(s["run"] for s in scripts)
    assert "apt-get install" in text and "bubblewrap" in text
    assert "GITHUB_ACTION_PATH" in text and "pip install" in text
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert "inputs.report" in upload["if"] and "always()" in upload["if"]
    assert upload["with"]["path"] == "${{ inputs.report }}"
    grading = next(s for s in scripts if s.get("name") == "Grade")

    # run the grading step as the runner would, on the term's class (stored results)
    work = fork(term, tmp_path)
    values = defaults | {
        "path": "class/carol.ipynb",
        "fail-under": "90",
        "format": "json",
        "report": "ci-report",
        "args": "--gradebook gb.db --jobs 2",
    }
    env = {k: _expand(str(v), values) for k, v in grading.get("env", {}).items()}
    summary = tmp_path / "summary.md"
    env |= {"GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    before = stored(work / "gb.db")
    ran = subprocess.run(
        ["bash", "-e", "-c", grading["run"]],
        cwd=work,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 1, ran.stderr[-3000:]  # 82% < 90%: the job fails
    assert stored(work / "gb.db") == before
    doc = json.loads(ran.stdout[ran.stdout.index("{") :])
    assert by_student(doc)[PARTIAL]["score"] == term.subs[PARTIAL]["score"]
    assert "(below the required 90%)" in summary.read_text(encoding="utf-8")
    assert (work / "ci-report" / "index.html").is_file()
