"""`grade validate --corpus`: a folder's expected verdicts counted against the grader's."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.rubric import Rubric
from grader.tools import validate_corpus


def _folder(tmp_path: Path, expected: str) -> Path:
    (tmp_path / "junk.ipynb").write_text("this is not a notebook", encoding="utf-8")
    (tmp_path / "expected.yaml").write_text(expected, encoding="utf-8")
    return tmp_path


def test_a_corpus_whose_verdicts_are_all_met_agrees_fully(rubric: Rubric, tmp_path: Path) -> None:
    folder = _folder(tmp_path, "files:\n  junk.ipynb: {about: x, invalid: true, error: json}\n")
    rows = validate_corpus(folder, rubric, "nbclient")
    assert [r.ok for r in rows] == [True, True]
    assert rows[-1].detail.startswith("1/1 expected verdicts met (100.0%)")


def test_an_unmet_verdict_fails_its_file_and_the_agreement(rubric: Rubric, tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, "files:\n  junk.ipynb: {about: x, invalid: true, error: 'no such words'}\n"
    )
    rows = validate_corpus(folder, rubric, "nbclient")
    assert [r.ok for r in rows] == [False, False]
    assert "0/1 expected verdicts met" in rows[0].detail and "no such words" in rows[0].detail


def test_a_known_grader_bug_is_counted_but_does_not_fail(rubric: Rubric, tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        "files:\n  junk.ipynb:\n    about: x\n    invalid: true\n    error: 'no such words'\n"
        "    known_grader_bugs: {submission.invalid: a listed bug}\n",
    )
    rows = validate_corpus(folder, rubric, "nbclient")
    assert [r.ok for r in rows] == [True, True]
    assert "1 known grader bugs" in rows[-1].detail


def test_a_folder_without_expectations_is_a_clear_failure(rubric: Rubric, tmp_path: Path) -> None:
    rows = validate_corpus(tmp_path, rubric, "nbclient")
    assert len(rows) == 1 and not rows[0].ok and "expected" in rows[0].detail


def test_a_status_alone_is_an_exercise_expectation_and_a_bad_entry_says_where() -> None:
    from grader import corpus as corpus_module

    points = {"corr2d": 3.0}
    short = corpus_module.expectations("a.ipynb", {"exercises": {"corr2d": "pass"}}, points)
    assert [e.key for e in short if e.scope == "corr2d"] == ["corr2d.status"]
    with pytest.raises(ValueError, match=r"b.ipynb: corr2d: give a status"):
        corpus_module.expectations("b.ipynb", {"exercises": {"corr2d": 3}}, points)
