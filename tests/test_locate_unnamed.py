"""Questions in the student's own words: unnamed answers, named by behaviour or by meaning;
and the layouts of the fifth blind round (Colab forms, f-strings, docstrings, comments beside
code, report numbering, answers that quote their code)."""

from __future__ import annotations

import numpy as np
from fakes import corr2d
from test_locate import md as tmd
from test_locate import nb
from test_locate_behaviour import EYE, SECTION, K, code, grade, md

from grader.locate import locate, unnamed
from grader.rubric import Rubric


def tcode(s: str) -> tuple[str, str]:
    return ("code", s)


QA = [
    tmd("**Q：互相关这种滑窗口的算法，能不能改写成只做一次矩阵乘法？**\n\nA：可以，im2col。"),
    tmd("**Q：拿书里那个 `[1, -1]` 去扫这张图，会看到什么？**"),
    tcode("corr2d(X_diag, K)"),
    tmd("A：斜边被扫出来了，对角线上是 1。\n\n**Q：图转个置呢？**"),
    tcode("corr2d(X_diag.T, K)"),
    tmd("A：本质上就是一张全 0 的图。"),
]


def test_a_paraphrased_marked_question_opens_an_unnamed_answer_not_more_of_the_last(
    rubric: Rubric,
) -> None:
    notebook = nb(*QA)
    answers = locate(notebook, rubric, "d2l-zh-2.0")
    matmul = answers["corr2d-as-matmul"]
    assert matmul.cells == (0,) and "斜边" not in matmul.prose
    found = unnamed(notebook, rubric, "d2l-zh-2.0")
    assert [u.cells for u in found] == [(1, 2, 3), (3, 4, 5)]
    assert "斜边被扫出来了" in found[0].prose and "全 0" in found[1].prose
    assert all(u.exercise == "" for u in found)


def test_a_heading_in_the_students_own_lettering_opens_an_unnamed_answer(
    rubric: Rubric,
) -> None:
    notebook = nb(
        tmd("## Problem A\n**Problem:** rewrite the sliding window as one matrix product?"),
        tmd("**Solution.** Yes, one row per window."),
        tmd("## Problem C\n**Problem:** run the chapter's filter over the slanted picture."),
        tcode("cross_correlate(slash, k)"),
        tmd("It's **not** blank: a -1/+1 double line follows the slash."),
    )
    answers = locate(notebook, rubric, "d2l-0.17")
    assert not any("not** blank" in a.prose for a in answers.values())
    texts = [u.prose for u in unnamed(notebook, rubric, "d2l-0.17")]
    assert len(texts) == 2 and "not** blank" in texts[1] and "one row per window" in texts[0]


def test_unlabelled_items_of_an_answer_list_are_answers_of_their_own(rubric: Rubric) -> None:
    notebook = nb(
        tmd(
            "### Reflections\n\n"
            "1. The band picture under K gives +1 and -1 diagonals, so it is picked up.\n"
            "2. K.T = [[1],[-1]] compares a pixel with the one under it: horizontal edges.\n"
            "3. No error! backward() worked and gave weight.grad.\n"
        )
    )
    answers = locate(notebook, rubric, "d2l-1.0")
    assert "No error" not in answers["diagonal-transpose-kernel"].prose
    texts = [u.prose for u in unnamed(notebook, rubric, "d2l-1.0")]
    assert any("band picture" in t for t in texts) and any("No error" in t for t in texts)


def test_behaviour_names_an_unnamed_answer_by_the_cell_it_takes(rubric: Rubric) -> None:
    cells = [
        *SECTION,
        md("**Q：自己造一张带斜边的图。**"),
        code("X_diag = torch.eye(6)", bindings={"X_diag": EYE}),
        md("**Q：拿书里那个 `[1, -1]` 去扫这张图，会看到什么？**"),
        code("corr2d(X_diag, K)", results=[corr2d(EYE, K)]),
        md("A：斜边被扫出来了：对角线上是 1，旁边是 -1，不是全零。"),
    ]
    r = grade(rubric, cells, edition="d2l-zh-2.0")
    apply = r["diagonal-apply-kernel"]
    assert apply.status == "pass" and apply.score == apply.max_score
    assert 7 in apply.cells


def test_meaning_credits_an_unnamed_answer_but_a_mistake_alone_names_nothing(
    rubric: Rubric,
) -> None:
    x = np.tril(np.ones((6, 8)))
    cells = [
        *SECTION,
        code("band = torch.tril(torch.ones(6, 8))", bindings={"band": x}),
        code("corr2d(band, K)", results=[corr2d(x, K)]),
        code("corr2d(band.T, K)", results=[corr2d(x.T, K)]),
        md(
            "### Reflections\n\n"
            "1. The transposed band gives a zero matrix.\n"
            "2. K.T = [[1],[-1]] compares a pixel with the one below it: horizontal edges.\n"
            "3. The band under K: the diagonal is picked up, +1 and -1 along it.\n"
        ),
    ]
    r = grade(rubric, cells)
    apply = r["diagonal-apply-kernel"]
    assert apply.status == "pass"
    assert any("by what it says" in line for line in apply.feedback)
    # item 1 states only a mistake: it names no question, so 1.2 has no words
    transpose = r["diagonal-transpose-input"]
    assert "claims-zero-response" not in transpose.diagnoses
    assert transpose.score < transpose.max_score


def test_fstrings_and_display_markdown_are_the_students_words(rubric: Rubric) -> None:
    notebook = nb(
        tcode(
            "out = corr2d(img, K)\n"
            'print(f"練習1.1：輸出有 {n} 個非零元素，並不是全零，斜邊檢測得到。")'
        ),
        tcode(
            "#@title Ex 1.2 · Transpose the image\nr12 = xcorr(diag_img.T, hdiff)\n"
            'display(Markdown("""\n**1.2** The response is still a diagonal line.\n"""))'
        ),
    )
    answers = locate(notebook, rubric, "d2l-1.0")
    assert "並不是全零" in answers["diagonal-apply-kernel"].prose
    assert "… 個非零元素" in answers["diagonal-apply-kernel"].prose
    transpose = answers["diagonal-transpose-input"]
    assert transpose.cells == (1,) and "still a diagonal line" in transpose.prose
    assert "@title" not in transpose.prose


def test_docstrings_and_sentences_beside_code_are_words_but_short_labels_are_not(
    rubric: Rubric,
) -> None:
    notebook = nb(
        tcode(
            "# ===== 练习2.3：模糊核 =====\ndef gauss(size=5):\n"
            '    """模糊核 = 非负、和为 1 的加权平均，用来去噪。"""\n    return k / k.sum()\n'
        ),
        tcode(
            "# ex 1.2: transpose the image\ndT = cc2d(diag.T, k)  # shape 8x7\n"
            "assert torch.equal(dT, d)   # eye is symmetric, so the diagonal is still there\n"
        ),
    )
    answers = locate(notebook, rubric, "d2l-1.0")
    assert "去噪" in answers["blur-kernel"].prose
    prose = answers["diagonal-transpose-input"].prose
    assert "still there" in prose and "shape 8x7" not in prose


def test_the_labels_number_beats_the_students_section_number(rubric: Rubric) -> None:
    notebook = nb(
        tmd("## 1. Setup"),
        tcode("import torch"),
        tmd("## 5. Exercise 3 — Automatic differentiation of `Conv2D`"),
        tmd("#### Observations\nNo error message appears: CopySlices records the writes."),
        tmd("* **K on X (1.1):** a line of -1 along the anti-diagonal, not zero."),
    )
    answers = locate(notebook, rubric, "d2l-1.0")
    assert answers["diagonal-edges"].cells == ()  # "## 1. Setup" is the student's section
    assert answers["autograd-error"].cells == (2, 3)
    assert "CopySlices" in answers["autograd-error"].prose
    assert "anti-diagonal" in answers["diagonal-apply-kernel"].prose


def test_an_answer_that_quotes_its_code_gets_that_cell(rubric: Rubric) -> None:
    notebook = nb(
        tcode("box = torch.ones((3, 3))\nsmooth = corr2d(noisy, box)"),
        tcode("other = torch.zeros(3)"),
        tmd("## 2.3 Blur\nA box filter of ones, `torch.ones((3,3))`, averages out the noise."),
    )
    blur = locate(notebook, rubric, "d2l-1.0")["blur-kernel"]
    assert blur.code_cells == (0,) and blur.weak == (0,)


def test_a_question_asking_only_for_words_may_be_answered_in_a_siblings_answer(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md(
                "## 2.2 Second derivative\nThe kernel is [1, -2, 1]; in general a d-th order "
                "derivative needs d+1 taps."
            ),
        ],
    )
    size = r["derivative-kernel-size"]
    assert size.status == "pass"
    assert any("by what it says" in line for line in size.feedback)


def test_a_question_asking_for_work_is_not_answered_by_words_in_a_siblings_answer(
    rubric: Rubric,
) -> None:
    r = grade(
        rubric,
        [
            *SECTION,
            md("## 2.4 Minimum size\nd + 1: the d-th finite difference, [-1, 1], [1, -2, 1], ..."),
        ],
    )
    assert r["second-derivative-kernel"].score == 0


def test_a_point_of_an_answer_stays_in_it_when_a_later_point_names_another_question(
    rubric: Rubric,
) -> None:
    notebook = nb(
        tmd("## 1.1 What happens if you apply the kernel K?"),
        tmd(
            "1. The output is not a zero matrix: +1 on the diagonal.\n"
            "2. Transposing X would give the same picture, since eye is symmetric.\n"
        ),
    )
    answers = locate(notebook, rubric, "d2l-1.0")
    assert "not a zero matrix" in answers["diagonal-apply-kernel"].prose
    assert "Transposing X" in answers["diagonal-transpose-input"].prose


def test_notes_under_the_books_section_numbers_are_no_answers(rubric: Rubric) -> None:
    notebook = nb(
        tmd(
            "## Discussions\n\n7.2.2 Convolutional Layers\n- A convolutional layer "
            "cross-correlates the input and kernel and adds a scalar bias.\n\n"
            "7.2.3 Object Edge Detection in Images\n- If the horizontally adjacent elements are "
            "the same, the output is 0. Otherwise, the output is nonzero.\n"
        )
    )
    assert unnamed(notebook, rubric, "d2l-1.0") == ()
