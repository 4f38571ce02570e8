"""``grade review``: review by question, in the browser, on the instructor's machine.

    grade review --gradebook PATH_OR_URL [--port N] [--reviewer NAME]

starts the web app of :mod:`grader.review.app` over the gradebook (an SQLite file or any
SQLAlchemy URL, so that several instructors can review against one PostgreSQL gradebook), on
127.0.0.1 only, and prints ``http://127.0.0.1:PORT/?token=...`` as the first line of stdout:
the URL to open (the token is random per start; a request without it gets 403). Every
decision made in the app is stored as an override signed by ``--reviewer`` (default: the
login name). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import socket
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="grade review",
        description="Review the gradebook by question in the browser (local web app).",
    )
    p.add_argument("--gradebook", required=True, help="SQLite path or SQLAlchemy URL")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free)")
    p.add_argument("--reviewer", default=None, help="name that signs the decisions")
    args = p.parse_args(argv)
    reviewer = (args.reviewer if args.reviewer is not None else _login()).strip()
    if not reviewer:
        print("grade review: error: give a --reviewer name", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"grade review: error: --port {args.port} is not a port number", file=sys.stderr)
        return 2

    import uvicorn

    from grader.errors import GraderError
    from grader.gradebook import Gradebook
    from grader.review.app import create_app

    try:
        book = Gradebook(args.gradebook)
    except (GraderError, OSError) as exc:
        print(f"grade review: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # SQLAlchemy: a bad URL, a database that does not answer
        print(f"grade review: error: cannot open {args.gradebook}: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as exc:
        print(f"grade review: error: port {args.port}: {exc.strerror}", file=sys.stderr)
        book.close()
        return 2
    sock.listen(128)  # connections wait in the backlog until the server runs
    token = secrets.token_urlsafe(32)
    port = sock.getsockname()[1]
    print(f"http://127.0.0.1:{port}/?token={token}", flush=True)
    print(f"reviewing {args.gradebook} as {reviewer}; Ctrl-C stops", flush=True)
    app = create_app(book, reviewer, token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        book.close()
        sock.close()
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
