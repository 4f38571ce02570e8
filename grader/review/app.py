"""The review web app: a Starlette application over one gradebook.

Security, for a page full of untrusted student content on the instructor's machine:

* bound to 127.0.0.1 only (:mod:`grader.review`), and only ``127.0.0.1``/``localhost`` as
  ``Host`` (no DNS rebinding);
* every request needs the token printed at start, in the URL (``?token=``) or in the
  cookie that the first visit with it sets (HttpOnly, SameSite=Strict); without it: 403;
* state changes are POST forms that also carry a CSRF value derived from the token (a page
  on another site cannot read it), and are refused when ``Origin`` is another site;
* ``Content-Security-Policy``: no script but ``/static/review.js``, no inline script or
  style, pictures only as ``data:``, forms only to this app, no framing;
* every student string reaches the page through Jinja2's autoescaping; HTML outputs are
  shown as text.

Pages: ``/`` the exercises; ``/question?ex=ID`` one exercise, all students, grouped;
``/audit``; ``/report/index.html`` and ``/report/feedback/<student>.html`` the class report
as it stands; ``/export/grades.csv`` and ``/export/decisions.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from grader.gradebook import Gradebook, GradebookError, Override, verdict_of
from grader.model import SubmissionResult
from grader.report import ReportOptions, csv_report
from grader.report.html import Decision, render_index, render_student, student_slugs
from grader.review.answers import question
from grader.templates import environment

__all__ = ["COOKIE", "CSP", "create_app"]

COOKIE = "grader_review"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_STATIC = Path(__file__).resolve().parents[1] / "templates" / "review"
_ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}
_ANCHOR = re.compile(r"g\d{1,6}(-a\d{1,6})?")


@dataclass(frozen=True)
class Config:
    book: Gradebook
    reviewer: str
    token: str

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"csrf", hashlib.sha256).hexdigest()


class _Guard:
    """Token check and security headers around every response."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        cookie = request.cookies.get(COOKIE, "")
        by_query = given is not None and hmac.compare_digest(given, self.token)
        if not by_query and not hmac.compare_digest(cookie, self.token):
            response = PlainTextResponse(
                "403: this page needs the token printed by `grade review`", status_code=403
            )
            _secure(response, report=False)
            await response(scope, receive, send)
            return
        report = scope["path"].startswith("/report/")

        async def send_secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                headers += [(k.encode(), v.encode()) for k, v in _headers(report).items()]
                if by_query:
                    headers.append(
                        (
                            b"set-cookie",
                            f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        )
                    )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)


def _headers(report: bool) -> dict[str, str]:
    h = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on the
        # app's own forms, and the Origin check below could not tell them from a foreign page
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }
    if not report:  # the report's pages carry their own policy (hashes of their inline code)
        h["content-security-policy"] = CSP
    return h


def _secure(response: Response, report: bool) -> None:
    for k, v in _headers(report).items():
        response.headers[k] = v


def create_app(book: Gradebook, reviewer: str, token: str) -> Starlette:
    """The app; ``reviewer`` signs every decision made through it."""
    config = Config(book, reviewer, token)
    env = environment()

    def page(name: str, **context: Any) -> Response:
        text = env.get_template(f"review/{name}").render(reviewer=reviewer, **context)
        return Response(text, media_type="text/html; charset=utf-8")

    async def index(request: Request) -> Response:
        return page("index.html", **await run_in_threadpool(_index_data, book))

    async def show_question(request: Request) -> Response:
        ex = request.query_params.get("ex", "")
        data = await run_in_threadpool(_question_data, book, ex)
        if data is None:
            return PlainTextResponse(f"404: no graded answer to exercise {ex!r}", 404)
        return page("question.html", csrf=config.csrf, **data)

    async def audit(request: Request) -> Response:
        entries = await run_in_threadpool(book.audit)
        comments = await run_in_threadpool(book.comments)
        return page("audit.html", entries=entries, comments=comments)

    async def decide(request: Request) -> Response:
        form = await _checked_form(request, config)
        ex = str(form.get("ex", ""))
        students = [str(s) for s in form.getlist("student")]
        action = str(form.get("action", ""))
        score = _float(form.get("score"))
        comment = _int(form.get("comment"))
        if action not in ("accept", "score", "comment") or not students:
            return _bad("choose accept, a score or a comment for at least one answer")
        if action == "score" and score is None:
            return _bad("give the score to set")
        if action == "comment" and comment is None:
            return _bad("choose the comment to apply")
        try:
            await run_in_threadpool(
                book.decide,
                students,
                ex,
                author=reviewer,
                score=None if action == "accept" else score,
                comment=comment if action == "comment" else None,
                note=str(form.get("note", "")).strip(),
            )
        except GradebookError as exc:
            return _bad(str(exc))
        back = str(form.get("back", ""))
        anchor = f"#{back}" if _ANCHOR.fullmatch(back) else ""
        return RedirectResponse(f"/question?ex={quote(ex, safe='')}{anchor}", status_code=303)

    async def _comment(ex: str, form: Any, method: Any, first: object) -> Response:
        """Add or edit a reusable comment of exercise ``ex`` with ``method`` (``first``: the
        exercise or the comment's id), then back to the question's comments."""
        try:
            await run_in_threadpool(
                method,
                first,
                str(form.get("text", "")).strip(),
                _float(form.get("adjustment"), signed=True),
                reviewer,
            )
        except GradebookError as exc:
            return _bad(str(exc))
        return RedirectResponse(f"/question?ex={quote(ex, safe='')}#comments", status_code=303)

    async def add_comment(request: Request) -> Response:
        form = await _checked_form(request, config)
        ex = str(form.get("ex", ""))
        return await _comment(ex, form, book.add_comment, ex)

    async def edit_comment(request: Request) -> Response:
        form = await _checked_form(request, config)
        key = _int(form.get("id"))
        if key is None:
            return _bad("which comment?")
        return await _comment(str(form.get("ex", "")), form, book.edit_comment, key)

    async def report_index(request: Request) -> Response:
        text = await run_in_threadpool(_report_index, book)
        return Response(text, media_type="text/html; charset=utf-8")

    async def report_student(request: Request) -> Response:
        slug = request.path_params["slug"]
        text = await run_in_threadpool(_report_student, book, slug)
        if text is None:
            return PlainTextResponse("404: no such student", 404)
        return Response(text, media_type="text/html; charset=utf-8")

    async def grades_csv(request: Request) -> Response:
        results = await run_in_threadpool(book.latest)
        text = csv_report.render(results, ReportOptions())
        return Response(text, media_type="text/csv; charset=utf-8")

    async def decisions_csv(request: Request) -> Response:
        entries = await run_in_threadpool(book.audit)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["when", "who", "student", "exercise", "score", "kind", "comment", "why"])
        for a in entries:
            if a.in_force:
                w.writerow(
                    [
                        a.created_at,
                        a.author,
                        _cell(a.student),
                        a.exercise,
                        f"{a.score:g}",
                        a.kind,
                        "" if a.comment is None else a.comment,
                        _cell(a.reason),
                    ]
                )
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            return PlainTextResponse("404", 404)
        return Response((_STATIC / name).read_bytes(), media_type=_ASSETS[name])

    async def report_root(request: Request) -> Response:
        return RedirectResponse("/report/index.html", status_code=307)

    routes = [
        Route("/", index),
        Route("/question", show_question),
        Route("/audit", audit),
        Route("/decide", decide, methods=["POST"]),
        Route("/comments", add_comment, methods=["POST"]),
        Route("/comments/edit", edit_comment, methods=["POST"]),
        Route("/report/", report_root),
        Route("/report/index.html", report_index),
        Route("/report/feedback/{slug}.html", report_student),
        Route("/export/grades.csv", grades_csv),
        Route("/export/decisions.csv", decisions_csv),
        Route("/static/{name}", static),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
            Middleware(_Guard, token=token),
        ],
        exception_handlers={_Forbidden: _forbidden},
    )


# --------------------------------------------------------------------------- helpers


async def _checked_form(request: Request, config: Config) -> Any:
    """The POSTed form, if it carries the CSRF value and comes from this app's pages."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise _Forbidden("403: a form from another site")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise _Forbidden("403: a form from another site")
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), config.csrf):
        raise _Forbidden("403: the form lacks this session's CSRF value; reload the page")
    return form


class _Forbidden(Exception):
    """A state change that is not from this app's own page: 403."""


async def _forbidden(request: Request, exc: Exception) -> Response:
    response = PlainTextResponse(str(exc), status_code=403)
    _secure(response, report=False)
    return response


def _bad(message: str) -> Response:
    return PlainTextResponse(f"400: {message}", status_code=400)


def _float(value: object, *, signed: bool = False) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number if signed or number >= 0 else None


def _int(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _index_data(book: Gradebook) -> dict[str, Any]:
    results = book.newest_graded()
    overrides = book.all_overrides()
    seen: dict[str, dict[str, Any]] = {}
    keys: dict[str, set[str]] = {}

    for student, result in results:
        if result.status != "graded":
            continue
        for ex in result.exercises:
            q = seen.setdefault(
                ex.id,
                {"id": ex.id, "title": ex.title, "answers": 0, "review": 0, "decided": 0,
                 "recheck": 0, "groups": 0},
            )  # fmt: skip
            o = overrides.get(student, {}).get(ex.id)
            q["answers"] += 1
            q["decided"] += o is not None
            q["review"] += o is None and ex.needs_review
            q["recheck"] += o is not None and o.to_recheck(ex)
            keys.setdefault(ex.id, set()).add(verdict_of(ex))
    for ex_id, q in seen.items():
        q["groups"] = len(keys[ex_id])
    return {"questions": list(seen.values()), "students": len(results)}


def _question_data(book: Gradebook, ex: str) -> dict[str, Any] | None:
    results = book.newest_graded(ex)
    overrides = book.all_overrides()
    groups = question(ex, results, overrides)
    if not groups:
        return None
    comments = book.comments(ex)
    used = Counter(
        o.comment
        for by_ex in overrides.values()
        for o in by_ex.values()
        if o.exercise == ex and o.kind == "comment"
    )
    latest = [r for _, r in results]
    slugs = student_slugs(latest)
    return {
        "ex": ex,
        "title": groups[0].graded.title if groups[0].graded.title != ex else "",
        "groups": groups,
        "count": sum(len(g.answers) for g in groups),
        "look": sum(1 for g in groups if g.needs_look),
        "comments": comments,
        "used": used,
        "slug_of": {student: slug for (student, _), slug in zip(results, slugs, strict=True)},
    }


def _decisions(
    results: list[tuple[str, SubmissionResult]], overrides: dict[str, dict[str, Override]]
) -> list[Decision]:
    out = []
    for student, result in results:
        graded = {e.id: e for e in result.exercises}
        for ex_id, o in sorted(overrides.get(student, {}).items()):
            if ex_id not in graded:
                continue
            out.append(
                Decision(
                    student, ex_id, o.score, o.kind, o.author, o.created_at, o.reason,
                    recheck=o.to_recheck(graded[ex_id]),
                )
            )  # fmt: skip
    return out


def _report_index(book: Gradebook) -> str:
    results = book.newest_graded()
    applied = book.latest()
    return render_index(
        applied,
        title="Class report",
        csv_href="../export/grades.csv",
        decisions=_decisions(results, book.all_overrides()),
    )


def _report_student(book: Gradebook, slug: str) -> str | None:
    results = book.newest_graded()
    applied = book.latest()
    slugs = student_slugs(applied)
    if slug not in slugs:
        return None
    i = slugs.index(slug)
    student = applied[i].student or ""
    decisions = [d for d in _decisions(results, book.all_overrides()) if d.student == student]
    return render_student(applied[i], decisions=decisions)
