"""Immutable data passed between the pipeline stages.

load -> :class:`Notebook`; execute -> :class:`Execution`; check -> :class:`ExerciseResult`,
:class:`SubmissionResult`. Nothing here knows about JSON, HTML or databases: reporters
serialise these objects at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

# --------------------------------------------------------------------------- load

CellKind = Literal["code", "markdown", "raw"]
# d2l-zh-2.0: 动手学深度学习 2.0 (the Chinese edition), section 6.2: the 0.17 exercises in Chinese
Edition = Literal["d2l-1.0", "d2l-0.17", "d2l-zh-2.0"]
EDITIONS: tuple[Edition, ...] = ("d2l-1.0", "d2l-0.17", "d2l-zh-2.0")


@dataclass(frozen=True)
class Cell:
    """One cell of a submission, as the student wrote it."""

    index: int  # position in the notebook, 0-based; reported to users as index + 1
    kind: CellKind
    source: str
    tags: tuple[str, ...] = ()
    exercise: str | None = None  # exercise id from cell metadata (template notebooks)
    stored_text: str = ""  # text of the outputs saved in the file (never trusted for scoring)


@dataclass(frozen=True)
class Notebook:
    """A submission in any input format, normalised to cells."""

    path: str
    format: str  # "ipynb", "ipynb-v3", "py:percent", "md", "transcript", ...
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()  # things the loader fixed or noticed, in plain words

    @property
    def code_cells(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.kind == "code")


# --------------------------------------------------------------------------- values
# Values that came out of a submission's process, decoded from plain data by
# grader.values. Arrays are read-only numpy arrays; nothing else is ever constructed.


@dataclass(frozen=True)
class Opaque:
    """A value the grader does not decode (an object, a module...): only its type name."""

    type_name: str
    callable: bool = False
    params: int | None = None  # number of positional parameters, when callable


@dataclass(frozen=True, eq=False)
class Array:
    """A tensor or ndarray from the submission, as a read-only numpy array."""

    data: npt.NDArray[np.generic]
    kind: Literal["torch", "numpy", "list"] = "torch"
    requires_grad: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data.shape)


Value: TypeAlias = "Array | Opaque | float | int | bool | str | tuple[Value, ...] | None"


# --------------------------------------------------------------------------- execute

Killed = Literal["timeout", "memory", "crashed"]


@dataclass(frozen=True)
class CellError:
    cell: int  # 1-based cell number in the student's notebook (all cells counted)
    ename: str
    evalue: str


@dataclass(frozen=True)
class CellRun:
    """What happened when one code cell ran (its last attempt, if it was re-run)."""

    index: int  # 0-based index into Notebook.cells
    text: str = ""  # all text the cell produced (stdout + text/plain results), size-capped
    results: tuple[Value, ...] = ()  # values the cell displayed as its result, decoded
    bindings: Mapping[str, Value] = field(default_factory=dict)  # names it assigned
    error: CellError | None = None
    timed_out: bool = False
    attempts: int = 1  # 2 when the cell was deferred because it used a later cell's name
    first_error: CellError | None = None  # the error of the first attempt, when re-run
    seconds: float = 0.0


@dataclass(frozen=True)
class Execution:
    """The record of running a notebook top to bottom."""

    cells: tuple[CellRun, ...]
    seconds: float
    killed: Killed | None = None
    engine: str = "nbclient"
    notes: tuple[str, ...] = ()  # e.g. "added missing import torch", "sandbox: weaker"
    missing_modules: tuple[str, ...] = ()
    # missing modules the course's environment should have had (see grader.course): the
    # course's gap, not the student's
    environment: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[CellError, ...]:
        return tuple(c.error for c in self.cells if c.error is not None)

    def cell(self, index: int) -> CellRun | None:
        for c in self.cells:
            if c.index == index:
                return c
        return None


# --------------------------------------------------------------------------- check

Status = Literal["pass", "partial", "fail", "missing", "error"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rubric check."""

    check: str  # "<exercise id>/<check index or name>"
    type: str
    score: float
    max_score: float
    passed: bool
    feedback: tuple[str, ...] = ()
    diagnoses: tuple[str, ...] = ()
    needs_review: bool = False
    public: bool = True  # shown by `grade --check` (the public part of a rubric)
    found: bool = True  # False when the student's answer for this check was not found
    errored: bool = False  # True when the check could not run (the kernel died, ...)


@dataclass(frozen=True)
class ExerciseResult:
    id: str
    title: str
    score: float
    max_score: float
    status: Status
    feedback: tuple[str, ...] = ()
    diagnoses: tuple[str, ...] = ()
    needs_review: bool = False
    checks: tuple[CheckResult, ...] = ()
    cells: tuple[int, ...] = ()  # 0-based notebook cells where the answer was found


@dataclass(frozen=True)
class ExecutionSummary:
    seconds: float
    errors: tuple[CellError, ...]
    killed: Killed | None
    notes: tuple[str, ...] = ()
    # course modules the kernels' environment lacked (grader.course): for the instructor's
    # batch warning, never the student's feedback; not kept by the gradebook
    environment: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmissionResult:
    path: str
    status: Literal["graded", "invalid"]
    error: str | None = None
    edition: Edition | None = None
    score: float = 0.0
    max_score: float = 0.0
    exercises: tuple[ExerciseResult, ...] = ()
    diagnoses: tuple[str, ...] = ()
    execution: ExecutionSummary | None = None
    student: str | None = None
    # the language of the student's prose ("en", "zh"; grader.i18n.detect_language): the
    # language their feedback is shown in. The result's own text stays English.
    language: str | None = None
