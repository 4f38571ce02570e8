"""Finding answers in free-form notebooks: headings, wording, numbers, tags, content."""

from __future__ import annotations

from grader.edition import detect_edition
from grader.locate import locate
from grader.model import Cell, Notebook
from grader.rubric import Rubric


def nb(*cells: tuple[str, str], tags: dict[int, str] | None = None) -> Notebook:
    tags = tags or {}
    return Notebook(
        "t.ipynb",
        "ipynb",
        tuple(
            Cell(i, kind, src, exercise=tags.get(i))  # type: ignore[arg-type]
            for i, (kind, src) in enumerate(cells)
        ),
    )


def md(s: str) -> tuple[str, str]:
    return ("markdown", s)


def code(s: str) -> tuple[str, str]:
    return ("code", s)


def test_book_headings_and_group_heading_closing_a_section(rubric: Rubric) -> None:
    notebook = nb(
        md("# 1. Construct an image X with diagonal edges."),
        code("X = torch.eye(8)"),
        md("## 1.1 What happens if you apply the kernel K in this section to it?"),
        code("corr2d(X, K)"),
        md("It detects the diagonal: +1 on it and -1 below."),
        md("# 2. Design some kernels manually."),
        md("some notes that belong to no exercise"),
        md("## 2.3 How would you design a blur kernel? Why might you want to use such a kernel?"),
        code("blur = torch.ones(3, 3) / 9"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-edges"].code_cells == (1,)
    assert a["diagonal-apply-kernel"].cells == (2, 3, 4)
    assert "detects the diagonal" in a["diagonal-apply-kernel"].prose
    assert "What happens" not in a["diagonal-apply-kernel"].prose  # the question is not prose
    assert a["blur-kernel"].code_cells == (8,)
    assert 6 not in a["diagonal-apply-kernel"].cells  # closed by the group heading
    assert a["diagonal-apply-kernel"].via == "wording"


def test_student_numbering_styles(rubric: Rubric) -> None:
    notebook = nb(
        md("## Q2 (c)"),
        code("gauss = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16"),
        md("**Exercise 4**"),
        code("def mm_corr(X, K): ..."),
        md("### 3"),
        md("No error: backward works."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["blur-kernel"].cells == (0, 1) and a["blur-kernel"].via == "number"
    assert a["corr2d-as-matmul"].code_cells == (3,)
    assert a["autograd-error"].prose == "No error: backward works."


def test_numbers_follow_the_edition(rubric: Rubric) -> None:
    notebook = nb(md("### 4.2"), md("A ones kernel: the running sum."))
    assert locate(notebook, rubric, "d2l-0.17")["integral-kernel"].found
    assert "integral-kernel" not in locate(notebook, rubric, "d2l-1.0")


def test_numbered_answer_lists_do_not_jump_between_exercises(rubric: Rubric) -> None:
    notebook = nb(
        md("## 2.3 How would you design a blur kernel?"),
        md(
            "Why blur?\n\n1. **Noise reduction**: smoothing\n2. Anti-aliasing\n"
            "3. Smoothing before derivatives"
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "Anti-aliasing" in a["blur-kernel"].prose
    assert not a["diagonal-edges"].found and not a["diagonal-apply-kernel"].found


def test_forum_style_list_of_questions(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "### Exercises\n\n1. What happens if you apply the kernel K in this section to it?\n"
            "* zero matrix.\n2. What happens if you transpose X?\n* No change\n"
            "3. What happens if you transpose K?\n* zero matrix.\n"
        )
    )
    a = locate(notebook, rubric, "d2l-0.17")
    assert a["diagonal-apply-kernel"].prose.strip() == "* zero matrix."
    assert a["diagonal-transpose-input"].prose.strip() == "* No change"
    assert a["diagonal-transpose-kernel"].prose.strip() == "* zero matrix."


def test_cell_tags_win(rubric: Rubric) -> None:
    notebook = nb(
        md("## 2.3 blur"),
        code("K2 = torch.tensor([[1., -2., 1.]])"),
        tags={1: "second-derivative-kernel"},
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert (
        a["second-derivative-kernel"].cells == (1,) and a["second-derivative-kernel"].via == "tag"
    )
    assert 1 not in a["blur-kernel"].cells


def test_labelled_code_comments_open_a_section_other_comments_do_not(rubric: Rubric) -> None:
    notebook = nb(
        code("# 2.3 blur kernel\nbox = torch.ones(3, 3) / 9"),
        code("# transpose X and K: corr2d(X.T, K.T) == corr2d(X, K).T\nZ = 1"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["blur-kernel"].code_cells == (0, 1)
    assert "transpose X and K" in a["blur-kernel"].prose


def test_content_fallback_finds_unlabelled_definitions(rubric: Rubric) -> None:
    notebook = nb(code("def corr2d_matmul(X, K):\n    return X"), code("def corr2d(X, K): ..."))
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["corr2d-as-matmul"].code_cells == (0,) and a["corr2d-as-matmul"].via == "content"
    assert a["corr2d"].code_cells == (1,)


def test_edition_detection(rubric: Rubric) -> None:
    new = nb(
        md("# 7.2 Convolutions for Images"),
        md("## 2.1 Given a directional vector v, derive an edge-detection kernel"),
    )
    old = nb(md("# 6.2 Convolutions for Images"), md("What is the kernel for an integral?"))
    assert detect_edition(new, rubric) == "d2l-1.0"
    assert detect_edition(old, rubric) == "d2l-0.17"
    assert detect_edition(nb(code("x = 1")), rubric) is None


def test_answers_in_a_markdown_table_are_located_row_by_row(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "| Question | My answer |\n|---|---|\n"
            "| 1.1 apply K | +1 on the diagonal, -1 below: not zeros |\n"
            "| 1.3 transpose K | detects the horizontal edges instead |\n"
            "| 2.4 minimum size for a derivative of order d | d + 1 |\n"
        )
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "not zeros" in a["diagonal-apply-kernel"].prose
    assert "horizontal edges" in a["diagonal-transpose-kernel"].prose
    assert a["derivative-kernel-size"].prose == "d + 1"
    assert "d + 1" not in a["diagonal-transpose-kernel"].prose


def test_a_table_of_kernels_by_derivative_order_stays_one_answer(rubric: Rubric) -> None:
    notebook = nb(
        md("### 2.4 Minimum size"),
        md(
            "| order | kernel | size |\n|---|---|---|\n| d-th | binomial | d + 1 |\n"
            "| 2 | [1, -2, 1] | 3 |\n| 3 | [-1, 3, -3, 1] | 4 |"
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "d + 1" in a["derivative-kernel-size"].prose
    assert "[1, -2, 1]" in a["derivative-kernel-size"].prose
    assert "[-1, 3, -3, 1]" in a["derivative-kernel-size"].prose  # row "3" is not question 3
    assert "[-1, 3, -3, 1]" in a["derivative-kernel-size"].prose  # row "3" is not question 3


def test_answers_in_raw_cells_are_read_as_text_but_the_graders_feedback_is_not(
    rubric: Rubric,
) -> None:
    from grader.load import FEEDBACK_TAG

    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        (
            Cell(0, "raw", "2.4 Minimum size of a kernel for a derivative of order d\nd + 1"),
            Cell(1, "raw", "1.1 apply K: a zero matrix", tags=(FEEDBACK_TAG,)),
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["derivative-kernel-size"].prose == "d + 1"
    assert not a["diagonal-apply-kernel"].found


def test_sub_question_letters_follow_their_exercise_but_an_answers_own_list_does_not(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md("## Exercise 1"),
        md("**(a)**\nnot a zero matrix"),
        md("**(b)**\nthe same, still detected"),
        md("### 2.3 Blur"),
        md("(a) a box filter\n(b) a Gaussian, to reduce noise"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-apply-kernel"].prose == "not a zero matrix"
    assert a["diagonal-transpose-input"].prose == "the same, still detected"
    assert "Gaussian" in a["blur-kernel"].prose
    assert not a["second-derivative-kernel"].found


def test_the_answer_on_a_labelled_line_is_kept(rubric: Rubric) -> None:
    notebook = nb(
        md("**Q1.1** not a zero matrix"),
        md("2.4. d+1"),
        md("3. When you try to automatically find the gradient for Conv2D? No error at all."),
        md("### 1.3 Transpose K"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-apply-kernel"].prose == "not a zero matrix"
    assert a["derivative-kernel-size"].prose == "d+1"
    assert a["autograd-error"].prose == "No error at all."
    assert a["diagonal-transpose-kernel"].prose == ""  # a heading's title is not an answer


def test_a_long_line_that_starts_with_a_label_opens_its_answer(rubric: Rubric) -> None:
    notebook = nb(
        md("## Exercise 1"),
        md(
            "Some words first.\n**Ex 1.1** applying K = [1, -1] gives +1 on the diagonal and -1 "
            "just below it, so it is certainly not a zero matrix at all in my run"
        ),
        md("2.4: the minimum size is d + 1, because the d-th difference uses d + 1 samples"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "not a zero matrix" in a["diagonal-apply-kernel"].prose
    assert "d + 1" in a["derivative-kernel-size"].prose


def test_a_bold_question_is_a_question(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "Intro.\n\n**3. When you try to automatically find the gradient for the Conv2D "
            "class we created, what kind of error message do you see?**\n\nNo error at all."
        )
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["autograd-error"].prose == "No error at all."


def test_decorated_comment_headings_split_a_script(rubric: Rubric) -> None:
    script = (
        "X = torch.eye(6)\n\n# -- 1.1 apply K --\n# +1 and -1, not zero\nprint(corr2d(X, K))\n\n"
        "# ---- Exercise 2.4 ----\n# d + 1 taps\n"
    )
    a = locate(nb(code(script)), rubric, "d2l-1.0")
    assert "not zero" in a["diagonal-apply-kernel"].prose
    assert "d + 1 taps" in a["derivative-kernel-size"].prose


def test_a_comment_drawn_as_a_rule_is_a_heading_in_a_script(rubric: Rubric) -> None:
    script = (
        "X = torch.eye(6)\n\n# ------------------------------- learning a kernel\n"
        "net = nn.Conv2d(1, 1, (1, 2))\n\n# ------------------------------- Exercise 2.4\n"
        "# d + 1 taps\n"
    )
    a = locate(nb(code(script)), rubric, "d2l-1.0")
    assert a["learn-kernel"].code_cells == (0,)
    assert "d + 1 taps" in a["derivative-kernel-size"].prose


def test_a_short_lead_in_before_a_colon_names_the_question(rubric: Rubric) -> None:
    notebook = nb(
        md("Transpose X: the same output, X is symmetric."),
        md("K.T: it detects the horizontal edges, so the diagonal is still found."),
        md("Note: this line is just a note."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-transpose-input"].prose.startswith("the same output")
    assert a["diagonal-transpose-kernel"].prose.startswith("it detects the horizontal edges")
    assert "just a note" in a["diagonal-transpose-kernel"].prose  # a lead-in naming nothing


def test_a_numbered_question_table_is_read_but_a_value_column_is_not(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "| # | question | answer |\n|---|---|---|\n"
            "| 3 | autograd | no error, backward works |\n| 1.1 | apply K | not a zero matrix |"
        ),
        md("### 2.4 size\n| order | kernel |\n|---|---|\n| 3 | [-1, 3, -3, 1] |"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "no error" in a["autograd-error"].prose
    assert "[-1, 3, -3, 1]" in a["derivative-kernel-size"].prose


def test_a_caption_ending_in_a_colon_names_the_table_under_it(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "## Written answers\n\n| # | question | answer |\n|---|---|---|\n"
            "| 4 | matmul | im2col |\n\n"
            "Minimum kernel size for a derivative of order d (finite differences):\n\n"
            "| order | kernel | size |\n|---|---|---|\n| d-th | (-1)^(d-k) C(d, k) | d + 1 |"
        ),
        md("Some thoughts on the blur kernel:\n\nit averages."),
        md("### 1.1 apply K"),
        md("Not a zero matrix. Unlike the transposed image:\n\nthe diagonal gives +1 and -1."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "+1 and -1" in a["diagonal-apply-kernel"].prose  # a colon inside an answer
    assert "d + 1" in a["derivative-kernel-size"].prose
    assert "d + 1" not in a["corr2d-as-matmul"].prose
    assert "averages" in a["blur-kernel"].prose  # a caption naming another question


def test_a_line_marked_as_an_answer_never_opens_another_question(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "1. 构建一个具有对角线边缘的图像`X`。\n   - 答：用 `torch.eye(8)`。\n"
            "    1. 如果转置`X`会发生什么？\n"
            "       - 答：对角线图像是对称的，转置以后还是它自己，结果一样。\n"
            "    1. 如果转置`K`会发生什么？\n       - 答：检测水平边缘。"
        ),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert "还是它自己" in a["diagonal-transpose-input"].prose
    assert "还是它自己" not in a["diagonal-edges"].prose
    assert "水平边缘" in a["diagonal-transpose-kernel"].prose


def test_traditional_characters_are_read_as_the_books_simplified_wording(rubric: Rubric) -> None:
    notebook = nb(
        md("# 圖像卷積 課後練習"),
        md("## 互相關運算"),
        code("def corr2d(X, K): ..."),
        md("## 學習卷積核"),
        code("conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)"),
        md("### 如果轉置K會發生什麼？"),
        md("檢測的是水平邊緣。"),
    )
    assert detect_edition(notebook, rubric) == "d2l-zh-2.0"
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert a["diagonal-transpose-kernel"].via == "wording"
    assert "水平邊緣" in a["diagonal-transpose-kernel"].prose  # the student's own characters


def test_the_answer_after_a_label_and_a_lead_in_on_one_long_line_is_kept(rubric: Rubric) -> None:
    notebook = nb(
        md("**Ex 1** 构建一个具有对角线边缘的图像 `X`"),
        md(
            "**Ex 1.1** apply $K=[1,-1]$：output **不是** zero matrix。每一行在 $i+j=6$ 处"
            "从 $0$ 跳到 $1$，所以这条 anti-diagonal 上全是 $-1$，diagonal edge 也能被 detect 到。"
        ),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert a["diagonal-apply-kernel"].prose.startswith("output **不是** zero matrix")


def test_a_numbered_comment_right_under_code_opens_its_answer_a_plain_one_does_not(
    rubric: Rubric,
) -> None:
    script = (
        "X = torch.eye(6)\nprint('1.1', corr2d(X, K))\n# 1.2 transpose X -> still detected\n"
        "print('1.2', corr2d(X.T, K))\n# 1 -1 pattern below the diagonal\nprint(K)\n"
    )
    a = locate(nb(md("## 1.1 apply K"), code(script)), rubric, "d2l-1.0")
    assert "still detected" in a["diagonal-transpose-input"].prose
    assert "pattern below" in a["diagonal-transpose-input"].prose  # no heading: stays in 1.2
    assert "still detected" not in a["diagonal-apply-kernel"].prose


def test_an_answer_that_compares_with_another_question_stays_where_it_is(rubric: Rubric) -> None:
    notebook = nb(
        md("### 1.2 What happens if you transpose X?"),
        md("Same as applying K."),
        md("**Q1.3** same as transposing X, the diagonal is still detected"),
        md("### 2.2 Second derivative"),
        md("结果和转置K一样。"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-transpose-input"].prose == "Same as applying K."
    assert "still detected" in a["diagonal-transpose-kernel"].prose  # its number, not X's words
    assert "一样" in a["second-derivative-kernel"].prose


def test_answers_after_a_list_of_questions_follow_their_captions(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "#### 构建一个具有对角线边缘的图像X\n\n"
            "1. 如果将本节中举例的卷积核K应用于X，会发生什么情况？\n"
            "2. 如果转置X会发生什么？\n3. 如果转置K会发生什么？\n\n"
            "使用原卷积核的输出为：\n\n"
            "```text\ntensor([[-1., 0.], [1., -1.]])\n```\n\n对角线边缘被检测到了。\n\n"
            "转置X后：\n\n"
            "```text\ntensor([[-1., 0.], [1., -1.]])\n```\n\n结果一样。"
        ),
        md("With the original kernel:\n\n```\ntensor([[1., 0.]])\n```\n\nit finds the diagonal."),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert "对角线边缘被检测到了" in a["diagonal-apply-kernel"].prose
    assert "finds the diagonal" in a["diagonal-apply-kernel"].prose
    assert "结果一样" in a["diagonal-transpose-input"].prose
    assert "对角线边缘被检测到了" not in a["diagonal-transpose-kernel"].prose


def test_chinese_question_labels_and_numerals(rubric: Rubric) -> None:
    notebook = nb(
        md("## 一、课本代码复现"),
        code("X = torch.ones((6, 8))"),
        md("## 第二题\n在我们创建的Conv2D自动求导时，有什么错误消息？\n\n没有报错。"),
        md("说明一下。\n\n### 思考题 1.1：把本节的 K 用到这个 X 上会怎样？"),
        md("不是全 0。"),
        md("**【练习1.3】** 如果转置K会发生什么？\n\n检测水平边缘。"),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert not a["diagonal-edges"].found  # "一、" numbers a part of the notes, not question 1
    assert "没有报错" in a["autograd-error"].prose
    assert a["diagonal-apply-kernel"].prose == "不是全 0。"
    assert "水平边缘" in a["diagonal-transpose-kernel"].prose


def test_a_printed_sentence_is_the_students_words_a_printed_label_is_not(rubric: Rubric) -> None:
    script = (
        "# 1.2 transpose X\nprint(corr2d(X.T, K))\n"
        "print('1.2: still detected, the sign flips (the edge goes 0 -> 1)')\n"
        "print('grad_fn:', out.grad_fn)\n"
    )
    a = locate(nb(code(script)), rubric, "d2l-1.0")
    assert "still detected, the sign flips" in a["diagonal-transpose-input"].prose
    assert "grad_fn" not in a["diagonal-transpose-input"].prose


def test_a_nested_answer_list_is_read_as_the_exercises_outline(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "## Answers\n\n1. Image: `D = torch.eye(8)`.\n"
            "    1. It gives +1 on the diagonal and -1 below it.\n"
            "    1. Nothing changes, D.T == D.\n"
            "    1. Transposing K gives [[1], [-1]], which takes differences between rows.\n"
            "2. Kernels by hand\n    1. The derivative along v.\n"
            "3. No error message at all in PyTorch.\n4. im2col."
        ),
        md("### 2.3 Blur\n\n1. It averages.\n2. It removes noise."),  # a list inside one answer
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "+1 on the diagonal" in a["diagonal-apply-kernel"].prose
    assert "Nothing changes" in a["diagonal-transpose-input"].prose
    assert a["diagonal-transpose-kernel"].prose.startswith("Transposing K gives")
    assert "derivative along v" in a["directional-edge-kernel"].prose
    assert "No error message" in a["autograd-error"].prose
    assert "removes noise" in a["blur-kernel"].prose and not a["diagonal-edges"].cells[1:]


def test_a_printed_answer_with_its_number_opens_its_question(rubric: Rubric) -> None:
    cells = [
        code(
            "print(corr2d(Xd, K.T))\nprint('1.3) K.T compares vertical neighbours, so '\n"
            "      'corr2d(X.T, K.T) == corr2d(X, K).T and the diagonal is still found.')"
        ),
    ]
    a = locate(nb(md("### Exercise 1"), *cells), rubric, "d2l-1.0")
    assert a["diagonal-transpose-kernel"].code_cells == (1,)  # its number, not X.T inside
    assert "still found" in a["diagonal-transpose-kernel"].prose


def test_markdown_written_in_html_is_read_as_markdown(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "<hr>\n<h2>Exercises</h2>\n<p><b>1.</b> Construct an image <code>X</code> with "
            "diagonal edges.</p>"
        ),
        code("Xd = torch.eye(8)"),
        md("<p><b>1.3</b> What happens if you transpose <code>K</code>?</p>"),
        md(
            "<details open>\n<summary><b>Answer 1.3</b></summary>\n<br>\nIt reacts to "
            "<b>vertical</b> change: the output is 7&times;8.\n</details>"
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-edges"].code_cells == (1,)
    prose = a["diagonal-transpose-kernel"].prose
    assert "It reacts to **vertical** change: the output is 7×8." in prose and "<" not in prose


def test_bulleted_dotted_labels_name_their_questions_a_bulleted_bare_number_does_not(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md("- 1 for white->black, -1 for black->white. ok."),
        md(
            "- 1.1 **not** zero. each row: +1 where the band ends.\n"
            "- 1.3 K.T = [[1],[-1]] = vertical difference → horizontal-edge detector, still "
            "detects the diagonal (corr2d(X, K.T) == corr2d(X.T, K).T)"
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert not a["diagonal-edges"].found
    assert a["diagonal-apply-kernel"].prose.startswith("not** zero") is False
    assert a["diagonal-apply-kernel"].prose.startswith("not zero") or "**not** zero" in (
        a["diagonal-apply-kernel"].prose
    )
    assert "vertical difference" in a["diagonal-transpose-kernel"].prose


def test_a_mention_deep_in_notes_is_not_an_answer(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "## Discussions\n\n- The core computation is a cross-correlation.\n"
            " - Convolutions can be used for many purposes, for example detecting edges and "
            "lines, blurring images, or sharpening them."
        )
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["blur-kernel"].prose == ""


def test_a_docstring_heading_a_code_cell_names_its_answer(rubric: Rubric) -> None:
    notebook = nb(
        code('"""Ex 1.1  Apply K = [1, -1].\nIt is NOT zero: +1 on the diagonal."""\nxcorr(d, k)'),
        code('"""Ex 1.3  Transpose K.\nStill detected, shape (7, 8)."""\nxcorr(d, k.t())'),
        code('"""A note that names nothing."""\nx = 1'),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["diagonal-apply-kernel"].code_cells == (0,)
    assert "NOT zero" in a["diagonal-apply-kernel"].prose
    assert '"""' not in a["diagonal-apply-kernel"].prose  # the quotes are not the answer
    assert a["diagonal-transpose-kernel"].code_cells[0] == 1  # (what follows stays with it)
    assert "Still detected" in a["diagonal-transpose-kernel"].prose


def test_roman_sub_labels_and_an_arrow_after_the_question_words(rubric: Rubric) -> None:
    notebook = nb(
        md("### 4. kernels by hand\n(i) 2nd derivative: `[1, -2, 1]` (/h²)."),
        md("(ii) integral: running sum, a kernel of ones."),
        md("(iii) degree d -> d+1"),
    )
    a = locate(notebook, rubric, "d2l-0.17")
    assert "[1, -2, 1]" in a["second-derivative-kernel"].prose
    assert "running sum" in a["integral-kernel"].prose
    assert a["derivative-kernel-size"].prose.strip() == "d+1"


def test_sub_labels_after_a_question_that_has_only_sub_questions(rubric: Rubric) -> None:
    notebook = nb(
        md("**Q1 c)** transpose K: K.T = [[1],[-1]] finds horizontal edges."),
        code("corr(X, K.t())"),
        md("**Q2** design kernels\n\n**a)** direction v: the derivative along v."),
        code("def Kv(v1, v2): ..."),
        md("**b)** second derivative: [1, -2, 1]."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "derivative along v" in a["directional-edge-kernel"].prose
    assert a["directional-edge-kernel"].code_cells == (3,)
    assert "derivative along v" not in a["diagonal-transpose-kernel"].prose
    assert "[1, -2, 1]" in a["second-derivative-kernel"].prose


def test_circled_and_parenthesised_sub_questions_in_chinese(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "**練習 1**　我用 `torch.tril(torch.ones(6, 8))`。\n\n"
            "① 套用 K：輸出**不是零矩陣**。\n\n② 把 X 轉置：邊緣**仍然被偵測到**。\n\n"
            "**練習 4**\n① 二階導數的核：`[1, -2, 1]`\n③ 最小核大小是 **d + 1**。"
        ),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert "不是零矩阵" in a["diagonal-apply-kernel"].prose
    assert "仍然被侦测到" in a["diagonal-transpose-input"].prose
    assert "[1, -2, 1]" in a["second-derivative-kernel"].prose
    assert "d + 1" in a["derivative-kernel-size"].prose


def test_an_answer_outline_with_labelled_sub_items_numbers_its_top_items(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md(
            "**练习答案（简）**\n\n1. `X = torch.eye(5, 9)`，一条斜线。\n"
            "    - 1.1 不是全 0。\n    - 1.2 照样能检测到。\n"
            "2. 会报错：`Inplace operations are not supported`。\n"
            "3. 把 kernel 上下左右 flip 一下，就是矩阵乘法。\n4. 手工 kernel\n    - 4.3 d+1"
        ),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert "会报错" in a["autograd-error"].prose
    assert "flip" in a["corr2d-as-matmul"].prose
    assert "会报错" not in a["diagonal-transpose-input"].prose


def test_printed_answer_lines_and_ruled_printed_labels_open_their_questions(
    rubric: Rubric,
) -> None:
    notebook = nb(
        code(
            'print("\\n--- 1.1  apply K = [1, -1] ---")\nprint(corr2d(X, K))\n'
            'print("ANSWER 1.1: the result is NOT all zeros, K fires once per row.")\n'
            'print("\\n--- 1.2  transpose X ---")\nprint(corr2d(X.t(), K))\n'
            'print("ANSWER 1.2: the edge is still diagonal, so K still responds.")\n'
        ),
    )
    a = locate(notebook, rubric, "d2l-0.17")
    assert "NOT all zeros" in a["diagonal-apply-kernel"].prose
    assert "apply K = [1, -1]" not in a["diagonal-apply-kernel"].prose  # the label line
    assert "still responds" in a["diagonal-transpose-input"].prose


def test_a_quoted_question_and_answer_labels_name_their_questions(rubric: Rubric) -> None:
    notebook = nb(
        md("> 2. Design some kernels manually.\n>\n> 2.1 Given a directional vector v, ..."),
        md("**Answer:** the derivative along v."),
        md("**A2.2:** [1, -2, 1], minimum size 3."),
        md("- **Ex 3 (autograd):** in PyTorch there's no error."),
        md("T4 im2col: windows as rows."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "derivative along v" in a["directional-edge-kernel"].prose
    assert "Given a directional vector" not in a["directional-edge-kernel"].prose
    assert "[1, -2, 1]" in a["second-derivative-kernel"].prose
    assert "no error" in a["autograd-error"].prose  # "(autograd" is not sub-question (a)
    assert "windows as rows" in a["corr2d-as-matmul"].prose


def test_numbered_headings_before_the_exercises_heading_are_the_students_own(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md("## 3. Edges"),
        code("Y = corr2d(X, K)"),
        md("## 4. Learning the kernel back"),
        code("net = nn.LazyConv2d(1, kernel_size=(1, 2))"),
        md("# Exercises"),
        md("## 3. autograd\nNo error in PyTorch."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert a["corr2d-as-matmul"].cells == ()  # "4. Learning the kernel back" is not question 4
    assert a["autograd-error"].cells == (5,)


def test_an_answer_written_beside_the_code_and_bold_numbers_and_lettered_comments(
    rubric: Rubric,
) -> None:
    notebook = nb(
        code(
            "# 1.1 用 K=[1,-1]\nprint(corr2d(X, K).sum())  # 答：输出是0，结果全0\n"
            "print(X.shape)  # (batch, channel, h, w)\n"
        ),
        md("**3. Autograd on our `Conv2D`.** No error message in PyTorch."),
        code("# (b) transpose X\nprint(torch.equal(corr2d(X.t(), K), corr2d(X, K)))"),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "输出是0" in a["diagonal-apply-kernel"].prose
    assert "batch" not in a["diagonal-apply-kernel"].prose  # a plain comment beside code
    assert "No error message" in a["autograd-error"].prose
    assert a["diagonal-transpose-input"].code_cells == (2,)


def test_an_html_table_of_answers_is_read_as_markdown_rows(rubric: Rubric) -> None:
    notebook = nb(
        md(
            "<table>\n<tr><th>#</th><th>question</th><th>answer</th></tr>\n"
            "<tr><td>1.3</td><td>transpose K</td><td>still detected</td></tr>\n"
            "<tr><td>2.4</td><td>min size</td><td>2d+1</td></tr>\n</table>"
        ),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "still detected" in a["diagonal-transpose-kernel"].prose
    assert "2d+1" in a["derivative-kernel-size"].prose


def test_a_chinese_notebook_quoting_the_chinese_book_is_the_chinese_edition(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md(
            "## 6.2 图像卷积 hw\n\n没装 d2l，全部用原生 torch。答案直接写在每个 cell 顶上的 "
            "docstring 里，懒得另开 markdown 了。代码都跑过，输出也留着，方便助教对照检查。"
        ),
        code("conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)"),
        code("net = nn.Conv2d(1, 1, kernel_size=(1, 2))"),
    )
    assert detect_edition(notebook, rubric) == "d2l-zh-2.0"


def test_the_books_number_in_brackets_beats_the_students_own(rubric: Rubric) -> None:
    notebook = nb(
        md("**Q1 [1 + 1.1] Image with diagonal edges, and apply K to it**\n\nAn eye(8) image."),
        md("**Q3 [1.3] Transpose K**\n\nStill detected: a vertical difference."),
        md("**Q8 [3] Autograd**\n\nNo error in PyTorch."),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "eye(8)" in a["diagonal-edges"].prose and "eye(8)" in a["diagonal-apply-kernel"].prose
    assert "Still detected" in a["diagonal-transpose-kernel"].prose
    assert "No error" in a["autograd-error"].prose  # not question 8, not 3 = autograd by chance
    assert "Still detected" not in a["autograd-error"].prose


def test_titles_placeholders_and_run_in_headings(rubric: Rubric) -> None:
    notebook = nb(
        md("**4.2 kernel for an integral**\n\nTODO"),
        md("**4.3 minimum size for derivative of degree d**\n\nTODO — ran out of time"),
        md("**练习 3.** 如何通过改变输入张量和卷积核张量，将互相关运算表示为矩阵乘法？"),
        md("【在此作答】"),
        md("### 4. Designing kernels\n\n**Second derivative:** the kernel is [1, -2, 1]."),
    )
    a = locate(notebook, rubric, "d2l-0.17")
    assert a["integral-kernel"].prose == ""  # a bold title and a TODO are no answer
    assert a["derivative-kernel-size"].prose == ""
    assert a["corr2d-as-matmul"].prose == ""  # the question on the label line is no answer
    assert "[1, -2, 1]" in a["second-derivative-kernel"].prose


def test_unnumbered_answers_in_the_exercises_order_are_read_by_position(
    rubric: Rubric,
) -> None:
    answers = (
        "## 答案（顺序同上面的题目）\n\n- 用 `torch.eye(7)` 作为 X。\n    - 输出不是全零。\n"
        "    - 转置后结果一样。\n    - K.T 检测水平边缘。\n- 会报错。\n- 拉平成向量再乘矩阵。\n"
        "- 手工设计卷积核：\n    - [1, -2, 1]\n    - 全 1 的核\n    - d+1\n"
    )
    a = locate(nb(md(answers)), rubric, "d2l-zh-2.0")
    assert "不是全零" in a["diagonal-apply-kernel"].prose
    assert "会报错" in a["autograd-error"].prose
    assert a["derivative-kernel-size"].prose.strip() == "d+1"
    # a bulleted list that does not mirror the exercises is an answer's own list of points
    points = "## 1.1\n\n- the output is not zero\n    - +1 on the diagonal\n- shape 8x7\n- fine"
    assert (
        "shape 8x7" in locate(nb(md(points)), rubric, "d2l-zh-2.0")["diagonal-apply-kernel"].prose
    )


def test_a_title_naming_two_questions_answers_both_and_the_opening_words_name_a_line(
    rubric: Rubric,
) -> None:
    notebook = nb(
        md("### 题1　构造对角线边缘的图像，再用 K=[1,-1] 去卷"),
        code("Yd = corr2d(torch.eye(8), K)"),
        md(
            "2. Transposing X changes nothing: eye is symmetric. "
            "For a non-symmetric diagonal image it moves."
        ),
    )
    a = locate(notebook, rubric, "d2l-zh-2.0")
    assert a["diagonal-edges"].code_cells == (1,) and a["diagonal-apply-kernel"].code_cells == (1,)
    assert "changes nothing" in a["diagonal-transpose-input"].prose


def test_answers_kept_as_strings_name_their_questions(rubric: Rubric) -> None:
    notebook = nb(
        code('ans_1_2 = ("Transposing X keeps a diagonal, so K still responds.")\nprint(ans_1_2)'),
        code('answers = {"1.3": "K.T finds horizontal edges", "2.4": "d + 1"}\nprint(answers)'),
    )
    a = locate(notebook, rubric, "d2l-1.0")
    assert "still responds" in a["diagonal-transpose-input"].prose
    assert "horizontal edges" in a["diagonal-transpose-kernel"].prose
    assert a["derivative-kernel-size"].prose.strip() == "d + 1"


def test_a_chinese_notebook_on_the_english_10_book_is_the_10_edition(rubric: Rubric) -> None:
    notebook = nb(
        md("# 7.2 图像卷积（英文版 1.0）\n\n## 练习\n\n### 练习 1\n对角线边缘的图像。"),
        md("### 练习 2.1 方向向量\n沿 v 的方向导数。\n\n### 练习 2.3 模糊核\n权重非负、和为 1。"),
        code("net = nn.LazyConv2d(1, kernel_size=(1, 2))"),
    )
    assert detect_edition(notebook, rubric) == "d2l-1.0"
