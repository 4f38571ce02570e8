"""`grade` end to end, as a user runs it: real kernels, real sandbox, JSON on stdout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
import pytest
from conftest import ROOT

from grader.report.json_report import JSON_SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


def grade(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def exercise(sub: dict[str, Any], exercise_id: str) -> dict[str, Any]:
    return next(e for e in sub["exercises"] if e["id"] == exercise_id)


@pytest.fixture(scope="module")
def class_run(
    tmp_path_factory: pytest.TempPathFactory, shared_submissions: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("class")
    shutil.copy(ROOT / "reference" / "d2l-1.0.ipynb", folder / "alice.ipynb")
    shutil.copy(shared_submissions / "student-a.ipynb", folder / "bob.ipynb")
    shutil.copy(shared_submissions / "student-b-transcript.txt", folder / "carol.txt")
    (folder / "dave.ipynb").write_text('{"cells": [1, 2')
    proc = grade(str(folder), "--format", "json", "--no-gradebook", "--jobs", "2")
    doc = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    return proc, {Path(s["path"]).name: s for s in doc["submissions"]}


def test_json_document_matches_the_documented_shape(class_run: Any) -> None:
    proc, subs = class_run
    jsonschema.validate(json.loads(proc.stdout), JSON_SCHEMA)
    assert list(subs) == ["alice.ipynb", "bob.ipynb", "carol.txt", "dave.ipynb"]


def test_invalid_file_gets_one_line_and_the_rest_is_graded(class_run: Any) -> None:
    proc, subs = class_run
    assert proc.returncode == 2
    dave = subs["dave.ipynb"]
    assert dave["status"] == "invalid" and dave["execution"] is None
    assert "dave.ipynb" in dave["error"] and "\n" not in dave["error"]
    assert [ln for ln in proc.stderr.splitlines() if "dave.ipynb" in ln] == [
        f"grade: {dave['error']}"
    ]
    assert all(subs[n]["status"] == "graded" for n in ("alice.ipynb", "bob.ipynb", "carol.txt"))


def test_reference_notebook_gets_full_marks(class_run: Any) -> None:
    alice = class_run[1]["alice.ipynb"]
    assert alice["edition"] == "d2l-1.0"
    assert alice["score"] == alice["max_score"] == 33
    assert all(e["status"] == "pass" for e in alice["exercises"])
    assert alice["execution"]["errors"] == [] and alice["execution"]["killed"] is None


def test_student_a_collapsed_indentation_is_explained(class_run: Any) -> None:
    bob = class_run[1]["bob.ipynb"]
    assert bob["edition"] == "d2l-1.0"
    runs = exercise(bob, "notebook-runs")
    assert "indentation-lost" in runs["diagnoses"]
    assert any("lost their indentation" in f for f in runs["feedback"])
    # torchvision is a module of the course (the book's): its absence is the course's gap
    assert "missing-module" not in bob["diagnoses"]
    errors = bob["execution"]["errors"]
    assert errors[0] == {"cell": 2, "ename": "IndentationError", "evalue": errors[0]["evalue"]}
    # what did not depend on the broken cells is still graded
    assert exercise(bob, "blur-kernel")["status"] == "pass"
    assert "derivative-size-central" in exercise(bob, "derivative-kernel-size")["diagnoses"]
    assert 0 < bob["score"] < bob["max_score"]


def test_student_b_transcript_section_code(class_run: Any) -> None:
    carol = class_run[1]["carol.txt"]
    for ex in ("corr2d", "conv2d-layer", "learn-kernel"):
        assert exercise(carol, ex)["status"] == "pass", exercise(carol, ex)["feedback"]
    assert "missing-module" not in carol["diagnoses"]  # d2l: the course's gap, not hers
    assert exercise(carol, "blur-kernel")["status"] == "missing"


def test_hidden_material_stays_hidden(class_run: Any) -> None:
    proc, _ = class_run
    reference = (ROOT / "reference" / "conv_layer.py").read_text()
    for line in reference.splitlines():
        if len(line.strip()) > 30 and not line.strip().startswith(("#", '"', "'")):
            assert line.strip() not in proc.stdout


def test_fail_under_sets_the_exit_code(shared_submissions: Path) -> None:
    low = grade(
        str(shared_submissions / "student-b-transcript.txt"),
        "--fail-under",
        "50",
        "--format",
        "json",
    )
    assert low.returncode == 1
    ok = grade(
        str(shared_submissions / "student-b-transcript.txt"),
        "--fail-under",
        "10",
        "--format",
        "json",
    )
    assert ok.returncode == 0


def test_usage_errors_exit_2() -> None:
    assert grade().returncode == 2
    bad = grade("x.ipynb", "--memory", "lots")
    assert bad.returncode == 2 and "--memory" in bad.stderr
    assert grade("x.ipynb", "--rubric", "nothere.yaml").returncode == 2


def test_template_graded_by_tags(tmp_path: Path) -> None:
    """A student fills in two cells of the assigned template; the tags place them."""
    nb = nbformat.read(ROOT / "exercises" / "d2l-1.0.ipynb", as_version=4)
    for cell in nb.cells:
        eid = cell.metadata.get("grader", {}).get("exercise")
        if eid == "blur-kernel" and cell.cell_type == "code":
            cell.source = "k = torch.ones(3, 3) / 9\nk"
        elif (
            eid == "derivative-kernel-size"
            and cell.cell_type == "markdown"
            and cell.source.startswith("*Your")
        ):
            cell.source = "d + 1 taps, the d-th finite difference."
    path = tmp_path / "filled.ipynb"
    nbformat.write(nb, str(path))
    proc = grade(str(path), "--format", "json")
    sub = json.loads(proc.stdout)["submissions"][0]
    assert exercise(sub, "blur-kernel")["score"] >= 2
    assert exercise(sub, "derivative-kernel-size")["status"] == "pass"
    assert exercise(sub, "corr2d")["score"] == 0
