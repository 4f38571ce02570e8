"""The gradebook's tables, and the encoding of results into rows and back.

Split from :mod:`grader.gradebook` (which documents the schema and is the only public API):
table definitions on one :data:`metadata`, validation of the values every portable backend
can store, and :func:`encode` / :func:`load` of submissions. Nothing here opens a database.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, Literal, TypeVar, get_args

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from .errors import GraderError
from .model import (
    EDITIONS,
    CellError,
    Edition,
    ExecutionSummary,
    ExerciseResult,
    Killed,
    Status,
    SubmissionResult,
)

SCHEMA_VERSION: Final = 1

# Longest identifiers accepted; checked in Python so that SQLite (which ignores VARCHAR
# lengths) behaves like PostgreSQL (which enforces them).
_STUDENT_LEN: Final = 500
_ID_LEN: Final = 200  # exercise ids, diagnosis ids, rubric versions, authors
_ENGINE_LEN: Final = 100
_SHA256 = re.compile(r"[0-9a-f]{64}")
_IN_CHUNK: Final = 500  # ids per IN (...) list when loading child rows

SubmissionStatus = Literal["graded", "invalid"]
_SUBMISSION_STATUSES: tuple[SubmissionStatus, ...] = get_args(SubmissionStatus)
_STATUSES: tuple[Status, ...] = get_args(Status)
_KILLED: tuple[Killed, ...] = get_args(Killed)

_T = TypeVar("_T")


class GradebookError(GraderError):
    """The gradebook cannot store or read something.

    A database made by another schema version, a stored row that does not decode, or a value
    no portable backend can store (NUL, unpaired surrogate, NaN score, over-long id).
    """


# --------------------------------------------------------------------------- schema

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

students = Table(
    "students",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_STUDENT_LEN), nullable=False, unique=True),
)

submissions = Table(
    "submissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, ForeignKey("students.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("rubric_version", String(_ID_LEN), nullable=False),
    Column("engine", String(_ENGINE_LEN), nullable=True),
    Column("graded_at", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("edition", String(32), nullable=True),
    Column("score", Double, nullable=False),
    Column("max_score", Double, nullable=False),
    Column("seconds", Double, nullable=True),
    Column("killed", String(16), nullable=True),
    Column("cell_errors", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Index("ix_submissions_lookup", "student_id", "content_hash", "rubric_version"),
)

exercise_results = Table(
    "exercise_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("exercise_id", String(_ID_LEN), nullable=False),
    Column("title", Text, nullable=False),
    Column("score", Double, nullable=False),
    Column("max_score", Double, nullable=False),
    Column("status", String(16), nullable=False),
    Column("needs_review", Boolean, nullable=False),
    Column("feedback", Text, nullable=False),
    Column("cells", Text, nullable=False, default="[]"),
    UniqueConstraint("submission_id", "exercise_id", name="uq_exercise_results_exercise"),
    UniqueConstraint("submission_id", "position", name="uq_exercise_results_position"),
)

diagnoses = Table(
    "diagnoses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
    Column("exercise_id", String(_ID_LEN), nullable=True),
    Column("position", Integer, nullable=False),
    Column("diagnosis", String(_ID_LEN), nullable=False),
    Index("ix_diagnoses_submission", "submission_id"),
)

overrides = Table(
    "overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, ForeignKey("students.id"), nullable=False),
    Column("exercise_id", String(_ID_LEN), nullable=False),
    Column("score", Double, nullable=False),
    Column("reason", Text, nullable=False),
    Column("author", String(_ID_LEN), nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_overrides_student", "student_id", "exercise_id"),
)

# Review (grade review): reusable comments per exercise, and what each override decided.
comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("exercise_id", String(_ID_LEN), nullable=False),
    Column("text", Text, nullable=False),
    Column("adjustment", Double, nullable=True),  # points added to the base score (or taken)
    Column("author", String(_ID_LEN), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_by", String(_ID_LEN), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("ix_comments_exercise", "exercise_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("override_id", Integer, ForeignKey("overrides.id"), primary_key=True),
    Column("kind", String(16), nullable=False),  # accept | score | comment | command
    Column("comment_id", Integer, ForeignKey("comments.id"), nullable=True),
    Column("base_score", Double, nullable=True),  # the score a comment's adjustment is added to
    Column("verdict", String(64), nullable=True),  # the grader's verdict when decided
)


# --------------------------------------------------------------------------- helpers


def hash_file(path: str | os.PathLike[str]) -> str:
    """The ``content_hash`` of a submission: sha256 of the file's bytes, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _text(value: object, what: str, max_len: int | None = None, *, empty: bool = True) -> str:
    """``value`` if it is a string every backend can store, else GradebookError."""
    if not isinstance(value, str):
        raise GradebookError(f"{what} must be a string, not {type(value).__name__}")
    if not empty and not value:
        raise GradebookError(f"{what} must not be empty")
    if max_len is not None and len(value) > max_len:
        raise GradebookError(f"{what} is longer than {max_len} characters: {value[:40]!r}...")
    if "\x00" in value:
        raise GradebookError(f"{what} contains a NUL character: {value[:80]!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise GradebookError(
            f"{what} is not valid Unicode (an undecodable file name?): {value[:80]!r}"
        ) from None
    return value


def _opt_text(value: object, what: str, max_len: int | None = None) -> str | None:
    return None if value is None else _text(value, what, max_len)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GradebookError(f"{what} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise GradebookError(f"{what} must be finite, not {value!r}")
    return float(value)


def _json_strings(values: Sequence[object], what: str) -> str:
    # ensure_ascii: the JSON text is pure ASCII, so any string (even one with NUL) round-trips.
    return json.dumps([_text_any(v, what) for v in values], ensure_ascii=True)


def _text_any(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise GradebookError(f"{what} must be a string, not {type(value).__name__}")
    return value


def _pick(value: object, allowed: tuple[_T, ...], what: str) -> _T:
    for a in allowed:
        if value == a:
            return a
    raise GradebookError(f"{what}: {value!r} is not one of {list(allowed)}")


def _notes_json(ex: ExecutionSummary) -> str:
    """The ``notes`` column: a JSON list of the notes, or, with an environment gap,
    ``{"notes": [...], "environment": [...]}``."""
    if not ex.environment:
        return _json_strings(ex.notes, "execution note")
    notes = [_text_any(v, "execution note") for v in ex.notes]
    environment = [_text_any(v, "environment module") for v in ex.environment]
    return json.dumps({"notes": notes, "environment": environment}, ensure_ascii=True)


def _decode_strings(text: object, what: str) -> tuple[str, ...]:
    return _strings(_json(text, what), what)


def _decode_notes(text: object, what: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(notes, environment gap) from the ``notes`` column (see _notes_json), parsed once."""
    data = _json(text, what)
    if isinstance(data, dict):  # notes with an environment gap
        return _strings(data.get("notes"), what), _strings(data.get("environment"), what)
    return _strings(data, what), ()


def _json(text: object, what: str) -> object:
    try:
        return json.loads(str(text))
    except ValueError as e:
        raise GradebookError(f"{what}: not JSON ({e})") from None


def _strings(data: object, what: str) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
        raise GradebookError(f"{what}: expected a JSON list of strings")
    return tuple(data)


def _decode_cell_errors(text: object, what: str) -> tuple[CellError, ...]:
    try:
        data = json.loads(str(text))
        return tuple(
            CellError(cell=int(d["cell"]), ename=str(d["ename"]), evalue=str(d["evalue"]))
            for d in data
        )
    except (ValueError, TypeError, KeyError) as e:
        raise GradebookError(f"{what}: bad cell errors ({e})") from None


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _status_for(score: float, max_score: float) -> Status:
    """pass if the score reaches the maximum, fail if it is 0, partial in between."""
    if score >= max_score:
        return "pass"
    if score <= 0:
        return "fail"
    return "partial"


# --------------------------------------------------------------------------- gradebook
def _encode(
    content_hash: str,
    rubric_version: str,
    engine: str | None,
    result: SubmissionResult,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate ``result`` and turn it into rows (without ids); raises GradebookError."""
    if not isinstance(content_hash, str) or not _SHA256.fullmatch(content_hash):
        raise GradebookError(
            f"content hash must be a lowercase hex sha256 digest, not {content_hash!r}"
        )
    ex = result.execution
    row: dict[str, Any] = {
        "path": _text(result.path, "result path"),
        "content_hash": content_hash,
        "rubric_version": _text(rubric_version, "rubric version", _ID_LEN),
        "engine": _opt_text(engine, "engine", _ENGINE_LEN),
        "status": _pick(result.status, _SUBMISSION_STATUSES, "result status"),
        "error": _opt_text(result.error, "result error"),
        "edition": None if result.edition is None else _pick(result.edition, EDITIONS, "edition"),
        "score": _number(result.score, "result score"),
        "max_score": _number(result.max_score, "result max_score"),
        "seconds": None if ex is None else _number(ex.seconds, "execution seconds"),
        "killed": None
        if ex is None or ex.killed is None
        else _pick(ex.killed, _KILLED, "execution killed"),
        "cell_errors": None
        if ex is None
        else json.dumps(
            [
                {
                    "cell": int(e.cell),
                    "ename": _text_any(e.ename, "cell error name"),
                    "evalue": _text_any(e.evalue, "cell error value"),
                }
                for e in ex.errors
            ],
            ensure_ascii=True,
        ),
        "notes": None if ex is None else _notes_json(ex),
    }
    exercise_rows: list[dict[str, Any]] = []
    diagnosis_rows: list[dict[str, Any]] = []
    for i, d in enumerate(result.diagnoses):
        diagnosis_rows.append(
            {"exercise_id": None, "position": i, "diagnosis": _text(d, "diagnosis", _ID_LEN)}
        )
    seen: set[str] = set()
    for position, e in enumerate(result.exercises):
        exercise_id = _text(e.id, "exercise id", _ID_LEN, empty=False)
        if exercise_id in seen:
            raise GradebookError(f"exercise {exercise_id!r} appears twice in {result.path}")
        seen.add(exercise_id)
        exercise_rows.append(
            {
                "position": position,
                "exercise_id": exercise_id,
                "title": _text(e.title, f"title of {exercise_id}"),
                "score": _number(e.score, f"score of {exercise_id}"),
                "max_score": _number(e.max_score, f"max_score of {exercise_id}"),
                "status": _pick(e.status, _STATUSES, f"status of {exercise_id}"),
                "needs_review": bool(e.needs_review),
                "feedback": _json_strings(e.feedback, f"feedback of {exercise_id}"),
                "cells": json.dumps([int(c) for c in e.cells]),
            }
        )
        for i, d in enumerate(e.diagnoses):
            diagnosis_rows.append(
                {
                    "exercise_id": exercise_id,
                    "position": i,
                    "diagnosis": _text(d, f"diagnosis of {exercise_id}", _ID_LEN),
                }
            )
    return row, exercise_rows, diagnosis_rows


def _load(
    conn: Connection, where: ColumnElement[bool], exercise: str | None = None
) -> list[tuple[str, SubmissionResult]]:
    """(student id, result) for every submission matching ``where``, oldest first.

    Child rows are fetched by explicit submission ids: a submission's rows never change once
    committed, so the result is consistent whatever the isolation level. With ``exercise``,
    each result holds only that exercise and its diagnoses (a review page's cheaper read).
    """
    rows = conn.execute(
        select(submissions, students.c.name.label("student_name"))
        .join(students, students.c.id == submissions.c.student_id)
        .where(where)
        .order_by(submissions.c.id)
    ).all()
    ids = [int(r.id) for r in rows]
    exercises_of: dict[int, list[Any]] = defaultdict(list)
    diagnoses_of: dict[tuple[int, str | None], list[str]] = defaultdict(list)
    for chunk in _chunks(ids, _IN_CHUNK):
        ex_query = select(exercise_results).where(exercise_results.c.submission_id.in_(chunk))
        d_query = select(diagnoses).where(diagnoses.c.submission_id.in_(chunk))
        if exercise is not None:
            ex_query = ex_query.where(exercise_results.c.exercise_id == exercise)
            d_query = d_query.where(diagnoses.c.exercise_id == exercise)
        for e in conn.execute(
            ex_query.order_by(exercise_results.c.submission_id, exercise_results.c.position)
        ):
            exercises_of[int(e.submission_id)].append(e)
        for d in conn.execute(d_query.order_by(diagnoses.c.submission_id, diagnoses.c.position)):
            diagnoses_of[(int(d.submission_id), d.exercise_id)].append(str(d.diagnosis))
    return [(str(r.student_name), _decode(r, exercises_of, diagnoses_of)) for r in rows]


def _decode(
    r: Any,
    exercises_of: Mapping[int, list[Any]],
    diagnoses_of: Mapping[tuple[int, str | None], list[str]],
) -> SubmissionResult:
    sid = int(r.id)
    where = f"submission {sid}"
    exercises = tuple(
        ExerciseResult(
            id=str(e.exercise_id),
            title=str(e.title),
            score=float(e.score),
            max_score=float(e.max_score),
            status=_pick(e.status, _STATUSES, f"{where}, exercise {e.exercise_id}"),
            feedback=_decode_strings(e.feedback, f"{where}, feedback of {e.exercise_id}"),
            diagnoses=tuple(diagnoses_of.get((sid, str(e.exercise_id)), ())),
            needs_review=bool(e.needs_review),
            cells=tuple(int(c) for c in json.loads(e.cells or "[]")),
        )
        for e in exercises_of.get(sid, ())
    )
    execution = None
    if r.seconds is not None:
        notes, environment = _decode_notes(r.notes or "[]", f"{where}, notes")
        execution = ExecutionSummary(
            seconds=float(r.seconds),
            errors=_decode_cell_errors(r.cell_errors or "[]", f"{where}, cell errors"),
            killed=None if r.killed is None else _pick(r.killed, _KILLED, f"{where}, killed"),
            notes=notes,
            environment=environment,
        )
    edition: Edition | None = None
    if r.edition is not None:
        edition = _pick(r.edition, EDITIONS, f"{where}, edition")
    return SubmissionResult(
        path=str(r.path),
        status=_pick(r.status, _SUBMISSION_STATUSES, f"{where}, status"),
        error=None if r.error is None else str(r.error),
        edition=edition,
        score=float(r.score),
        max_score=float(r.max_score),
        exercises=exercises,
        diagnoses=tuple(diagnoses_of.get((sid, None), ())),
        execution=execution,
        student=str(r.student_name),
    )
