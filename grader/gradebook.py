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

Review (``grade review``) adds ``comments`` (id, exercise_id, text, adjustment, author,
created_at, updated_by, updated_at: reusable, editable) and ``decisions`` (override_id, kind,
comment_id, base_score, verdict), new tables an older gradebook gets when opened (same
version). Tables and row encoding live in :mod:`grader.gradebook_rows`.

``submissions.seconds`` is NULL exactly when the result had no execution summary
(``SubmissionResult.execution is None``); ``cell_errors`` and ``notes`` hold the rest of the
:class:`~grader.model.ExecutionSummary` (``notes``: ``{"notes": [...], "environment": [...]}``
with an environment gap, else a plain list). ``position`` columns keep tuple order.

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
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Final, Literal

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError

from .gradebook_rows import (
    _ID_LEN,
    _STUDENT_LEN,
    SCHEMA_VERSION,
    GradebookError,
    _encode,
    _load,
    _now,
    _number,
    _status_for,
    _text,
    comments,
    decisions,
    diagnoses,
    exercise_results,
    hash_file,
    meta,
    metadata,
    overrides,
    students,
    submissions,
)
from .model import ExerciseResult, SubmissionResult

__all__ = [
    "RECHECK_LINE",
    "SCHEMA_VERSION",
    "AuditEntry",
    "Comment",
    "Gradebook",
    "GradebookError",
    "Override",
    "hash_file",
    "metadata",
    "verdict_of",
]

_WRITE: Final = "gradebook_write"  # execution option: this connection is about to write

DecisionKind = Literal["accept", "score", "comment", "command"]


@dataclass(frozen=True)
class Override:
    """An instructor's score for one exercise of one student; it beats the grader's score.

    ``kind`` says how it was decided: ``command`` (``grade override``), or in ``grade review``
    ``accept`` (the grader's score, checked), ``score`` (another score) or ``comment`` (a
    reusable comment, :class:`Comment`, whose adjustment is added to ``base_score``).
    ``verdict`` is :func:`verdict_of` the graded answer it was decided on (None when there was
    none): when a regrade changes it, the override is to be checked again (:meth:`to_recheck`).
    """

    exercise: str
    score: float
    reason: str
    author: str = ""
    created_at: str = ""  # UTC ISO 8601
    kind: DecisionKind = "command"
    comment: int | None = None
    base_score: float | None = None
    verdict: str | None = None

    def to_recheck(self, graded: ExerciseResult) -> bool:
        """Whether the grader's verdict on ``graded`` differs from the one decided on."""
        return self.verdict is not None and self.verdict != verdict_of(graded)


@dataclass(frozen=True)
class Comment:
    """A reusable comment on one exercise, with an optional score adjustment (points)."""

    id: int
    exercise: str
    text: str
    adjustment: float | None
    author: str
    created_at: str
    updated_by: str
    updated_at: str


@dataclass(frozen=True)
class AuditEntry:
    """One stored decision (an ``overrides`` row), for the audit view; newest first."""

    id: int
    student: str
    exercise: str
    score: float
    reason: str
    author: str
    created_at: str
    kind: DecisionKind
    comment: int | None
    in_force: bool  # the newest decision for this student and exercise


def verdict_of(ex: ExerciseResult) -> str:
    """A fingerprint of the grader's verdict on one answer: score, status, review flag,
    feedback (which quotes the answer's values on the hidden inputs) and diagnoses."""
    data = [
        round(float(ex.score), 6),
        ex.status,
        ex.needs_review,
        list(ex.feedback),
        list(ex.diagnoses),
    ]
    text = json.dumps(data, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


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
        the exercise's maximum is kept as given (a bonus) and counts as a pass. The grader's
        verdict on the newest graded answer is kept with it (see :meth:`Override.to_recheck`).
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
            graded = _graded_answers(conn, exercise, [student]).get(student)
            _insert_override(conn, student_id, exercise, value, reason, author, graded)

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

    # ------------------------------------------------------------------ review

    def newest_graded(self, exercise: str | None = None) -> list[tuple[str, SubmissionResult]]:
        """(student id, newest result as graded, no overrides), ordered by student id; with
        ``exercise``, each result holds only that exercise (cheaper to read)."""
        with self._engine.connect() as conn:
            found = _newest(conn, None, exercise)
        return sorted(found, key=lambda pair: pair[0])

    def all_overrides(self) -> dict[str, dict[str, Override]]:
        """Every override in force: by student id, then exercise id."""
        with self._engine.connect() as conn:
            return _load_overrides(conn, None)

    def decide(
        self,
        student_ids: Sequence[str],
        exercise: str,
        *,
        author: str,
        score: float | None = None,
        comment: int | None = None,
        note: str = "",
    ) -> list[Override]:
        """One reviewer's decision on the answers of ``student_ids`` to ``exercise``, stored as an
        override each, in one transaction (all or none).

        No ``score`` and no ``comment``: accept the grader's score. A ``score``: that score.
        A ``comment``: the comment's adjustment added to ``score`` (default: the grader's
        score), floored at 0; editing the comment later rescores the answer
        (:meth:`edit_comment`). ``note`` is the reviewer's own words, kept as the reason.
        A student without a graded answer to ``exercise`` is refused.
        """
        _text(exercise, "exercise id", _ID_LEN, empty=False)
        _text(author, "reviewer name", _ID_LEN)
        _text(note, "note")
        if score is not None:
            score = _number(score, "score")
            if score < 0:
                raise GradebookError(f"score must not be negative, not {score!r}")
        names = [_text(n, "student id", _STUDENT_LEN, empty=False) for n in student_ids]
        made: list[Override] = []
        with self._writer.begin() as conn:
            graded = _graded_answers(conn, exercise, names)
            found = None
            if comment is not None:
                found = _comment(conn, comment)
                if found.exercise != exercise:
                    raise GradebookError(f"comment {comment} is about {found.exercise!r}")
            for name in names:
                ex = graded.get(name)
                if ex is None:
                    raise GradebookError(f"{name!r} has no graded answer to {exercise!r}")
                student_id = _ensure_student(conn, name)
                if found is not None:
                    base = ex.score if score is None else score
                    value, reason = _commented(base, found, note)
                    made.append(
                        _insert_override(
                            conn, student_id, exercise, value, reason, author, ex,
                            kind="comment", comment=found.id, base=base,
                        )
                    )  # fmt: skip
                else:
                    kind: DecisionKind = "accept" if score is None else "score"
                    value = ex.score if score is None else score
                    reason = note or ("score checked" if score is None else "score set in review")
                    made.append(
                        _insert_override(
                            conn, student_id, exercise, value, reason, author, ex, kind=kind
                        )
                    )
        return made

    def comments(self, exercise: str | None = None) -> list[Comment]:
        """The reusable comments (of ``exercise``, or all), oldest first."""
        query = select(comments).order_by(comments.c.id)
        if exercise is not None:
            query = query.where(comments.c.exercise_id == exercise)
        with self._engine.connect() as conn:
            return [_comment_of(r) for r in conn.execute(query)]

    def add_comment(
        self, exercise: str, text: str, adjustment: float | None, author: str
    ) -> Comment:
        """A new reusable comment on ``exercise``; ``adjustment`` points (may be negative)."""
        _text(exercise, "exercise id", _ID_LEN, empty=False)
        _text(text, "comment", empty=False)
        _text(author, "reviewer name", _ID_LEN)
        adj = None if adjustment is None else _number(adjustment, "adjustment")
        now = _now()
        with self._writer.begin() as conn:
            key = _insert_id(
                conn,
                insert(comments).values(
                    exercise_id=exercise, text=text, adjustment=adj, author=author,
                    created_at=now, updated_by=author, updated_at=now,
                ),
            )  # fmt: skip
            return _comment(conn, key)

    def edit_comment(
        self, comment_id: int, text: str, adjustment: float | None, author: str
    ) -> int:
        """Change a comment; every answer whose decision in force uses it gets a new override
        (same base score, the new adjustment and text, by ``author``). Returns how many."""
        _text(text, "comment", empty=False)
        _text(author, "reviewer name", _ID_LEN)
        adj = None if adjustment is None else _number(adjustment, "adjustment")
        with self._writer.begin() as conn:
            old = _comment(conn, comment_id)
            conn.execute(
                update(comments)
                .where(comments.c.id == comment_id)
                .values(text=text, adjustment=adj, updated_by=author, updated_at=_now())
            )
            new = _comment(conn, comment_id)
            users = [
                (name, o)
                for name, by_ex in _load_overrides(conn, None).items()
                for o in by_ex.values()
                if o.kind == "comment" and o.comment == comment_id
            ]
            for name, o in users:
                base = o.score if o.base_score is None else o.base_score
                value, _ = _commented(base, new, "")
                reason = o.reason.replace(old.text, new.text, 1)
                key = _insert_id(
                    conn,
                    insert(overrides).values(
                        student_id=_ensure_student(conn, name), exercise_id=o.exercise,
                        score=value, reason=reason, author=author, created_at=_now(),
                    ),
                )  # fmt: skip
                _insert_decision(conn, key, "comment", comment_id, base, o.verdict)
            return len(users)

    def audit(self) -> list[AuditEntry]:
        """Every decision ever stored (``grade override`` and ``grade review``), newest first."""
        query = (
            select(overrides, decisions, students.c.name.label("student_name"))
            .join(students, students.c.id == overrides.c.student_id)
            .outerjoin(decisions, decisions.c.override_id == overrides.c.id)
            .order_by(overrides.c.id.desc())
        )
        seen: set[tuple[str, str]] = set()
        out: list[AuditEntry] = []
        with self._engine.connect() as conn:
            for r in conn.execute(query):
                key = (str(r.student_name), str(r.exercise_id))
                out.append(
                    AuditEntry(
                        id=int(r.id), student=key[0], exercise=key[1], score=float(r.score),
                        reason=str(r.reason), author=str(r.author),
                        created_at=str(r.created_at), kind=_kind(r.kind),
                        comment=None if r.comment_id is None else int(r.comment_id),
                        in_force=key not in seen,
                    )
                )  # fmt: skip
                seen.add(key)
        return out


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


def _load_overrides(conn: Connection, student_id: int | None) -> dict[str, dict[str, Override]]:
    """Overrides in force, by student id then exercise id (the newest row wins)."""
    query = (
        select(overrides, decisions, students.c.name.label("student_name"))
        .join(students, students.c.id == overrides.c.student_id)
        .outerjoin(decisions, decisions.c.override_id == overrides.c.id)
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
            kind=_kind(o.kind),
            comment=None if o.comment_id is None else int(o.comment_id),
            base_score=None if o.base_score is None else float(o.base_score),
            verdict=None if o.verdict is None else str(o.verdict),
        )
    return dict(found)


_KINDS: Final[tuple[DecisionKind, ...]] = ("accept", "score", "comment", "command")


def _kind(value: object) -> DecisionKind:
    for k in _KINDS:
        if value == k:
            return k
    return "command"  # an override stored before decisions were recorded


def _newest(
    conn: Connection, names: Sequence[str] | None, exercise: str | None = None
) -> list[tuple[str, SubmissionResult]]:
    newest = select(func.max(submissions.c.id)).group_by(submissions.c.student_id)
    if names is not None:
        newest = newest.join(students, students.c.id == submissions.c.student_id).where(
            students.c.name.in_(names)
        )
    return _load(conn, submissions.c.id.in_(newest), exercise)


def _graded_answers(
    conn: Connection, exercise: str, names: Sequence[str]
) -> dict[str, ExerciseResult]:
    """The answer to ``exercise`` in each student's newest graded submission (as graded)."""
    out: dict[str, ExerciseResult] = {}
    for i in range(0, len(names), 500):
        for name, result in _newest(conn, names[i : i + 500], exercise):
            for ex in result.exercises:
                if ex.id == exercise and result.status == "graded":
                    out[name] = ex
    return out


def _comment_of(r: Any) -> Comment:
    return Comment(
        id=int(r.id),
        exercise=str(r.exercise_id),
        text=str(r.text),
        adjustment=None if r.adjustment is None else float(r.adjustment),
        author=str(r.author),
        created_at=str(r.created_at),
        updated_by=str(r.updated_by),
        updated_at=str(r.updated_at),
    )


def _comment(conn: Connection, comment_id: int) -> Comment:
    row = conn.execute(select(comments).where(comments.c.id == comment_id)).first()
    if row is None:
        raise GradebookError(f"there is no comment {comment_id}")
    return _comment_of(row)


def _commented(base: float, comment: Comment, note: str) -> tuple[float, str]:
    """(score, reason) of an answer given ``comment`` on top of ``base``."""
    value = max(0.0, base + (comment.adjustment or 0.0))
    return value, comment.text + (f" ({note})" if note else "")


def _insert_override(
    conn: Connection,
    student_id: int,
    exercise: str,
    score: float,
    reason: str,
    author: str,
    graded: ExerciseResult | None,
    *,
    kind: DecisionKind = "command",
    comment: int | None = None,
    base: float | None = None,
) -> Override:
    now = _now()
    key = _insert_id(
        conn,
        insert(overrides).values(
            student_id=student_id,
            exercise_id=exercise,
            score=score,
            reason=reason,
            author=author,
            created_at=now,
        ),
    )
    verdict = None if graded is None else verdict_of(graded)
    _insert_decision(conn, key, kind, comment, base, verdict)
    return Override(exercise, score, reason, author, now, kind, comment, base, verdict)


def _insert_decision(
    conn: Connection,
    override_id: int,
    kind: DecisionKind,
    comment: int | None,
    base: float | None,
    verdict: str | None,
) -> None:
    """How override ``override_id`` was decided."""
    conn.execute(
        insert(decisions).values(
            override_id=override_id, kind=kind, comment_id=comment, base_score=base, verdict=verdict
        )
    )


def _apply(result: SubmissionResult, by_exercise: Mapping[str, Override]) -> SubmissionResult:
    """``result`` with the overridden exercises rescored.

    Each overridden exercise gets the instructor's score, a status recomputed from it (pass
    at the maximum or above, fail at 0, partial in between), ``needs_review`` cleared (the
    instructor has looked) and a last feedback line: ``score set by instructor: <reason>``
    (``grade override``, or another score in review), ``checked by instructor`` (the grader's
    score accepted) or ``instructor's comment: <text>``. An override whose graded answer has
    changed since (:meth:`Override.to_recheck`) keeps its score but sets ``needs_review``
    again, with a line saying so. The total is recomputed as the sum of the exercise scores.
    Overrides for exercises the result does not contain are ignored; with nothing to apply,
    ``result`` is returned as is.
    """
    if not any(e.id in by_exercise for e in result.exercises):
        return result
    exercises = []
    for e in result.exercises:
        o = by_exercise.get(e.id)
        if o is None:
            exercises.append(e)
            continue
        lines = [_feedback_line(o)]
        recheck = o.to_recheck(e)
        if recheck:
            lines.append(RECHECK_LINE)
        exercises.append(
            replace(
                e,
                score=o.score,
                status=_status_for(o.score, e.max_score),
                needs_review=recheck,
                feedback=(*e.feedback, *lines),
            )
        )
    return replace(result, exercises=tuple(exercises), score=sum(e.score for e in exercises))


RECHECK_LINE: Final = (
    "to re-check: the grader's verdict changed after the instructor decided this score"
)


def _feedback_line(o: Override) -> str:
    if o.kind == "accept":
        return f"checked by instructor: {o.reason}" if o.reason else "checked by instructor"
    if o.kind == "comment":
        return f"instructor's comment: {o.reason}"
    return f"score set by instructor: {o.reason}" if o.reason else "score set by instructor"
