"""The rubric's prose concepts measured on their tables (tests/prose_tables/): every concept
has a table of at least 10 paraphrases and 10 near-misses, in English and Chinese, and the
matcher gets every row right (precision and recall 100%), as `grade validate` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.prose_tables import (
    MIN_ROWS,
    RubricConcept,
    Table,
    concepts,
    load_table,
    load_tables,
    matches,
    measure,
    report,
    tables_dir,
)
from grader.rubric import Rubric, load_all

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_all(ROOT / "rubrics")[0]


@pytest.fixture(scope="module")
def tables(rubric: Rubric) -> dict[str, Table]:
    return load_tables(tables_dir(rubric))


def _items() -> list[RubricConcept]:
    return concepts(load_all(ROOT / "rubrics")[0])


@pytest.mark.parametrize("item", _items(), ids=lambda i: i.where)
def test_every_prose_concept_is_perfect_on_its_table(
    item: RubricConcept, tables: dict[str, Table]
) -> None:
    table = tables[item.concept.id]
    score = measure(item, table)
    assert score.wrong == ()
    assert score.precision == 1.0 and score.recall == 1.0
    # English and Chinese for every concept; Vietnamese where students' notes need it
    assert table.languages[:2] == ("en", "zh") and set(table.languages) <= {"en", "zh", "vi"}
    for lang in table.languages:
        assert table.count(True, lang) >= MIN_ROWS and table.count(False, lang) >= MIN_ROWS


def test_the_rubric_has_a_prose_concept_for_every_prose_check_and_diagnosis(
    rubric: Rubric,
) -> None:
    ids = {i.concept.id for i in concepts(rubric)}
    assert {"d-plus-one", "finite-differences", "unroll", "no-error-in-pytorch"} <= ids
    assert {"claims-zero-response", "derivative-size-central", "matmul-flip-kernel"} <= ids
    assert len(ids) == 18


def test_validate_reports_precision_and_recall_for_every_concept(rubric: Rubric) -> None:
    rows = list(report(rubric))
    assert len(rows) == len(concepts(rubric))
    assert all(ok for _, ok, _ in rows)
    what, _, detail = next(r for r in rows if r[0].endswith("/d-plus-one"))
    assert what == "prose derivative-kernel-size/d-plus-one"
    assert detail.startswith("precision 100%, recall 100% (en ")
    assert " zh " in detail


def test_a_concept_that_misses_a_paraphrase_fails_with_the_row_named(
    rubric: Rubric, tmp_path: Path
) -> None:
    source = tables_dir(rubric) / "d-plus-one.yaml"
    (tmp_path / "d-plus-one.yaml").write_text(
        source.read_text(encoding="utf-8").replace(
            "match:\n  en:\n", "match:\n  en:\n    - 'one tap more than the order'\n"
        ),
        encoding="utf-8",
    )
    rows = {what: (ok, detail) for what, ok, detail in report(rubric, tmp_path)}
    ok, detail = rows["prose derivative-kernel-size/d-plus-one"]
    assert not ok
    assert detail.startswith("precision 100%, recall 9")  # one paraphrase of ~20 missed
    assert "missed [en] 'one tap more than the order'" in detail
    ok, detail = rows["prose derivative-kernel-size/finite-differences"]
    assert not ok and detail.startswith("no table finite-differences.yaml")


def test_a_rubric_without_tables_is_not_measured(rubric: Rubric, tmp_path: Path) -> None:
    rows = list(report(rubric, tmp_path / "absent"))
    assert len(rows) == 1 and rows[0][1] and "not measured" in rows[0][2]


def test_a_malformed_table_is_an_instructor_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("concept: x\nmatch: {en: [1, 2]}\nmiss: {en: ['a']}\n", encoding="utf-8")
    with pytest.raises(RubricError, match=r"match\.en: must be a list of strings"):
        load_table(path)


def test_a_table_with_too_few_rows_in_one_language_fails(rubric: Rubric, tmp_path: Path) -> None:
    source = (tables_dir(rubric) / "d-plus-one.yaml").read_text(encoding="utf-8")
    (tmp_path / "d-plus-one.yaml").write_text(
        source.replace("miss:\n", "miss:\n  vi: ['d cong 2']\n").replace(
            "match:\n", "match:\n  vi: ['d + 1 diem']\n"
        ),
        encoding="utf-8",
    )
    rows = {what: (ok, detail) for what, ok, detail in report(rubric, tmp_path)}
    ok, detail = rows["prose derivative-kernel-size/d-plus-one"]
    assert not ok
    assert "precision 100%, recall 100%" in detail
    assert detail.endswith(f"fewer than {MIN_ROWS} answers a side in vi")


# --------------------------------------------------------------- the issue's example answers


def _concept(rubric: Rubric, cid: str) -> RubricConcept:
    return next(i for i in concepts(rubric) if i.concept.id == cid)


def test_a_forward_difference_answer_with_points_earns_the_explanation(rubric: Rubric) -> None:
    answer = (
        "You need d + 1 points. The d-th forward difference of f uses f(x), f(x+1), ..., "
        "f(x+d), e.g. [-1, 1] for d = 1."
    )
    for cid in ("d-plus-one", "finite-differences"):
        assert matches(_concept(rubric, cid).concept, answer, diagnosis=False), cid
    assert not matches(_concept(rubric, "derivative-size-central").concept, answer, diagnosis=True)


@pytest.mark.parametrize(
    ("text", "cid", "found"),
    [
        ("得到的结果为零矩阵", "claims-zero-response", True),
        ("不是零矩阵，对角线上有 1 和 -1", "claims-zero-response", False),
        ("二阶导数的核为 [1, -2, 1]", "form", True),
        ("最小尺寸为ｄ＋１，即 d 阶有限差分", "d-plus-one", True),
        ("没有报错，但只能处理二维张量", "no-error-in-pytorch", True),
        ("报错 'Conv2D' object has no attribute 'grad'", "autograd-attribute-error", True),
        ("需要 2d+1 个点（中心差分）", "derivative-size-central", True),
        ("沒有報錯", "no-error-in-pytorch", True),
    ],
)
def test_chinese_answers_from_the_issue_are_judged(
    rubric: Rubric, text: str, cid: str, found: bool
) -> None:
    item = _concept(rubric, cid)
    assert matches(item.concept, text, diagnosis=item.diagnosis) is found
