"""A real `grade review` app (uvicorn on 127.0.0.1, in a thread) and a small HTTP client."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from grader.gradebook import Gradebook
from grader.model import ExerciseResult, SubmissionResult
from grader.review.app import create_app

TOKEN = "test-token-0123456789"


@contextlib.contextmanager
def running(book: Gradebook, reviewer: str = "TA Ann", token: str = TOKEN) -> Iterator[str]:
    """The app's base URL (``http://127.0.0.1:PORT``) while it runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(book, reviewer, token), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the review app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Client:
    """HTTP/1.1 to the app, with or without the session cookie; no redirects followed."""

    base: str
    cookie: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, form: list[tuple[str, str]] | None = None, **headers: str
    ) -> Reply:
        url = urllib.parse.urlsplit(self.base)
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
        h = {**self.extra, **{k.replace("_", "-"): v for k, v in headers.items()}}
        if self.cookie:
            h["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        reply = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, text)
        conn.close()
        return reply

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, **headers)

    def post(self, path: str, form: list[tuple[str, str]], **headers: str) -> Reply:
        return self.request("POST", path, form, **headers)


def logged_in(base: str, token: str = TOKEN) -> Client:
    """A client holding the cookie that the first visit with the token sets."""
    reply = Client(base).get(f"/?token={token}")
    assert reply.status == 200, reply.text
    cookie = reply.headers["set-cookie"].split(";")[0]
    return Client(base, cookie)


# --------------------------------------------------------------------------- hostile class

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)
# every payload would set window.pwned (or call alert) if it ran
XSS_MARKDOWN = (
    "# Answer <script>window.pwned='markdown'</script>\n"
    "[see this](javascript:window.pwned='link') "
    '<img src=x onerror="window.pwned=\'img\'"> <a href="javascript:alert(1)">x</a>'
)
XSS_SOURCE = "print('<script>window.pwned=\"source\"</script>')"
XSS_STREAM = "<img src=x onerror=window.pwned='stream'>\n"
XSS_HTML = "<script>window.pwned='html'</script><img src=x onerror=\"window.pwned='html-img'\">"
XSS_FEEDBACK = "Your output was <script>window.pwned='feedback'</script>"
XSS_STUDENT = "<img src=x onerror=alert('name')>"
XSS_COMMENT = "<script>window.pwned='comment'</script> see javascript:alert(1)"
XSS_EXERCISE = "conv-<b>1</b>"


def hostile_notebook(path: Path) -> Path:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": XSS_MARKDOWN},
            {
                "cell_type": "code",
                "id": "b",
                "metadata": {},
                "execution_count": 1,
                "source": XSS_SOURCE,
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": XSS_STREAM},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"text/html": XSS_HTML, "text/plain": "<HTML object>"},
                    },
                    {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG_1PX}},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "x\" onerror=\"window.pwned='png'"},
                    },
                ],
            },
        ],
    }
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def hostile_class(base: Path) -> Path:
    """A gradebook whose student id, file name, feedback, diagnosis, exercise id, markdown,
    code, outputs (text, HTML, pictures) carry script; plus one harmless student."""
    subs = base / "subs"
    subs.mkdir(parents=True)
    db = base / "gb.db"
    with Gradebook(db) as book:
        for student, feedback in ((XSS_STUDENT, XSS_FEEDBACK), ("plain", "fine")):
            path = hostile_notebook(subs / f"{student}.ipynb")
            exercises = (
                ExerciseResult(
                    id=XSS_EXERCISE,
                    title="<i>title</i>",
                    score=1.0,
                    max_score=2.0,
                    status="partial",
                    feedback=(feedback,),
                    diagnoses=("<script>d</script>",),
                    needs_review=True,
                    cells=(0, 1),
                ),
            )
            result = SubmissionResult(
                path=str(path), status="graded", score=1.0, max_score=2.0,
                exercises=exercises, student=student,
            )  # fmt: skip
            book.record(student, hashlib.sha256(student.encode()).hexdigest(), "r", result)
    return db
