"""End-to-end: the blind corpus in tests/corpus/blind/ meets its expectations.

Its 72 submissions were written by authors who never saw the grader's code, rubric or other
corpus files, from the section's spec and book sources only, in five rounds (docs/locating.md,
"Measuring it"): notebooks in English and Chinese, write-ups as scripts, jupytext and
Markdown, and a round built to test precision (near-misses that must not be diagnosed, and
catalogued mistakes in unusual words). Each round's expectations are in its own
``expected-<set>.yaml``, in the format of tests/corpus/expected.yaml; where an expectation
was changed to the project's policy, the file says so beside it.

The files are graded the way a class is: one batch with the warm engine (the default on
Linux) and two workers. The nbclient engine's agreement with it is tested on the main corpus
(test_engines_equivalence.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from grader import corpus
from grader.corpus import describe_submission
from grader.model import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "tests" / "corpus" / "blind"
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
EXPECTED: dict[str, dict[str, Any]] = corpus.load_expected(BLIND)

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


@functools.cache
def graded() -> dict[str, SubmissionResult]:
    from grader.batch import BatchConfig, grade_many

    names = list(EXPECTED)
    config = BatchConfig(str(RUBRIC), engine="warm", jobs=2, gradebook=None, sandbox="auto")
    results = grade_many(config, [str(BLIND / n) for n in names])
    return dict(zip(names, results, strict=True))


@functools.cache
def rubric_points() -> dict[str, float]:
    from grader.rubric import load_rubric

    return {ex.id: float(ex.points) for ex in load_rubric(RUBRIC).exercises}


def test_every_blind_file_has_expectations() -> None:
    on_disk = {
        p.name
        for p in BLIND.iterdir()
        if p.is_file() and not p.name.startswith(("expected", ".")) and p.name != "README.md"
    }
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 72
    for file, spec in EXPECTED.items():
        assert spec.get("about"), f"{file}: say what it tests (`about`)"


def _known_bug_cases() -> list[Any]:
    return [
        pytest.param(
            file, key, id=f"{file}:{key}", marks=pytest.mark.xfail(strict=True, reason=why)
        )
        for file, key, why in corpus.known_bugs(EXPECTED)
    ] or [pytest.param("", "", marks=pytest.mark.skip(reason="no known grader bugs are listed"))]


@pytest.mark.parametrize(("file", "key"), _known_bug_cases())
def test_known_grader_bug(file: str, key: str) -> None:
    """The expectations the grader is known to get wrong (strict xfail: fixed -> XPASS)."""
    corpus.check_known_bug(file, EXPECTED[file], key, rubric_points(), graded()[file])


@pytest.mark.parametrize("file", list(EXPECTED))
def test_blind_file(file: str) -> None:
    """Everything the blind expectations say about ``file``."""
    result = graded()[file]
    failures = corpus.unmet(file, EXPECTED[file], rubric_points(), result)
    assert not failures, f"{describe_submission(result)}\n{EXPECTED[file]['about']}\n" + "\n".join(
        failures
    )
