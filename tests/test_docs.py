"""The documentation stays true to the code: the rubric example loads, every id is listed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import ROOT

from grader.rubric import Rubric, load_rubric


def test_rubric_example_in_the_docs_is_a_valid_rubric(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "rubrics.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    (tmp_path / "rubrics").mkdir()
    shutil.copytree(ROOT / "reference", tmp_path / "reference")
    path = tmp_path / "rubrics" / "example.yaml"
    path.write_text(example.group(1))
    rubric = load_rubric(path)
    assert [e.id for e in rubric.exercises] == ["blur-kernel"]
    assert not rubric.exercises[0].checks[1].public


def test_every_exercise_and_diagnosis_is_documented(rubric: Rubric) -> None:
    text = (ROOT / "docs" / "exercises.md").read_text()
    for ex in rubric.exercises:
        assert f"`{ex.id}`" in text, ex.id
        for d in ex.diagnoses:
            assert f"`{d.id}`" in text, d.id


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
