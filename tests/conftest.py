"""Shared fixtures: paths of the course material and a rubric loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.model import Cell, Notebook
from grader.rubric import Rubric, load_rubric

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
SHARED = ROOT.parent / "shared" / "submissions"


def code_notebook(*sources: str) -> Notebook:
    """A notebook of code cells, in this order."""
    return Notebook("t.ipynb", "ipynb", tuple(Cell(i, "code", s) for i, s in enumerate(sources)))


@pytest.fixture(scope="session")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="session")
def shared_submissions() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the real submissions folder {SHARED} is not beside this checkout")
    return SHARED
