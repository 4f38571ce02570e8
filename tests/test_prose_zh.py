"""Chinese answers: folding (full-width, traditional, spacing), negation by jieba's words,
hedges and abstentions, and jieba loaded only when a Chinese negation must be read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import context, runs_for

from grader.checks import registry
from grader.locate import Answer
from grader.model import Array, Cell, CellRun, Notebook
from grader.prose import Concept, judge, normalise
from grader.rubric import Rubric
from grader.text import cjk_word_count, fold, needs_fold, zh

ZERO = Concept("claims-zero", ("零矩阵", r"全(为|是)?\s*(零|0)(?![.\d])", r"\bzero matrix\b"))
NO_ERROR = Concept("no-error", (r"(没有|不会|不)\s*(报错|错误)",))
DETECTED = Concept("detected", (r"(检测|识别)(出|到)?了?[^不没,.]{0,10}对角",))
SAME = Concept("same", (r"不变|一样",))


def found(text: str, concept: Concept = ZERO) -> bool:
    return judge(text, [], [concept]).misconceptions[0].found


def test_full_width_digits_and_punctuation_are_folded_to_ascii() -> None:
    assert fold("至少ｄ＋１个点，对吗？") == "至少 d+1 个点, 对吗?"


def test_traditional_characters_are_folded_to_simplified() -> None:
    assert fold("得到的結果為零矩陣。沒有報錯") == "得到的结果为零矩阵. 没有报错"


def test_chinese_and_latin_are_spaced_so_word_boundaries_work() -> None:
    assert fold("K的转置是K.T，输出为zero matrix") == "K 的转置是 K.T, 输出为 zero matrix"
    assert found("输出为zero matrix")


def test_english_text_is_left_exactly_as_it_was() -> None:
    text = "The output is [1, -2, 1] (h^2), x² stays."
    assert not needs_fold(text)
    assert fold(text) is text


def test_a_chinese_full_stop_ends_a_sentence() -> None:
    verdict = judge("结果不是零矩阵。我觉得零矩阵吗？", [], [ZERO])
    match = verdict.misconceptions[0]
    assert not match.found and match.basis == "question"  # the denial is not the only hit


@pytest.mark.parametrize(
    "text",
    [
        "结果不是零矩阵",
        "结果并不是零矩阵",
        "输出是非零矩阵",
        "不会得到零矩阵，而是对角线",
        "结果不全为零",
        "说结果为零矩阵是不对的",
        "結果並不是零矩陣",
    ],
)
def test_a_denied_zero_matrix_is_not_a_claim_of_zero(text: str) -> None:
    match = judge(text, [], [ZERO]).misconceptions[0]
    assert not match.found
    assert match.basis == "negated"


@pytest.mark.parametrize(
    "text", ["得到的结果为零矩阵", "非常明显，结果是零矩阵", "没有报错，但是零矩阵", "结果全为0"]
)
def test_words_that_start_with_a_negator_character_do_not_negate(text: str) -> None:
    assert found(text)


def test_a_verb_with_a_negated_result_is_a_denial() -> None:
    assert not found("什么也检测不到对角线", DETECTED)
    assert found("能检测出对角线", DETECTED)


def test_unchanged_is_a_statement_not_a_negation() -> None:
    assert found("转置之后结果不变", SAME)
    assert not found("结果并不一样", SAME)


def test_no_error_is_stated_in_chinese() -> None:
    assert found("没有报错", NO_ERROR)
    assert found("不会报错", NO_ERROR)
    assert not found("会报错", NO_ERROR)


def test_a_hedged_chinese_claim_is_found_but_needs_review() -> None:
    verdict = judge("我觉得可能是零矩阵", [], [ZERO])
    assert verdict.misconceptions[0].found
    assert verdict.misconceptions[0].basis == "hedged"
    assert verdict.needs_review


def test_a_chinese_abstention_is_noted() -> None:
    assert "abstains" in judge("不知道", [ZERO]).notes


def test_chinese_words_are_counted_about_two_characters_each() -> None:
    assert cjk_word_count("得到的结果为零矩阵") == 5
    assert cjk_word_count("输出为 zero matrix") == 4
    assert judge("得到的结果为零矩阵", [ZERO]).words == 5


def test_normalise_folds_mixed_chinese_english_and_latex() -> None:
    assert normalise("最小尺寸为 $d+1$，而不是 $2d+1$。") == "最小尺寸为 d+1, 而不是 2d+1."


def _loads_jieba(code: str) -> bool:
    script = (
        "import sys\n"
        "from grader.prose import Concept, judge\n"
        "c = Concept('z', ('零矩阵', 'zero matrix'))\n"
        f"{code}\n"
        "from grader.text import zh\n"
        "print(zh._TOKENIZER is not None, 'jieba' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    return out == ["True", "True"]


def test_jieba_is_not_loaded_for_english_or_for_chinese_without_a_negator() -> None:
    assert not _loads_jieba("judge('The output is not a zero matrix.', [], [c])")
    assert not _loads_jieba("judge('得到的结果为零矩阵', [], [c])")
    assert _loads_jieba("judge('结果并没有得到零矩阵', [], [c])")


def test_jiebas_cache_goes_to_a_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = zh._cache_dir()
    assert path == str(tmp_path / "grader")
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def test_a_shared_cache_directory_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "grader"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert zh._cache_dir() != str(shared)


# --------------------------------------------------------------- the prose check, in Chinese


@pytest.mark.parametrize(
    ("answer", "fraction", "diagnoses"),
    [
        ("最小尺寸为 d+1，即 d 阶有限差分。", 1.0, ()),
        ("至少需要ｄ＋１个点（前向差分）", 1.0, ()),
        ("需要 2d+1 个点，因为中心差分两边各 d 个点。", 0.0, ("derivative-size-central",)),
        ("2d+1 是常见的答案，但最小是 d+1：d 阶前向差分。", 1.0, ()),
        ("最小尺寸為 d+1，d 階有限差分", 1.0, ()),
    ],
)
def test_a_chinese_answer_to_the_size_question_is_graded(
    rubric: Rubric, answer: str, fraction: float, diagnoses: tuple[str, ...]
) -> None:
    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        (
            Cell(0, "markdown", "## 4.3 要计算 d 阶导数，卷积核的最小尺寸是多少？"),
            Cell(1, "markdown", answer),
        ),
    )
    ex = rubric.exercise("derivative-kernel-size")
    spec = next(c for c in ex.checks if c.type == "prose")
    answers = {"derivative-kernel-size": Answer("derivative-kernel-size", (0, 1), (), answer)}
    ctx = context(rubric, ex.id, notebook, runs_for(notebook), None, answers=answers)
    r = registry()["prose"].run(spec, ctx)
    assert r.score == pytest.approx(fraction * r.max_score)
    assert r.diagnoses == diagnoses


def test_a_chinese_blur_answer_gets_the_unnormalised_diagnosis_and_its_purpose(
    rubric: Rubric,
) -> None:
    words = "模糊核的作用：为了降噪，在下采样之前防止混叠。"
    notebook = Notebook(
        "t.ipynb",
        "ipynb",
        (
            Cell(0, "markdown", "## 2.3 如何设计一个模糊核？为什么要使用这样的核？"),
            Cell(
                1,
                "code",
                "模糊核 = torch.ones(3, 3)  # 全 1 的核\nblur_kernel = 模糊核\nblur_kernel",
            ),
            Cell(2, "markdown", words),
        ),
    )
    ones = Array(np.ones((3, 3), dtype=np.float32))
    execution = runs_for(
        notebook, c1=CellRun(index=1, bindings={"blur_kernel": ones}, results=(ones,))
    )
    answers = {"blur-kernel": Answer("blur-kernel", (0, 1, 2), (1,), words)}
    ctx = context(rubric, "blur-kernel", notebook, execution, None, answers=answers)
    ex = rubric.exercise("blur-kernel")
    kernel, why = (registry()[c.type].run(c, ctx) for c in ex.checks)
    assert kernel.diagnoses == ("blur-not-normalized",) and not kernel.passed
    assert why.passed


def test_a_chinese_question_without_a_question_mark_is_a_question() -> None:
    match = judge("结果是零矩阵吗", [], [ZERO]).misconceptions[0]
    assert not match.found and match.basis == "question"
