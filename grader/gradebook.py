"""The instructor's gradebook: every graded submission, stored in a real database.

SQLite by default (``Gradebook("gradebook.db")``); any SQLAlchemy URL works
(``Gradebook("postgresql+psycopg://user@host/course")``). Only SQLAlchemy Core with portable
types is used, so the same code runs wherever SQLAlchemy supports the backend.

Schema (version :data:`SCHEMA_VERSION`, kept in ``meta``)::

    meta              key ─ value                      ("schema_version", "1")

    students ─────────┬──────────────────────────────┐
      id, name        │ 1                            │ 1
      (name unique:   │                              │
       the id from    │ n                            │ n
       the file name) submissions                    overrides
                        id, student_id, path,          id, student_id, exercise_id,
                        content_hash (sha256 of the    score, reason, author,
                        file bytes), rubric_version,   created_at (UTC ISO)
                        engine, graded_at (UTC ISO),   (append-only: the newest row per
                        status (graded|invalid),        student and exercise wins)
                        error, edition, score,
                        max_score, seconds, killed,
                        cell_errors (JSON), notes (JSON)
                          │ 1               │ 1
                          │ n               │ n
                        exercise_results    diagnoses
                          submission_id,      submission_id,
                          position,           exercise_id (NULL: about the
                          exercise_id,          whole submission),
                          title, score,       position, diagnosis
                          max_score, status,
                          needs_review,
                          feedback (JSON list of str)

``submissions.seconds`` is NULL exactly when the result had no execution summary
(``SubmissionResult.execution is None``); ``cell_errors`` and ``notes`` hold the rest of the
:class:`~grader.model.ExecutionSummary`. ``position`` columns keep tuple order.

Round trip: :meth:`Gradebook.record` then :meth:`Gradebook.lookup` gives back an object equal
to the recorded one, except that

* ``ExerciseResult.checks`` is not stored and comes back as ``()`` (the per-check detail
  lives in the JSON/HTML reports; the gradebook keeps exercise totals, feedback and
  diagnoses),
* ``SubmissionResult.language`` is not stored and comes back as ``None`` (the language of the
  student's prose is read again from the submission when a stored result is reused:
  :func:`grader.i18n.student_language`), and
* ``SubmissionResult.student`` comes back as the gradebook's student id (``record`` refuses a
  result whose ``student`` is set to a different id).

Writes: each :meth:`Gradebook.record` is one transaction, so an interruption (an exception,
Ctrl-C, a killed process) loses at most the submission being written, never half of it.
On SQLite the database runs in WAL mode with a busy timeout, and writes start with
``BEGIN IMMEDIATE``: a reader (the report) can open the file while the batch runner writes,
and two writers wait for each other instead of failing.

Values that no portable backend can store (NUL characters, unpaired surrogates from undecodable
file names, NaN or infinite scores) are refused with :class:`GradebookError` before anything
is written. Student ids are untrusted strings: they only ever travel as bound parameters.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, get_args

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Double,
    Engine,
    ForeignKey,
    Index,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError

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

__all__ = [
    "SCHEMA_VERSION",
    "Gradebook",
    "GradebookError",
    "Override",
    "hash_file",
    "metadata",
]

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
_WRITE: Final = "gradebook_write"  # execution option: this connection is about to write

_T = TypeVar("_T")


class GradebookError(GraderError):
    """The gradebook cannot store or read something.

    A database made by another schema version, a stored row that does not decode, or a value
    no portable backend can store (NUL, unpaired surrogate, NaN score, over-long id).
    """


@dataclass(frozen=True)
class Override:
    """An instructor's score for one exercise of one student; it beats the grader's score."""

    exercise: str
    score: float
    reason: str
    author: str = ""
    created_at: str = ""  # UTC ISO 8601


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


def _decode_strings(text: object, what: str) -> tuple[str, ...]:
    try:
        data = json.loads(str(text))
    except ValueError as e:
        raise GradebookError(f"{what}: not JSON ({e})") from None
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


class Gradebook:
    """Stored results, per student; see the module docstring for the schema.

    ``url_or_path`` is an SQLAlchemy URL (anything with ``://``) or a path to an SQLite file,
    created if missing. ``busy_timeout`` (SQLite only) is how long, in seconds, a write waits
    for another writer before failing.
    """

    def __init__(self, url_or_path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        target = os.fspath(url_or_path)
        url: str | URL
        if "://" in target:
            url = make_url(target)
        else:
            url = URL.create("sqlite+pysqlite", database=target)
        self._engine: Engine = create_engine(url)
        if self._engine.dialect.name == "sqlite":
            _configure_sqlite(self._engine, busy_timeout)
        self._writer: Engine = self._engine.execution_options(**{_WRITE: True})
        try:
            self._create_schema()
        except BaseException:
            self._engine.dispose()
            raise

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _create_schema(self) -> None:
        """Check the schema version; create what is missing.

        An existing, complete gradebook is only read, so opening one (for a report) never
        waits for the batch runner's write lock. Otherwise tables and the version row are
        created in one write transaction.
        """
        with self._engine.connect() as conn:
            existing = set(inspect(conn).get_table_names())
            if existing.issuperset(metadata.tables) and _check_version(conn):
                return
        with self._writer.begin() as conn:
            metadata.create_all(conn, checkfirst=True)
            if not _check_version(conn):
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))

    # ------------------------------------------------------------------ writes

    def record(
        self,
        student: str,
        content_hash: str,
        rubric_version: str,
        result: SubmissionResult,
        *,
        engine: str | None = None,
    ) -> None:
        """Store ``result`` as the newest submission of ``student``: all rows or none.

        ``engine`` names the execution engine (``"nbclient"``, ...), kept for the record.
        Everything is validated before the transaction starts.
        """
        _text(student, "student id", _STUDENT_LEN, empty=False)
        if result.student is not None and result.student != student:
            raise GradebookError(
                f"result is for student {result.student!r}, recorded as {student!r}"
            )
        row, exercise_rows, diagnosis_rows = _encode(content_hash, rubric_version, engine, result)
        with self._writer.begin() as conn:
            student_id = _ensure_student(conn, student)
            submission_id = _insert_id(
                conn, insert(submissions).values(student_id=student_id, graded_at=_now(), **row)
            )
            if exercise_rows:
                conn.execute(
                    insert(exercise_results),
                    [{"submission_id": submission_id, **r} for r in exercise_rows],
                )
            if diagnosis_rows:
                conn.execute(
                    insert(diagnoses),
                    [{"submission_id": submission_id, **r} for r in diagnosis_rows],
                )

    def set_override(
        self, student: str, exercise: str, score: float, reason: str, author: str = ""
    ) -> None:
        """Set the score of one exercise for one student, whatever the grader says.

        Kept across regrading; the newest override of an exercise wins (older ones stay in
        the table as an audit trail). ``score`` must be finite and not negative; a score above
        the exercise's maximum is kept as given (a bonus) and counts as a pass.
        """
        _text(student, "student id", _STUDENT_LEN, empty=False)
        _text(exercise, "exercise id", _ID_LEN, empty=False)
        value = _number(score, "override score")
        if value < 0:
            raise GradebookError(f"override score must not be negative, not {value!r}")
        _text(reason, "override reason")
        _text(author, "override author", _ID_LEN)
        with self._writer.begin() as conn:
            student_id = _ensure_student(conn, student)
            conn.execute(
                insert(overrides).values(
                    student_id=student_id,
                    exercise_id=exercise,
                    score=value,
                    reason=reason,
                    author=author,
                    created_at=_now(),
                )
            )

    # ------------------------------------------------------------------ reads

    def lookup(
        self, student: str, content_hash: str, rubric_version: str
    ) -> SubmissionResult | None:
        """The newest stored result for the same student, file bytes and rubric version.

        A hit means the submission need not be regraded. The result is returned as graded
        (no overrides applied; see :meth:`apply_overrides`).
        """
        _text(student, "student id")
        with self._engine.connect() as conn:
            student_id = _find_student(conn, student)
            if student_id is None:
                return None
            newest = (
                select(func.max(submissions.c.id))
                .where(submissions.c.student_id == student_id)
                .where(submissions.c.content_hash == content_hash)
                .where(submissions.c.rubric_version == rubric_version)
                .scalar_subquery()
            )
            found = _load(conn, submissions.c.id == newest)
        return found[0][1] if found else None

    def history(self, student: str) -> list[SubmissionResult]:
        """Every stored result of ``student``, oldest first, as graded (no overrides)."""
        _text(student, "student id")
        with self._engine.connect() as conn:
            student_id = _find_student(conn, student)
            if student_id is None:
                return []
            return [r for _, r in _load(conn, submissions.c.student_id == student_id)]

    def latest(self) -> list[SubmissionResult]:
        """The newest result of every student, overrides applied, ordered by student id."""
        with self._engine.connect() as conn:
            newest = select(func.max(submissions.c.id)).group_by(submissions.c.student_id)
            found = _load(conn, submissions.c.id.in_(newest))
            by_student = _load_overrides(conn, None)
        found.sort(key=lambda pair: pair[0])
        return [_apply(r, by_student.get(name, {})) for name, r in found]

    def overrides(self, student: str) -> Mapping[str, Override]:
        """The overrides in force for ``student``, by exercise id."""
        _text(student, "student id")
        with self._engine.connect() as conn:
            student_id = _find_student(conn, student)
            if student_id is None:
                return {}
            return _load_overrides(conn, student_id).get(student, {})

    def apply_overrides(self, student: str, result: SubmissionResult) -> SubmissionResult:
        """A new result with ``student``'s overrides applied; ``result`` is not changed.

        Each overridden exercise gets the instructor's score, a status recomputed from it
        (pass at the maximum, fail at 0, partial in between), ``needs_review`` cleared and a
        last feedback line ``score set by instructor: <reason>``; the total becomes the sum of
        the exercise scores. Overrides of exercises the result does not have are ignored.
        """
        return _apply(result, self.overrides(student))


# --------------------------------------------------------------------------- internals


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    """WAL, a busy timeout, foreign keys, and transactions SQLAlchemy really controls.

    pysqlite's own transaction handling starts a transaction only before a data change; we
    switch it off and emit ``BEGIN`` ourselves, ``BEGIN IMMEDIATE`` for writes so that a
    writer takes the write lock (waiting up to the busy timeout) before it reads anything.
    """
    timeout_ms = max(0, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")  # stays "memory" for :memory:
            cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: no corruption
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _check_version(conn: Connection) -> bool:
    """False if the version row is missing; GradebookError if it names another version."""
    stored = conn.execute(
        select(meta.c.value).where(meta.c.key == "schema_version")
    ).scalar_one_or_none()
    if stored is None:
        return False
    if stored != str(SCHEMA_VERSION):
        raise GradebookError(
            f"this gradebook has schema version {stored}; this grader reads version "
            f"{SCHEMA_VERSION}"
        )
    return True


def _find_student(conn: Connection, student: str) -> int | None:
    found = conn.execute(select(students.c.id).where(students.c.name == student)).scalar()
    return None if found is None else int(found)


def _ensure_student(conn: Connection, student: str) -> int:
    found = _find_student(conn, student)
    if found is not None:
        return found
    try:
        # A savepoint, so that losing a race with another writer (possible on PostgreSQL,
        # whose transactions do not lock up front) leaves the transaction usable.
        with conn.begin_nested():
            return _insert_id(conn, insert(students).values(name=student))
    except IntegrityError:
        found = _find_student(conn, student)
        if found is None:
            raise
        return found


def _insert_id(conn: Connection, statement: Insert) -> int:
    key = conn.execute(statement).inserted_primary_key
    if key is None or key[0] is None:
        raise GradebookError("the database did not report the id of a new row")
    return int(key[0])


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
        "notes": None if ex is None else _json_strings(ex.notes, "execution note"),
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


def _load(conn: Connection, where: ColumnElement[bool]) -> list[tuple[str, SubmissionResult]]:
    """(student id, result) for every submission matching ``where``, oldest first.

    Child rows are fetched by explicit submission ids: a submission's rows never change once
    committed, so the result is consistent whatever the isolation level.
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
        for e in conn.execute(
            select(exercise_results)
            .where(exercise_results.c.submission_id.in_(chunk))
            .order_by(exercise_results.c.submission_id, exercise_results.c.position)
        ):
            exercises_of[int(e.submission_id)].append(e)
        for d in conn.execute(
            select(diagnoses)
            .where(diagnoses.c.submission_id.in_(chunk))
            .order_by(diagnoses.c.submission_id, diagnoses.c.position)
        ):
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
        execution = ExecutionSummary(
            seconds=float(r.seconds),
            errors=_decode_cell_errors(r.cell_errors or "[]", f"{where}, cell errors"),
            killed=None if r.killed is None else _pick(r.killed, _KILLED, f"{where}, killed"),
            notes=_decode_strings(r.notes or "[]", f"{where}, notes"),
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


def _load_overrides(conn: Connection, student_id: int | None) -> dict[str, dict[str, Override]]:
    """Overrides in force, by student id then exercise id (the newest row wins)."""
    query = (
        select(overrides, students.c.name.label("student_name"))
        .join(students, students.c.id == overrides.c.student_id)
        .order_by(overrides.c.id)
    )
    if student_id is not None:
        query = query.where(overrides.c.student_id == student_id)
    found: dict[str, dict[str, Override]] = defaultdict(dict)
    for o in conn.execute(query):
        found[str(o.student_name)][str(o.exercise_id)] = Override(
            exercise=str(o.exercise_id),
            score=float(o.score),
            reason=str(o.reason),
            author=str(o.author),
            created_at=str(o.created_at),
        )
    return dict(found)


def _apply(result: SubmissionResult, by_exercise: Mapping[str, Override]) -> SubmissionResult:
    """``result`` with the overridden exercises rescored.

    Each overridden exercise gets the instructor's score, a status recomputed from it (pass
    at the maximum or above, fail at 0, partial in between), ``needs_review`` cleared (the
    instructor has looked) and a last feedback line ``score set by instructor: <reason>``.
    The total is recomputed as the sum of the exercise scores. Overrides for exercises the
    result does not contain are ignored; with nothing to apply, ``result`` is returned as is.
    """
    if not any(e.id in by_exercise for e in result.exercises):
        return result
    exercises = []
    for e in result.exercises:
        o = by_exercise.get(e.id)
        if o is None:
            exercises.append(e)
            continue
        line = f"score set by instructor: {o.reason}" if o.reason else "score set by instructor"
        exercises.append(
            replace(
                e,
                score=o.score,
                status=_status_for(o.score, e.max_score),
                needs_review=False,
                feedback=(*e.feedback, line),
            )
        )
    return replace(result, exercises=tuple(exercises), score=sum(e.score for e in exercises))
