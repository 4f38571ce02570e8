"""The ``demonstration`` option of the prose check: for "how do you ..." questions, a correct
function shown agreeing with the section's corr2d earns the written-answer point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fakes import FakeRun, context, corr2d, runs_for

from grader.checks import registry
from grader.errors import RubricError
from grader.model import Array, Cell, CellError, CellRun, Execution, Notebook
from grader.rubric import Rubric

QUESTION = (
    "## 4. How do you represent a cross-correlation operation as a matrix multiplication "
    "by changing the input and kernel tensors?"
)
FUNCTION = (
    "def corr2d_matmul(X, K):\n"
    "    h, w = K.shape\n"
    "    cols = X.unfold(0, h, 1).unfold(1, w, 1).reshape(-1, h * w)\n"
    "    return (cols @ K.reshape(-1)).reshape(X.shape[0] - h + 1, X.shape[1] - w + 1)\n"
)
COMPARE = (
    "X, K = torch.randn(5, 6), torch.randn(2, 3)\ntorch.allclose(corr2d_matmul(X, K), corr2d(X, K))"
)


def nb(*cells: tuple[str, str]) -> Notebook:
    return Notebook("t.ipynb", "ipynb", tuple(Cell(i, k, s) for i, (k, s) in enumerate(cells)))  # type: ignore[arg-type]


def explained(rubric: Rubric, notebook: Notebook, execution: Execution, fn: Any = corr2d) -> Any:
    ex = rubric.exercise("corr2d-as-matmul")
    spec = next(c for c in ex.checks if c.label == "matmul-explained")
    fake = FakeRun({"corr2d_matmul": fn, "corr2d": corr2d})
    ctx = context(rubric, "corr2d-as-matmul", notebook, execution, fake)
    return registry()["prose"].run(spec, ctx)


def test_a_correct_function_shown_equal_to_corr2d_earns_the_written_point(rubric: Rubric) -> None:
    notebook = nb(("markdown", QUESTION), ("code", FUNCTION), ("code", COMPARE))
    execution = runs_for(notebook, c2=CellRun(index=2, text="True"))
    r = explained(rubric, notebook, execution)
    assert r.passed and r.score == r.max_score
    assert "demonstration (cell 3" in r.feedback[0]


def test_a_passing_assert_is_a_demonstration(rubric: Rubric) -> None:
    check = "assert torch.allclose(corr2d_matmul(X, K), corr2d(X, K))"
    notebook = nb(("markdown", QUESTION), ("code", FUNCTION), ("code", check))
    assert explained(rubric, notebook, runs_for(notebook)).passed


def test_the_same_array_printed_by_both_functions_is_a_demonstration(rubric: Rubric) -> None:
    notebook = nb(
        ("markdown", QUESTION),
        ("code", FUNCTION + "corr2d_matmul(X_book, K_book)"),
        ("code", "corr2d(X_book, K_book)"),
    )
    shown = Array(np.array([[19.0, 25.0], [37.0, 43.0]], dtype=np.float32))
    execution = runs_for(
        notebook,
        c1=CellRun(index=1, results=(shown,)),
        c2=CellRun(index=2, text="tensor([[19., 25.],\n        [37., 43.]])"),
    )
    assert explained(rubric, notebook, execution).passed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("False", None),  # the comparison came out false
        ("", None),  # nothing displayed
        ("True", CellError(3, "NameError", "name 'corr2d' is not defined")),  # the cell failed
    ],
)
def test_a_comparison_that_is_not_shown_true_earns_nothing(
    rubric: Rubric, text: str, error: CellError | None
) -> None:
    notebook = nb(("markdown", QUESTION), ("code", FUNCTION), ("code", COMPARE))
    r = explained(rubric, notebook, runs_for(notebook, c2=CellRun(index=2, text=text, error=error)))
    assert r.score == 0 and not r.passed


def test_a_wrong_function_shown_true_on_its_own_example_earns_nothing(rubric: Rubric) -> None:
    def flipped(X: Any, K: Any) -> Any:  # right on all-ones inputs only
        return corr2d(X, np.flip(K))

    notebook = nb(("markdown", QUESTION), ("code", FUNCTION), ("code", COMPARE))
    r = explained(
        rubric, notebook, runs_for(notebook, c2=CellRun(index=2, text="True")), fn=flipped
    )
    assert r.score == 0


def test_words_still_count_without_a_demonstration(rubric: Rubric) -> None:
    notebook = nb(
        ("markdown", QUESTION),
        ("markdown", "im2col: every window of X becomes a row, multiplied by vec(K)."),
        ("code", FUNCTION),
    )
    assert explained(rubric, notebook, runs_for(notebook)).passed


def test_a_demonstration_does_not_excuse_a_stated_misconception(rubric: Rubric) -> None:
    notebook = nb(
        ("markdown", QUESTION),
        ("markdown", "Flip the kernel horizontally and vertically, then cross-correlate."),
        ("code", FUNCTION),
        ("code", COMPARE),
    )
    r = explained(rubric, notebook, runs_for(notebook, c3=CellRun(index=3, text="True")))
    assert r.diagnoses == ("matmul-flip-kernel",) and r.score < r.max_score


def test_a_demonstration_naming_no_function_check_is_an_instructor_error(
    rubric: Rubric,
) -> None:
    ex = rubric.exercise("corr2d-as-matmul")
    spec = next(c for c in ex.checks if c.label == "matmul-explained")
    bad = type(spec)(
        **{**spec.__dict__, "options": {**spec.options, "demonstration": {"check": "nope"}}}
    )
    notebook = nb(("markdown", QUESTION), ("code", FUNCTION))
    ctx = context(rubric, "corr2d-as-matmul", notebook, runs_for(notebook), FakeRun({}))
    with pytest.raises(RubricError, match="no function check named 'nope'"):
        registry()["prose"].run(bad, ctx)
