"""``grade``: a thin command line over the library. It parses arguments, calls the
library, and picks a reporter; it holds no grading logic.

    grade submission.ipynb [more files or folders] [--format text|json|junit|gradescope|csv]
    grade validate            check that the rubrics prove themselves on their references
    grade assign REF.ipynb    make a student notebook from a reference notebook
    grade pack -o DIR         write the public pack (public checks as data) for students
    grade --check --pack DIR notebook.ipynb   grade from a public pack alone
    grade review --gradebook gradebook.db    review by question in the browser

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
from .execute import ENGINES, Limits, course_paths, default_engine, resolve_sandbox
from .i18n import LANGUAGES, N_, locale_dirs, translator
from .model import EDITIONS, SubmissionResult
from .pipeline import Options
from .report import REPORTERS, ReportOptions, render
from .rubric import rubric_path

SUFFIXES = (".ipynb", ".py", ".md", ".txt")
SUBCOMMANDS = ("validate", "assign", "override", "pack", "review")
GRADESCOPE_HELP = """\
Running as a Gradescope autograder
  Gradescope runs /autograder/run_autograder in its container, with the student's files in
  /autograder/submission and expects /autograder/results/results.json. Put this in the
  autograder zip (setup.sh installs the grader, e.g. `pip install grader torch==2.13.0`):

    #!/usr/bin/env bash
    cd /autograder/source   # the course repo with rubrics/ and reference/
    grade /autograder/submission --format gradescope --sandbox auto \\
        > /autograder/results/results.json

  Scores, per-exercise tests and feedback appear in Gradescope; the hidden reference and
  rubrics stay in /autograder/source, out of the submission's sandbox. Add --hide-expected
  to keep the expected values on hidden inputs out of the feedback students see.
"""


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
        "`grade assign REF.ipynb -o OUT` makes a student notebook; `grade pack -o DIR` writes "
        "the public pack for students' repositories; `grade review --gradebook DB` reviews by "
        "question in the browser. Exit codes: 0 graded, "
        "1 --fail-under not met, 2 usage error or invalid input.",
    )
    p.add_argument("paths", nargs="*", help="notebooks (.ipynb, .py, .md, pasted .txt) or folders")
    p.add_argument("--format", "-f", default="text", choices=sorted(REPORTERS))
    p.add_argument("--edition", default="auto", choices=["auto", *EDITIONS])
    p.add_argument(
        "--lang",
        default="auto",
        choices=["auto", *LANGUAGES],
        help="language of each student's feedback (text report, feedback pages, annotated "
        "notebooks, Gradescope); default auto: the language the student wrote in",
    )
    p.add_argument(
        "--report-lang",
        default="en",
        choices=list(LANGUAGES),
        help="language of what the instructor reads (the text report's summary line); default en",
    )
    p.add_argument(
        "--engine",
        default=None,
        choices=sorted(ENGINES),
        help="how notebooks run (default: warm, a fork server per worker, on Linux; "
        "nbclient, a fresh Jupyter kernel per notebook, elsewhere): the same verdicts",
    )
    p.add_argument(
        "--sandbox",
        default="auto",
        choices=["auto", "bwrap", "weak", "none"],
        help="isolation of submissions (default auto: bwrap if it can start here)",
    )
    p.add_argument(
        "--rubric", help="rubric YAML (default: the course file's, else the one in ./rubrics)"
    )
    p.add_argument(
        "--course",
        metavar="FILE",
        help="course file naming the rubric, reference and kernels' environment "
        "(default: ./course.yaml if present; see docs/instructors.md)",
    )
    p.add_argument(
        "--kernel-python",
        metavar="PATH",
        help="Python interpreter of the course's environment that runs the notebooks "
        "(needs ipykernel; default: the course file's, else the grader's own)",
    )
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
    p.add_argument(
        "--pack",
        metavar="DIR",
        help="grade from a public pack (made by `grade pack`) instead of the course's rubric "
        "and reference; implies --check (default with --check and no ./rubrics: a "
        "grader-pack/ folder beside the notebook or here)",
    )
    p.add_argument(
        "--hide-expected",
        action="store_true",
        help="student-facing outputs (feedback pages, annotated notebooks, gradescope) do not "
        "show the expected values on hidden inputs; the instructor's report keeps them",
    )
    p.add_argument("--jobs", "-j", type=int, default=0, help="parallel workers (default: cores)")
    p.add_argument(
        "--gradebook",
        metavar="PATH_OR_URL",
        help="SQLite path or SQLAlchemy URL (default ./gradebook.db when grading "
        "several submissions)",
    )
    p.add_argument("--no-gradebook", action="store_true", help="do not use a gradebook")
    p.add_argument("--regrade", action="store_true", help="grade again even if unchanged")
    p.add_argument("--report", metavar="DIR", help="write the class report (HTML, CSV, notebooks)")
    p.add_argument("--csv-layout", choices=["canvas", "moodle"], default="canvas")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="grade on a Dask cluster")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per cell (default 30)")
    p.add_argument(
        "--notebook-timeout", type=float, default=300.0, help="seconds per notebook (default 300)"
    )
    p.add_argument("--memory", default="2GiB", help="memory limit per notebook (default 2GiB)")
    p.add_argument("--student-pattern", help="regex on the file name; group 1 is the student id")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument(
        "--gradescope-autograder",
        action="store_true",
        help="explain how to run as a Gradescope autograder, then exit",
    )
    p.add_argument("--version", action="version", version=f"grader {__version__}")
    return p


def collect(paths: Sequence[str]) -> list[str]:
    """Expand folders into the submission files they contain (sorted, no hidden files, nothing
    of a public pack: its predicates.py is not a submission)."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                    continue
                if (f.parent / "pack.json").is_file():
                    continue
                if f.suffix in SUFFIXES and not f.name.lower().startswith("readme"):
                    out.append(str(f))
        else:
            out.append(p)
    return out


def grading_source(args: argparse.Namespace, files: Sequence[str], rubric: str | None) -> str:
    """What to grade with: ``--pack`` (checked now: a missing or corrupt pack is a one-line
    error), ``rubric`` (``--rubric`` or the course file's), ./rubrics, a public pack beside the
    notebook (``--check`` only), or the rubric shipped beside the package."""
    from .pack import find_pack, load_pack
    from .pack.store import pack_file

    pack: str | Path | None = args.pack
    if pack is None and args.check and not rubric and not (Path.cwd() / "rubrics").is_dir():
        pack = find_pack(files)
    if pack is None:
        return rubric_path(rubric)
    if args.rubric:
        raise GraderError("give either --pack or --rubric, not both")
    load_pack(pack)
    return str(pack_file(pack))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "review" and not Path(args_list[0]).exists():
        from .review import main as review

        return review(args_list[1:])
    if args_list and args_list[0] in SUBCOMMANDS and not Path(args_list[0]).exists():
        from . import tools

        return tools.main(args_list[0], args_list[1:])
    args = parser().parse_args(args_list)
    if args.gradescope_autograder:
        print(GRADESCOPE_HELP, end="")
        return 0
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
    files = collect(args.paths)
    if not files:
        print("grade: error: no submissions found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    try:
        return _grade(args, limits, files)
    except GraderError as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ngrade: interrupted; results already stored in the gradebook are kept, run "
            "the same command again to grade the rest",
            file=sys.stderr,
        )
        return 130


def _grade(args: argparse.Namespace, limits: Limits, files: list[str]) -> int:
    from .batch import BatchConfig, Progress, grade_many, progress_wanted
    from .course import check_kernel_python, find_course

    course = find_course(args.course)
    # grade_many loads it before any submission runs
    path = grading_source(args, files, args.rubric or course.rubric)
    public_only = args.check or args.pack is not None
    python = check_kernel_python(args.kernel_python) if args.kernel_python else course.python
    sandbox = resolve_sandbox(args.sandbox)
    if sandbox.note:
        print(f"grade: {sandbox.note}", file=sys.stderr)
    several = len(files) > 1 or any(Path(p).is_dir() for p in args.paths)
    # --check grades only the public part: its results must never become grades.
    gradebook = (
        None
        if args.no_gradebook or public_only
        else (args.gradebook or ("gradebook.db" if several else None))
    )
    config = BatchConfig(
        rubric_path=path,
        engine=args.engine or default_engine(),
        limits=limits,
        options=Options(
            edition=args.edition,
            public_only=public_only,
            seed=os.environ.get("GRADER_SEED", ""),
            course_modules=course.modules,
        ),
        jobs=args.jobs,
        gradebook=gradebook,
        regrade=args.regrade,
        scheduler=args.scheduler,
        student_pattern=args.student_pattern,
        sandbox=args.sandbox,
        hidden=tuple(
            str(p)
            for p in course_paths(path, files)
            + ((Path(course.reference),) if course.reference else ())
        ),
        kernel_python=python,
    )
    progress = Progress(len(files), progress_wanted(args.format))
    results = grade_many(config, files, on_result=progress.step)
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    dirs = tuple(str(d) for d in locale_dirs(path))
    options = ReportOptions(
        color=color,
        public_only=public_only,
        csv_layout=args.csv_layout,
        hide_expected=args.hide_expected,
        lang=args.lang,
        report_lang=args.report_lang,
        locale_dirs=dirs,
    )
    output = render(args.format, results, options)
    if public_only and args.format == "text":
        from .report.text import student_translator

        t = student_translator(results[0], options) if results else translator("en")
        banner = N_(
            "PUBLIC CHECKS ONLY: this is the part of the rubric you can see; the final "
            "grade also uses hidden checks."
        )
        output = t.gettext(banner) + "\n\n" + output
    sys.stdout.write(output)
    sys.stdout.flush()
    _side_outputs(args, results, dirs)
    if args.format != "text":  # the text report ends with them already
        from .report.warnings import batch_warnings

        where = f" ({python or sys.executable})"
        for w in batch_warnings(results):
            print(f"grade: warning{where}: {w.message}", file=sys.stderr)
    for r in results:
        if r.status == "invalid":
            print(f"grade: {r.error}", file=sys.stderr)
    return exit_code(results, args.fail_under)


def _side_outputs(
    args: argparse.Namespace, results: list[SubmissionResult], dirs: tuple[str, ...]
) -> None:
    if args.report:
        from .report.site import write_site

        site = write_site(
            results,
            Path(args.report),
            csv_layout=args.csv_layout,
            public_only=args.check or args.pack is not None,
            hide_expected=args.hide_expected,
            lang=args.lang,
            locale_dirs=dirs,
        )
        print(f"grade: report written to {site.index}", file=sys.stderr)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from .report.markdown import summary as markdown_summary

        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown_summary(results, args.fail_under))


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
