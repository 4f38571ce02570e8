"""The course: its rubric and reference, the Python environment its notebooks run in, and the
modules that environment is meant to have.

A course file (``course.yaml`` in the working directory, or ``grade --course FILE``)::

    rubric: rubrics/conv-layer.yaml        # as --rubric
    reference: reference/conv_layer.py     # optional: the rubric's reference module, checked
                                           # and hidden from submissions
    environment:
      python: .venv-course/bin/python      # as --kernel-python; default: the grader's own
      modules: [d2l, torch, torchvision]   # default: the book's (BOOK_MODULES)

Relative paths are relative to the course file's folder. Command-line options win over the
file.

*Environment gaps.* A module of ``environment.modules`` that a notebook imports and the
kernels' environment lacks is the course's gap, not the student's mistake: the cells it stops
(the failed import, and cells that use a name that import would have bound, such as ``d2l``)
cost the student nothing and their errors are left out of the student's feedback; the batch
reports each such module once, with the number of submissions that imported it. A failed
import of any other module (``import torhc``) stays the student's, as a ``missing-module``
diagnosis.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .analysis import parseable
from .errors import GraderError, LocatedError, RubricError
from .model import CellRun, Execution

__all__ = [
    "BOOK_MODULES",
    "Course",
    "CourseError",
    "course_execution",
    "excused_cells",
    "find_course",
    "load_course",
]

# What the book's notebooks (PyTorch edition) import besides the standard library: its
# companion package and what ``d2l/torch.py`` imports at import time, the `%matplotlib inline`
# backend, and torch's own image library.
BOOK_MODULES: tuple[str, ...] = (
    "d2l",
    "torch",
    "torchvision",
    "numpy",
    "matplotlib",
    "matplotlib_inline",
    "pandas",
    "PIL",
    "scipy",
    "requests",
    "IPython",
)

COURSE_FILE = "course.yaml"

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "course": {"type": "string"},
        "rubric": {"type": "string", "minLength": 1},
        "reference": {"type": "string", "minLength": 1},
        "environment": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "python": {"type": "string", "minLength": 1},
                "modules": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                    "uniqueItems": True,
                },
            },
        },
    },
}


class CourseError(LocatedError):
    """The course file is invalid or names something that does not exist (file, line, field)."""


@dataclass(frozen=True)
class Course:
    """A course's settings; ``None`` where the course file (if any) leaves the default."""

    path: str | None = None  # the course file
    rubric: str | None = None
    reference: str | None = None
    python: str | None = None  # the kernels' interpreter (None: the grader's own)
    modules: tuple[str, ...] = BOOK_MODULES


def find_course(arg: str | None, cwd: Path | None = None) -> Course:
    """The course of ``--course FILE``, else ``course.yaml`` in ``cwd`` if there is one,
    else the defaults."""
    if arg:
        return load_course(arg)
    here = (cwd or Path.cwd()) / COURSE_FILE
    return load_course(here) if here.is_file() else Course()


def load_course(path: str | Path) -> Course:
    """Read and check a course file. Raises CourseError naming file, line and field."""
    from .rubric import _compose, _line, _validate

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(file, None, "", f"cannot read: {exc}") from None
    try:
        data, lines = _compose(text, file)
        data = {} if data is None else data
        _validate(data, _SCHEMA, file, lines)
    except RubricError as exc:
        raise CourseError(exc.file, exc.line, exc.field, exc.message) from None
    base = Path(path).resolve().parent

    def located(where: tuple[str, ...]) -> tuple[str, int | None, str]:
        return file, _line(lines, where), ".".join(where)

    def resolved(value: str) -> str:
        return os.path.normpath(base / os.path.expanduser(value))

    rubric = resolved(data["rubric"]) if "rubric" in data else None
    if rubric is not None and not Path(rubric).is_file():
        raise CourseError(*located(("rubric",)), f"no such file: {rubric}")
    reference = resolved(data["reference"]) if "reference" in data else None
    if reference is not None and not Path(reference).exists():
        raise CourseError(*located(("reference",)), f"no such file or folder: {reference}")
    env = data.get("environment") or {}
    python = resolved(env["python"]) if "python" in env else None
    if python is not None:
        problem = kernel_python_problem(python)
        if problem:
            raise CourseError(*located(("environment", "python")), problem)
    modules = tuple(env["modules"]) if "modules" in env else BOOK_MODULES
    return Course(file, rubric, reference, python, modules)


def kernel_python_problem(python: str) -> str | None:
    """Why ``python`` cannot run the grader's kernels, or None. It must be an executable
    (not resolved: a venv's ``bin/python`` is a symlink whose venv matters) with ipykernel."""
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        return f"{python} is not an executable Python interpreter"
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('ipykernel') is None)"
    try:
        proc = subprocess.run(
            [python, "-I", "-c", code], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot be run: {exc}"
    if proc.returncode == 1:
        return f"{python} has no ipykernel: install it there (pip install ipykernel)"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"{python} cannot be run: {last}"
    return None


def check_kernel_python(python: str) -> str:
    """``--kernel-python`` as an absolute path; GraderError (one line) if it cannot serve."""
    path = os.path.abspath(os.path.expanduser(python))
    problem = kernel_python_problem(path)
    if problem:
        raise GraderError(f"--kernel-python: {problem}")
    return path


# ----------------------------------------------------------------------------- gaps

_MISSING = re.compile(r"No module named '([A-Za-z0-9_.]+)'")
_UNDEFINED = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


def _bound_by_imports(sources: Iterable[str], modules: frozenset[str]) -> set[str]:
    """Names that imports of ``modules`` bind anywhere in the notebook (``d2l``, ``plt``)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(parseable(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in modules:
                        names.add(alias.asname or alias.name.split(".")[0])
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").split(".")[0] in modules
            ):
                names.update(a.asname or a.name for a in node.names if a.name != "*")
    return names


def excused_cells(execution: Execution, sources: Iterable[str]) -> frozenset[int]:
    """Indexes of the cells whose error the environment gap caused: a missing module of
    ``execution.environment``, or an undefined name that an import of one would have bound."""
    gap = frozenset(execution.environment)
    if not gap:
        return frozenset()
    names = _bound_by_imports(sources, gap)
    return frozenset(c.index for c in execution.cells if _caused_by_gap(c, gap, names))


def _caused_by_gap(cell: CellRun, gap: frozenset[str], names: set[str]) -> bool:
    if cell.error is None:
        return False
    if cell.error.ename in ("ModuleNotFoundError", "ImportError"):
        m = _MISSING.search(cell.error.evalue)
        return m is not None and m.group(1).split(".")[0] in gap
    if cell.error.ename == "NameError":
        m = _UNDEFINED.search(cell.error.evalue)
        return m is not None and m.group(1) in names
    return False


def course_execution(execution: Execution, modules: Iterable[str]) -> Execution:
    """``execution`` as the checks see it: the missing modules of the course's list moved
    from ``missing_modules`` (the student's) to ``environment`` (the course's gap)."""
    course = set(modules)
    gap = tuple(m for m in execution.missing_modules if m in course)
    if not gap:
        return execution
    own = tuple(m for m in execution.missing_modules if m not in course)
    return replace(execution, missing_modules=own, environment=gap)


def counts(gaps: Iterable[tuple[str, ...]]) -> Mapping[str, int]:
    """How many submissions lack each module, from each submission's gap."""
    out: dict[str, int] = {}
    for gap in gaps:
        for module in dict.fromkeys(gap):
            out[module] = out.get(module, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
