"""Feedback in the student's language (grader.i18n): the catalogues are complete, texts made
from templates are translated, a missing translation falls back to English, the language of
a submission is recognised, and a Chinese submission's own reports are in Chinese while the
class report is not."""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from babel.messages.extract import extract_from_dir

from grader.i18n import Translator, detect_language, translator
from grader.i18n.extract import extracted_messages
from grader.load import load
from grader.model import Cell, ExerciseResult, Notebook, SubmissionResult
from grader.report import ReportOptions, render

ROOT = Path(__file__).resolve().parents[1]
HAN = re.compile(r"[\u4e00-\u9fff]")


def notebook(*cells: tuple[str, str]) -> Notebook:
    return Notebook(
        "t.ipynb",
        "ipynb",
        tuple(Cell(i, kind, src) for i, (kind, src) in enumerate(cells)),  # type: ignore[arg-type]
    )


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# ----------------------------------------------------------------------------- catalogues


def test_every_rubric_and_reference_feedback_text_has_a_chinese_translation() -> None:
    zh = translator("zh").messages
    found = {
        **extracted_messages([str(p) for p in (ROOT / "rubrics").glob("*.yaml")], "rubric"),
        **extracted_messages([str(ROOT / "reference" / "conv_layer.py")], "reference"),
    }
    assert len(found) > 80
    missing = {text: where for text, where in found.items() if text not in zh}
    assert not missing, "no zh translation (run `make messages`, then translate):\n" + "\n".join(
        f"{w[0]}: {t!r}" for t, w in missing.items()
    )


def test_every_marked_grader_message_has_a_chinese_translation() -> None:
    zh = translator("zh").messages
    messages = {
        str(m[2])
        for m in extract_from_dir(str(ROOT / "grader"), keywords={"N_": None})
        if isinstance(m[2], str)
    }
    assert len(messages) > 60
    assert sorted(m for m in messages if m not in zh) == []


def test_translations_keep_the_fields_of_their_english_message() -> None:
    zh = translator("zh").messages
    assert all(_fields(msgid) == _fields(msgstr) for msgid, msgstr in zh.items()), [
        m for m, s in zh.items() if _fields(m) != _fields(s)
    ]


# ----------------------------------------------------------------------------- translating


def test_a_message_made_from_a_template_is_translated_with_its_fields() -> None:
    t = translator("zh")
    assert t.text("`corr2d` is right on all 12 hidden test inputs.") == (
        "`corr2d` 在全部 12 个隐藏测试输入上都正确。"
    )
    # fields are messages too: the rubric's `what`, a predicate's message
    judged = t.text(
        "Judged the learned kernel shown in cell 15: "
        "The learned kernel [0.99, -0.98] is close to [1, -1]."
    )
    assert (
        judged
        == "评判了 第 15 个单元格中显示的学到的卷积核：学到的卷积核 [0.99, -0.98] 接近 [1, -1]。"
    )


def test_a_line_made_of_several_messages_is_translated_piece_by_piece() -> None:
    t = translator("zh")
    feedback = (
        "Some code cells lost their indentation (lines after `for ...:` or `def ...:` are not "
        "indented), so they cannot run and the answers in them could not be checked. Re-indent "
        "them, or export the notebook again as .ipynb without copying through a text box. "
        "Cells: 3, 5."
    )
    out = t.text(feedback)
    assert out.startswith("有些代码单元格丢失了缩进") and out.endswith("单元格：3, 5。")


def test_text_without_a_translation_stays_english_and_never_fails() -> None:
    t = translator("zh")
    assert t.text("Something the catalogue has never seen.") == (
        "Something the catalogue has never seen."
    )
    broken = Translator("zh", {"Total: {score}": "总分：{points}"})  # a translator's typo
    assert broken.text("Total: 3/4") == "Total: 3/4"
    assert broken.format("Total: {score}", score="3/4") == "Total: 3/4"
    assert translator("fr").text("The notebook has no code to run.") == (
        "The notebook has no code to run."
    )


def test_english_is_the_identity() -> None:
    assert translator("en").text("The notebook has no code to run.") == (
        "The notebook has no code to run."
    )


def test_a_result_is_localised_without_changing_scores_or_ids() -> None:
    ex = ExerciseResult(
        "learn-kernel",
        "Learning a kernel",
        1.0,
        2.0,
        "partial",
        feedback=("A person will review this written answer.",),
    )
    result = SubmissionResult("a.ipynb", "graded", exercises=(ex,), score=1.0, max_score=2.0)
    zh = translator("zh").localise(result)
    assert zh.exercises[0].title == "学习卷积核"
    assert zh.exercises[0].feedback == ("这道题的文字回答会由老师人工复查。",)
    assert (zh.score, zh.exercises[0].id, zh.exercises[0].status) == (
        1.0,
        "learn-kernel",
        "partial",
    )
    assert result.exercises[0].title == "Learning a kernel"  # the result itself is unchanged


# ----------------------------------------------------------------------------- detection


def test_a_notebook_written_in_chinese_is_chinese() -> None:
    nb = notebook(
        ("markdown", "### 1.1 如果将卷积核K应用于X，会发生什么？"),
        ("code", "out = corr2d(X, K)  # 输出不是零矩阵\nout"),
        ("markdown", "得到的结果在对角线上为 `+1`，旁边为 `-1`，说明 $K$ 能检测到对角线边缘。"),
    )
    assert detect_language(nb) == "zh"
    assert detect_language(load(ROOT / "reference" / "d2l-zh-2.0.ipynb")) == "zh"


@pytest.mark.parametrize("edition", ["d2l-1.0", "d2l-0.17"])
def test_the_english_references_are_english(edition: str) -> None:
    assert detect_language(load(ROOT / "reference" / f"{edition}.ipynb")) == "en"


def test_english_answers_with_notes_in_another_language_are_english() -> None:
    vietnamese = notebook(
        ("markdown", "The kernel for the second derivative is [1, -2, 1]."),
        ("code", "K2 = torch.tensor([[1.0, -2.0, 1.0]])  # đạo hàm bậc hai: hạt nhân [1, -2, 1]"),
    )
    assert detect_language(vietnamese) == "en"
    a_few_chinese_words = notebook(
        ("markdown", "Applying K gives +1 and -1 along the diagonal, so it is not a zero matrix."),
        ("code", "X = torch.eye(8)  # 对角线"),
    )
    assert detect_language(a_few_chinese_words) == "en"


def test_japanese_is_not_taken_for_chinese() -> None:
    nb = notebook(("markdown", "カーネルを転置すると、水平方向のエッジを検出します。"))
    assert detect_language(nb) == "en"


# ----------------------------------------------------------------------------- reports


def _result(language: str | None) -> SubmissionResult:
    ex = ExerciseResult(
        "corr2d",
        "The cross-correlation operation `corr2d`",
        3.0,
        3.0,
        "pass",
        feedback=("`corr2d` is right on all 12 hidden test inputs.",),
    )
    return SubmissionResult(
        f"{language}.ipynb",
        "graded",
        edition="d2l-zh-2.0",
        score=3.0,
        max_score=3.0,
        exercises=(ex,),
        language=language,
    )


def test_the_text_report_speaks_each_students_language_and_the_summary_the_instructors() -> None:
    out = render("text", [_result("zh"), _result("en")], ReportOptions())
    zh_block, en_block, summary = out.strip().split("\n\n")
    assert "互相关运算 `corr2d`" in zh_block and "通过" in zh_block
    assert "在全部 12 个隐藏测试输入上都正确" in zh_block
    assert not HAN.search(en_block) and "is right on all 12" in en_block
    assert summary.startswith("summary: 2 submissions") and not HAN.search(summary)
    assert "汇总：共 2 份提交" in render(
        "text", [_result("zh"), _result("en")], ReportOptions(report_lang="zh")
    )


def test_lang_forces_a_language_on_every_student() -> None:
    out = render("text", [_result("zh")], ReportOptions(lang="en"))
    assert not HAN.search(out)
    out = render("text", [_result("en")], ReportOptions(lang="zh"))
    assert "通过" in out


def test_gradescope_results_speak_the_students_language() -> None:
    doc = json.loads(render("gradescope", [_result("zh")], ReportOptions()))
    assert doc["output"].startswith("得分：3/3")
    assert doc["tests"][0]["name"] == "corr2d: 互相关运算 `corr2d`"
    assert doc["tests"][0]["output"] == "`corr2d` 在全部 12 个隐藏测试输入上都正确。"
    english = json.loads(render("gradescope", [_result("en")], ReportOptions()))
    assert english["output"].startswith("Score: 3/3") and not HAN.search(
        json.dumps(english, ensure_ascii=False)
    )


def test_the_text_report_of_an_unknown_language_is_english() -> None:
    assert not HAN.search(render("text", [_result(None)], ReportOptions()))


# ----------------------------------------------------------------------------- end to end


def _chinese_submission_with_mistakes(path: Path) -> None:
    nb = nbformat.read(ROOT / "reference" / "d2l-zh-2.0.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "def corr2d(" in cell.source:
            cell.source = cell.source.replace("range(Y.shape[1])", "range(Y.shape[0])")
        if cell.cell_type == "markdown" and cell.source.startswith("得到的**不是**零矩阵"):
            cell.source = "得到的结果为零矩阵，因为卷积核K检测不到对角线。"
    nbformat.write(nb, path)


@pytest.mark.slow
@pytest.mark.kernel
def test_a_chinese_submissions_reports_are_chinese_and_the_class_report_is_not(
    tmp_path: Path,
) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    _chinese_submission_with_mistakes(subs / "wang.ipynb")
    nbformat.write(nbformat.read(ROOT / "reference" / "d2l-0.17.ipynb", 4), subs / "smith.ipynb")

    def grade(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grader.cli", str(subs), "--engine", "nbclient", *extra],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )

    first = grade("--report", str(tmp_path / "report"), "--gradebook", str(tmp_path / "g.db"))
    assert first.returncode == 0, first.stderr
    blocks = first.stdout.strip().split("\n\n")
    wang = next(b for b in blocks if "wang.ipynb" in b)
    smith = next(b for b in blocks if "smith.ipynb" in b)
    # the student's own text report: Chinese titles, status words and feedback
    assert "互相关运算 `corr2d`" in wang
    assert "你的内层循环遍历的是 `range(Y.shape[0])`" in wang  # the diagnosis, in Chinese
    assert "[corr2d-loop-bound]" in wang
    assert not HAN.search(smith)
    assert blocks[-1].startswith("summary:") and not HAN.search(blocks[-1])
    # the feedback page and the annotated notebook speak Chinese; the class page does not
    page = (tmp_path / "report" / "feedback" / "wang.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in page and "wang 的反馈" in page and "总分：" in page
    assert "你的内层循环遍历的是" in page
    english_page = (tmp_path / "report" / "feedback" / "smith.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in english_page and not HAN.search(english_page)
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert not HAN.search(index)
    annotated = json.loads((tmp_path / "report" / "notebooks" / "wang.ipynb").read_text("utf-8"))
    sources = ["".join(c["source"]) for c in annotated["cells"]]
    assert any("你的内层循环遍历的是" in src for src in sources)
    assert any(src.startswith("## 评分反馈") for src in sources)
    assert any(src.startswith("### 评分反馈：corr2d") for src in sources)

    # again from the gradebook (not regraded): still the student's language
    second = grade("--gradebook", str(tmp_path / "g.db"))
    assert second.returncode == 0, second.stderr
    assert "互相关运算 `corr2d`" in next(b for b in second.stdout.split("\n\n") if "wang" in b)

    # --lang en: everyone in English
    forced = grade("--lang", "en", "--no-gradebook")
    assert not HAN.search(next(b for b in forced.stdout.split("\n\n") if "wang" in b))
