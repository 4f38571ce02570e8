"""Tests for grader.gradebook: storage, lookup, overrides, atomicity, concurrency, hostile ids."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from grader.gradebook import SCHEMA_VERSION, Gradebook, GradebookError, hash_file, metadata
from grader.model import (
    CellError,
    CheckResult,
    ExecutionSummary,
    ExerciseResult,
    SubmissionResult,
)

HASH_A = "a" * 64
HASH_B = "b" * 64


def exercise(
    id: str = "ex1",
    score: float = 1.0,
    max_score: float = 2.0,
    status: Any = "partial",
    **kw: Any,
) -> ExerciseResult:
    return ExerciseResult(
        id=id, title=f"Exercise {id}", score=score, max_score=max_score, status=status, **kw
    )


def full_result(student: str | None = "alice", path: str = "alice.ipynb") -> SubmissionResult:
    """A result that uses every field the gradebook stores."""
    check = CheckResult(check="ex1/0", type="function", score=0.5, max_score=1.0, passed=False)
    return SubmissionResult(
        path=path,
        status="graded",
        error=None,
        edition="d2l-1.0",
        score=3.25,
        max_score=6.0,
        exercises=(
            exercise(
                "corr2d",
                score=0.25,
                max_score=2.0,
                status="partial",
                feedback=("Tested `corr2d`.", 'quote " and \\ and \x00 nul', "ünïcødé ✓"),
                diagnoses=("flipped-kernel", "off-by-one", "flipped-kernel"),
                needs_review=True,
                checks=(check,),
            ),
            exercise("edge", score=3.0, max_score=3.0, status="pass"),
            exercise("prose", score=0.0, max_score=1.0, status="missing", feedback=()),
        ),
        diagnoses=("kernel-died", "slow"),
        execution=ExecutionSummary(
            seconds=12.5,
            errors=(CellError(cell=4, ename="NameError", evalue="name 'X' is not defined"),),
            killed="timeout",
            notes=("added missing import torch",),
        ),
        student=student,
    )


def stored_form(result: SubmissionResult, student: str) -> SubmissionResult:
    """What a lookup gives back: checks are not stored and the student is the gradebook's."""
    return replace(
        result,
        student=student,
        exercises=tuple(replace(e, checks=()) for e in result.exercises),
    )


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        value = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    conn.close()
    return int(value)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "gradebook.db"


@pytest.fixture
def gb(db: Path) -> Any:
    with Gradebook(str(db)) as book:
        yield book


# --------------------------------------------------------------------------- round trip


def test_round_trip_returns_an_equal_result(gb: Gradebook) -> None:
    result = full_result()
    gb.record("alice", HASH_A, "rubric-1", result, engine="nbclient")
    got = gb.lookup("alice", HASH_A, "rubric-1")
    assert got == stored_form(result, "alice")
    assert got is not None and got.exercises[0].checks == ()  # documented: checks not stored
    assert gb.history("alice") == [stored_form(result, "alice")]


def test_round_trip_of_invalid_result_without_execution(gb: Gradebook) -> None:
    invalid = SubmissionResult(path="bob.txt", status="invalid", error="not a notebook: bob.txt")
    no_time = replace(invalid, path="carol.ipynb", execution=ExecutionSummary(0.0, (), None))
    gb.record("bob", HASH_A, "r", invalid)
    gb.record("carol", HASH_A, "r", no_time)
    assert gb.lookup("bob", HASH_A, "r") == replace(invalid, student="bob")
    # an execution summary of zero seconds is not the same as no execution at all
    assert gb.lookup("carol", HASH_A, "r") == replace(no_time, student="carol")


def test_result_for_another_student_is_refused(gb: Gradebook, db: Path) -> None:
    with pytest.raises(GradebookError, match="alice"):
        gb.record("bob", HASH_A, "r", full_result(student="alice"))
    assert count(db, "submissions") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"content_hash": "not-a-hash"},
        {"content_hash": HASH_A.upper()},
        {"result": replace(full_result(), score=math.nan)},
        {"result": replace(full_result(), path="bad\udcffname.ipynb")},
        {"result": replace(full_result(), exercises=(exercise("x"), exercise("x")))},
    ],
    ids=["hash", "uppercase-hash", "nan", "surrogate", "duplicate-exercise"],
)
def test_unstorable_values_are_refused_before_writing(
    gb: Gradebook, db: Path, change: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"content_hash": HASH_A, "result": full_result()}
    args.update(change)
    with pytest.raises(GradebookError):
        gb.record("alice", args["content_hash"], "r", args["result"])
    assert count(db, "submissions") == 0
    assert count(db, "exercise_results") == 0


def test_every_model_field_is_known_to_the_gradebook() -> None:
    # A field added to the model must be stored (or documented as not stored) here too;
    # otherwise the round trip would silently drop it.
    names = {
        cls.__name__: {f.name for f in fields(cls)}
        for cls in (SubmissionResult, ExerciseResult, ExecutionSummary, CellError)
    }
    assert names == {
        "SubmissionResult": {
            "path",
            "status",
            "error",
            "edition",
            "score",
            "max_score",
            "exercises",
            "diagnoses",
            "execution",
            "student",
            "language",  # not stored: read again from the submission (see the docstring)
        },
        "ExerciseResult": {
            "id",
            "title",
            "score",
            "max_score",
            "status",
            "feedback",
            "diagnoses",
            "needs_review",
            "checks",
            "cells",
        },
        "ExecutionSummary": {"seconds", "errors", "killed", "notes", "environment"},
        "CellError": {"cell", "ename", "evalue"},
    }


def test_hash_file_is_sha256_of_bytes(tmp_path: Path) -> None:
    f = tmp_path / "s.ipynb"
    f.write_bytes(b"abc")
    assert hash_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --------------------------------------------------------------------------- lookup


def test_lookup_hits_only_same_student_hash_and_rubric(gb: Gradebook) -> None:
    result = full_result()
    gb.record("alice", HASH_A, "rubric-1", result)
    assert gb.lookup("alice", HASH_A, "rubric-1") == stored_form(result, "alice")
    assert gb.lookup("alice", HASH_B, "rubric-1") is None  # the file changed
    assert gb.lookup("alice", HASH_A, "rubric-2") is None  # the rubric changed
    assert gb.lookup("bob", HASH_A, "rubric-1") is None  # someone else's identical file
    assert gb.lookup("nobody", HASH_A, "rubric-1") is None


def test_lookup_returns_newest_matching_result(gb: Gradebook) -> None:
    first = replace(full_result(), score=1.0)
    second = replace(full_result(), score=2.0)
    other = replace(full_result(), score=5.0)
    gb.record("alice", HASH_A, "r", first)
    gb.record("alice", HASH_A, "r", second)
    gb.record("alice", HASH_B, "r", other)  # newer, but another file
    got = gb.lookup("alice", HASH_A, "r")
    assert got is not None and got.score == 2.0
    assert [r.score for r in gb.history("alice")] == [1.0, 2.0, 5.0]


# --------------------------------------------------------------------------- overrides


def test_overrides_survive_regrading_and_latest_applies_them(gb: Gradebook) -> None:
    gb.record("alice", HASH_A, "r", full_result())
    gb.set_override("alice", "corr2d", 2.0, "kernel flip is fine here", author="prof")
    regraded = replace(full_result(), path="alice-v2.ipynb")
    gb.record("alice", HASH_B, "r", regraded)  # a new submission after the override
    gb.record("bob", HASH_A, "r", full_result(student="bob", path="bob.ipynb"))

    latest = {r.student: r for r in gb.latest()}
    assert [r.student for r in gb.latest()] == ["alice", "bob"]
    alice = latest["alice"]
    assert alice.path == "alice-v2.ipynb"
    corr2d = alice.exercises[0]
    assert corr2d.score == 2.0
    assert corr2d.status == "pass"
    assert corr2d.feedback[-1] == "score set by instructor: kernel flip is fine here"
    assert alice.score == 2.0 + 3.0 + 0.0
    assert latest["bob"] == stored_form(full_result("bob", "bob.ipynb"), "bob")  # untouched

    o = gb.overrides("alice")["corr2d"]
    assert (o.exercise, o.score, o.reason, o.author) == (
        "corr2d",
        2.0,
        "kernel flip is fine here",
        "prof",
    )
    assert o.created_at.endswith("+00:00")
    assert gb.overrides("bob") == {}
    # history and lookup are as graded
    assert gb.history("alice")[-1].exercises[0].score == 0.25
    got = gb.lookup("alice", HASH_B, "r")
    assert got is not None and got.exercises[0].score == 0.25


def test_override_before_any_grading_is_kept(gb: Gradebook) -> None:
    gb.set_override("dana", "edge", 1.0, "late, capped")
    gb.record("dana", HASH_A, "r", full_result(student=None, path="dana.ipynb"))
    (dana,) = gb.latest()
    assert dana.student == "dana"
    assert dana.exercises[1].score == 1.0 and dana.exercises[1].status == "partial"


@pytest.mark.parametrize(
    ("score", "max_score", "status"),
    [(2.0, 2.0, "pass"), (1.5, 2.0, "partial"), (0.0, 2.0, "fail"), (3.0, 2.0, "pass")],
)
def test_apply_overrides_recomputes_status_and_total(
    gb: Gradebook, score: float, max_score: float, status: str
) -> None:
    original = SubmissionResult(
        path="e.ipynb",
        status="graded",
        score=1.0 + 4.0,
        max_score=max_score + 4.0,
        exercises=(
            exercise("a", score=1.0, max_score=max_score, status="error", needs_review=True),
            exercise("b", score=4.0, max_score=4.0, status="pass", feedback=("good",)),
        ),
    )
    gb.set_override("erin", "a", 0.5, "first thought")
    gb.set_override("erin", "a", score, "second thought")  # the newest override wins
    gb.set_override("erin", "zzz", 9.0, "no such exercise")  # ignored
    new = gb.apply_overrides("erin", original)
    a, b = new.exercises
    assert (a.score, a.status) == (score, status)
    assert a.feedback == ("score set by instructor: second thought",)
    assert a.needs_review is False
    assert b == original.exercises[1]
    assert new.score == score + 4.0
    assert new.max_score == original.max_score
    assert original.exercises[0].score == 1.0  # the input is not changed


def test_apply_overrides_without_overrides_changes_nothing(gb: Gradebook) -> None:
    result = full_result()
    assert gb.apply_overrides("alice", result) == result


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_override_scores_are_refused(gb: Gradebook, db: Path, bad: float) -> None:
    with pytest.raises(GradebookError):
        gb.set_override("alice", "ex1", bad, "oops")
    assert count(db, "overrides") == 0


# --------------------------------------------------------------------------- atomicity


def test_interrupted_record_leaves_no_partial_submission(gb: Gradebook, db: Path) -> None:
    gb.record("alice", HASH_A, "r", full_result())  # committed before the crash
    before = {t: count(db, t) for t in ("students", "submissions", "exercise_results", "diagnoses")}
    seen: list[str] = []
    during: list[list[SubmissionResult]] = []

    def crash(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split("(")[0].strip())
        if statement.startswith("INSERT INTO diagnoses"):
            with Gradebook(str(db)) as reader:  # a reader is not blocked and sees no half-row
                during.append(reader.history("zoe"))
            raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    engine = gb._engine
    event.listen(engine, "before_cursor_execute", crash)
    try:
        with pytest.raises(KeyboardInterrupt):
            gb.record("zoe", HASH_B, "r", full_result(student="zoe", path="zoe.ipynb"))
    finally:
        event.remove(engine, "before_cursor_execute", crash)

    # rows were really written before the interruption ...
    assert "INSERT INTO students" in seen
    assert "INSERT INTO submissions" in seen
    assert "INSERT INTO exercise_results" in seen
    assert during == [[]]
    # ... and none of them survived it
    after = {t: count(db, t) for t in before}
    assert after == before
    assert gb.history("zoe") == []
    assert [r.student for r in gb.latest()] == ["alice"]
    # the gradebook is still usable
    gb.record("zoe", HASH_B, "r", full_result(student="zoe", path="zoe.ipynb"))
    assert len(gb.history("zoe")) == 1


# --------------------------------------------------------------------------- concurrency


def test_second_gradebook_sees_committed_data(gb: Gradebook, db: Path) -> None:
    with Gradebook(str(db)) as other:
        assert other.latest() == []
        gb.record("alice", HASH_A, "r", full_result())
        assert other.lookup("alice", HASH_A, "r") == stored_form(full_result(), "alice")
        other.set_override("alice", "edge", 1.0, "seen by the first")
        assert gb.overrides("alice")["edge"].score == 1.0
    with Gradebook(f"sqlite:///{db}") as by_url:  # the same file through a URL
        assert len(by_url.history("alice")) == 1


def test_sqlite_file_is_in_wal_mode(gb: Gradebook, db: Path) -> None:
    with sqlite3.connect(db) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert mode.lower() == "wal"


def test_writer_waits_for_another_writer(gb: Gradebook, db: Path) -> None:
    gb.record("alice", HASH_A, "r", full_result())
    gb.history("alice")  # leave a pooled connection that has read the database
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("INSERT INTO students (name) VALUES ('other-writer')")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            gb.record("bob", HASH_A, "r", full_result(student="bob", path="bob.ipynb"))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # waiting for the lock, not failed
    assert gb.history("alice") != []  # readers are not blocked by the writer
    blocker.execute("COMMIT")
    blocker.close()
    thread.join(10)
    assert errors == []
    assert len(gb.history("bob")) == 1


def test_busy_timeout_is_configurable(db: Path) -> None:
    with Gradebook(str(db), busy_timeout=0.2) as book:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            start = time.monotonic()
            with pytest.raises(OperationalError, match="locked"):
                book.record("alice", HASH_A, "r", full_result())
            assert time.monotonic() - start < 2
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()


# --------------------------------------------------------------------------- hostile ids

HOSTILE = [
    "'; DROP TABLE students; --",
    "Robert'); DROP TABLE submissions;--",
    'double "quoted" name',
    "back\\slash and % and _ wildcards",
    "Zoë Ångström 张伟 🙂",
    "  leading and trailing  ",
    "new\nline\ttab",
    "?",
]


def test_hostile_student_ids_round_trip(gb: Gradebook, db: Path) -> None:
    for i, name in enumerate(HOSTILE):
        content = f"{i:064x}"
        gb.record(name, content, "r", full_result(student=name, path=f"{name}.ipynb"))
        gb.set_override(name, "edge", 1.0, f"reason for {name}", author=name)
    for i, name in enumerate(HOSTILE):
        content = f"{i:064x}"
        got = gb.lookup(name, content, "r")
        assert got == stored_form(full_result(student=name, path=f"{name}.ipynb"), name)
        assert [r.student for r in gb.history(name)] == [name]
        assert gb.overrides(name)["edge"].author == name
    assert sorted(r.student or "" for r in gb.latest()) == sorted(HOSTILE)
    # wildcards and near-misses match nothing
    assert gb.history("%") == [] and gb.history("back\\slash%") == []
    assert gb.lookup("zoë ångström 张伟 🙂", f"{4:064x}", "r") is None
    assert count(db, "students") == len(HOSTILE)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"students", "submissions", "exercise_results", "diagnoses", "overrides"} <= tables


@pytest.mark.parametrize("bad", ["", "nul\x00inside", "undecodable\udcff", "x" * 501])
def test_unstorable_student_ids_are_refused(gb: Gradebook, db: Path, bad: str) -> None:
    with pytest.raises(GradebookError):
        gb.record(bad, HASH_A, "r", full_result(student=None))
    with pytest.raises(GradebookError):
        gb.set_override(bad, "edge", 1.0, "r")
    assert count(db, "students") == 0


def test_losing_the_race_to_create_a_student_is_harmless(
    gb: Gradebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grader.gradebook as module

    gb.set_override("alice", "edge", 1.0, "exists now")
    real = module._find_student
    calls: list[str] = []

    def stale(conn: Any, student: str) -> int | None:  # as if another writer just created it
        calls.append(student)
        return None if len(calls) == 1 else real(conn, student)

    monkeypatch.setattr(module, "_find_student", stale)
    gb.record("alice", HASH_A, "r", full_result())
    monkeypatch.undo()
    assert len(calls) == 2
    assert len(gb.history("alice")) == 1
    assert gb.overrides("alice")["edge"].reason == "exists now"


# --------------------------------------------------------------------------- schema


def test_schema_version_row_exists(gb: Gradebook, db: Path) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    conn.close()
    assert rows == [("schema_version", str(SCHEMA_VERSION))]


def test_reopening_keeps_data_and_one_version_row(db: Path) -> None:
    with Gradebook(str(db)) as book:
        book.record("alice", HASH_A, "r", full_result())
    with Gradebook(str(db)) as book:
        assert len(book.history("alice")) == 1
    assert count(db, "meta") == 1


def test_other_schema_version_is_refused(gb: Gradebook, db: Path) -> None:
    gb.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(GradebookError, match="999"):
        Gradebook(str(db))


# --------------------------------------------------------------------------- other databases


def test_schema_compiles_for_postgresql() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    ddl = []
    for table in metadata.sorted_tables:
        ddl.append(str(CreateTable(table).compile(dialect=dialect)))
        ddl.extend(str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes)
    text = "\n".join(ddl)
    assert "CREATE TABLE submissions" in text and "DOUBLE PRECISION" in text
    assert "AUTOINCREMENT" not in text  # no SQLite-only syntax


POSTGRES_URL = os.environ.get("GRADER_TEST_POSTGRES_URL", "")


@pytest.mark.skipif(not POSTGRES_URL, reason="set GRADER_TEST_POSTGRES_URL to test PostgreSQL")
def test_postgresql_end_to_end() -> None:
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
    name = HOSTILE[0]
    with Gradebook(POSTGRES_URL) as book, Gradebook(POSTGRES_URL) as other:
        result = full_result(student=name)
        book.record(name, HASH_A, "r", result, engine="nbclient")
        assert other.lookup(name, HASH_A, "r") == stored_form(result, name)
        assert other.lookup(name, HASH_A, "r2") is None
        book.set_override(name, "corr2d", 2.0, "fine")
        (latest,) = other.latest()
        assert latest.exercises[0].status == "pass" and latest.score == 5.0

        def crash(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("INSERT INTO diagnoses"):
                raise KeyboardInterrupt

        event.listen(book._engine, "before_cursor_execute", crash)
        with pytest.raises(KeyboardInterrupt):
            book.record("zoe", HASH_B, "r", full_result(student="zoe"))
        event.remove(book._engine, "before_cursor_execute", crash)
        assert other.history("zoe") == []
        assert [r.student for r in other.latest()] == [name]
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
