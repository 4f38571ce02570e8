"""What a rubric says, as frozen dataclasses: exercises, their checks and diagnoses, and
the reference module. Read by the loader (this package), :mod:`grader.locate` and the
check types; importing it imports nothing of the grader but errors, memo and model."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import ReferenceError_, RubricError
from ..memo import Memo
from ..model import Edition

__all__ = ["CheckSpec", "DiagnosisSpec", "ExerciseSpec", "Reference", "Rubric"]


@dataclass(frozen=True)
class DiagnosisSpec:
    id: str
    feedback: str
    mutant: str | None = None
    prose: tuple[str, ...] = ()
    shapes: bool = False
    execution: str | None = None
    penalty: float = 0.0
    example: str = ""  # what a submission with this mistake looks like (for `grade validate`)
    line: int | None = None

    @property
    def kind(self) -> str:
        for kind in ("mutant", "prose", "shapes", "execution"):
            if getattr(self, kind):
                return kind
        return "predicate"


@dataclass(frozen=True)
class CheckSpec:
    type: str
    points: float
    label: str
    options: Mapping[str, Any]
    public: bool = True
    feedback_pass: str = ""
    feedback_fail: str = ""
    file: str = ""
    line: int | None = None
    editions: tuple[str, ...] = ()  # empty: every edition
    field_lines: Mapping[str, int] = field(default_factory=dict)
    path: str = ""  # e.g. "exercises[3].checks[0]"

    def error(self, field: str, message: str) -> RubricError:
        """An instructor error at one of this check's fields (``"inputs[0].predicate"``)."""
        key = field.split("[")[0].split(".")[0]
        line = self.field_lines.get(key, self.line)
        return RubricError(self.file, line, f"{self.path}.{field}" if self.path else field, message)


@dataclass(frozen=True)
class ExerciseSpec:
    id: str
    title: str
    points: float
    editions: tuple[Edition, ...]
    kind: str  # "section" (the section's own code) or "exercise"
    wording: tuple[str, ...]
    numbers: Mapping[str, str]
    names: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    diagnoses: tuple[DiagnosisSpec, ...]
    line: int | None = None


@dataclass(frozen=True)
class Reference:
    """The rubric's reference module: functions looked up by name."""

    name: str
    path: str
    module: ModuleType
    # What its (pure) functions returned, keyed by (use, function object, content key of the
    # arguments): see grader.checks.base.remembered. The same arrays recur across checks and
    # submissions. Owned by this Reference, so a different reference module (or a reloaded
    # one with new function objects) never sees another one's results.
    memo: Memo[Hashable, Any] = field(
        default_factory=lambda: Memo(max_entries=8192, max_cost=32 * 1024 * 1024),
        compare=False,
        repr=False,
    )

    def has(self, name: str) -> bool:
        return callable(getattr(self.module, name, None))

    def function(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.module, name, None)
        if not callable(fn):
            raise ReferenceError_(self.path, None, name, "no such function in the reference")
        return fn  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str  # the declared version plus a hash of the rubric and reference contents
    title: str
    path: str
    editions: Mapping[str, tuple[str, ...]]  # edition -> signal regexes
    exercises: tuple[ExerciseSpec, ...]
    reference: Reference | None

    def for_edition(self, edition: Edition | None) -> tuple[ExerciseSpec, ...]:
        if edition is None:
            return self.exercises
        return tuple(e for e in self.exercises if edition in e.editions)

    def exercise(self, exercise_id: str) -> ExerciseSpec:
        for e in self.exercises:
            if e.id == exercise_id:
                return e
        raise KeyError(exercise_id)
