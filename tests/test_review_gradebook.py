"""The gradebook's side of `grade review`: decisions as overrides (accept, score, reusable
comment), editable comments that rescore every answer using them, the audit list, and an
override that a regrade puts up for re-checking. Real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from grader.gradebook import RECHECK_LINE, Gradebook, GradebookError, verdict_of
from grader.model import ExerciseResult, SubmissionResult

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def ex(id: str, score: float, max_score: float = 4.0, **kw: Any) -> ExerciseResult:
    status = "pass" if score >= max_score else "fail" if score <= 0 else "partial"
    return ExerciseResult(id=id, title=id, score=score, max_score=max_score, status=status, **kw)


def result(student: str, *exercises: ExerciseResult) -> SubmissionResult:
    return SubmissionResult(
        path=f"{student}.ipynb",
        status="graded",
        score=sum(e.score for e in exercises),
        max_score=sum(e.max_score for e in exercises),
        exercises=exercises,
        student=student,
    )


@pytest.fixture
def gb(tmp_path: Path) -> Gradebook:
    book = Gradebook(tmp_path / "gb.db")
    book.record("ann", H1, "r", result("ann", ex("prose", 1.0, needs_review=True), ex("f", 4)))
    book.record("ben", H1, "r", result("ben", ex("prose", 1.0, needs_review=True), ex("f", 2)))
    book.record("cid", H1, "r", result("cid", ex("prose", 3.0), ex("f", 4)))
    return book


def applied(gb: Gradebook, student: str, exercise: str) -> ExerciseResult:
    r = {x.student: x for x in gb.latest()}[student]
    return next(e for e in r.exercises if e.id == exercise)


def test_accepting_a_group_keeps_the_grader_scores_and_clears_review(gb: Gradebook) -> None:
    made = gb.decide(["ann", "ben"], "prose", author="TA Ann")
    assert [(o.kind, o.score, o.author) for o in made] == [("accept", 1.0, "TA Ann")] * 2
    ann = applied(gb, "ann", "prose")
    assert (ann.score, ann.needs_review) == (1.0, False)
    assert ann.feedback[-1] == "checked by instructor: score checked"
    assert applied(gb, "cid", "prose").feedback == ()  # not decided: untouched


def test_a_set_score_beats_the_grader_and_is_signed(gb: Gradebook) -> None:
    gb.decide(["ben"], "f", author="prof", score=3.5, note="right idea, one sign wrong")
    f = applied(gb, "ben", "f")
    assert (f.score, f.status) == (3.5, "partial")
    assert f.feedback[-1] == "score set by instructor: right idea, one sign wrong"
    ben = {r.student: r for r in gb.latest()}["ben"]
    assert ben.score == 1.0 + 3.5
    o = gb.overrides("ben")["f"]
    assert (o.kind, o.author, o.verdict) == ("score", "prof", verdict_of(ex("f", 2)))


def test_a_comment_adjusts_the_score_and_editing_it_rescores_every_answer(gb: Gradebook) -> None:
    c = gb.add_comment("prose", "Names the padding but not the stride.", -0.5, "TA Ann")
    gb.decide(["ann", "ben"], "prose", author="TA Ann", comment=c.id)
    gb.decide(["cid"], "prose", author="TA Ann", comment=c.id, score=4.0)  # on a set score
    assert [applied(gb, s, "prose").score for s in ("ann", "ben", "cid")] == [0.5, 0.5, 3.5]
    assert applied(gb, "ann", "prose").feedback[-1] == (
        "instructor's comment: Names the padding but not the stride."
    )

    changed = gb.edit_comment(c.id, "Names the padding; the stride is missing.", -1.0, "prof")
    assert changed == 3
    assert [applied(gb, s, "prose").score for s in ("ann", "ben", "cid")] == [0.0, 0.0, 3.0]
    assert applied(gb, "cid", "prose").feedback[-1] == (
        "instructor's comment: Names the padding; the stride is missing."
    )
    (stored,) = gb.comments("prose")
    assert (stored.text, stored.adjustment, stored.author, stored.updated_by) == (
        "Names the padding; the stride is missing.",
        -1.0,
        "TA Ann",
        "prof",
    )
    assert gb.comments("f") == []


def test_a_later_decision_replaces_a_comment_and_editing_it_no_longer_touches_that_answer(
    gb: Gradebook,
) -> None:
    c = gb.add_comment("prose", "Too short.", -1.0, "TA Ann")
    gb.decide(["ann", "ben"], "prose", author="TA Ann", comment=c.id)
    gb.decide(["ben"], "prose", author="prof", score=2.0)
    assert gb.edit_comment(c.id, "Too short!", -0.5, "TA Ann") == 1
    assert applied(gb, "ann", "prose").score == 0.5
    assert applied(gb, "ben", "prose").score == 2.0


def test_the_audit_lists_every_decision_newest_first_with_who_and_which_is_in_force(
    gb: Gradebook,
) -> None:
    gb.set_override("cid", "f", 3.0, "late penalty", author="prof")  # `grade override`
    gb.decide(["ann"], "prose", author="TA Ann")
    gb.decide(["ann"], "prose", author="TA Bo", score=2.0, note="second look")
    entries = gb.audit()
    assert [(a.student, a.exercise, a.kind, a.author, a.in_force) for a in entries] == [
        ("ann", "prose", "score", "TA Bo", True),
        ("ann", "prose", "accept", "TA Ann", False),
        ("cid", "f", "command", "prof", True),
    ]
    assert entries[0].reason == "second look"
    assert entries[0].created_at > entries[1].created_at > entries[2].created_at


def test_a_regrade_that_changes_the_verdict_puts_the_override_up_for_rechecking(
    gb: Gradebook,
) -> None:
    gb.decide(["ann", "ben"], "prose", author="TA Ann", score=2.0)
    # ann resubmits: the grader now says something else; ben's regrade says the same
    gb.record("ann", H2, "r", result("ann", ex("prose", 0.0, feedback=("No answer.",)), ex("f", 4)))
    gb.record("ben", H2, "r", result("ben", ex("prose", 1.0, needs_review=True), ex("f", 2)))
    ann, ben = applied(gb, "ann", "prose"), applied(gb, "ben", "prose")
    assert ann.score == 2.0 and ann.needs_review is True  # kept, but flagged
    assert ann.feedback[-1] == RECHECK_LINE
    assert ben.score == 2.0 and ben.needs_review is False and RECHECK_LINE not in ben.feedback
    graded = {s: r for s, r in gb.newest_graded()}
    o = gb.all_overrides()
    assert o["ann"]["prose"].to_recheck(graded["ann"].exercises[0]) is True
    assert o["ben"]["prose"].to_recheck(graded["ben"].exercises[0]) is False
    # deciding again settles it
    gb.decide(["ann"], "prose", author="TA Ann")
    assert applied(gb, "ann", "prose").needs_review is False


def test_grade_override_keeps_its_feedback_line_and_old_overrides_still_apply(
    gb: Gradebook, tmp_path: Path
) -> None:
    gb.set_override("ann", "f", 1.0, "copied", author="prof")
    assert applied(gb, "ann", "f").feedback[-1] == "score set by instructor: copied"
    # an override row written before decisions existed (no decisions row) is a plain command
    con = sqlite3.connect(tmp_path / "gb.db")
    with con:
        con.execute(
            "INSERT INTO overrides (student_id, exercise_id, score, reason, author, created_at) "
            "SELECT id, 'f', 0.0, 'old style', 'x', '2099-01-01T00:00:00+00:00' FROM students "
            "WHERE name = 'ben'"
        )
    con.close()
    f = applied(gb, "ben", "f")
    assert (f.score, f.feedback[-1], f.needs_review) == (
        0.0,
        "score set by instructor: old style",
        False,
    )


def test_a_decision_for_a_student_without_that_answer_stores_nothing(gb: Gradebook) -> None:
    with pytest.raises(GradebookError, match="'zed' has no graded answer"):
        gb.decide(["ann", "zed"], "prose", author="TA Ann")
    with pytest.raises(GradebookError, match="no comment 99"):
        gb.decide(["ann"], "prose", author="TA Ann", comment=99)
    other = gb.add_comment("f", "off by one", None, "TA Ann")
    with pytest.raises(GradebookError, match="is about 'f'"):
        gb.decide(["ann"], "prose", author="TA Ann", comment=other.id)
    with pytest.raises(GradebookError, match="negative"):
        gb.decide(["ann"], "prose", author="TA Ann", score=-1)
    assert gb.audit() == []


def test_a_gradebook_made_before_review_gets_its_tables_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Gradebook(path).close()
    con = sqlite3.connect(path)
    with con:
        con.execute("DROP TABLE decisions")
        con.execute("DROP TABLE comments")
    con.close()
    with Gradebook(path) as book:
        assert book.comments() == []
        book.record("ann", H3, "r", result("ann", ex("f", 1)))
        book.decide(["ann"], "f", author="me")
        assert book.audit()[0].kind == "accept"
