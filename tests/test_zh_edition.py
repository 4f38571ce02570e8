"""The Chinese edition, 动手学深度学习 2.0 (``d2l-zh-2.0``): detection, locating its Chinese
questions and numbering, its reference notebook (full marks, every mistake caught) and its
student notebook (``grade assign``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.edition import detect_edition
from grader.load import load
from grader.locate import locate
from grader.model import Cell, Notebook
from grader.rubric import Rubric

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference" / "d2l-zh-2.0.ipynb"
EXERCISES = ROOT / "exercises" / "d2l-zh-2.0.ipynb"

# The book's exercise list (d2l-zh, chapter_convolutional-neural-networks/conv-layer.md)
QUESTIONS = [
    "构建一个具有对角线边缘的图像`X`。",
    "如果将本节中举例的卷积核`K`应用于`X`，会发生什么情况？",
    "如果转置`X`会发生什么？",
    "如果转置`K`会发生什么？",
    "在我们创建的`Conv2D`自动求导时，有什么错误消息？",
    "如何通过改变输入张量和卷积核张量，将互相关运算表示为矩阵乘法？",
    "手工设计一些卷积核。",
    "二阶导数的核的形式是什么？",
    "积分的核的形式是什么？",
    "得到$d$次导数的最小核的大小是多少？",
]


def markdown_notebook(*cells: tuple[str, str]) -> Notebook:
    return Notebook(
        "t.ipynb",
        "ipynb",
        tuple(Cell(i, kind, src) for i, (kind, src) in enumerate(cells)),  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------------------- the notebooks


def test_the_zh_reference_notebook_asks_the_books_questions_in_order_and_ran_clean() -> None:
    nb = nbformat.read(REFERENCE, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    for cell in code:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source
        assert not re.search(r"^\s*(import|from)\s+(d2l|torchvision)\b", cell.source, re.M)
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    where = [next(i for i, h in enumerate(headings) if q in h) for q in QUESTIONS]
    assert where == sorted(where)
    source = "\n".join(c.source for c in code)
    assert '"""计算二维互相关运算"""' in source and "lr = 3e-2  # 学习率" in source
    assert any(h.strip().endswith("## 练习") for h in headings)


def test_the_zh_reference_is_detected_as_the_chinese_edition(rubric: Rubric) -> None:
    assert detect_edition(load(REFERENCE), rubric) == "d2l-zh-2.0"


@pytest.mark.parametrize("edition", ["d2l-1.0", "d2l-0.17"])
def test_english_references_are_not_detected_as_chinese(rubric: Rubric, edition: str) -> None:
    assert detect_edition(load(ROOT / "reference" / f"{edition}.ipynb"), rubric) == edition


def test_an_english_notebook_with_chinese_comments_keeps_its_edition(rubric: Rubric) -> None:
    nb = load(ROOT / "reference" / "d2l-1.0.ipynb")
    cells = [*nb.cells, Cell(len(nb.cells), "code", "# 这里我用了卷积核\nK2 = K  # 二阶导数\n")]
    assert detect_edition(Notebook(nb.path, nb.format, tuple(cells)), rubric) == "d2l-1.0"


def test_a_chinese_notebook_with_numbered_headings_is_the_chinese_edition(
    rubric: Rubric,
) -> None:
    # "6.2" and nn.Conv2d(1, 1, ...) are 0.17 signals too; the Chinese ones outnumber them
    nb = markdown_notebook(
        ("markdown", "# 6.2 图像卷积"),
        ("markdown", "## 6.2.1 互相关运算"),
        ("code", "conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)"),
        ("markdown", "## 6.2.7 练习\n1. 构建一个具有对角线边缘的图像X。"),
        ("markdown", "2. 在我们创建的Conv2D自动求导时，有什么错误消息？"),
    )
    assert detect_edition(nb, rubric) == "d2l-zh-2.0"


def test_chinese_numbering_and_full_width_forms_locate_the_exercises(rubric: Rubric) -> None:
    nb = markdown_notebook(
        ("markdown", "## 练习"),
        ("markdown", "练习1：先做一张图"),
        ("code", "img = torch.eye(8)\nimg"),
        ("markdown", "（1）如果将卷积核K应用于X？"),
        ("code", "out = corr2d(img, K)"),
        ("markdown", "第2题"),
        ("markdown", "没有报错。"),
        ("markdown", "３．矩阵乘法"),
        ("markdown", "4、手工设计一些卷积核"),
        ("markdown", "4.3 得到ｄ次导数的最小核的大小是多少？"),
        ("markdown", "至少 d+1 个。"),
    )
    answers = locate(nb, rubric, "d2l-zh-2.0")
    assert answers["diagonal-edges"].cells == (1, 2)
    assert answers["diagonal-apply-kernel"].cells == (3, 4)
    assert answers["autograd-error"].cells == (5, 6)
    assert answers["autograd-error"].prose == "没有报错。"
    assert answers["corr2d-as-matmul"].via == "wording"
    assert answers["derivative-kernel-size"].prose == "至少 d+1 个。"


def test_full_width_sub_question_numbers_follow_their_exercise(rubric: Rubric) -> None:
    nb = markdown_notebook(
        ("markdown", "## 练习1"),
        ("code", "img = torch.eye(8)\nimg"),
        ("markdown", "### （1）"),
        ("code", "corr2d(img, K)"),
        ("markdown", "### （3）"),
        ("markdown", "K.T 检测水平边缘。"),
        ("markdown", "(2) an English answer's own list item is not a question number"),
    )
    answers = locate(nb, rubric, "d2l-zh-2.0")
    assert answers["diagonal-apply-kernel"].cells == (2, 3)
    assert answers["diagonal-transpose-kernel"].cells == (4, 5, 6)
    assert not answers["diagonal-transpose-input"].found


def test_chinese_labels_in_code_comments_locate_the_exercises(rubric: Rubric) -> None:
    nb = markdown_notebook(
        ("markdown", "## 练习"),
        ("code", "# 练习1：构造对角线图像\nX = torch.eye(8)"),
        ("code", "# （2）转置X\ncorr2d(X.T, K)"),
        ("code", "# 1.3 转置K\n# 输出不为零\ncorr2d(X, K.T)"),
    )
    answers = locate(nb, rubric, "d2l-zh-2.0")
    assert answers["diagonal-edges"].cells == (1,)
    assert answers["diagonal-transpose-input"].cells == (2,)
    assert answers["diagonal-transpose-kernel"].cells == (3,)
    assert "输出不为零" in answers["diagonal-transpose-kernel"].prose


def test_the_chinese_edition_charges_the_017_exercises(rubric: Rubric) -> None:
    zh = {e.id for e in rubric.for_edition("d2l-zh-2.0")}
    assert zh == {e.id for e in rubric.for_edition("d2l-0.17")}
    assert "integral-kernel" in zh and "blur-kernel" not in zh


def test_grade_assign_makes_the_committed_chinese_exercise_notebook(
    tmp_path: Path, rubric: Rubric
) -> None:
    out = tmp_path / "zh.ipynb"
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "assign", str(REFERENCE), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    made = nbformat.read(out, as_version=4)
    committed = nbformat.read(EXERCISES, as_version=4)
    assert [c.source for c in made.cells] == [c.source for c in committed.cells]
    assert made.metadata["grader"]["edition"] == "d2l-zh-2.0"
    # the student's placeholders are in Chinese, and never read as an answer
    assert any(c.source == "*在这里写下你的答案。*" for c in made.cells)
    answers = locate(load(out), rubric, "d2l-zh-2.0")
    assert answers["derivative-kernel-size"].found and answers["derivative-kernel-size"].prose == ""
    tagged = {c.metadata.get("grader", {}).get("exercise") for c in made.cells} - {None}
    assert "integral-kernel" in tagged and "autograd-error" in tagged


# ----------------------------------------------------------------------------- real kernels


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.parametrize("edition", ["auto", "d2l-zh-2.0"])
def test_the_zh_reference_scores_full_marks(rubric: Rubric, edition: str) -> None:
    from grader.execute import executor
    from grader.pipeline import Grader, Options

    grader = Grader(rubric, executor("nbclient"), Options(edition=edition))  # type: ignore[arg-type]
    result = grader.grade_path(REFERENCE)
    assert result.edition == "d2l-zh-2.0"
    assert result.score == result.max_score == 29
    assert not result.diagnoses


@pytest.mark.slow
@pytest.mark.kernel
def test_grade_validate_catches_every_mistake_on_the_zh_reference() -> None:
    from grader.tools import validate

    rows = [r for r in validate(ROOT / "rubrics", "warm") if "d2l-zh-2.0" in r.what]
    assert rows[0].what == "reference d2l-zh-2.0" and rows[0].ok, rows[0].detail
    diagnoses = [r for r in rows if r.what.startswith("diagnosis")]
    assert len(diagnoses) >= 12
    assert all(r.ok for r in diagnoses), [r for r in diagnoses if not r.ok]


@pytest.mark.slow
@pytest.mark.kernel
def test_edition_flag_forces_the_chinese_edition_on_an_english_notebook(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader.cli",
            str(ROOT / "reference" / "d2l-0.17.ipynb"),
            "--edition",
            "d2l-zh-2.0",
            "--no-gradebook",
            "--format",
            "json",
            "--engine",
            "nbclient",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"edition": "d2l-zh-2.0"' in proc.stdout
