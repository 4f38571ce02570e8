"""End-to-end: grade the hand-written corpus in tests/corpus/ and check tests/corpus/expected.yaml.

The corpus is ~18 small submissions in different students' styles and formats (.ipynb, a
jupytext percent script, jupytext Markdown, a pasted transcript, invalid files): full-mark
answers for both editions, a tagged template, one submission per rubric diagnosis, notebooks
that only partly run, and degenerate ones. The whole corpus is graded once per session (real
kernels: ~4 s each) by :func:`grade_corpus`, which other tests may reuse.

``expected.yaml`` (and ``expected-zh.yaml``, same format: the Chinese edition's files and an
English notebook with notes in another language) states what the spec says is right. Where
the grader is known to be wrong, that expectation is listed under the file's
``known_grader_bugs`` and checked here as a strict xfail, so the bug stays visible and the
test turns red (XPASS) once it is fixed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import grade_batch, graded_submission

from grader import corpus
from grader.corpus import Expectation, describe_submission, split_key
from grader.model import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
EXPECTED: dict[str, dict[str, Any]] = corpus.load_expected(CORPUS)

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


# ----------------------------------------------------------------------------- grading


@functools.cache
def grade_corpus(engine: str = "nbclient") -> dict[str, SubmissionResult]:
    """Grade every corpus file listed in expected.yaml with ``engine``, once per process.

    Returns ``{file name: SubmissionResult}``. Cached, so tests in other modules that import
    this function (e.g. to compare engines or reporters on real results) share the run.
    """
    # shared with the engine comparison (test_engines_equivalence.py), which grades the same
    # files with the same engine
    grade_batch([CORPUS / name for name in EXPECTED], engine)
    return {name: graded_submission(CORPUS / name, engine) for name in EXPECTED}


@functools.cache
def rubric_points() -> dict[str, float]:
    from grader.rubric import load_rubric

    return {ex.id: float(ex.points) for ex in load_rubric(RUBRIC).exercises}


@pytest.fixture(scope="module")
def corpus_results() -> dict[str, SubmissionResult]:
    return grade_corpus("nbclient")


# ----------------------------------------------------------------------------- expectations


def expectations(file: str, result: SubmissionResult | None = None) -> list[Expectation]:
    return corpus.expectations(file, EXPECTED[file], rubric_points(), result)


def _known_bug_cases() -> Iterator[Any]:
    for file, key, reason in corpus.known_bugs(EXPECTED):
        yield pytest.param(
            file, key, id=f"{file}:{key}", marks=pytest.mark.xfail(strict=True, reason=reason)
        )


# ----------------------------------------------------------------------------- tests


def test_every_corpus_file_has_expectations() -> None:
    on_disk = {
        p.name
        for p in CORPUS.iterdir()
        if p.is_file()
        and not (p.name.startswith("expected") and p.suffix == ".yaml")
        and not p.name.startswith(".")
    }
    assert on_disk == set(EXPECTED), (
        f"not in expected.yaml: {sorted(on_disk - set(EXPECTED))}; "
        f"listed but missing: {sorted(set(EXPECTED) - on_disk)}"
    )
    for file, spec in EXPECTED.items():
        assert spec.get("about"), f"{file}: say what it tests (`about`)"
        for key in spec.get("known_grader_bugs") or {}:
            scope, fields = split_key(key)
            known = scope == "submission" or scope in rubric_points()
            assert known, f"{file}: known_grader_bugs key {key!r} names no exercise"
            for field in fields - {"full_marks", "points"}:  # those two need the result
                assert any(e.scope == scope and e.field == field for e in expectations(file)), (
                    f"{file}: {key!r}: no `{field}` expectation for {scope}"
                )


def test_every_rubric_diagnosis_is_exercised() -> None:
    """Each diagnosis the rubric defines is expected somewhere in the corpus."""
    from grader.rubric import load_rubric

    defined = {d.id for ex in load_rubric(RUBRIC).exercises for d in ex.diagnoses}
    expected: set[str] = set()
    for spec in EXPECTED.values():
        expected.update(spec.get("diagnoses") or [])
        for fields in (spec.get("exercises") or {}).values():
            expected.update(fields.get("diagnoses") or [])
    assert defined <= expected, f"no corpus file exercises {sorted(defined - expected)}"


def test_corpus_grades_fast_enough(corpus_results: dict[str, SubmissionResult]) -> None:
    """Each notebook stays small: none may take long to run (the whole corpus must stay
    well under ~90 s on two cores)."""
    slow = {
        name: r.execution.seconds
        for name, r in corpus_results.items()
        if r.execution is not None and r.execution.seconds > 15
    }
    assert not slow, f"corpus notebooks too slow to run: {slow}"


@pytest.mark.parametrize("file", list(EXPECTED))
def test_corpus_file(file: str, corpus_results: dict[str, SubmissionResult]) -> None:
    """Everything expected.yaml says about ``file``, except its known grader bugs."""
    result = corpus_results[file]
    failures = corpus.unmet(file, EXPECTED[file], rubric_points(), result)
    assert not failures, f"{describe_submission(result)}\n{EXPECTED[file]['about']}\n" + "\n".join(
        failures
    )


@pytest.mark.parametrize(
    ("file", "key"),
    list(_known_bug_cases())
    or [pytest.param("", "", marks=pytest.mark.skip(reason="no known grader bugs are listed"))],
)
def test_known_grader_bug(file: str, key: str, corpus_results: dict[str, SubmissionResult]) -> None:
    """The expectations the grader is known to get wrong (strict xfail: fixed -> XPASS)."""
    corpus.check_known_bug(file, EXPECTED[file], key, rubric_points(), corpus_results[file])
