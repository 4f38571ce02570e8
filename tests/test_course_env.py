"""The course's environment (issue 15): a course file names the rubric, the reference and the
kernels' Python; a module of the course's list that the environment lacks is the course's
gap (no points lost, nothing in the student's feedback, one warning per batch with counts);
a failed import outside the list stays the student's; and in the course's real environment
(``make course-env``: the real d2l package from PyPI) a notebook copied from the book runs
with its ``from d2l import torch as d2l`` and gets no environment note, with either engine.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.course import (
    BOOK_MODULES,
    CourseError,
    course_execution,
    excused_cells,
    find_course,
    load_course,
)
from grader.model import (
    CellError,
    CellRun,
    Execution,
    ExecutionSummary,
    SubmissionResult,
)
from grader.report import ReportOptions, render
from grader.report.json_report import JSON_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
REFERENCE = ROOT / "reference" / "d2l-1.0.ipynb"
COURSE_PYTHON = Path(
    os.environ.get("GRADER_COURSE_PYTHON", str(ROOT / ".venv-course" / "bin" / "python"))
)
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"  # no venv: no ipykernel


# --------------------------------------------------------------------------- notebooks


def _reference() -> dict[str, Any]:
    nb: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return nb


def _set(nb: dict[str, Any], index: int, source: str) -> None:
    nb["cells"][index]["source"] = source
    nb["cells"][index]["outputs"] = []


def book_notebook() -> dict[str, Any]:
    """The reference 1.0 notebook with the book's import cell (``from d2l import torch as
    d2l`` first, as the section has it) and its picture answer drawn with ``d2l.plt``."""
    nb = copy.deepcopy(_reference())
    assert "import torch" in "".join(nb["cells"][1]["source"])
    seeded = "\n_ = torch.manual_seed(0)\n"  # as the reference (the engines are compared)
    _set(
        nb,
        1,
        "from d2l import torch as d2l\nimport math\nimport torch\nfrom torch import nn\n" + seeded,
    )
    plot = "".join(nb["cells"][18]["source"])
    assert "plt.subplots" in plot and "d2l" not in plot
    _set(nb, 18, plot.replace("plt.", "d2l.plt."))
    return nb


def typo_notebook() -> dict[str, Any]:
    nb = copy.deepcopy(_reference())
    _set(nb, 1, "".join(nb["cells"][1]["source"]) + "\nimport torhc\n")
    return nb


def _write(folder: Path, **notebooks: dict[str, Any]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, nb in notebooks.items():
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        paths.append(str(path))
    return paths


def _feedback(result: SubmissionResult) -> str:
    """Everything the student reads: every exercise's feedback, diagnoses, execution lines."""
    parts = [line for ex in result.exercises for line in (*ex.feedback, *ex.diagnoses)]
    parts += result.diagnoses
    if result.execution is not None:
        parts += [f"{e.ename}: {e.evalue}" for e in result.execution.errors]
        parts += result.execution.notes
    return "\n".join(parts)


# --------------------------------------------------------------------------- course file


def test_a_course_file_names_the_rubric_reference_and_kernel_python(tmp_path: Path) -> None:
    (tmp_path / "course.yaml").write_text(
        f"rubric: {os.path.relpath(RUBRIC, tmp_path)}\n"
        f"reference: {os.path.relpath(ROOT / 'reference' / 'conv_layer.py', tmp_path)}\n"
        f"environment:\n  python: {sys.executable}\n  modules: [d2l, torchvision]\n"
    )
    course = find_course(None, cwd=tmp_path)
    assert course.rubric == str(RUBRIC)
    assert course.reference == str(ROOT / "reference" / "conv_layer.py")
    assert course.python == sys.executable
    assert course.modules == ("d2l", "torchvision")
    assert find_course(None, cwd=tmp_path / "nowhere").modules == BOOK_MODULES


def test_a_course_file_with_an_unknown_field_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text("rubric: r.yaml\nenvironment:\n  pyhton: /usr/bin/python3\n")
    with pytest.raises(CourseError) as err:
        load_course(path)
    assert (err.value.line, err.value.field) == (3, "environment.pyhton")


def test_a_course_python_without_ipykernel_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text(f"environment:\n  python: {BASE_PYTHON}\n")
    with pytest.raises(CourseError, match="has no ipykernel") as err:
        load_course(path)
    assert err.value.line == 2


def test_grade_refuses_a_kernel_python_that_cannot_run_kernels_in_one_line(
    tmp_path: Path,
) -> None:
    nb = _write(tmp_path / "in", ref=_reference())[0]
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", nb, "--kernel-python", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"grade: error: --kernel-python: {tmp_path / 'nope'} is not an executable Python "
        "interpreter"
    ]


# --------------------------------------------------------------------------- the gap


def _run(index: int, error: CellError | None = None) -> CellRun:
    return CellRun(index=index, error=error)


def test_a_missing_course_module_and_the_names_it_binds_are_the_courses_gap() -> None:
    sources = [
        "from d2l import torch as d2l\nimport torch",
        "d2l.plt.imshow(X)",
        "import torhc",
        "y = undefined_name",
    ]
    execution = Execution(
        cells=(
            _run(0, CellError(1, "ModuleNotFoundError", "No module named 'd2l'")),
            _run(1, CellError(2, "NameError", "name 'd2l' is not defined")),
            _run(2, CellError(3, "ModuleNotFoundError", "No module named 'torhc'")),
            _run(3, CellError(4, "NameError", "name 'undefined_name' is not defined")),
        ),
        seconds=1.0,
        missing_modules=("d2l", "torhc"),
    )
    seen = course_execution(execution, BOOK_MODULES)
    assert (seen.environment, seen.missing_modules) == (("d2l",), ("torhc",))
    assert excused_cells(seen, sources) == {0, 1}
    assert excused_cells(execution, sources) == set()  # no gap: nothing excused


def _result(name: str, gap: tuple[str, ...] = (), status: str = "graded") -> SubmissionResult:
    if status == "invalid":
        return SubmissionResult(path=f"{name}.ipynb", status="invalid", error="unreadable")
    return SubmissionResult(
        path=f"{name}.ipynb",
        status="graded",
        score=1.0,
        max_score=1.0,
        execution=ExecutionSummary(1.0, (), None, environment=gap),
        student=name,
    )


def test_a_batch_names_each_missing_course_module_once_with_its_count() -> None:
    results = [
        _result("a", ("d2l", "torchvision")),
        _result("b", ("torchvision",)),
        _result("c"),
        _result("d", status="invalid"),
    ]
    text = render("text", results, ReportOptions())
    warnings = [line for line in text.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "lacks torchvision (imported by 2 of 3 submissions)" in warnings[0]
    assert "lacks d2l (imported by 1 of 3 submissions)" in warnings[1]
    doc = json.loads(render("json", results, ReportOptions()))
    jsonschema.validate(doc, JSON_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert [(w["module"], w["submissions"], w["total"]) for w in doc["warnings"]] == [
        ("torchvision", 2, 3),
        ("d2l", 1, 3),
    ]
    for sub in doc["submissions"]:  # nothing of it in any student's part
        assert "torchvision" not in json.dumps(sub) and "d2l" not in json.dumps(sub)
    from grader.report.html import render_index

    page = render_index(results)
    assert page.count('id="warnings"') == 1
    assert page.count("lacks torchvision (imported by 2 of 3 submissions)") == 1
    assert "warning" not in render("text", results[2:3], ReportOptions())


def test_the_gradebook_keeps_an_environment_gap(tmp_path: Path) -> None:
    from grader.gradebook import Gradebook

    result = replace(
        _result("a", ("d2l",)), execution=ExecutionSummary(1.0, (), None, ("n",), ("d2l",))
    )
    with Gradebook(str(tmp_path / "g.db")) as book:
        book.record("a", "0" * 64, "r", result)
        assert book.lookup("a", "0" * 64, "r") == result


# --------------------------------------------------------------------------- real kernels


def _grade(
    files: list[str], python: str | None = None, engine: str = "warm"
) -> list[SubmissionResult]:
    from grader.batch import BatchConfig, grade_many
    from grader.execute import course_paths

    config = BatchConfig(
        rubric_path=str(RUBRIC),
        engine=engine,
        jobs=1,
        hidden=tuple(str(p) for p in course_paths(RUBRIC, files)),
        kernel_python=python,
    )
    return grade_many(config, files)


@pytest.mark.kernel
def test_where_d2l_is_missing_a_book_notebook_scores_as_without_its_import(
    tmp_path: Path,
) -> None:
    """The grader's own environment has no d2l (torchvision cannot load beside its CPU
    torch): the book's import costs nothing and the student reads nothing about it."""
    book, ref, typo = _write(
        tmp_path / "class", book=book_notebook(), ref=_reference(), typo=typo_notebook()
    )
    results = _grade([book, ref, typo])
    by_name = {Path(r.path).stem: r for r in results}
    assert by_name["book"].score == by_name["ref"].score == by_name["ref"].max_score
    assert by_name["book"].execution is not None
    assert by_name["book"].execution.environment == ("d2l",)
    said = _feedback(by_name["book"])
    assert "d2l" not in said and "module" not in said.lower()
    assert "missing-module" not in by_name["book"].diagnoses
    # a student's own typo is still the student's
    assert "missing-module" in by_name["typo"].diagnoses
    assert "torhc" in _feedback(by_name["typo"])
    assert by_name["typo"].score < by_name["ref"].score
    text = render("text", results, ReportOptions())
    assert text.count("warning: the grading environment lacks d2l (imported by 1 of 3") == 1


# --------------------------------------------------------------------------- course env


def _course_python() -> str:
    if not COURSE_PYTHON.is_file():
        pytest.skip(
            f"the course environment {COURSE_PYTHON} is not built here: `make course-env` "
            "builds it (`make test` does)"
        )
    return str(COURSE_PYTHON)


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.parametrize("engine", ["warm", "nbclient"])
def test_in_the_course_environment_the_real_d2l_runs_and_nothing_is_excused(
    tmp_path: Path, engine: str
) -> None:
    python = _course_python()
    check = subprocess.run(
        [python, "-c", "import d2l, torchvision; print(d2l.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0 and check.stdout.strip() == "1.0.3", check.stderr
    book, ref, typo = _write(
        tmp_path / "class", book=book_notebook(), ref=_reference(), typo=typo_notebook()
    )
    results = _grade([book, ref, typo], python=python, engine=engine)
    by_name = {Path(r.path).stem: r for r in results}
    for name in ("book", "ref"):
        r = by_name[name]
        assert r.score == r.max_score, _feedback(r)
        assert r.execution is not None
        assert r.execution.environment == () and r.execution.errors == ()
        assert "module" not in _feedback(r).lower()
    assert "missing-module" in by_name["typo"].diagnoses
    assert "warning" not in render("text", results, ReportOptions())
    assert "warnings" not in json.loads(render("json", results, ReportOptions()))


@pytest.mark.slow
@pytest.mark.kernel
def test_in_the_course_environment_both_engines_give_the_same_verdicts(tmp_path: Path) -> None:
    python = _course_python()
    files = _write(tmp_path / "class", book=book_notebook(), typo=typo_notebook())

    def verdicts(engine: str) -> list[Any]:
        return [
            (
                r.score,
                r.diagnoses,
                [(e.id, e.score, e.status, e.feedback) for e in r.exercises],
                r.execution.errors if r.execution else None,
            )
            for r in _grade(files, python=python, engine=engine)
        ]

    assert verdicts("warm") == verdicts("nbclient")


@pytest.mark.slow
@pytest.mark.kernel
def test_a_course_kernel_sees_its_environment_read_only_and_not_the_grader_checkout(
    tmp_path: Path,
) -> None:
    """In the bwrap sandbox the course's venv (inside this checkout, which is hidden) is
    bound read-only, and the rest of the checkout stays invisible."""
    from grader.execute import executor
    from grader.model import Cell, Notebook

    python = _course_python()
    run = executor("warm", sandbox="bwrap", hidden=[ROOT], python=python)
    probe = (
        "import os, sys, d2l\n"
        f"print(sys.executable == {python!r}, os.path.exists({str(ROOT / 'rubrics')!r}),\n"
        f"      os.path.exists({str(ROOT / 'grader' / 'course.py')!r}))\n"
        "try:\n"
        "    open(os.path.join(sys.prefix, 'x'), 'w')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    try:
        with run.run(Notebook("t.ipynb", "ipynb", (Cell(0, "code", probe),))) as live:
            cell = live.execution.cells[0]
    finally:
        run.close()
    assert cell.error is None, cell.error
    assert cell.text.split() == ["True", "False", "False", "OSError"]


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.kernel
def test_grade_with_a_course_file_warns_the_instructor_once_and_a_narrower_list_blames_the_student(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "class", book=book_notebook(), ref=_reference())
    course = tmp_path / "course.yaml"
    course.write_text(
        f"rubric: {RUBRIC}\nenvironment:\n  python: {sys.executable}\n"
    )  # the grader's own environment: no d2l
    proc = _cli(tmp_path, "class", "--format", "json", "--no-gradebook", "--report", "rep")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(w["module"], w["submissions"], w["total"]) for w in doc["warnings"]] == [("d2l", 1, 2)]
    assert {s["score"] for s in doc["submissions"]} == {33}
    said = [ln for ln in proc.stderr.splitlines() if "lacks d2l" in ln]
    assert len(said) == 1 and said[0].startswith(f"grade: warning ({sys.executable}): ")
    page = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    assert page.count("the grading environment lacks d2l (imported by 1 of 2 submissions)") == 1
    for feedback in (tmp_path / "rep").rglob("*.html"):
        if feedback.name != "index.html":
            text = feedback.read_text(encoding="utf-8")
            for word in ("No module named", "lacks d2l", "missing-module", "NameError"):
                assert word not in text, (feedback, word)

    # a course whose list leaves d2l out: then the import is the student's
    course.write_text(f"rubric: {RUBRIC}\nenvironment:\n  modules: [torch, numpy]\n")
    proc = _cli(tmp_path, "class/book.ipynb", "--format", "json")
    doc = json.loads(proc.stdout)
    assert "warnings" not in doc
    assert "missing-module" in doc["submissions"][0]["diagnoses"]
