"""How long `grade review` takes to render one question page for a large class.

Builds, in a temporary folder, a gradebook of N graded submissions (default 300) whose rows
are synthesised directly (no notebook is executed: the page reads the gradebook and the
submission files, never runs them) and N notebook files the rows point to, each with the
cells the grader attributed: markdown, code, a text output and a small PNG picture. The
answers to the reviewed exercise fall in a dozen verdicts (some ``needs_review``), so the
page has groups, and some answers already carry decisions and a reusable comment.

It then starts the real app (uvicorn on 127.0.0.1, in a thread) and requests the question
page over HTTP: the first request (every submission file read and parsed) and then
``--runs`` more (files cached while unchanged), and prints the times, the page size and
the number of answers and groups. The goal: under 1 s per page.

Usage: python benchmarks/review_page.py [--n 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from grader.gradebook import Gradebook
from grader.model import ExerciseResult, SubmissionResult
from grader.review.app import create_app

EXERCISES = 14
REVIEWED = "ex-3"
TOKEN = "benchmark-token"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)


def notebook(path: Path, student: int) -> None:
    cells = []
    for e in range(EXERCISES):
        cells.append({"cell_type": "markdown", "metadata": {}, "source": f"## Exercise {e}"})
        cells.append(
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": e + 1,
                "source": f"def answer_{e}(X, K):\n    # student {student}\n"
                + "    h, w = K.shape\n" * 6
                + "    return X\n",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": f"tensor({student})\n"},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "image/png": base64.b64encode(PNG).decode(),
                            "text/plain": "<Figure>",
                        },
                    },
                ],
            }
        )
        cells.append(
            {"cell_type": "markdown", "metadata": {}, "source": "Because the kernel " * 20}
        )
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    path.write_text(json.dumps(doc), encoding="utf-8")


def build(base: Path, n: int) -> Path:
    subs = base / "subs"
    subs.mkdir()
    db = base / "gb.db"
    with Gradebook(db) as book:
        for s in range(n):
            name = f"student-{s:04d}"
            path = subs / f"{name}.ipynb"
            notebook(path, s)
            exercises = []
            for e in range(EXERCISES):
                verdict = (s * 7 + e) % 12
                exercises.append(
                    ExerciseResult(
                        id=f"ex-{e}",
                        title=f"Exercise {e}",
                        score=verdict % 4,
                        max_score=3.0,
                        status="pass" if verdict % 4 >= 3 else "partial",
                        feedback=(f"`answer_{e}` is wrong on {verdict} of 12 hidden inputs.",),
                        diagnoses=(f"diag-{verdict % 5}",),
                        needs_review=verdict == 5,
                        cells=(3 * e, 3 * e + 1, 3 * e + 2),
                    )
                )
            result = SubmissionResult(
                path=str(path),
                status="graded",
                score=sum(x.score for x in exercises),
                max_score=3.0 * EXERCISES,
                exercises=tuple(exercises),
                student=name,
            )
            book.record(name, hashlib.sha256(name.encode()).hexdigest(), "r", result)
        comment = book.add_comment(REVIEWED, "Good idea, border wrong.", -0.5, "TA")
        book.decide([f"student-{s:04d}" for s in range(0, n, 10)], REVIEWED, author="TA")
        book.decide(
            [f"student-{s:04d}" for s in range(5, n, 10)], REVIEWED, author="TA", comment=comment.id
        )
    return db


def get(port: int, path: str) -> tuple[float, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": f"grader_review={TOKEN}"})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, response.status, body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="graded submissions (default 300)")
    ap.add_argument("--runs", type=int, default=5, help="warm requests (default 5)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        t0 = time.perf_counter()
        db = build(Path(tmp), args.n)
        print(f"gradebook of {args.n} submissions built in {time.perf_counter() - t0:.1f} s")
        with Gradebook(db) as book:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            app = create_app(book, "bench", TOKEN)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.01)
            try:
                path = f"/question?ex={REVIEWED}"
                first, status, body = get(port, path)
                if status != 200:
                    print(f"error: the page answered {status}", file=sys.stderr)
                    return 1
                warm = [get(port, path)[0] for _ in range(args.runs)]
                index = get(port, "/")[0]
            finally:
                server.should_exit = True
                thread.join(10)
    text = body.decode()
    answers, groups = text.count('<article class="answer'), text.count('<section class="group')
    print(f"question page: {answers} answers in {groups} groups, {len(body) / 1e6:.2f} MB")
    print(f"first request (every submission file read): {first:.3f} s")
    print(
        f"next {args.runs} requests: median {statistics.median(warm):.3f} s, max {max(warm):.3f} s"
    )
    print(f"exercise list: {index:.3f} s")
    ok = max(first, *warm) < 1.0
    print("under 1 s: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
