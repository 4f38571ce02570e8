"""``grade``: a thin command line over the library. It parses arguments, calls the
library, and picks a reporter; it holds no grading logic.

    grade submission.ipynb [more files or folders] [--format text|json|junit|gradescope|csv]
    grade validate            check that the rubrics prove themselves on their references
    grade assign REF.ipynb    make a student notebook from a reference notebook

Exit codes: 0 all graded; 1 a ``--fail-under`` score not met; 2 usage error, an invalid
input (the others are still graded) or an instructor error (a bad rubric).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import GraderError
from .execute import ENGINES, Limits, executor
from .model import SubmissionResult
from .pipeline import Grader, Options
from .report import REPORTERS, ReportOptions, render
from .rubric import Rubric, default_rubrics_dir, load_all, load_rubric

SUFFIXES = (".ipynb", ".py", ".md", ".txt")
SUBCOMMANDS = ("validate", "assign")


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade",
        description="Grade Dive into Deep Learning notebooks (Convolutions for Images).",
        epilog="Subcommands: `grade validate` checks the rubrics against their references; "
        "`grade assign REF.ipynb` makes a student notebook. Exit codes: 0 graded, "
        "1 --fail-under not met, 2 usage error or invalid input.",
    )
    p.add_argument("paths", nargs="*", help="notebooks (.ipynb, .py, .md, pasted .txt) or folders")
    p.add_argument("--format", "-f", default="text", choices=sorted(REPORTERS))
    p.add_argument("--edition", default="auto", choices=["auto", "d2l-1.0", "d2l-0.17"])
    p.add_argument("--engine", default="nbclient", choices=sorted(ENGINES))
    p.add_argument("--rubric", help="rubric YAML (default: the one in ./rubrics)")
    p.add_argument(
        "--fail-under",
        type=float,
        metavar="PERCENT",
        help="exit 1 if any submission scores below this percentage of its maximum",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="grade only the public part of the rubric (for students, locally)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per cell (default 30)")
    p.add_argument(
        "--notebook-timeout", type=float, default=300.0, help="seconds per notebook (default 300)"
    )
    p.add_argument("--memory", default="2GiB", help="memory limit per notebook (default 2GiB)")
    p.add_argument("--student-pattern", help="regex on the file name; group 1 is the student id")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--version", action="version", version=f"grader {__version__}")
    return p


def collect(paths: Sequence[str]) -> list[str]:
    """Expand folders into the submission files they contain (sorted, no hidden files)."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue
                if f.suffix in SUFFIXES and not f.name.lower().startswith("readme"):
                    out.append(str(f))
        else:
            out.append(p)
    return out


def _rubric(arg: str | None) -> Rubric:
    if arg:
        return load_rubric(arg)
    rubrics = load_all(default_rubrics_dir())
    if len(rubrics) > 1:
        names = ", ".join(Path(r.path).name for r in rubrics)
        raise GraderError(f"several rubrics found ({names}); choose one with --rubric")
    return rubrics[0]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS and not Path(args_list[0]).exists():
        from . import tools

        return tools.main(args_list[0], args_list[1:])
    args = parser().parse_args(args_list)
    if not args.paths:
        parser().print_usage(sys.stderr)
        print("grade: error: give at least one notebook or folder", file=sys.stderr)
        return 2
    try:
        limits = Limits(
            cell_timeout=args.timeout,
            notebook_timeout=args.notebook_timeout,
            memory_bytes=_size(args.memory),
        )
    except ValueError:
        print(f"grade: error: --memory {args.memory!r} is not a size like 2GiB", file=sys.stderr)
        return 2
    try:
        rubric = _rubric(args.rubric)
        grader = Grader(
            rubric,
            executor(args.engine, limits),
            Options(
                edition=args.edition, public_only=args.check, seed=os.environ.get("GRADER_SEED", "")
            ),
        )
    except GraderError as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return 2
    files = collect(args.paths)
    if not files:
        print("grade: error: no submissions found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    results: list[SubmissionResult] = []
    for f in files:
        from .pipeline import student_id

        results.append(grader.grade_path(f, student_id(f, args.student_pattern)))
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    sys.stdout.write(
        render(args.format, results, ReportOptions(color=color, public_only=args.check))
    )
    sys.stdout.flush()
    for r in results:
        if r.status == "invalid":
            print(f"grade: {r.error}", file=sys.stderr)
    return exit_code(results, args.fail_under)


def exit_code(results: Sequence[SubmissionResult], fail_under: float | None) -> int:
    if any(r.status == "invalid" for r in results):
        return 2
    if fail_under is not None:
        for r in results:
            percent = 100.0 * r.score / r.max_score if r.max_score else 0.0
            if percent < fail_under - 1e-9:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
