"""End-to-end: grade the hand-written corpus in tests/corpus/ and check its expected verdicts.

The corpus is ~30 small submissions in different students' styles and formats (.ipynb, a
jupytext percent script, jupytext Markdown, a pasted transcript, invalid files): full-mark
answers for both editions, a tagged template, one submission per rubric diagnosis, notebooks
that only partly run, and degenerate ones. The whole corpus is graded once per session (real
kernels: ~4 s each) by :func:`grade_corpus`, which other tests may reuse.

``expected.yaml`` (and ``expected-zh.yaml``, same format: the Chinese edition's files and an
English notebook with notes in another language) states what the spec says is right. Where the
grader is known to be wrong, that expectation is listed under the file's ``known_grader_bugs``
and checked here as a strict xfail, so the bug stays visible and the test turns red (XPASS) once
it is fixed. An edition the grader does not know yet is just an expectation it misses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.model import ExerciseResult, SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
EXPECTED_FILES = ("expected.yaml", "expected-zh.yaml")


def _load_expected() -> dict[str, dict[str, Any]]:
    """Every file's expectations, from all the EXPECTED_FILES (a file is listed in one only)."""
    merged: dict[str, dict[str, Any]] = {}
    for name in EXPECTED_FILES:
        files = yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))["files"]
        twice = sorted(set(merged) & set(files))
        assert not twice, f"{name}: {twice} already listed in another expected file"
        merged.update(files)
    return merged


EXPECTED: dict[str, dict[str, Any]] = _load_expected()
STATUSES = {"pass", "partial", "fail", "missing", "error"}
EXERCISE_FIELDS = {
    "status",
    "min_score",
    "max_score",
    "diagnoses",
    "absent_diagnoses",
    "feedback_contains",
}

pytestmark = [pytest.mark.slow, pytest.mark.kernel]


# ----------------------------------------------------------------------------- grading


@functools.cache
def grade_corpus(engine: str = "nbclient") -> dict[str, SubmissionResult]:
    """Grade every corpus file listed in expected.yaml with ``engine``, once per process.

    Returns ``{file name: SubmissionResult}``. Cached, so tests in other modules that import
    this function (e.g. to compare engines or reporters on real results) share the run.
    """
    from grader.execute import executor
    from grader.pipeline import Grader
    from grader.rubric import load_rubric

    grader = Grader(load_rubric(RUBRIC), executor(engine))
    return {name: grader.grade_path(CORPUS / name) for name in EXPECTED}


@functools.cache
def rubric_points() -> dict[str, float]:
    from grader.rubric import load_rubric

    return {ex.id: float(ex.points) for ex in load_rubric(RUBRIC).exercises}


@pytest.fixture(scope="module")
def corpus_results() -> dict[str, SubmissionResult]:
    return grade_corpus("nbclient")


# ----------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expectation:
    """One checkable statement about one file: ``scope`` is an exercise id or "submission"."""

    file: str
    scope: str
    field: str
    check: Callable[[SubmissionResult], None]

    @property
    def key(self) -> str:
        return f"{self.scope}.{self.field}"


def _split_key(key: str) -> tuple[str, set[str]]:
    """``scope[.field[,field...]]`` -> (scope, fields); no fields means all of them."""
    scope, _, fields = key.partition(".")
    return scope, {f.strip() for f in fields.split(",") if f.strip()}


def _covers(key: str, exp: Expectation) -> bool:
    scope, fields = _split_key(key)
    return exp.scope == scope and (not fields or exp.field in fields)


def _exercise(result: SubmissionResult, ex_id: str) -> ExerciseResult:
    for ex in result.exercises:
        if ex.id == ex_id:
            return ex
    charged = ", ".join(e.id for e in result.exercises)
    raise AssertionError(f"exercise {ex_id!r} was not graded (charged: {charged})")


def describe(ex: ExerciseResult) -> str:
    """An exercise's verdict and feedback, for assertion messages."""
    lines = [f"{ex.id}: {ex.score:g}/{ex.max_score:g} {ex.status}"]
    if ex.diagnoses:
        lines.append(f"  diagnoses: {', '.join(ex.diagnoses)}")
    for check in ex.checks:
        lines.append(f"  [{check.check}] {check.score:g}/{check.max_score:g}")
    lines += [f"  | {line}" for line in ex.feedback]
    return "\n".join(lines)


def describe_submission(result: SubmissionResult) -> str:
    head = (
        f"{Path(result.path).name}: {result.status}, edition {result.edition}, "
        f"{result.score:g}/{result.max_score:g}, diagnoses {list(result.diagnoses)}"
    )
    if result.error:
        head += f"\n  error: {result.error}"
    if result.execution is not None:
        head += "".join(
            f"\n  cell {e.cell}: {e.ename}: {e.evalue[:120]}" for e in result.execution.errors
        )
        head += "".join(f"\n  note: {n}" for n in result.execution.notes)
    return head


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _exercise_check(ex_id: str, field: str, want: Any) -> Callable[[SubmissionResult], None]:
    def check(result: SubmissionResult) -> None:
        ex = _exercise(result, ex_id)
        why = describe(ex)
        if field == "status":
            allowed = _as_list(want)
            assert set(allowed) <= STATUSES, f"bad status in expected.yaml: {allowed}"
            assert ex.status in allowed, f"status {ex.status}, expected {allowed}\n{why}"
        elif field == "min_score":
            assert ex.score >= want - 1e-9, f"score {ex.score} < {want}\n{why}"
        elif field == "max_score":
            assert ex.score <= want + 1e-9, f"score {ex.score} > {want}\n{why}"
        elif field == "diagnoses":
            missing = [d for d in want if d not in ex.diagnoses]
            assert not missing, f"diagnoses {missing} not detected\n{why}"
        elif field == "diagnosis_cost":
            assert ex.score < ex.max_score - 1e-9, f"the diagnosed mistake costs nothing\n{why}"
        elif field == "absent_diagnoses":
            wrong = [d for d in want if d in ex.diagnoses]
            assert not wrong, f"diagnoses {wrong} should not be given\n{why}"
        elif field == "feedback_contains":
            text = "\n".join(ex.feedback).lower()
            lacking = [s for s in want if s.lower() not in text]
            assert not lacking, f"feedback does not mention {lacking}\n{why}"
        elif field == "full_marks":
            assert ex.status == "pass" and ex.score >= ex.max_score - 1e-9, (
                f"a correct answer must get full marks\n{why}"
            )
        elif field == "points":
            points = rubric_points()[ex_id]
            assert abs(ex.max_score - points) < 1e-9, (
                f"charged {ex.max_score:g} points, the rubric gives {points:g}\n{why}"
            )
        else:  # pragma: no cover - a typo in expected.yaml
            raise AssertionError(f"unknown exercise field {field!r} in expected.yaml")

    return check


def _submission_check(field: str, want: Any) -> Callable[[SubmissionResult], None]:
    def check(result: SubmissionResult) -> None:
        why = describe_submission(result)
        if field == "invalid":
            assert result.status == "invalid", f"should be refused as not a notebook\n{why}"
            assert want.lower() in (result.error or "").lower(), (
                f"error should mention {want!r}\n{why}"
            )
        elif field == "graded":
            assert result.status == "graded", f"should be graded\n{why}"
        elif field == "edition":
            from grader.model import EDITIONS

            unknown = "" if want is None or want in EDITIONS else " (not a grader edition yet)"
            assert result.edition == want, (
                f"edition {result.edition}, expected {want}{unknown}\n{why}"
            )
        elif field == "diagnoses":
            missing = [d for d in want if d not in result.diagnoses]
            assert not missing, f"diagnoses {missing} not detected\n{why}"
        elif field == "absent_diagnoses":
            wrong = [d for d in want if d in result.diagnoses]
            assert not wrong, f"diagnoses {wrong} should not be given\n{why}"
        elif field == "no_diagnoses":
            assert not result.diagnoses, f"expected no diagnoses\n{why}"
        else:  # pragma: no cover
            raise AssertionError(f"unknown submission field {field!r} in expected.yaml")

    return check


def expectations(file: str, result: SubmissionResult | None = None) -> list[Expectation]:
    """Every expectation for ``file``; with ``result``, also the per-exercise invariants
    (full marks, rubric points) for the exercises it was charged."""
    spec = EXPECTED[file]
    out: list[Expectation] = []

    def add(scope: str, field: str, check: Callable[[SubmissionResult], None]) -> None:
        out.append(Expectation(file, scope, field, check))

    if spec.get("invalid"):
        add("submission", "invalid", _submission_check("invalid", spec.get("error", "")))
        return out
    add("submission", "graded", _submission_check("graded", None))
    if "edition" in spec:
        add("submission", "edition", _submission_check("edition", spec["edition"]))
    for field in ("diagnoses", "absent_diagnoses"):
        if spec.get(field):
            add("submission", field, _submission_check(field, spec[field]))
    if spec.get("no_diagnoses") or spec.get("full_marks"):
        add("submission", "no_diagnoses", _submission_check("no_diagnoses", None))
    for ex_id, fields in (spec.get("exercises") or {}).items():
        unknown = set(fields) - EXERCISE_FIELDS
        assert not unknown, f"{file}: unknown fields {unknown} for {ex_id} in expected.yaml"
        for field, want in fields.items():
            add(ex_id, field, _exercise_check(ex_id, field, want))
            if field == "diagnoses":  # a diagnosed mistake must cost points
                add(ex_id, "diagnosis_cost", _exercise_check(ex_id, "diagnosis_cost", True))
    charged = [ex.id for ex in result.exercises] if result is not None else []
    bug_scopes = {_split_key(key)[0] for key in spec.get("known_grader_bugs") or {}}
    # invariants need the result to know which exercises were charged; a known bug on an
    # exercise that was not charged still needs its own case
    for ex_id in dict.fromkeys([*charged, *bug_scopes]):
        if ex_id == "submission" or (result is not None and ex_id not in charged):
            continue
        if spec.get("full_marks"):
            add(ex_id, "full_marks", _exercise_check(ex_id, "full_marks", True))
        add(ex_id, "points", _exercise_check(ex_id, "points", True))
    return out


def _is_known_bug(file: str, exp: Expectation) -> bool:
    bugs: dict[str, str] = EXPECTED[file].get("known_grader_bugs") or {}
    return any(_covers(key, exp) for key in bugs)


def _known_bug_cases() -> Iterator[Any]:
    for file, spec in EXPECTED.items():
        for key, reason in (spec.get("known_grader_bugs") or {}).items():
            yield pytest.param(
                file,
                key,
                id=f"{file}:{key}",
                marks=pytest.mark.xfail(strict=True, reason=" ".join(str(reason).split())),
            )


# ----------------------------------------------------------------------------- tests


def test_every_corpus_file_has_expectations() -> None:
    on_disk = {
        p.name
        for p in CORPUS.iterdir()
        if p.is_file() and p.name not in EXPECTED_FILES and not p.name.startswith(".")
    }
    assert on_disk == set(EXPECTED), (
        f"not in {' or '.join(EXPECTED_FILES)}: {sorted(on_disk - set(EXPECTED))}; "
        f"listed but missing: {sorted(set(EXPECTED) - on_disk)}"
    )
    for file, spec in EXPECTED.items():
        assert spec.get("about"), f"{file}: say what it tests (`about`)"
        for key in spec.get("known_grader_bugs") or {}:
            scope, fields = _split_key(key)
            known = scope == "submission" or scope in rubric_points()
            assert known, f"{file}: known_grader_bugs key {key!r} names no exercise"
            for field in fields - {"full_marks", "points"}:  # those two need the result
                assert any(e.scope == scope and e.field == field for e in expectations(file)), (
                    f"{file}: {key!r}: no `{field}` expectation for {scope}"
                )


def test_every_rubric_diagnosis_is_exercised() -> None:
    """Each diagnosis the rubric defines is expected somewhere in the corpus."""
    from grader.rubric import load_rubric

    defined = {d.id for ex in load_rubric(RUBRIC).exercises for d in ex.diagnoses}
    expected: set[str] = set()
    for spec in EXPECTED.values():
        expected.update(spec.get("diagnoses") or [])
        for fields in (spec.get("exercises") or {}).values():
            expected.update(fields.get("diagnoses") or [])
    assert defined <= expected, f"no corpus file exercises {sorted(defined - expected)}"


def test_corpus_grades_fast_enough(corpus_results: dict[str, SubmissionResult]) -> None:
    """Each notebook stays small: none may take long to run (the whole corpus must stay
    well under ~90 s on two cores)."""
    slow = {
        name: r.execution.seconds
        for name, r in corpus_results.items()
        if r.execution is not None and r.execution.seconds > 15
    }
    assert not slow, f"corpus notebooks too slow to run: {slow}"


@pytest.mark.parametrize("file", list(EXPECTED))
def test_corpus_file(file: str, corpus_results: dict[str, SubmissionResult]) -> None:
    """Everything expected.yaml says about ``file``, except its known grader bugs."""
    result = corpus_results[file]
    failures: list[str] = []
    for exp in expectations(file, result):
        if _is_known_bug(file, exp):
            continue
        try:
            exp.check(result)
        except AssertionError as err:
            failures.append(f"--- {exp.key}: {err}")
    assert not failures, f"{describe_submission(result)}\n{EXPECTED[file]['about']}\n" + "\n".join(
        failures
    )


@pytest.mark.parametrize(
    ("file", "key"),
    list(_known_bug_cases())
    or [pytest.param("", "", marks=pytest.mark.skip(reason="no known grader bugs are listed"))],
)
def test_known_grader_bug(file: str, key: str, corpus_results: dict[str, SubmissionResult]) -> None:
    """The expectations the grader is known to get wrong (strict xfail: fixed -> XPASS)."""
    result = corpus_results[file]
    chosen = [e for e in expectations(file, result) if _covers(key, e)]
    assert chosen, f"{file}: no expectation matches known_grader_bugs key {key!r}"
    for exp in chosen:
        exp.check(result)
