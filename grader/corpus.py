"""A corpus of graded examples: submissions with the verdicts an instructor expects.

A corpus folder holds submissions and one or more ``expected*.yaml`` files saying, per file,
what must hold when it is graded (format: the header of ``tests/corpus/expected.yaml``).
``grade validate --corpus DIR`` grades every listed file and reports how many of those
judgements the grader meets; the test suite checks the same statements one by one, with the
grader's known bugs as strict expected failures.

Every statement is an :class:`Expectation`: a scope (an exercise id or ``submission``), a
field (``status``, ``min_score``, ``diagnoses``, ...) and a check that raises
``AssertionError`` with an explanation when the result does not meet it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .model import ExerciseResult, SubmissionResult

STATUSES = {"pass", "partial", "fail", "missing", "error"}
EXERCISE_FIELDS = {
    "status",
    "min_score",
    "max_score",
    "diagnoses",
    "absent_diagnoses",
    "feedback_contains",
}


def load_expected(folder: Path) -> dict[str, dict[str, Any]]:
    """``{file name: its expectations}`` from every ``expected*.yaml`` in ``folder``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("expected*.yaml")):
        files = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("files") or {}
        for name, spec in files.items():
            if name in out:
                raise ValueError(f"{path}: {name} is listed in two expectation files")
            out[name] = spec
    return out


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


def split_key(key: str) -> tuple[str, set[str]]:
    """``scope[.field[,field...]]`` -> (scope, fields); no fields means all of them."""
    scope, _, fields = key.partition(".")
    return scope, {f.strip() for f in fields.split(",") if f.strip()}


def covers(key: str, exp: Expectation) -> bool:
    scope, fields = split_key(key)
    return exp.scope == scope and (not fields or exp.field in fields)


def is_known_bug(spec: Mapping[str, Any], exp: Expectation) -> bool:
    bugs: Mapping[str, str] = spec.get("known_grader_bugs") or {}
    return any(covers(key, exp) for key in bugs)


def describe(ex: ExerciseResult) -> str:
    """An exercise's verdict and feedback, for explanations."""
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


def _exercise(result: SubmissionResult, ex_id: str) -> ExerciseResult:
    for ex in result.exercises:
        if ex.id == ex_id:
            return ex
    charged = ", ".join(e.id for e in result.exercises)
    raise AssertionError(f"exercise {ex_id!r} was not graded (charged: {charged})")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _exercise_check(
    ex_id: str, field: str, want: Any, points: Mapping[str, float]
) -> Callable[[SubmissionResult], None]:
    def check(result: SubmissionResult) -> None:
        ex = _exercise(result, ex_id)
        why = describe(ex)
        if field == "status":
            allowed = _as_list(want)
            assert set(allowed) <= STATUSES, f"bad status in the expectations: {allowed}"
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
            assert abs(ex.max_score - points[ex_id]) < 1e-9, (
                f"charged {ex.max_score:g} points, the rubric gives {points[ex_id]:g}\n{why}"
            )
        else:
            raise AssertionError(f"unknown exercise field {field!r} in the expectations")

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
            assert result.edition == want, f"edition {result.edition}, expected {want}\n{why}"
        elif field == "diagnoses":
            missing = [d for d in want if d not in result.diagnoses]
            assert not missing, f"diagnoses {missing} not detected\n{why}"
        elif field == "absent_diagnoses":
            wrong = [d for d in want if d in result.diagnoses]
            assert not wrong, f"diagnoses {wrong} should not be given\n{why}"
        elif field == "no_diagnoses":
            assert not result.diagnoses, f"expected no diagnoses\n{why}"
        else:
            raise AssertionError(f"unknown submission field {field!r} in the expectations")

    return check


def expectations(
    file: str,
    spec: Mapping[str, Any],
    points: Mapping[str, float],
    result: SubmissionResult | None = None,
) -> list[Expectation]:
    """Every statement ``spec`` makes about ``file``; with ``result``, also the per-exercise
    invariants (full marks, the rubric's ``points``) for the exercises it was charged."""
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
        if isinstance(fields, str | list):  # `corr2d: pass`: the status alone
            fields = {"status": fields}
        if not isinstance(fields, dict):
            raise ValueError(f"{file}: {ex_id}: give a status or a mapping of fields")
        unknown = set(fields) - EXERCISE_FIELDS
        if unknown:
            raise ValueError(f"{file}: unknown fields {sorted(unknown)} for {ex_id}")
        for field, want in fields.items():
            add(ex_id, field, _exercise_check(ex_id, field, want, points))
            if field == "diagnoses":  # a diagnosed mistake must cost points
                cost = _exercise_check(ex_id, "diagnosis_cost", True, points)
                add(ex_id, "diagnosis_cost", cost)
    charged = [ex.id for ex in result.exercises] if result is not None else []
    bug_scopes = {split_key(key)[0] for key in spec.get("known_grader_bugs") or {}}
    # invariants need the result to know which exercises were charged; a known bug on an
    # exercise that was not charged still needs its own case
    for ex_id in dict.fromkeys([*charged, *bug_scopes]):
        if ex_id == "submission" or (result is not None and ex_id not in charged):
            continue
        if spec.get("full_marks"):
            add(ex_id, "full_marks", _exercise_check(ex_id, "full_marks", True, points))
        add(ex_id, "points", _exercise_check(ex_id, "points", True, points))
    return out


def unmet(
    file: str, spec: Mapping[str, Any], points: Mapping[str, float], result: SubmissionResult
) -> list[str]:
    """What ``file``'s expectations say that ``result`` does not hold, known bugs left out:
    one "--- <scope>.<field>: <why>" per statement."""
    failures: list[str] = []
    for exp in expectations(file, spec, points, result):
        if is_known_bug(spec, exp):
            continue
        try:
            exp.check(result)
        except AssertionError as err:
            failures.append(f"--- {exp.key}: {err}")
    return failures


def known_bugs(expected: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(file, key, reason) of every ``known_grader_bugs`` entry, the reason on one line."""
    return [
        (file, key, " ".join(str(reason).split()))
        for file, spec in expected.items()
        for key, reason in (spec.get("known_grader_bugs") or {}).items()
    ]


def check_known_bug(
    file: str,
    spec: Mapping[str, Any],
    key: str,
    points: Mapping[str, float],
    result: SubmissionResult,
) -> None:
    """Check the expectations a ``known_grader_bugs`` key names (AssertionError while the bug
    is there)."""
    chosen = [e for e in expectations(file, spec, points, result) if covers(key, e)]
    if not chosen:
        raise AssertionError(f"{file}: no expectation matches known_grader_bugs key {key!r}")
    for exp in chosen:
        exp.check(result)


@dataclass(frozen=True)
class Agreement:
    """How one file's grading meets its expectations."""

    file: str
    met: int
    total: int
    known_bugs: int  # statements listed as the grader's known bugs (not counted as met)
    failures: tuple[str, ...]


def agreement(
    expected: Mapping[str, Mapping[str, Any]],
    results: Mapping[str, SubmissionResult],
    points: Mapping[str, float],
) -> Iterable[Agreement]:
    """Per file: how many of its statements hold (known bugs included in the total)."""
    for file, spec in expected.items():
        result = results[file]
        met = total = bugs = 0
        failures: list[str] = []
        for exp in expectations(file, spec, points, result):
            total += 1
            try:
                exp.check(result)
            except AssertionError as err:
                if is_known_bug(spec, exp):
                    bugs += 1
                else:
                    failures.append(f"{exp.key}: {str(err).splitlines()[0]}")
            else:
                met += 1
        yield Agreement(file, met, total, bugs, tuple(failures))
