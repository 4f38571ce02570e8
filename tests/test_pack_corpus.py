"""The public pack with real kernels: the corpus graded from the pack and from the full
course gives the same public verdicts and feedback; a student's repository laid out as
docs/ci.md says (the notebook and grader-pack/, nothing else) gets the public score by the
action's command, with the course's rubrics/ and reference/ out of the grader's reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, RUBRIC

from grader.execute import default_engine, executor
from grader.model import SubmissionResult
from grader.pack import write_pack
from grader.pipeline import Grader, Options
from grader.report.json_report import to_dict
from grader.rubric import load_rubric

pytestmark = [pytest.mark.slow, pytest.mark.kernel]

CORPUS = ROOT / "tests" / "corpus"
FILES = sorted(yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))["files"])
STUDENT = "q-style-1.0.ipynb"  # full marks
WEAK = "loop-bound-forum.ipynb"  # a diagnosed mistake in a public check

# Installed as sitecustomize in the grading process: any attempt to open a file of the
# course's rubrics/ or reference/ fails, so a run that succeeds did not read them.
HOOK = """
import os, sys
_BLOCKED = tuple(p for p in os.environ.get("GRADER_TEST_BLOCKED", "").split(os.pathsep) if p)
def _hook(event, args):
    if event == "open" and _BLOCKED and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith(_BLOCKED):
            raise PermissionError(f"{path} is out of the student's reach in this test")
sys.addaudithook(_hook)
"""


def _comparable(result: SubmissionResult) -> dict[str, Any]:
    doc = to_dict(result, public_only=True)
    doc.pop("path", None)
    doc.pop("execution", None)  # seconds differ from run to run
    return doc


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("course") / "grader-pack"
    write_pack(load_rubric(RUBRIC), out)
    return out


def test_the_corpus_gets_the_same_public_verdicts_from_the_pack_as_from_the_full_course(
    pack: Path,
) -> None:
    from grader.pack import load_pack

    run = executor(default_engine())
    public = Options(public_only=True)
    from_pack = Grader(load_pack(pack), run, public)
    from_course = Grader(load_rubric(RUBRIC), run, public)
    packed = {name: from_pack.grade_path(CORPUS / name) for name in FILES}
    full = {name: from_course.grade_path(CORPUS / name) for name in FILES}
    for name in FILES:
        assert _comparable(packed[name]) == _comparable(full[name]), name
    graded = [r for r in packed.values() if r.status == "graded"]
    assert len(graded) >= 12
    # the public part is a real part of the grade: public diagnoses are found, scores differ
    diagnoses = {d for r in graded for d in r.diagnoses}
    assert {"corr2d-loop-bound", "corr2d-flipped", "corr2d-reads-output"} <= diagnoses
    assert "claims-zero-response" not in diagnoses  # a prose diagnosis: hidden
    assert len({r.score for r in graded}) >= 4
    assert packed[STUDENT].score == packed[STUDENT].max_score
    feedback = " ".join(f for e in packed[WEAK].exercises for f in e.feedback)
    assert "public test inputs" in feedback and "hidden test inputs" not in feedback


def _student_repo(tmp_path: Path, pack: Path, notebook: str) -> Path:
    repo = tmp_path / "student-repo"
    repo.mkdir()
    (repo / "convolutions.ipynb").write_bytes((CORPUS / notebook).read_bytes())
    (repo / "grader-pack").mkdir()
    for f in pack.iterdir():
        (repo / "grader-pack" / f.name).write_bytes(f.read_bytes())
    return repo


def _env(tmp_path: Path, blocked: bool) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "GRADER_SEED")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if blocked:
        env["PYTHONPATH"] = str(hook)
        env["GRADER_TEST_BLOCKED"] = os.pathsep.join(
            str((ROOT / d).resolve()) for d in ("rubrics", "reference")
        )
    return env


def _grade(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["grade", *args, "--timeout", "20"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _only(stdout: str) -> dict[str, Any]:
    (sub,) = json.loads(stdout)["submissions"]
    sub.pop("path")
    sub.pop("execution")
    return dict(sub)


@pytest.mark.parametrize("notebook", [STUDENT, WEAK])
def test_a_student_repository_with_only_the_notebook_and_the_pack_gets_its_public_score(
    pack: Path, tmp_path: Path, notebook: str
) -> None:
    repo = _student_repo(tmp_path, pack, notebook)
    blocked = _env(tmp_path, blocked=True)
    # the hook is not blind: the full course cannot be read under it
    denied = _grade(repo, blocked, "--check", "--rubric", str(RUBRIC), "convolutions.ipynb")
    assert denied.returncode == 2 and "out of the student's reach" in denied.stderr
    # the action's command, from the pack alone
    ran = _grade(
        repo, blocked, "--check", "--pack", "grader-pack", "convolutions.ipynb", "--format", "json"
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    student = _only(ran.stdout)
    # the pack found beside the notebook, as the action lays it out
    found = _grade(repo, blocked, "--check", "convolutions.ipynb", "--format", "json")
    assert found.returncode == 0, found.stderr[-2000:]
    assert _only(found.stdout) == student
    # the same command with the full course gives the same public score and feedback
    course = _grade(
        repo,
        _env(tmp_path, blocked=False),
        "--check",
        "--rubric",
        str(RUBRIC),
        "convolutions.ipynb",
        "--format",
        "json",
    )
    assert course.returncode == 0, course.stderr[-2000:]
    assert _only(course.stdout) == student
    assert 0 < student["max_score"] < sum(e.points for e in load_rubric(RUBRIC).exercises)
    if notebook == STUDENT:
        assert student["score"] == student["max_score"]
    else:
        assert student["score"] < student["max_score"]
        assert "corr2d-loop-bound" in student["diagnoses"]


def test_the_actions_grading_step_grades_a_student_repository_from_its_pack(
    pack: Path, tmp_path: Path
) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = action["inputs"]
    assert inputs["pack"]["default"] == "" and "grade pack" in inputs["pack"]["description"]
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Grade")
    values = {k: str(v.get("default", "")) for k, v in inputs.items()} | {
        "path": "convolutions.ipynb",
        "pack": "grader-pack",
        "format": "json",
        "fail-under": "100",
    }
    env = _env(tmp_path, blocked=True)
    for name, value in step["env"].items():
        expr = str(value).removeprefix("${{ inputs.").removesuffix(" }}")
        env[name] = values[expr]
    repo = _student_repo(tmp_path, pack, WEAK)
    ran = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 1, ran.stderr[-2000:]  # below 100% of the public checks
    assert "--pack grader-pack" in ran.stderr
    sub = _only(ran.stdout[ran.stdout.index("{") :])
    assert 0 < sub["score"] < sub["max_score"] and "corr2d-loop-bound" in sub["diagnoses"]
