"""`grade review`'s web app over real HTTP (uvicorn on 127.0.0.1 in a thread, a real SQLite
gradebook): the token, CSRF and origin checks, the security headers, grouping of answers,
decisions through the forms, escaping of hostile submissions, exports, and the command."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from review_server import (
    TOKEN,
    XSS_COMMENT,
    XSS_EXERCISE,
    XSS_FEEDBACK,
    XSS_HTML,
    XSS_MARKDOWN,
    XSS_STREAM,
    XSS_STUDENT,
    Client,
    hostile_class,
    logged_in,
    running,
)

from grader.gradebook import Gradebook
from grader.model import ExerciseResult, SubmissionResult

REPO = Path(__file__).resolve().parents[1]


def _ex(score: float, feedback: tuple[str, ...] = (), **kw: Any) -> ExerciseResult:
    status = "pass" if score >= 4 else "fail" if score <= 0 else "partial"
    return ExerciseResult(
        id="corr2d", title="Cross-correlation", score=score, max_score=4.0, status=status,
        feedback=feedback, **kw,
    )  # fmt: skip


# five students: three compute the same (full marks), one needs review, one is wrong
VERDICTS = {
    "ada": _ex(4.0, ("`corr2d` is right on all 5 hidden test inputs.",)),
    "bea": _ex(4.0, ("`corr2d` is right on all 5 hidden test inputs.",)),
    "cy": _ex(4.0, ("`corr2d` is right on all 5 hidden test inputs.",)),
    "dot": _ex(2.0, ("The written answer could not be judged.",), needs_review=True),
    "eve": _ex(0.0, ("`corr2d` is wrong on 5 of 5 hidden test inputs; e.g. ...",)),
}


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Gradebook]:
    with Gradebook(tmp_path / "gb.db") as gb:
        for i, (name, ex) in enumerate(VERDICTS.items()):
            result = SubmissionResult(
                path=str(tmp_path / f"{name}.ipynb"), status="graded", score=ex.score,
                max_score=4.0, exercises=(ex,), student=name,
            )  # fmt: skip
            gb.record(name, f"{i:064x}", "r", result)
        yield gb


@pytest.fixture
def app(book: Gradebook) -> Iterator[str]:
    with running(book) as base:
        yield base


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_a_request_without_the_token_gets_403_and_the_token_sets_a_strict_cookie(
    app: str,
) -> None:
    anonymous = Client(app)
    for path in ("/", "/question?ex=corr2d", "/audit", "/export/grades.csv", "/static/review.js",
                 "/report/index.html", "/?token=wrong"):  # fmt: skip
        assert anonymous.get(path).status == 403, path
    assert anonymous.post("/decide", [("ex", "corr2d"), ("student", "ada")]).status == 403
    first = anonymous.get(f"/?token={TOKEN}")
    assert first.status == 200
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"grader_review={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert Client(app, cookie.split(";")[0]).get("/audit").status == 200
    # another Host (DNS rebinding) is refused even with the token
    assert anonymous.get(f"/?token={TOKEN}", Host="evil.example").status == 400


def test_every_app_page_forbids_inline_and_foreign_script(app: str) -> None:
    client = logged_in(app)
    for path in ("/", "/question?ex=corr2d", "/audit"):
        reply = client.get(path)
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert reply.headers["x-frame-options"] == "DENY"
        assert "<script>" not in reply.text  # the app's own script is a file
    report = client.get("/report/index.html")
    assert report.status == 200
    assert "content-security-policy" not in report.headers  # its own <meta> policy applies
    assert 'http-equiv="Content-Security-Policy"' in report.text


def test_a_question_groups_answers_by_verdict_with_review_groups_first(app: str) -> None:
    page = logged_in(app).get("/question?ex=corr2d").text
    groups = re.findall(r'<section class="group( look)?" id="g(\d+)"', page)
    assert [(bool(look), n) for look, n in groups] == [(True, "1"), (False, "2"), (False, "3")]
    students = re.findall(r'<span class="student">([^<]*)</span>', page)
    assert students == ["dot", "ada", "bea", "cy", "eve"]  # review first, then by size
    assert "3 answers" in page.split('id="g2"')[1].split("</h2>")[0]
    assert "5 answers in 3 groups" in page


def test_a_decision_needs_the_csrf_value_and_this_apps_origin(app: str, book: Gradebook) -> None:
    client = logged_in(app)
    csrf = _csrf(client.get("/question?ex=corr2d").text)
    form = [("ex", "corr2d"), ("student", "ada"), ("student", "bea"), ("action", "accept")]
    assert client.post("/decide", form).status == 403  # no CSRF value
    assert client.post("/decide", [("csrf", "0" * 64), *form]).status == 403
    evil = client.post("/decide", [("csrf", csrf), *form], Origin="http://evil.example")
    assert evil.status == 403
    cross = client.post("/decide", [("csrf", csrf), *form], Sec_Fetch_Site="cross-site")
    assert cross.status == 403
    assert book.audit() == []
    ok = client.post("/decide", [("csrf", csrf), *form, ("back", "g2")], Origin=app)
    assert ok.status == 303
    assert ok.headers["location"] == "/question?ex=corr2d#g2"
    assert [(a.student, a.kind, a.author) for a in book.audit()] == [
        ("bea", "accept", "TA Ann"),
        ("ada", "accept", "TA Ann"),
    ]


def test_a_comment_made_and_edited_in_the_app_rescores_its_answers(
    app: str, book: Gradebook
) -> None:
    client = logged_in(app)
    csrf = _csrf(client.get("/question?ex=corr2d").text)
    made = client.post(
        "/comments", [("csrf", csrf), ("ex", "corr2d"), ("text", "Flips the kernel."),
                      ("adjustment", "-1")],
    )  # fmt: skip
    assert made.status == 303
    (comment,) = book.comments("corr2d")
    client.post(
        "/decide", [("csrf", csrf), ("ex", "corr2d"), ("student", "dot"), ("action", "comment"),
                    ("comment", str(comment.id))],
    )  # fmt: skip
    assert book.overrides("dot")["corr2d"].score == 1.0
    client.post(
        "/comments/edit", [("csrf", csrf), ("id", str(comment.id)), ("ex", "corr2d"),
                           ("text", "Flips the kernel (see 7.2.1)."), ("adjustment", "-0.5")],
    )  # fmt: skip
    o = book.overrides("dot")["corr2d"]
    assert (o.score, o.reason) == (1.5, "Flips the kernel (see 7.2.1).")
    page = client.get("/question?ex=corr2d").text
    assert "Flips the kernel (see 7.2.1)." in page and "used by 1" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ([("action", "score")], "give the score"),
        ([("action", "score"), ("score", "-2")], "give the score"),
        ([("action", "score"), ("score", "nan")], "give the score"),
        ([("action", "comment")], "choose the comment"),
        ([("action", "delete")], "choose accept"),
    ],
)
def test_a_bad_decision_gets_a_400_and_stores_nothing(
    app: str, book: Gradebook, form: list[tuple[str, str]], message: str
) -> None:
    client = logged_in(app)
    csrf = _csrf(client.get("/question?ex=corr2d").text)
    reply = client.post("/decide", [("csrf", csrf), ("ex", "corr2d"), ("student", "ada"), *form])
    assert reply.status == 400 and message in reply.text
    assert book.audit() == []


def test_exports_and_the_live_report_show_a_decision(app: str, book: Gradebook) -> None:
    book.decide(["eve"], "corr2d", author="=HYPERLINK(evil)", score=3.0, note="-cmd|calc")
    client = logged_in(app)
    rows = list(csv.DictReader(io.StringIO(client.get("/export/decisions.csv").text)))
    assert [(r["student"], r["score"], r["kind"]) for r in rows] == [("eve", "3", "score")]
    assert rows[0]["why"] == "'-cmd|calc"  # no spreadsheet formula
    grades = client.get("/export/grades.csv").text
    assert re.search(r"eve[^\n]*\b3\b", grades)
    report = client.get("/report/index.html").text
    table = report.split('<section id="decisions">')[1]
    assert "<code>corr2d</code></td><td class=num>3</td><td>score</td>" in table
    page = client.get("/report/feedback/eve.html").text
    assert "<strong>3/4</strong>" in page and "score set by instructor: -cmd|calc" in page
    assert "Decided by =HYPERLINK(evil) on" in page


def test_hostile_submissions_reach_every_page_as_text(tmp_path: Path) -> None:
    with Gradebook(hostile_class(tmp_path)) as book, running(book) as base:
        client = logged_in(base)
        ex = urllib.parse.quote(XSS_EXERCISE)
        csrf = _csrf(client.get(f"/question?ex={ex}").text)
        client.post("/comments", [("csrf", csrf), ("ex", XSS_EXERCISE), ("text", XSS_COMMENT)])
        (comment,) = book.comments(XSS_EXERCISE)
        book.decide([XSS_STUDENT], XSS_EXERCISE, author="TA", comment=comment.id)
        pages = {
            path: client.get(path).text
            for path in ("/", f"/question?ex={ex}", "/audit", "/report/index.html")
        }
        slug = re.search(r'href="/report/feedback/([^"]+)\.html"', pages[f"/question?ex={ex}"])
        assert slug
        pages["feedback"] = client.get(f"/report/feedback/{slug.group(1)}.html").text
    question = pages[f"/question?ex={ex}"]
    for text in (XSS_MARKDOWN, XSS_STREAM.strip(), XSS_HTML, XSS_FEEDBACK, XSS_COMMENT):
        assert text not in question and text in html.unescape(question), text  # as text
    assert "HTML output, shown as text" in question
    assert question.count('src="data:image/png;base64,iVBOR') == 2  # the good PNG only
    for name, page in pages.items():
        assert "<script>window" not in page and "<script>d" not in page, name
        assert "<img src=x" not in page and "<i>title</i>" not in page, name
        assert 'href="javascript:' not in page, name


def test_grade_review_prints_the_token_url_first_and_binds_to_localhost(
    book: Gradebook, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "review", "--gradebook", str(tmp_path / "gb.db"),
         "--reviewer", "Prof X"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{40,})", first)
        assert m, first
        base = f"http://127.0.0.1:{m.group(1)}"
        assert Client(base).get("/").status == 403
        page = logged_in(base, m.group(2)).get("/")
        assert page.status == 200 and '<strong id="reviewer">Prof X</strong>' in page.text
        listening = subprocess.run(
            ["ss", "-Htlnp"], capture_output=True, text=True, check=False
        ).stdout
        mine = [line for line in listening.splitlines() if f"pid={proc.pid}," in line]
        if mine:  # ss shows process ids to root; the app listens on one address and port
            assert len(mine) == 1 and f"127.0.0.1:{m.group(1)} " in mine[0], mine
    finally:
        proc.terminate()
        proc.wait(20)


def test_grade_review_refuses_a_gradebook_it_cannot_open(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "review", "--gradebook", "nosuchdb://x/y"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("grade review: error:") and proc.stderr.count("\n") == 1
