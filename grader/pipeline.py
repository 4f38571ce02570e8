"""The grading pipeline for one submission: load -> execute -> locate -> check.

Locating has two passes: the text (headings, wording, numbers, tags, names:
:mod:`grader.locate`) and, after execution, what the cells computed (:mod:`grader.behaviour`,
searched by the checks with the rubric's own predicates).

This is the library API the CLI wraps::

    from grader import Grader, load_rubric, executor
    g = Grader(load_rubric("rubrics/conv-layer.yaml"), executor("nbclient"))
    result = g.grade_path("submission.ipynb")     # a frozen SubmissionResult

Student failure is data: a notebook that does not parse, crashes, or runs forever still
gives a ``SubmissionResult`` (with zero scores and the cause); only input that is not a
notebook gives ``status="invalid"``. Instructor failure (a bad rubric) raises at load time.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .behaviour import Attribution
from .checks import CheckContext, registry
from .course import BOOK_MODULES, course_execution, excused_cells
from .edition import detect_edition
from .errors import GraderError, InputError, ProbeError
from .execute import Executor, Run
from .i18n import detect_language
from .load import load
from .locate import Answer, locate_all
from .model import (
    EDITIONS,
    CheckResult,
    Edition,
    Execution,
    ExecutionSummary,
    ExerciseResult,
    Notebook,
    Status,
    SubmissionResult,
)
from .rubric import CheckSpec, ExerciseSpec, Rubric

EditionChoice = Literal["auto", "d2l-1.0", "d2l-0.17", "d2l-zh-2.0"]


@dataclass(frozen=True)
class Options:
    edition: EditionChoice = "auto"
    # `grade --check`: only the public part of the rubric, as its public pack has it
    public_only: bool = False
    seed: str = ""  # mixed into the hidden inputs' seed (a course secret)
    # modules the course's environment should have (grader.course): a missing one is the
    # course's gap, not the student's mistake
    course_modules: tuple[str, ...] = BOOK_MODULES


def student_id(path: str | Path, pattern: str | None = None) -> str:
    """The student id of a submission: the file name's stem, or the first group of
    ``pattern`` (a regex searched in the file name)."""
    name = Path(path).name
    if pattern:
        m = re.search(pattern, name)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return Path(path).stem


def content_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Grader:
    def __init__(self, rubric: Rubric, executor: Executor, options: Options | None = None):
        self.options = options or Options()
        if self.options.public_only:  # the public part, frozen exactly as its pack holds it
            from .pack import public_rubric

            rubric = public_rubric(rubric)
        self.rubric = rubric
        self.executor = executor

    def grade_path(self, path: str | Path, student: str | None = None) -> SubmissionResult:
        who = student or student_id(path)
        try:
            notebook = load(path)
        except InputError as exc:
            return SubmissionResult(path=str(path), status="invalid", error=str(exc), student=who)
        return replace(self.grade_notebook(notebook), student=who)

    def grade_notebook(self, notebook: Notebook) -> SubmissionResult:
        edition = self._edition(notebook)
        cache: dict[str, Any] = {}  # probe replies, shared by all checks of this submission
        with self.executor.run(notebook) as run:
            execution = course_execution(run.execution, self.options.course_modules)
            # locate: what the text says, then what the cells computed (the checks search by
            # behaviour through this Attribution, in the rubric's order)
            answers, unnamed = locate_all(notebook, self.rubric, edition)
            attribution = Attribution(notebook, self.rubric, answers, edition, unnamed)
            exercises = self._exercises(edition, attribution.answers)
            results = tuple(
                self._exercise(notebook, run, execution, ex, attribution, edition, cache)
                for ex in exercises
            )
        excused = excused_cells(execution, (c.source for c in notebook.cells if c.kind == "code"))
        diagnoses = tuple(dict.fromkeys(d for r in results for d in r.diagnoses))
        return SubmissionResult(
            path=notebook.path,
            status="graded",
            edition=edition,
            language=detect_language(notebook),
            score=round(sum(r.score for r in results), 4),
            max_score=sum(r.max_score for r in results),
            exercises=results,
            diagnoses=diagnoses,
            execution=ExecutionSummary(
                seconds=execution.seconds,
                errors=tuple(
                    c.error
                    for c in execution.cells
                    if c.error is not None and c.index not in excused
                ),
                killed=execution.killed,
                notes=(*notebook.notes, *execution.notes),
                environment=execution.environment,
            ),
        )

    # ------------------------------------------------------------------ internals
    def _edition(self, notebook: Notebook) -> Edition | None:
        if self.options.edition != "auto":
            return self.options.edition
        return detect_edition(notebook, self.rubric)

    def _exercises(
        self, edition: Edition | None, answers: Mapping[str, Answer]
    ) -> list[ExerciseSpec]:
        """The exercises this submission is charged for. With an unknown edition: those of
        every edition, plus edition-specific ones the student answered."""
        if edition is not None:
            chosen = list(self.rubric.for_edition(edition))
        else:
            every = {e for ex in self.rubric.exercises for e in ex.editions}
            chosen = [
                ex
                for ex in self.rubric.exercises
                if set(ex.editions) >= every or answers.get(ex.id, Answer(ex.id)).found
            ]
        return chosen

    def _exercise(
        self,
        notebook: Notebook,
        run: Run,
        execution: Execution,
        ex: ExerciseSpec,
        attribution: Attribution,
        edition: Edition | None,
        cache: dict[str, Any],
    ) -> ExerciseResult:
        ctx = CheckContext(
            notebook=notebook,
            execution=execution,
            channel=run,
            rubric=self.rubric,
            exercise=ex,
            answers=attribution.answers,
            edition=edition,
            cache=cache,
            seed=self.options.seed,
            attribution=attribution,
        )
        # With an unknown edition, edition-specific checks of the rubric's first edition
        # apply (so an exercise is never charged both editions' variants).
        as_edition = edition or next((e for e in EDITIONS if e in self.rubric.editions), None)
        checks = [
            c
            for c in ex.checks
            if (c.public or not self.options.public_only)
            and (not c.editions or as_edition is None or as_edition in c.editions)
        ]
        results = tuple(self._check(spec, ctx) for spec in checks)
        return replace(aggregate(ex, results, execution), cells=ctx.answer().cells)

    @staticmethod
    def _check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        check_type = registry()[spec.type]
        try:
            return check_type.run(spec, ctx)
        except ProbeError as exc:
            return ctx.result(spec, 0.0, [f"Could not be checked: {exc}."], errored=True)
        except GraderError:
            raise
        except Exception as exc:  # a bug in a check type must not stop a batch
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return ctx.result(
                spec,
                0.0,
                [
                    f"Could not be checked (grader error in `{spec.type}` check: "
                    f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}); "
                    "your instructor will look at it."
                ],
                errored=True,
                needs_review=True,
            )


def aggregate(
    ex: ExerciseSpec, results: Sequence[CheckResult], execution: Execution
) -> ExerciseResult:
    score = round(sum(r.score for r in results), 4)
    max_score = sum(r.max_score for r in results)
    status: Status
    if results and not any(r.found for r in results):
        status = "missing"
    elif any(r.errored for r in results) and score < max_score:
        status = "error"
    elif score >= max_score - 1e-9:
        status = "pass"
    elif score > 0:
        status = "partial"
    else:
        status = "fail"
    feedback = tuple(dict.fromkeys(line for r in results for line in r.feedback if line))
    if status == "missing" and execution.killed:
        feedback = (*feedback, "The notebook was stopped before this exercise could be checked.")
    return ExerciseResult(
        id=ex.id,
        title=ex.title,
        score=score,
        max_score=max_score,
        status=status,
        feedback=feedback,
        diagnoses=tuple(dict.fromkeys(d for r in results for d in r.diagnoses)),
        needs_review=any(r.needs_review for r in results),
        checks=tuple(results),
    )
