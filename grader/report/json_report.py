"""The ``json`` report: one JSON document describing every submission.

Shape (``JSON_SCHEMA`` is the normative description)::

    {"submissions": [
        {"path", "student", "status": "graded"|"invalid", "error", "edition", "score", "max_score",
         "exercises": [{"id", "title", "score", "max_score", "status", "feedback": [str],
                        "diagnoses": [str], "needs_review": bool}],
         "diagnoses": [str],
         "execution": null | {"seconds", "errors": [{"cell", "ename", "evalue"}],
                              "killed": null|"timeout"|"memory"|"crashed", "notes": [str]}}
    ],
     "public_only": true,            # only present when rendered with public_only
     "warnings": [{"kind": "environment", "module", "submissions", "total", "message"}]}
                                     # for the instructor, once per batch (report.warnings);
                                     # only present when there is one

Scores are rounded to 2 decimals and seconds to 3; nothing is recomputed (the submission score
is the ``score`` field, never a sum). An invalid submission has ``"execution": null`` and no
exercises. With ``public_only`` the feedback lines that only non-public checks produced are
dropped (see :func:`public_feedback`); scores, statuses and diagnoses are kept as given.

A non-finite score (NaN, inf) is a bug upstream and makes rendering raise ``ValueError`` rather
than emit invalid JSON.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grader.model import EDITIONS, ExerciseResult, Killed, Status, SubmissionResult
from grader.report.warnings import batch_warnings

if TYPE_CHECKING:
    from grader.report import ReportOptions

__all__ = ["JSON_SCHEMA", "clean_str", "public_feedback", "render", "to_dict"]

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:d2l-grader:report:1",
    "title": "grader report",
    "type": "object",
    "required": ["submissions"],
    "additionalProperties": False,
    "properties": {
        "submissions": {"type": "array", "items": {"$ref": "#/$defs/submission"}},
        "public_only": {"const": True},
        "warnings": {"type": "array", "items": {"$ref": "#/$defs/warning"}},
    },
    "$defs": {
        # for the instructor, once per batch (grader.report.warnings)
        "warning": {
            "type": "object",
            "required": ["kind", "module", "submissions", "total", "message"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["environment"]},
                "module": {"type": "string"},
                "submissions": {"type": "integer", "minimum": 1},
                "total": {"type": "integer", "minimum": 1},
                "message": {"type": "string"},
            },
        },
        "submission": {
            "type": "object",
            "required": [
                "path",
                "student",
                "status",
                "error",
                "edition",
                "score",
                "max_score",
                "exercises",
                "diagnoses",
                "execution",
            ],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string"},
                "student": {"type": ["string", "null"]},
                "status": {"enum": ["graded", "invalid"]},
                "error": {"type": ["string", "null"]},
                "edition": {"enum": [*EDITIONS, None]},
                "score": {"type": "number"},
                "max_score": {"type": "number"},
                "exercises": {"type": "array", "items": {"$ref": "#/$defs/exercise"}},
                "diagnoses": _STRINGS,
                "execution": {
                    "oneOf": [{"type": "null"}, {"$ref": "#/$defs/execution"}],
                },
            },
            # an invalid submission was never run and has no exercises
            "if": {"properties": {"status": {"const": "invalid"}}},
            "then": {
                "properties": {"execution": {"type": "null"}, "exercises": {"maxItems": 0}},
            },
        },
        "exercise": {
            "type": "object",
            "required": [
                "id",
                "title",
                "score",
                "max_score",
                "status",
                "feedback",
                "diagnoses",
                "needs_review",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "score": {"type": "number"},
                "max_score": {"type": "number"},
                "status": {"enum": list(typing.get_args(Status))},
                "feedback": _STRINGS,
                "diagnoses": _STRINGS,
                "needs_review": {"type": "boolean"},
            },
        },
        "execution": {
            "type": "object",
            "required": ["seconds", "errors", "killed", "notes"],
            "additionalProperties": False,
            "properties": {
                "seconds": {"type": "number", "minimum": 0},
                "errors": {"type": "array", "items": {"$ref": "#/$defs/cell_error"}},
                "killed": {"enum": [*typing.get_args(Killed), None]},
                "notes": _STRINGS,
            },
        },
        "cell_error": {
            "type": "object",
            "required": ["cell", "ename", "evalue"],
            "additionalProperties": False,
            "properties": {
                "cell": {"type": "integer", "minimum": 1},
                "ename": {"type": "string"},
                "evalue": {"type": "string"},
            },
        },
    },
}


def clean_str(text: str) -> str:
    """Replace lone surrogates (undecodable bytes in file names) so the text can be encoded."""
    return text.encode("utf-8", "replace").decode("utf-8")


def public_feedback(exercise: ExerciseResult) -> tuple[str, ...]:
    """The exercise's feedback lines without those that come only from non-public checks.

    A line some public check also produced stays (it is that check's feedback); lines that no
    check produced (added by the pipeline, e.g. "the notebook was stopped") stay too.
    """
    hidden = {line for c in exercise.checks if not c.public for line in c.feedback}
    shown = {line for c in exercise.checks if c.public for line in c.feedback}
    return tuple(line for line in exercise.feedback if line not in hidden or line in shown)


# An entry that differs, as grader.checks.base.difference writes it: "[0, 6] is 0, expected 3"
_EXPECTED_VALUE = re.compile(r"(\[[\d, ]*\] is [^,;]+), expected [^;\s()]+")


def hide_expected_values(line: str) -> str:
    """``line`` without the expected values of the entries it says differ (``--hide-expected``:
    which entry is wrong and the student's value stay; the hidden input's answer goes)."""
    return _EXPECTED_VALUE.sub(r"\1, not the expected value", line)


def without_expected(result: SubmissionResult) -> SubmissionResult:
    """``result`` with :func:`hide_expected_values` applied to every feedback line (of its
    exercises and their checks), for what students are shown."""

    def hide(lines: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(hide_expected_values(ln) for ln in lines)

    exercises = tuple(
        replace(
            ex,
            feedback=hide(ex.feedback),
            checks=tuple(replace(c, feedback=hide(c.feedback)) for c in ex.checks),
        )
        for ex in result.exercises
    )
    return replace(result, exercises=exercises)


def feedback_of(
    exercise: ExerciseResult, public_only: bool, hide_expected: bool = False
) -> tuple[str, ...]:
    lines = public_feedback(exercise) if public_only else exercise.feedback
    return tuple(hide_expected_values(ln) for ln in lines) if hide_expected else lines


def _score(value: float) -> float:
    return round(float(value), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def _exercise_dict(ex: ExerciseResult, public_only: bool) -> dict[str, Any]:
    return {
        "id": clean_str(ex.id),
        "title": clean_str(ex.title),
        "score": _score(ex.score),
        "max_score": _score(ex.max_score),
        "status": ex.status,
        "feedback": [clean_str(line) for line in feedback_of(ex, public_only)],
        "diagnoses": [clean_str(d) for d in ex.diagnoses],
        "needs_review": bool(ex.needs_review),
    }


def to_dict(result: SubmissionResult, *, public_only: bool = False) -> dict[str, Any]:
    """One submission as plain JSON-ready data (the items of ``"submissions"``)."""
    invalid = result.status == "invalid"
    execution: dict[str, Any] | None = None
    if result.execution is not None and not invalid:
        ex = result.execution
        execution = {
            "seconds": round(float(ex.seconds), 3) + 0.0,
            "errors": [
                {"cell": int(e.cell), "ename": clean_str(e.ename), "evalue": clean_str(e.evalue)}
                for e in ex.errors
            ],
            "killed": ex.killed,
            "notes": [clean_str(n) for n in ex.notes],
        }
    return {
        "path": clean_str(result.path),
        "student": None if result.student is None else clean_str(result.student),
        "status": result.status,
        "error": None if result.error is None else clean_str(result.error),
        "edition": result.edition,
        "score": _score(result.score),
        "max_score": _score(result.max_score),
        "exercises": [] if invalid else [_exercise_dict(e, public_only) for e in result.exercises],
        "diagnoses": [clean_str(d) for d in result.diagnoses],
        "execution": execution,
    }


def render(results: Sequence[SubmissionResult], options: ReportOptions) -> str:
    doc: dict[str, Any] = {
        "submissions": [to_dict(r, public_only=options.public_only) for r in results]
    }
    if options.public_only:
        doc["public_only"] = True
    warnings = [
        {
            "kind": w.kind,
            "module": clean_str(w.module),
            "submissions": w.submissions,
            "total": w.total,
            "message": clean_str(w.message),
        }
        for w in batch_warnings(results)
    ]
    if warnings:
        doc["warnings"] = warnings
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
