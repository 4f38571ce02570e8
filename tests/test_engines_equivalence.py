"""The warm engine grades exactly like the nbclient engine, in the default sandbox.

The same submissions (the reference notebooks of both editions, the real student
submissions beside this checkout, and every file of tests/corpus/ when it is there) are
graded twice with ``rubrics/conv-layer.yaml``: with a fresh Jupyter kernel per notebook
(``--engine nbclient``) and with kernels forked from the warm server (``--engine warm``),
both with ``--sandbox auto`` (bwrap where it can start). Everything a student or an
instructor sees must be identical: status, score, edition, per exercise the score, status,
diagnoses and feedback, and the execution errors (exception name and cell). Only timings
may differ.

One legitimate exception, reported rather than hidden: a notebook that trains without
seeding the random generator gets different numbers on every run, with either engine.
When the engines disagree on a field, the submission is graded once more with nbclient;
a field on which two nbclient runs disagree as well is nondeterministic, and only its
text with the numbers masked must match (each such case is printed with ``-s``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, ROOT, RUBRIC, SHARED, grade_batch, graded_submission

from grader.model import SubmissionResult

_NOT_SUBMISSIONS = {"expected.yaml", "expected-zh.yaml", "README.md"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


def _submissions() -> dict[str, Path]:
    found = {
        f"reference/{name}": ROOT / "reference" / name
        for name in ("d2l-1.0.ipynb", "d2l-0.17.ipynb")
    }
    for name in ("student-a.ipynb", "student-b-transcript.txt"):
        found[f"shared/{name}"] = SHARED / name
    if CORPUS.is_dir():
        for path in sorted(CORPUS.iterdir()):
            if path.is_file() and path.name not in _NOT_SUBMISSIONS:
                found[f"corpus/{path.name}"] = path
    return found


SUBMISSIONS = _submissions()


def graded(name: str, engine: str, run: int = 1) -> SubmissionResult:
    if engine == "warm" and run == 1:
        return _warm_batch()[name]
    if run == 1:  # every submission's first grading in one batch (test_corpus.py did most)
        grade_batch(list(SUBMISSIONS.values()), engine)
    result: SubmissionResult = graded_submission(SUBMISSIONS[name], engine, run)
    return result


@functools.cache
def _warm_batch() -> dict[str, SubmissionResult]:
    """Every submission graded by the warm engine in one batch (two workers), the way a class
    is graded with it."""
    from grader.batch import BatchConfig, grade_many

    names = list(SUBMISSIONS)
    config = BatchConfig(str(RUBRIC), engine="warm", jobs=2, gradebook=None, sandbox="auto")
    results = grade_many(config, [str(SUBMISSIONS[n]) for n in names])
    return dict(zip(names, results, strict=True))


def verdict(result: SubmissionResult) -> dict[str, Any]:
    """What must not depend on the engine (no timings, no engine name)."""
    execution = result.execution
    return {
        "status": result.status,
        "error": result.error,
        "edition": result.edition,
        "score": result.score,
        "max_score": result.max_score,
        "diagnoses": result.diagnoses,
        "exercises": {
            ex.id: {
                "score": ex.score,
                "max_score": ex.max_score,
                "status": ex.status,
                "diagnoses": ex.diagnoses,
                "feedback": ex.feedback,
                "needs_review": ex.needs_review,
            }
            for ex in result.exercises
        },
        "errors": None if execution is None else [(e.cell, e.ename) for e in execution.errors],
        "killed": None if execution is None else execution.killed,
    }


def _leaves(tree: Any, where: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key in tree for k, v in _leaves(tree[key], f"{where}.{key}").items()}
    return {where: tree}


def _masked(value: Any) -> str:
    return _NUMBER.sub("<n>", repr(value))


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_same_verdict_with_both_engines(name: str) -> None:
    path = SUBMISSIONS[name]
    if not path.is_file() and path.is_relative_to(SHARED) and not SHARED.is_dir():
        pytest.skip(f"the real submissions folder {SHARED} is not beside this checkout")
    if not path.is_file():  # a comparison without its submissions would prove nothing
        pytest.fail(f"{path} is missing: the engine comparison needs it")
    expected = _leaves(verdict(graded(name, "nbclient")))
    got = _leaves(verdict(graded(name, "warm")))
    assert expected.keys() == got.keys()
    differ = [k for k in expected if expected[k] != got[k]]
    if not differ:
        return
    again = _leaves(verdict(graded(name, "nbclient", run=2)))
    unstable = [k for k in differ if again.get(k) != expected[k]]
    for key in unstable:
        print(
            f"\n{name}{key} differs between two nbclient runs too (nondeterministic):"
            f"\n  nbclient: {expected[key]!r}\n  nbclient: {again[key]!r}\n  warm:     {got[key]!r}"
        )
    real = [
        f"{key}: nbclient {expected[key]!r} != warm {got[key]!r}"
        for key in differ
        if key not in unstable or _masked(expected[key]) != _masked(got[key])
    ]
    assert not real, "\n".join(real)


def test_the_comparison_covers_real_grading() -> None:
    """The set is not trivially equal: full marks, lost points and errors all occur."""
    # the real submissions are compared when they are beside this checkout (as in CI)
    present = [n for n, p in SUBMISSIONS.items() if p.is_file() or SHARED.is_dir()]
    missing = [str(SUBMISSIONS[n]) for n in present if not SUBMISSIONS[n].is_file()]
    assert not missing, f"the engine comparison needs these submissions: {missing}"
    results = [graded(n, "warm") for n in present]
    scored = [r for r in results if r.status == "graded"]
    assert any(r.score == r.max_score and r.max_score > 0 for r in scored)
    assert any(r.score < r.max_score for r in scored)
    assert any(r.execution is not None and r.execution.errors for r in scored)
