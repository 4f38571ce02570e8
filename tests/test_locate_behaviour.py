"""Locating answers by what the cells computed (grader.behaviour), on hand-made executions.

The whole pipeline runs (text locate, then the checks with their behaviour search in the
rubric's order); only the kernel is replaced by a recorded execution and a fake probe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from fakes import FakeRun, corr2d

from grader.model import Array, Cell, CellRun, Execution, ExerciseResult, Notebook, Value
from grader.pipeline import Grader, Options
from grader.rubric import Rubric

K = np.array([[1.0, -1.0]])
EYE = np.eye(6)
BOOK_X = np.ones((6, 8))
BOOK_X[:, 2:6] = 0


def arr(x: Any) -> Array:
    return Array(np.asarray(x, dtype=np.float32))


class _Run:
    def __init__(self, execution: Execution, fake: FakeRun) -> None:
        self.execution = execution
        self._fake = fake

    @property
    def alive(self) -> bool:
        return True

    def probe(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._fake.probe(request)

    def probe_many(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._fake.probe(r) for r in requests]


class _Executor:
    """Serves one hand-made execution record and answers the probe with plain functions."""

    name = "fake"

    def __init__(self, execution: Execution, functions: Mapping[str, Any]) -> None:
        self.execution = execution
        self.functions = functions

    @contextmanager
    def run(self, notebook: Notebook) -> Iterator[_Run]:
        yield _Run(self.execution, FakeRun(self.functions))


def grade(
    rubric: Rubric,
    cells: list[tuple[str, str, dict[str, Any]]],
    functions: Mapping[str, Any] | None = None,
    edition: str = "d2l-1.0",
    book_corr2d: bool = True,
) -> dict[str, ExerciseResult]:
    """``cells``: (kind, source, what the cell left: {"results": [...], "bindings": {...},
    "text": ...}). Returns the exercise results by id."""
    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        tuple(Cell(i, k, s) for i, (k, s, _) in enumerate(cells)),  # type: ignore[arg-type]
    )
    runs = []
    for i, (kind, _, left) in enumerate(cells):
        if kind != "code":
            continue
        results: tuple[Value, ...] = tuple(
            v if isinstance(v, bool | Array) else arr(v) for v in left.get("results", [])
        )
        bindings: dict[str, Value] = {k: arr(v) for k, v in left.get("bindings", {}).items()}
        runs.append(CellRun(index=i, text=left.get("text", ""), results=results, bindings=bindings))
    execution = Execution(cells=tuple(runs), seconds=0.1)
    fns = {**({"corr2d": corr2d} if book_corr2d else {}), **(functions or {})}
    g = Grader(rubric, _Executor(execution, fns), Options(edition=edition))  # type: ignore[arg-type]
    result = g.grade_notebook(notebook)
    return {r.id: r for r in result.exercises}


def md(text: str) -> tuple[str, str, dict[str, Any]]:
    return ("markdown", text, {})


def code(source: str, **left: Any) -> tuple[str, str, dict[str, Any]]:
    return ("code", source, left)


def check(results: Mapping[str, ExerciseResult], exercise: str, label: str) -> Any:
    return next(c for c in results[exercise].checks if c.check == f"{exercise}/{label}")


SECTION = [
    md("Cross-correlation, my way"),
    code("def corr2d(X, K):\n    ...\n"),
    code(
        "X = torch.ones((6, 8))\nX[:, 2:6] = 0\nK = torch.tensor([[1.0, -1.0]])",
        bindings={"X": BOOK_X, "K": K},
    ),
    code("Y = corr2d(X, K)\nY", bindings={"Y": corr2d(BOOK_X, K)}, results=[corr2d(BOOK_X, K)]),
]


# ----------------------------------------------------------------------------- found


def test_a_learned_kernel_displayed_after_the_students_own_words_is_found(rubric: Rubric) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md("Now we try to get K back from X and Y by gradient descent."),
            code("net = nn.Conv2d(1, 1, (1, 2), bias=False)\nfor i in range(10):\n    ...\n"),
            code("net.weight.data.reshape((1, 2))", results=[[[1.02, -0.97]]]),
        ],
    )
    learn = r["learn-kernel"]
    assert learn.status == "pass" and learn.score == 2
    text = " ".join(learn.feedback)
    assert "cell 7" in text and "by what it computes" in text
    assert 6 in learn.cells  # the cell joins the answer (0-based)


def test_the_sections_own_kernel_is_not_a_learned_kernel(rubric: Rubric) -> None:
    r = grade(rubric, [*SECTION, code("K", results=[K])])
    assert r["learn-kernel"].status == "missing" and r["learn-kernel"].score == 0


def test_code_after_a_pasted_list_of_questions_answers_each_question(rubric: Rubric) -> None:
    questions = md(
        "## Exercises\n\n"
        "1. Construct an image X with diagonal edges.\n"
        "    * see code\n"
        "    1. What happens if you apply the kernel K in this section to it?\n"
        "        * +1 on the diagonal and -1 below it, not zeros\n"
        "    2. What happens if you transpose X?\n"
        "        * same thing, still detected\n"
        "    3. What happens if you transpose K?\n"
        "        * it detects the horizontal edges, still finds the diagonal\n"
        "4. How do you represent a cross-correlation operation as a matrix multiplication?\n"
        "    * unroll the windows (im2col)\n"
    )
    r = grade(
        rubric,
        [
            *SECTION,
            questions,
            code(
                "#1\nX = torch.zeros(6, 6)\nfor i in range(6):\n    X[i, i] = 1\nX",
                bindings={"X": EYE},
                results=[EYE],
            ),
            code("corr2d(X, K)", results=[corr2d(EYE, K)]),
            code("corr2d(X.T, K)", results=[corr2d(EYE.T, K)]),
            code("corr2d(X, K.T)", results=[corr2d(EYE, K.T)]),
        ],
    )
    for eid in (
        "diagonal-edges",
        "diagonal-apply-kernel",
        "diagonal-transpose-input",
        "diagonal-transpose-kernel",
    ):
        assert r[eid].status == "pass", (eid, r[eid].feedback)
    assert 7 in r["diagonal-transpose-input"].cells  # the X.T cell, not the plain one
    assert 8 in r["diagonal-transpose-kernel"].cells


def test_one_displayed_matrix_answers_one_question(rubric: Rubric) -> None:
    # eye is symmetric: corr2d(X.T, K) == corr2d(X, K); shown once, it cannot answer both
    r = grade(
        rubric,
        [
            *SECTION,
            code("X = torch.eye(6)\nX", bindings={"X": EYE}, results=[EYE]),
            code("corr2d(X.T, K)", results=[corr2d(EYE.T, K)]),
        ],
    )
    took = [
        eid
        for eid in ("diagonal-apply-kernel", "diagonal-transpose-input")
        if check(r, eid, "apply-output" if "apply" in eid else "transpose-input-output").passed
    ]
    assert took == ["diagonal-transpose-input"]


def test_a_wrong_answer_in_its_section_and_a_right_one_elsewhere_is_credited_for_review(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md("### 2.3 Blur"),
            code("blur = torch.ones(3, 3)\nblur", bindings={"blur": np.ones((3, 3))}),
            md("## scratch"),
            code("avg = torch.ones(3, 3) / 9", bindings={"avg": np.ones((3, 3)) / 9}),
        ],
    )
    c = check(r, "blur-kernel", "blur-kernel")
    assert c.passed and c.needs_review
    assert "cell 8" in " ".join(c.feedback) and "`blur`" in " ".join(c.feedback)


def test_a_matmul_function_without_a_heading_is_found_and_its_source_checked(
    rubric: Rubric,
) -> None:
    def conv_as_matrix(X: Any, K: Any) -> Any:
        return corr2d(X, K)

    r = grade(
        rubric,
        [
            *SECTION,
            code(
                "def conv_as_matrix(X, K):\n    W = build(X, K)\n"
                "    return (W @ X.reshape(-1)).reshape(2, 2)\n"
            ),
        ],
        {"conv_as_matrix": conv_as_matrix},
    )
    assert check(r, "corr2d-as-matmul", "matmul-equals-corr2d").passed
    assert check(r, "corr2d-as-matmul", "uses-matrix-product").passed
    assert 4 in r["corr2d-as-matmul"].cells


def test_a_second_plain_loop_is_not_taken_for_the_matmul_answer(rubric: Rubric) -> None:
    r = grade(
        rubric,
        [*SECTION, code("def corr2d_v2(X, K):\n    for i in range(3):\n        pass\n")],
        {"corr2d_v2": corr2d},
    )
    assert not check(r, "corr2d-as-matmul", "matmul-equals-corr2d").passed


# ----------------------------------------------------------------------------- no false credit

SECOND = np.array([[1.0, -2.0, 1.0]])
RIGHT: dict[str, tuple[str, str, Any]] = {
    # exercise -> (check label, source, a right value)
    "diagonal-edges": ("diagonal-image", "D = torch.eye(6)", EYE),
    "learn-kernel": ("learned-kernel", "w = net.weight.data", np.array([[1.01, -0.98]])),
    "second-derivative-kernel": (
        "second-derivative-kernel",
        "K2 = torch.tensor([[1., -2., 1.]])",
        SECOND,
    ),
    "blur-kernel": ("blur-kernel", "B = torch.ones(3, 3) / 9", np.ones((3, 3)) / 9),
}


@pytest.mark.parametrize("exercise", sorted(RIGHT))
def test_a_value_under_another_questions_heading_is_not_credited(
    rubric: Rubric, exercise: str
) -> None:
    label, source, value = RIGHT[exercise]
    other = "### 3. autograd" if exercise != "autograd-error" else "### 4. matmul"
    r = grade(rubric, [md(other), code(source, bindings={"v": value}, results=[value])])
    assert not check(r, exercise, label).passed


def test_an_integral_kernel_under_another_heading_is_not_credited(rubric: Rubric) -> None:
    ones = np.ones((1, 8))
    r = grade(
        rubric,
        [md("### 2. autograd"), code("# running sum\nS = torch.ones(1, 8)", bindings={"S": ones})],
        edition="d2l-0.17",
    )
    assert not check(r, "integral-kernel", "integral-kernel").passed
    r = grade(
        rubric,
        [
            md("my notes"),
            code("# running sum (integral)\nS = torch.ones(1, 8)", bindings={"S": ones}),
        ],
        edition="d2l-0.17",
    )
    assert check(r, "integral-kernel", "integral-kernel").passed


@pytest.mark.parametrize(
    ("exercise", "label", "source", "shown"),
    [
        ("diagonal-apply-kernel", "apply-output", "corr2d(X, K)", corr2d(EYE, K)),
        ("diagonal-transpose-input", "transpose-input-output", "corr2d(X.T, K)", corr2d(EYE.T, K)),
        (
            "diagonal-transpose-kernel",
            "transpose-kernel-output",
            "corr2d(X, K.T)",
            corr2d(EYE, K.T),
        ),
    ],
)
def test_an_output_under_another_questions_heading_is_not_credited(
    rubric: Rubric, exercise: str, label: str, source: str, shown: Any
) -> None:
    r = grade(
        rubric,
        [
            md("### 1. A diagonal image"),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("### 2.3 Blur"),
            code(source, results=[shown]),
        ],
    )
    assert not check(r, exercise, label).passed


def test_the_sections_edge_image_output_is_not_the_diagonal_answer(rubric: Rubric) -> None:
    r = grade(rubric, [*SECTION, code("X2 = torch.eye(6)", bindings={"X2": EYE})])
    assert not check(r, "diagonal-apply-kernel", "apply-output").passed


def test_a_directional_kernel_under_another_heading_is_not_credited(rubric: Rubric) -> None:
    def edge(v1: float, v2: float) -> Any:
        return np.array([[-(v1 + v2), v1], [v2, 0.0]])

    src = "def edge(v1, v2):\n    return torch.tensor([[-(v1 + v2), v1], [v2, 0.0]])\n"
    r = grade(rubric, [md("### 2.3 Blur"), code(src)], {"edge": edge})
    assert not check(r, "directional-edge-kernel", "directional-kernel").passed
    r = grade(rubric, [md("scratch work"), code(src)], {"edge": edge})
    assert check(r, "directional-edge-kernel", "directional-kernel").passed


def test_a_matmul_function_under_another_heading_is_not_credited(rubric: Rubric) -> None:
    src = "def mm(X, K):\n    return (W @ X.reshape(-1))\n"
    r = grade(rubric, [md("### 2.3 Blur"), code(src)], {"mm": corr2d})
    assert not check(r, "corr2d-as-matmul", "matmul-equals-corr2d").passed


# ----------------------------------------------------------------------------- text, not code


def test_a_forum_paste_with_typographic_quotes_is_named_and_its_kernel_judged_from_the_text(
    rubric: Rubric,
) -> None:
    from grader.model import CellError

    src = "# 2.2 second derivative\nK2 = torch.tensor([[1., -2., 1.]])\nprint(“K2”, K2)\n"
    notebook_cells = [md("### 2.2 Second derivative"), code(src)]
    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        tuple(Cell(i, k, s) for i, (k, s, _) in enumerate(notebook_cells)),  # type: ignore[arg-type]
    )
    err = CellError(2, "SyntaxError", "invalid character '“' (U+201C)")
    execution = Execution(cells=(CellRun(index=1, error=err),), seconds=0.1)
    result = Grader(rubric, _Executor(execution, {}), Options(edition="d2l-1.0")).grade_notebook(
        notebook
    )  # type: ignore[arg-type]
    r = {e.id: e for e in result.exercises}
    assert "typographic-quotes" in r["notebook-runs"].diagnoses
    assert "Cells: 2" in " ".join(r["notebook-runs"].feedback)
    k = check(r, "second-derivative-kernel", "second-derivative-kernel")
    assert k.passed and k.needs_review
    assert "could not run" in " ".join(k.feedback)


def test_an_output_pasted_in_a_docstring_is_judged_below_what_was_computed(
    rubric: Rubric,
) -> None:
    row = "[0.1111, 0.1111, 0.1111]"
    pasted = f'# 2.3 blur\nB = make_blur()\n"""\ntensor([{row},\n {row},\n {row}])\n"""\n'
    # nothing computed: the pasted output is judged, for review
    r = grade(rubric, [code(pasted)])
    c = check(r, "blur-kernel", "blur-kernel")
    assert c.passed and c.needs_review and "pasted as text" in " ".join(c.feedback)
    # a computed (wrong) kernel in the answer outweighs the pasted one
    r = grade(rubric, [code(pasted, bindings={"B": np.ones((3, 3))})])
    c = check(r, "blur-kernel", "blur-kernel")
    assert not c.passed and "`B`" in " ".join(c.feedback)


def test_comment_headings_split_one_long_cell_into_answers(rubric: Rubric) -> None:
    from grader.locate import locate

    script = (
        "import torch\n\n"
        "# Exercise 1: a diagonal image\n"
        "X = torch.eye(6)\n\n"
        "# 1.1 apply K\n"
        "# +1 on the diagonal, -1 below it: not a zero matrix\n"
        "print(corr2d(X, K))\n\n"
        "# 2.4 minimum kernel size\n"
        '"""d + 1 taps: the d-th forward difference needs d + 1 points"""\n'
    )
    notebook = Notebook("t.py", "py:light", (Cell(0, "code", script),))
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-edges"].code_cells == (0,)
    assert "not a zero matrix" in a["diagonal-apply-kernel"].prose
    assert "not a zero matrix" not in a["derivative-kernel-size"].prose
    assert "d + 1 taps" in a["derivative-kernel-size"].prose
    assert "d + 1" not in a["diagonal-apply-kernel"].prose


def test_an_output_made_with_a_kernel_redefined_for_another_answer_is_not_credited(
    rubric: Rubric,
) -> None:
    flipped = np.array([[-1.0, 1.0]])
    r = grade(
        rubric,
        [
            md("1. Construct an image X with diagonal edges."),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("2. autograd: no error\n3. As a matrix multiplication?\n   * flip the kernel"),
            code(
                "K = torch.flip(K, [0, 1])\nY = corr2d(X, K)\nY",
                bindings={"K": flipped},
                results=[corr2d(EYE, flipped)],
            ),
        ],
    )
    assert not check(r, "diagonal-apply-kernel", "apply-output").passed


def test_a_wrong_output_in_its_section_and_a_right_one_elsewhere_is_credited_for_review(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            md("### 1. diagonal"),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("### 1.1 apply K"),
            code("torch.zeros(6, 5)", results=[np.zeros((6, 5))]),
            md("## Scratch"),
            code("corr2d(X, K)", results=[corr2d(EYE, K)]),
        ],
    )
    c = check(r, "diagonal-apply-kernel", "apply-output")
    assert c.passed and c.needs_review
    assert "cell 6" in " ".join(c.feedback)


def test_a_pasted_question_list_is_no_evidence_for_the_code_after_it(rubric: Rubric) -> None:
    twos = np.full((1, 8), 2.0)  # [1, -2, 1] applied to x**2: a run of equal values
    r = grade(
        rubric,
        [
            md(
                "4. Design some kernels manually.\n   1. What is the form of a kernel for the "
                "second derivative?\n   2. What is the kernel for an integral?\n      * no idea"
            ),
            code("corr2d(torch.arange(10.0).reshape(1, -1) ** 2, K2)", results=[twos]),
        ],
        edition="d2l-0.17",
    )
    assert not check(r, "integral-kernel", "integral-kernel").passed


def test_the_students_own_answer_in_a_list_is_evidence_for_the_code_after_it(
    rubric: Rubric,
) -> None:
    ones = np.ones((1, 8))
    r = grade(
        rubric,
        [
            md(
                "4. Design some kernels manually.\n   1. What is the form of a kernel for the "
                "second derivative?\n      * [1, -2, 1]\n   2. What is the kernel for an "
                "integral?\n      * a running sum: ones with zero padding"
            ),
            code("k = torch.ones(1, 8)", bindings={"k": ones}),
        ],
        edition="d2l-0.17",
    )
    assert check(r, "integral-kernel", "integral-kernel").passed


def test_the_sections_own_function_is_taken_before_another_answers_function(
    rubric: Rubric,
) -> None:
    def xcorr2d(X: Any, K: Any) -> Any:
        return corr2d(X, K)

    def corr2d_matmul(X: Any, K: Any) -> Any:
        return corr2d(X, K)

    r = grade(
        rubric,
        [
            md("My own sliding-window function first."),
            code("def xcorr2d(img, ker):\n    ...\n"),
            md("### 4. Cross-correlation as a matrix multiplication"),
            code("def corr2d_matmul(X, K):\n    return (W @ X.reshape(-1)).reshape(2, 2)\n"),
        ],
        {"xcorr2d": xcorr2d, "corr2d_matmul": corr2d_matmul},
        book_corr2d=False,
    )
    text = " ".join(r["corr2d"].feedback)
    assert r["corr2d"].status == "pass" and "xcorr2d" in text and "corr2d_matmul" not in text
    assert check(r, "corr2d-as-matmul", "matmul-equals-corr2d").passed


def test_the_learned_weight_shown_is_judged_not_the_target_kernel_beside_it(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            md("## Learning a Kernel"),
            code(
                "K = torch.tensor([[1.0, -1.0]])\nnet = nn.Conv2d(1, 1, (1, 2), bias=False)\n"
                "for i in range(10):\n    l.sum().backward()\nnet.weight.data.reshape((1, 2))",
                bindings={"K": K},
                results=[[[0.97, -1.02]]],
            ),
        ],
    )
    text = " ".join(r["learn-kernel"].feedback)
    assert r["learn-kernel"].status == "pass"
    assert "shown in cell 2" in text and "`K`" not in text


def test_one_cell_printing_all_three_results_answers_each_question(rubric: Rubric) -> None:
    # a blog's layout: the image and its three results in one cell, the questions after it
    band = np.tril(np.ones((6, 6)))  # not symmetric: each result differs
    outs = [corr2d(band, K), corr2d(band.T, K), corr2d(band, K.T)]
    text = "\n".join(str(torch.tensor(o, dtype=torch.float32)) for o in outs)
    r = grade(
        rubric,
        [
            *SECTION,
            md("#### Construct an image X with diagonal edges."),
            code(
                "X = torch.tril(torch.ones(6, 6))\nprint(corr2d(X, K))\n"
                "print(corr2d(X.t(), K))\nprint(corr2d(X, K.t()))",
                bindings={"X": band},
                text=text,
            ),
            md(
                "1. What happens if you apply the kernel K in this section to it?\n"
                "The diagonal is detected.\n\n2. What happens if you transpose X?\n"
                "Still detected, the sign flips.\n\n3. What happens if you transpose K?\n"
                "Horizontal edges, still detected."
            ),
        ],
    )
    for eid, label in (
        ("diagonal-apply-kernel", "apply-output"),
        ("diagonal-transpose-input", "transpose-input-output"),
        ("diagonal-transpose-kernel", "transpose-kernel-output"),
    ):
        assert check(r, eid, label).passed, (eid, r[eid].feedback)


def test_a_kernel_passed_inline_to_corr2d_is_judged_when_nothing_named_is_right(
    rubric: Rubric,
) -> None:
    x = np.arange(6.0)
    source = "x = torch.arange(6.0)\ncorr2d((x ** 2).reshape(1, -1), torch.tensor([[1., -2., 1.]]))"
    cells = [md("### 2.2 Second derivative"), code(source, bindings={"x": x})]
    r = grade(rubric, cells)
    got = check(r, "second-derivative-kernel", "second-derivative-kernel")
    assert got.passed and "written in the code of cell 2" in " ".join(got.feedback)
    named = [
        md("### 2.2 Second derivative"),
        code("K2 = torch.ones(1, 3)\n" + source, bindings={"x": x, "K2": np.ones((1, 3))}),
    ]
    assert not check(
        grade(rubric, named), "second-derivative-kernel", "second-derivative-kernel"
    ).passed


def test_a_result_shown_equal_to_an_earlier_one_is_that_result(rubric: Rubric) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md("### 1. Construct an image X with diagonal edges"),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("### 1.1 apply K"),
            code(
                "Y1 = corr2d(X, K)\nY1", bindings={"Y1": corr2d(EYE, K)}, results=[corr2d(EYE, K)]
            ),
            md("### 1.2 What happens if you transpose X?"),
            code("torch.equal(corr2d(X.t(), K), Y1)", results=[True]),
            md("### 1.3 What happens if you transpose K?"),
            code("torch.equal(corr2d(X, K.T), Y1)", results=[False]),  # shapes differ
        ],
    )
    assert check(r, "diagonal-transpose-input", "transpose-input-output").passed
    assert not check(r, "diagonal-transpose-kernel", "transpose-kernel-output").passed


def test_the_students_conv2d_run_without_error_elsewhere_answers_the_autograd_question(
    rubric: Rubric,
) -> None:
    cells = [
        *SECTION,
        code("net = nn.Conv2d(1, 1, (1, 2))\nl.sum().backward()"),  # the section's loop
        md("## Answers\n\n3. No error in PyTorch: autograd records the in-place writes."),
    ]
    r = grade(rubric, cells)
    assert not check(r, "autograd-error", "autograd-evidence").passed
    r = grade(rubric, [*cells, code("net = Conv2D((1, 2))\nnet(X).sum().backward()")])
    got = check(r, "autograd-error", "autograd-evidence")
    assert got.passed and "cell 7" in " ".join(got.feedback)


def test_a_drawn_image_is_preferred_to_a_models_output_of_it(rubric: Rubric) -> None:
    out = corr2d(EYE, K) * 0.37 + 0.1  # net(D): the same diagonal, many values
    r = grade(
        rubric,
        [
            *SECTION,
            md("## Exercises"),
            code("D = torch.eye(6)\nD", bindings={"D": EYE}, results=[EYE]),
            code("out = net(D)", bindings={"out": out}),
        ],
    )
    feedback = " ".join(r["diagonal-edges"].feedback)
    assert r["diagonal-edges"].status == "pass" and "`D`" in feedback


def _toeplitz(K: Any, n_h: int, n_w: int) -> Any:
    K = np.asarray(K, dtype=np.float64)
    k_h, k_w = K.shape
    o_h, o_w = n_h - k_h + 1, n_w - k_w + 1
    W = np.zeros((o_h * o_w, n_h * n_w))
    for i in range(o_h):
        for j in range(o_w):
            for a in range(k_h):
                W[i * o_w + j, (i + a) * n_w + j : (i + a) * n_w + j + k_w] = K[a]
    return W


@pytest.mark.parametrize("fixed", [False, True])
def test_a_function_that_builds_the_matrix_answers_the_matmul_question(
    rubric: Rubric, fixed: bool
) -> None:
    def toeplitz_matrix(K: Any, n_h: int, n_w: int) -> Any:
        if fixed:  # hard-coded for the book's 3x3 input and 2x2 kernel
            return _toeplitz(K, 3, 3)
        return _toeplitz(K, n_h, n_w)

    source = (
        "def toeplitz_matrix(K, n_h, n_w):\n    W = torch.zeros((n_h - 1) * (n_w - 1), n_h * n_w)\n"
        "    return W\n\nW = toeplitz_matrix(K, 3, 3)\n(W @ X.reshape(-1)).reshape(2, 2)\n"
    )
    r = grade(
        rubric,
        [md("### 4. Cross-correlation as a matrix multiplication"), code(source)],
        {"toeplitz_matrix": toeplitz_matrix},
    )
    got = check(r, "corr2d-as-matmul", "matmul-equals-corr2d")
    assert "builds the matrix W" in " ".join(got.feedback)
    assert got.passed is not fixed and (0 < got.score < got.max_score) is fixed
    assert check(r, "corr2d-as-matmul", "uses-matrix-product").passed


def test_a_result_shown_equal_to_the_books_computation_or_computed_but_not_shown_counts(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md("### 1. Construct an image X with diagonal edges"),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("### 1.2 What happens if you transpose X?"),
            code("torch.equal(corr2d(X.t(), K), corr2d(X, K))", results=[True]),
            md("### 1.3 What happens if you transpose K?"),
            code(
                "Y13 = corr2d(X, K.t())\nY13.shape",
                bindings={"Y13": corr2d(EYE, K.T)},
                results=[(5, 6)],
            ),
        ],
    )
    assert check(r, "diagonal-transpose-input", "transpose-input-output").passed
    assert check(r, "diagonal-transpose-kernel", "transpose-kernel-output").passed


def test_a_matrix_built_for_one_input_size_is_diagnosed_as_fixed_shape(rubric: Rubric) -> None:
    def kernel_to_matrix(K: Any) -> Any:
        return _toeplitz(K, 3, 3)  # the book's 3x3 input, hard-coded

    r = grade(
        rubric,
        [
            md("### 4. Cross-correlation as a matrix multiplication"),
            code("def kernel_to_matrix(K):\n    W = torch.zeros(4, 9)\n    return W\n"),
        ],
        {"kernel_to_matrix": kernel_to_matrix},
    )
    got = check(r, "corr2d-as-matmul", "matmul-equals-corr2d")
    assert 0 < got.score < got.max_score and got.diagnoses == ("matmul-fixed-shape",)


def test_a_matrix_typed_for_the_books_example_is_diagnosed_as_fixed_shape(rubric: Rubric) -> None:
    X3 = np.arange(9.0).reshape(3, 3)
    K2 = np.array([[0.0, 1.0], [2.0, 3.0]])
    W = _toeplitz(K2, 3, 3)
    source = (
        "W = torch.tensor([[0., 1., 0., 2., 3., 0., 0., 0., 0.], ...])\n"
        "torch.matmul(W, X3.reshape(-1))"
    )
    r = grade(
        rubric,
        [
            md("### 4. Cross-correlation as a matrix multiplication"),
            code(source, bindings={"W": W, "X3": X3, "K2": K2}),
        ],
    )
    got = check(r, "corr2d-as-matmul", "matmul-equals-corr2d")
    assert got.score == 0 and got.diagnoses == ("matmul-fixed-shape",)
    unrolled = "cols = im2col(X3, 2, 2)\ncols @ K2.reshape(-1)"  # the input unrolled: no W
    r = grade(
        rubric,
        [md("### 4. matmul"), code(unrolled, bindings={"cols": W.T[:4], "X3": X3, "K2": K2})],
    )
    assert check(r, "corr2d-as-matmul", "matmul-equals-corr2d").diagnoses == ()


# ------------------------------------------------------------------ shown by equality, wave 4

DIAG = [
    md("### 1. Construct an image X with diagonal edges"),
    code("X = torch.eye(6)", bindings={"X": EYE}),
    md("### 1.1 apply K"),
    code("Y1 = corr2d(X, K)\nY1", bindings={"Y1": corr2d(EYE, K)}, results=[corr2d(EYE, K)]),
]


@pytest.mark.parametrize("correlates", [True, False])
def test_an_elementwise_equality_shown_all_true_shows_its_result(
    rubric: Rubric, correlates: bool
) -> None:
    def c2d(X: Any, K: Any) -> Any:
        return corr2d(X, K) if correlates else corr2d(X, K) * 2

    truth = Array(np.ones((6, 5), dtype=bool))  # c2d(X.t(), K) == c2d(X, K), displayed
    r = grade(
        rubric,
        [
            *SECTION,
            *DIAG,
            md("### 1.2 What happens if you transpose X?"),
            code("c2d(X.t(), K) == c2d(X, K)", results=[truth]),
        ],
        {"c2d": c2d},
    )
    # the other side is computed with the rubric's corr2d, once the student's `c2d` is seen
    # to be a cross-correlation on these inputs (asked in their process)
    got = check(r, "diagonal-transpose-input", "transpose-input-output")
    assert got.passed is correlates
    assert "shapes 6×5" not in " ".join(got.feedback)  # the truth table is not a result


@pytest.mark.parametrize("printed", ["torch.Size([5, 6]) True", "torch.Size([5, 6]) False"])
def test_an_equality_printed_as_true_shows_its_result(rubric: Rubric, printed: str) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            *DIAG,
            md("### 1.3 What happens if you transpose K?"),
            code(
                "print(corr2d(X, K.t()).shape, torch.equal(corr2d(X, K.t()), Y1.t()))", text=printed
            ),
        ],
    )
    got = check(r, "diagonal-transpose-kernel", "transpose-kernel-output")
    assert got.passed is printed.endswith("True")


def test_the_books_kernel_counts_when_the_students_k_is_another(rubric: Rubric) -> None:
    other = np.array([[0.0, 1.0], [2.0, 3.0]])  # the section's 2x2 example, bound last as K
    r = grade(
        rubric,
        [
            code("K = torch.tensor([[0., 1.], [2., 3.]])", bindings={"K": other}),
            code("edge = torch.tensor([[1., -1.]])", bindings={"edge": K}),
            md("### 1. Construct an image X with diagonal edges"),
            code("X = torch.eye(6)", bindings={"X": EYE}),
            md("### 1.1 apply the kernel"),
            code("corr2d(X, edge)", results=[corr2d(EYE, K)]),
        ],
    )
    assert check(r, "diagonal-apply-kernel", "apply-output").passed


def test_a_value_a_function_of_no_arguments_returns_is_judged(rubric: Rubric) -> None:
    def blur_kernel() -> Any:
        return np.ones((3, 3)) / 9

    cells = [
        md("### 2.3 How would you design a blur kernel?"),
        code("def blur_kernel():\n    k = torch.ones(3, 3)\n    return k / 9\n"),
    ]
    r = grade(rubric, cells, {"blur_kernel": blur_kernel})
    got = check(r, "blur-kernel", "blur-kernel")
    assert got.passed and "`blur_kernel()`" in " ".join(got.feedback)
    # a function that does more than build a value is not called
    busy = [
        cells[0],
        code("def blur_kernel():\n    print('hi')\n    return torch.ones(3, 3) / 9\n"),
    ]
    assert not check(
        grade(rubric, busy, {"blur_kernel": blur_kernel}), "blur-kernel", "blur-kernel"
    ).passed


@pytest.mark.parametrize("commented", [False, True])
def test_a_cell_is_what_it_runs_and_a_commented_call_does_not_run(
    rubric: Rubric, commented: bool
) -> None:
    call = "# net(X).sum().backward()" if commented else "net(X).sum().backward()"
    cells = [
        *SECTION,
        code("class TinyConv(nn.Module):\n    def forward(self, x):\n        return x\n"),
        code(f"def check_ex3():\n    net = TinyConv((1, 2))\n    {call}\n"),
        code("def main():\n    check_ex3()\n"),
        code("main()"),
        md("## Answers\n\n3. No error in PyTorch: autograd records the in-place writes."),
    ]
    got = check(grade(rubric, cells), "autograd-error", "autograd-evidence")
    assert got.passed is not commented


def test_a_backward_call_commented_out_in_the_answer_does_not_show_it_works(
    rubric: Rubric,
) -> None:
    cells = [
        md("### 3. What kind of error message will you get when you compute the gradient?"),
        code("net = Conv2D((1, 2))\nout = net(X)\n# out.sum().backward()   # raises, see below"),
        md("It raises an error: in-place operations are not supported."),
    ]
    assert not check(grade(rubric, cells), "autograd-error", "autograd-evidence").passed
    cells[1] = code("net = Conv2D((1, 2))\nout = net(X)\nout.sum().backward()")
    assert check(grade(rubric, cells), "autograd-error", "autograd-evidence").passed


def test_the_one_function_an_answer_defines_is_judged_even_when_wrong(rubric: Rubric) -> None:
    def K_dir(v1: float, v2: float) -> Any:  # "rotated" [1, -1]: its entries do not sum to 0
        return np.array([[-v2, v1], [-v1, -v2]])

    cells = [
        md("**Q2 (a) edges orthogonal to v.** Rotate [1, -1] so that it points along v."),
        code("def K_dir(v1, v2):\n    return torch.tensor([[-v2, v1], [-v1, -v2]])"),
    ]
    got = check(
        grade(rubric, cells, {"K_dir": K_dir}), "directional-edge-kernel", "directional-kernel"
    )
    assert got.score == 0 and "directional-not-zero-sum" in got.diagnoses


def test_a_numpy_only_function_is_called_with_numpy_arrays(rubric: Rubric) -> None:
    from fakes import context

    from grader.checks import registry

    class NumpyOnly(FakeRun):
        """A process whose corr_mm raises on tensors (np.lib.stride_tricks on a tensor)."""

        def probe(self, request: dict[str, Any]) -> dict[str, Any]:
            if request["op"] == "call" and any(a.get("kind") == "torch" for a in request["args"]):
                self.requests.append(request)
                return {"ok": False, "ename": "TypeError", "evalue": "numpy arrays only"}
            return super().probe(request)

    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        (
            Cell(0, "markdown", "### 4. Cross-correlation as a matrix multiplication"),
            Cell(1, "code", "def corr_mm(X, K):\n    U = sliding_window_view(X, K.shape)\n"),
        ),
    )
    execution = Execution(cells=(CellRun(index=1),), seconds=0.1)
    ex = rubric.exercise("corr2d-as-matmul")
    spec = next(c for c in ex.checks if c.label == "matmul-equals-corr2d")
    fake = NumpyOnly({"corr_mm": corr2d})
    got = registry()[spec.type].run(spec, context(rubric, ex.id, notebook, execution, fake))
    assert got.passed
    assert any(a.get("kind") == "numpy" for q in fake.requests for a in q.get("args", []))


def test_a_matmul_function_whose_code_shows_the_product_beats_a_loop_version(
    rubric: Rubric,
) -> None:
    cells = [
        md("## Summary\n\n- **Ex 4 (matmul):** im2col, then a matrix product."),
        code("def corr2d_t(X, K):\n    return torch.stack([...])"),  # a loop, under the summary
        code("# Ex 3: book's Conv2D\nlay = Conv2D((1, 2))\nlay(X).sum().backward()"),
        code("def corr_mm(X, K):\n    return (U.reshape(-1, k) @ K.reshape(-1)).reshape(o)"),
    ]
    r = grade(rubric, cells, {"corr2d_t": corr2d, "corr_mm": corr2d})
    got = check(r, "corr2d-as-matmul", "matmul-equals-corr2d")
    assert got.passed and "corr_mm" in " ".join(got.feedback)


def test_a_matrix_typed_for_the_books_example_times_a_flattened_input_is_fixed_shape(
    rubric: Rubric,
) -> None:
    W = np.array(
        [
            [0, 1, 0, 2, 3, 0, 0, 0, 0],
            [0, 0, 1, 0, 2, 3, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 2, 3, 0],
            [0, 0, 0, 0, 0, 1, 0, 2, 3],
        ],
        dtype=float,
    )
    xf = np.arange(9.0)
    cells = [
        md("### 4. Cross-correlation as a matrix multiplication"),
        code(
            "Xf = torch.arange(9.0)\nW = torch.tensor([...])\n(W @ Xf).reshape(2, 2)",
            bindings={"Xf": xf, "W": W},
            results=[(W @ xf).reshape(2, 2)],
        ),
    ]
    got = check(grade(rubric, cells), "corr2d-as-matmul", "matmul-equals-corr2d")
    assert got.score == 0 and got.diagnoses == ("matmul-fixed-shape",)


def test_the_image_the_answers_text_names_is_the_input(rubric: Rubric) -> None:
    tri = np.tril(np.ones((5, 7)))
    anti = np.fliplr(np.eye(7))
    cells = [
        md("**TL;DR**\n\n- **Ex 1:** `D` = 7x7 anti-diagonal line.\n- **1.1 apply K:** not zero."),
        code(
            "D = np.fliplr(np.eye(7))\nprint(corr2d_np(D, k))",
            bindings={"D": anti},
            text=str(corr2d(anti, K)),
        ),
        code("T = np.tril(np.ones((5, 7)))", bindings={"T": tri}),
    ]
    r = grade(rubric, cells)
    assert "`D`" in " ".join(r["diagonal-edges"].feedback)
    assert check(r, "diagonal-apply-kernel", "apply-output").passed


def test_a_template_blank_is_unanswered_not_wrong(rubric: Rubric) -> None:
    def corr2d_matmul(X: Any, K: Any) -> Any:
        return None  # the template's `pass`

    cells = [
        md("**B.3** How do you represent a cross-correlation as a matrix multiplication?"),
        code("def corr2d_matmul(X, K):\n    # YOUR CODE HERE\n    pass"),
        md("YOUR ANSWER HERE"),
    ]
    r = grade(rubric, cells, {"corr2d_matmul": corr2d_matmul}, edition="d2l-0.17")
    assert r["corr2d-as-matmul"].status == "missing"


def test_a_function_that_behaves_like_a_catalogued_mistake_is_named(rubric: Rubric) -> None:
    def xcorr(X: Any, K: Any) -> Any:  # multiplies the output window it fills (the mistake)
        h, w = np.shape(K)
        Y = np.zeros((np.shape(X)[0] - h + 1, np.shape(X)[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (Y[i : i + h, j : j + w] * np.asarray(K)).sum()
        return Y

    cells = [md("My cross-correlation, with while loops."), code("def xcorr(inp, k):\n    ...")]
    got = check(grade(rubric, cells, {"xcorr": xcorr}, book_corr2d=False), "corr2d", "corr2d")
    assert got.score == 0 and "corr2d-reads-output" in got.diagnoses


def test_an_error_another_question_asks_to_show_is_not_a_failure_to_run(rubric: Rubric) -> None:
    from grader.model import CellError

    shown = CellError(2, "RuntimeError", "grad can be implicitly created only for scalar outputs")
    other = CellError(3, "RuntimeError", "mat1 and mat2 shapes cannot be multiplied")
    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        tuple(Cell(i, "code", f"x{i} = 1") for i in range(4)),
    )
    runs = [CellRun(index=0), CellRun(index=1), CellRun(index=2, error=shown)]
    for extra, want in (([], 1.0), ([CellRun(index=3, error=other)], 0.75)):
        execution = Execution(cells=(*runs, *extra), seconds=0.1)
        g = Grader(rubric, _Executor(execution, {"corr2d": corr2d}), Options(edition="d2l-1.0"))  # type: ignore[arg-type]
        result = {e.id: e for e in g.grade_notebook(notebook).exercises}
        assert result["notebook-runs"].score == want
