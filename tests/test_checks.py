"""Each check type on hand-made executions, with a fake process answering the probe."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fakes import FakeRun, context, corr2d, corr2d_loop_bound, runs_for

from grader.checks import registry
from grader.model import Array, Cell, CellError, CellRun, Execution, Notebook
from grader.rubric import Rubric


def nb(*cells: tuple[str, str]) -> Notebook:
    return Notebook("t.ipynb", "ipynb", tuple(Cell(i, k, s) for i, (k, s) in enumerate(cells)))  # type: ignore[arg-type]


def arr(x: Any) -> Array:
    return Array(np.asarray(x, dtype=np.float32))


def run_check(
    rubric: Rubric,
    exercise: str,
    label: str,
    notebook: Notebook,
    execution: Execution,
    fake: FakeRun | None,
) -> Any:
    ex = rubric.exercise(exercise)
    spec = next(c for c in ex.checks if c.label == label)
    ctx = context(rubric, exercise, notebook, execution, fake)
    return registry()[spec.type].run(spec, ctx)


SECTION = nb(
    ("markdown", "### 7.2.1 The Cross-Correlation Operation"), ("code", "def corr2d(X, K): ...")
)


def test_function_check_passes_a_correct_function(rubric: Rubric) -> None:
    fake = FakeRun({"corr2d": corr2d})
    r = run_check(rubric, "corr2d", "corr2d", SECTION, runs_for(SECTION), fake)
    assert r.passed and r.score == r.max_score == 3
    calls = [q for q in fake.requests if q["op"] == "call"]
    assert len(calls) >= 10  # every hidden case, not just one
    dtypes = {a["dtype"] for q in calls for a in q["args"]}
    assert dtypes == {"float32", "float64"}


def test_function_check_names_the_loop_bound_mistake(rubric: Rubric) -> None:
    r = run_check(
        rubric,
        "corr2d",
        "corr2d",
        SECTION,
        runs_for(SECTION),
        FakeRun({"corr2d": corr2d_loop_bound}),
    )
    assert not r.passed and 0 < r.score < 3
    assert r.diagnoses == ("corr2d-loop-bound",)
    text = " ".join(r.feedback)
    assert "range(Y.shape[1])" in text and "hidden test inputs" in text


def test_function_found_by_behaviour_under_another_name(rubric: Rubric) -> None:
    fake = FakeRun({"helper": lambda a: a, "cross_corr_2d": corr2d})
    r = run_check(rubric, "corr2d", "corr2d", SECTION, runs_for(SECTION), fake)
    assert r.passed and "found by what it does" in r.feedback[0]


def test_function_missing_and_dead_process(rubric: Rubric) -> None:
    r = run_check(rubric, "corr2d", "corr2d", SECTION, runs_for(SECTION), FakeRun({}))
    assert not r.found and r.score == 0
    r = run_check(
        rubric,
        "corr2d",
        "corr2d",
        SECTION,
        runs_for(SECTION),
        FakeRun({"corr2d": corr2d}, alive=False),
    )
    assert r.errored and r.score == 0


def test_matmul_hard_coded_for_one_shape(rubric: Rubric) -> None:
    def corr2d_matmul(X: Any, K: Any) -> Any:
        if X.shape != (3, 3) or K.shape != (2, 2):
            raise RuntimeError("shape mismatch")
        return corr2d(X, K)

    notebook = nb(
        (
            "markdown",
            "## 4. How do you represent a cross-correlation operation as a matrix multiplication?",
        ),
        ("code", "def corr2d_matmul(X, K):\n    return W @ X.reshape(-1)"),
    )
    r = run_check(
        rubric,
        "corr2d-as-matmul",
        "matmul-equals-corr2d",
        notebook,
        runs_for(notebook),
        FakeRun({"corr2d_matmul": corr2d_matmul}),
    )
    assert r.diagnoses == ("matmul-fixed-shape",) and 0 < r.score < r.max_score


def test_source_check_requires_a_matrix_product(rubric: Rubric) -> None:
    q = (
        "markdown",
        "## 4. How do you represent a cross-correlation operation as a matrix multiplication?",
    )
    good = nb(q, ("code", "def corr2d_matmul(X, K):\n    return torch.matmul(W, x)"))
    bad = nb(q, ("code", "def corr2d_matmul(X, K):\n    return corr2d(X, K)"))
    assert run_check(
        rubric, "corr2d-as-matmul", "uses-matrix-product", good, runs_for(good), None
    ).passed
    r = run_check(rubric, "corr2d-as-matmul", "uses-matrix-product", bad, runs_for(bad), None)
    assert not r.passed and "does not use a matrix product" in r.feedback[0]


BLUR = nb(
    ("markdown", "## 2.3 How would you design a blur kernel?"),
    ("code", "img = torch.rand(8, 8)\nblur_kernel = torch.ones(3, 3)\nblur_kernel"),
)


def test_property_check_judges_the_named_value_and_diagnoses(rubric: Rubric) -> None:
    execution = runs_for(
        BLUR,
        c1=CellRun(
            index=1,
            bindings={
                "img": arr(np.random.default_rng(0).random((8, 8))),
                "blur_kernel": arr(np.ones((3, 3))),
            },
            results=(arr(np.ones((3, 3))),),
        ),
    )
    r = run_check(rubric, "blur-kernel", "blur-kernel", BLUR, execution, None)
    assert r.diagnoses == ("blur-not-normalized",) and r.score == 1.0  # half of 2 points
    assert any("sum" in line for line in r.feedback)


def test_property_check_finds_an_unnamed_value_by_behaviour(rubric: Rubric) -> None:
    execution = runs_for(
        BLUR,
        c1=CellRun(
            index=1,
            bindings={
                "img": arr(np.random.default_rng(0).random((8, 8))),
                "k": arr(np.ones((3, 3)) / 9),
            },
        ),
    )
    r = run_check(rubric, "blur-kernel", "blur-kernel", BLUR, execution, None)
    assert r.passed and "`k`" in r.feedback[0]


DIAG = nb(
    ("markdown", "# 1. Construct an image X with diagonal edges."),
    ("code", "X = torch.eye(6, 8)\nX"),
    ("markdown", "## 1.1 What happens if you apply the kernel K in this section to it?"),
    ("code", "corr2d(X, K)"),
)
EYE = np.eye(6, 8)
K = np.array([[1.0, -1.0]])


def diag_execution(shown: Any, image: Any = EYE) -> Execution:
    return runs_for(
        DIAG,
        c1=CellRun(index=1, bindings={"X": arr(image)}, results=(arr(image),)),
        c3=CellRun(index=3, results=(arr(shown),)),
    )


def test_output_check_uses_the_students_own_image(rubric: Rubric) -> None:
    r = run_check(
        rubric,
        "diagonal-apply-kernel",
        "apply-output",
        DIAG,
        diag_execution(corr2d(EYE, K)),
        FakeRun({"corr2d": corr2d}),
    )
    assert r.passed and "shape 6×8" in r.feedback[0]
    r = run_check(
        rubric,
        "diagonal-apply-kernel",
        "apply-output",
        DIAG,
        diag_execution(np.zeros((6, 7))),
        FakeRun({"corr2d": corr2d}),
    )
    assert not r.passed and "expected shape 6×7" in r.feedback[0]


def test_output_check_charges_a_wrong_corr2d_only_once(rubric: Rubric) -> None:
    shifted = np.eye(6, 8, k=2)  # its diagonal reaches the last column
    wrong = corr2d_loop_bound(shifted, K)  # what the student's own corr2d gives
    assert not np.allclose(wrong, corr2d(shifted, K))
    r = run_check(
        rubric,
        "diagonal-apply-kernel",
        "apply-output",
        DIAG,
        diag_execution(wrong, shifted),
        FakeRun({"corr2d": corr2d_loop_bound}),
    )
    assert r.passed and "marked under its own exercise" in r.feedback[0]


def test_output_check_reports_the_error_of_a_failing_cell(rubric: Rubric) -> None:
    execution = runs_for(
        DIAG,
        c1=CellRun(index=1, bindings={"X": arr(EYE)}),
        c3=CellRun(index=3, error=CellError(4, "NameError", "name 'corr2d' is not defined")),
    )
    r = run_check(rubric, "diagonal-apply-kernel", "apply-output", DIAG, execution, None)
    assert not r.passed and "cell 4 raised NameError" in r.feedback[0]


def prose_nb(answer: str) -> Notebook:
    return nb(
        (
            "markdown",
            "## 2.4 What is the minimum size of a kernel to obtain a derivative of order d?",
        ),
        ("markdown", answer),
    )


@pytest.mark.parametrize(
    ("answer", "fraction", "diagnoses"),
    [
        ("d + 1 taps: the d-th finite difference [1, -2, 1] for d = 2.", 1.0, ()),
        ("We need a kernel of size 2d+1 (central differences).", 0.0, ("derivative-size-central",)),
        ("2d + 1 is common, but the minimum is d + 1 (forward finite differences).", 1.0, ()),
    ],
)
def test_prose_check(
    rubric: Rubric, answer: str, fraction: float, diagnoses: tuple[str, ...]
) -> None:
    notebook = prose_nb(answer)
    r = run_check(
        rubric, "derivative-kernel-size", "derivative-size", notebook, runs_for(notebook), None
    )
    assert r.score == pytest.approx(fraction * r.max_score)
    assert r.diagnoses == diagnoses


def test_a_bare_right_size_earns_every_point_and_the_why_is_only_suggested(
    rubric: Rubric,
) -> None:
    notebook = prose_nb("d+1")
    r = run_check(
        rubric, "derivative-kernel-size", "derivative-size", notebook, runs_for(notebook), None
    )
    assert r.score == r.max_score and r.passed
    assert any("finite difference" in line for line in r.feedback)  # the advice is shown


@pytest.mark.parametrize(
    ("answer", "diagnosed"),
    [
        ("K.T detects horizontal edges; the book's stripes give a zero matrix, not ours.", False),
        (
            "K.T detects horizontal edges. X is not a horizontal edge, so the output is a zero "
            "matrix.",
            True,
        ),
        ("K.T 检测的是水平边缘。X 不是水平边缘，所以检测不到对角线，输出是一个全 0 的矩阵。", True),
        (
            "K.T detects horizontal edges. The book says ... zero matrix, but that was its "
            "vertical stripes.",
            False,
        ),
    ],
)
def test_a_denial_before_so_is_the_claims_reason_not_its_refutation(
    rubric: Rubric, answer: str, diagnosed: bool
) -> None:
    notebook = nb(("markdown", "### 1.3 What happens if you transpose K?"), ("markdown", answer))
    r = run_check(
        rubric,
        "diagonal-transpose-kernel",
        "transpose-kernel-explained",
        notebook,
        runs_for(notebook),
        None,
    )
    assert ("claims-zero-response" in r.diagnoses) is diagnosed


def test_prose_check_missing_and_review(rubric: Rubric) -> None:
    notebook = nb(
        (
            "markdown",
            "## 2.4 What is the minimum size of a kernel to obtain a derivative of order d?",
        )
    )
    r = run_check(
        rubric, "derivative-kernel-size", "derivative-size", notebook, runs_for(notebook), None
    )
    assert not r.found
    long_answer = prose_nb("It depends on the stencil that one chooses; " * 6)
    r = run_check(
        rubric,
        "derivative-kernel-size",
        "derivative-size",
        long_answer,
        runs_for(long_answer),
        None,
    )
    assert r.needs_review and r.score == 0


AUTOGRAD = nb(
    (
        "markdown",
        "# 3. When you try to automatically find the gradient for the "
        "Conv2D class we created, what kind of error message do you see?",
    ),
    ("code", "out = net(X)\nout.backward()"),
)


def test_error_check_accepts_an_explained_error_kind(rubric: Rubric) -> None:
    err = CellError(2, "RuntimeError", "grad can be implicitly created only for scalar outputs")
    r = run_check(
        rubric,
        "autograd-error",
        "autograd-evidence",
        AUTOGRAD,
        runs_for(AUTOGRAD, c1=CellRun(index=1, error=err)),
        None,
    )
    assert r.passed and "sum it first" in r.feedback[0]
    r = run_check(rubric, "autograd-error", "autograd-evidence", AUTOGRAD, runs_for(AUTOGRAD), None)
    assert r.passed and "without an error" in r.feedback[0]
    err = CellError(2, "AttributeError", "'Conv2D' object has no attribute 'grad'")
    r = run_check(
        rubric,
        "autograd-error",
        "autograd-evidence",
        AUTOGRAD,
        runs_for(AUTOGRAD, c1=CellRun(index=1, error=err)),
        None,
    )
    assert not r.passed and "net.weight.grad" in r.feedback[0]


def test_runs_check_and_execution_diagnoses(rubric: Rubric) -> None:
    notebook = nb(
        ("code", "from d2l import torch as d2l"),
        ("code", "for i in x:\nprint(i)"),
        ("code", "y = z"),
        ("code", "z = 1"),
    )
    execution = Execution(
        cells=(
            CellRun(0, error=CellError(1, "ModuleNotFoundError", "No module named 'd2l'")),
            CellRun(1, error=CellError(2, "IndentationError", "expected an indented block")),
            CellRun(
                2, attempts=2, first_error=CellError(3, "NameError", "name 'z' is not defined")
            ),
            CellRun(3),
        ),
        seconds=1.0,
        missing_modules=("d2l",),
        notes=("added missing `import torch`",),
    )
    r = run_check(rubric, "notebook-runs", "runs", notebook, execution, None)
    assert r.score == pytest.approx(0.25)
    assert set(r.diagnoses) == {"runs-out-of-order", "missing-module", "indentation-lost"}
    text = "\n".join(r.feedback)
    assert "Missing here: d2l" in text and "cells 3 ran only after" in text
    assert "Added missing `import torch`" in text
