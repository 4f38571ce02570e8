"""Instructor subcommands: ``grade validate`` and ``grade assign``.

``validate`` makes the rubrics prove themselves: every rubric loads; every edition's
reference notebook (``reference/<edition>.ipynb``) is detected as that edition and scores
full marks; every diagnosis is detected, and costs points, on a variant of the reference
notebook that makes that mistake (a mutant function swapped in, or the diagnosis's
``example`` cell added to the exercise's answer); every prose concept (a required concept of a
``prose`` check, a diagnosis with ``prose`` patterns) scores 100% precision and recall on its
table of paraphrases and near-misses (``tests/prose_tables/<concept>.yaml``).

``override`` stores an instructor's score for one exercise of one student in the
gradebook; it is applied to every later result of that student, regrades included.

``assign`` turns a reference notebook into the student-facing one: solutions stripped,
questions kept, every cell tagged with its exercise id so templates are graded by tag.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from .edition import detect_edition
from .errors import GraderError
from .execute import executor
from .i18n import detect_language
from .load import load
from .locate import locate
from .model import EDITIONS, Cell, Edition, Notebook, SubmissionResult
from .pipeline import Grader
from .rubric import DiagnosisSpec, ExerciseSpec, Rubric, default_rubrics_dir, load_all


@dataclass(frozen=True)
class Row:
    what: str
    ok: bool
    detail: str


# ---------------------------------------------------------------------------- validate


def reference_notebook(rubric: Rubric, edition: str) -> Path:
    return Path(rubric.path).resolve().parent.parent / "reference" / f"{edition}.ipynb"


def _mutant_cell(rubric: Rubric, ex: ExerciseSpec, d: DiagnosisSpec) -> str:
    """A code cell that redefines the exercise's function with the diagnosis's mutant."""
    assert rubric.reference is not None and d.mutant
    target = next(str(c.options["function"][0]) for c in ex.checks if c.type == "function")
    source = Path(rubric.reference.path).read_text()
    return (
        "import numpy as _np, torch as _torch, types as _types\n"
        "_ref = _types.ModuleType('_validate_reference')\n"
        f"exec(compile({source!r}, 'reference', 'exec'), _ref.__dict__)\n"
        f"def {target}(X, K):\n"
        f"    out = _ref.{d.mutant}(_np.asarray(X, dtype=float), _np.asarray(K, dtype=float))\n"
        "    return _torch.tensor(out, dtype=_torch.float32)\n"
    )


def variant(
    notebook: Notebook, rubric: Rubric, edition: Edition, ex: ExerciseSpec, d: DiagnosisSpec
) -> Notebook | None:
    """The reference notebook with the mistake of diagnosis ``d`` made in exercise ``ex``."""
    cells = list(notebook.cells)
    if d.mutant:
        cells.append(Cell(len(cells), "code", _mutant_cell(rubric, ex, d)))
    elif not d.example:
        return None
    elif d.execution:
        cells.insert(0, Cell(0, "code", d.example))
    else:
        answer = locate(notebook, rubric, edition)[ex.id]
        at = max(answer.cells) + 1 if answer.cells else len(cells)
        if d.prose:  # the mistaken words replace the reference's own words (text, comments)
            cells = [
                _without_comments(c) if c.index in answer.cells else c
                for c in cells
                if not (
                    c.index in answer.cells
                    and c.kind == "markdown"
                    and c.index != min(answer.cells)
                )
            ]
            at = next((i for i, c in enumerate(cells) if c.index > max(answer.cells)), len(cells))
        cells.insert(at, Cell(0, "markdown" if d.prose else "code", d.example))
    renumbered = tuple(replace(c, index=i) for i, c in enumerate(cells))
    return replace(notebook, cells=renumbered, path=f"{notebook.path}#{ex.id}:{d.id}")


def _without_comments(cell: Cell) -> Cell:
    if cell.kind != "code":
        return cell
    kept = [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("#")]
    return replace(cell, source="\n".join(kept) + "\n")


def validate(rubrics_dir: Path | None, engine: str) -> list[Row]:
    rows: list[Row] = []
    try:
        rubrics = load_all(rubrics_dir)
    except GraderError as exc:
        return [Row("load rubrics", False, str(exc))]
    ex_runner = executor(engine)
    for rubric in rubrics:
        rows.append(
            Row(f"{Path(rubric.path).name}: load", True, f"{len(rubric.exercises)} exercises")
        )
        rows.extend(_prose_rows(rubric))
        grader = Grader(rubric, ex_runner)
        for edition in [e for e in EDITIONS if e in rubric.editions]:
            path = reference_notebook(rubric, edition)
            if not path.is_file():
                rows.append(Row(f"reference {edition}", False, f"missing: {path}"))
                continue
            notebook = load(path)
            detected = detect_edition(notebook, rubric)
            result = grader.grade_notebook(notebook)
            short = [
                f"{e.id} {e.score:g}/{e.max_score:g}"
                for e in result.exercises
                if e.score < e.max_score
            ]
            ok = detected == edition and result.score >= result.max_score - 1e-9
            rows.append(
                Row(
                    f"reference {edition}",
                    ok,
                    f"edition {detected}, {result.score:g}/{result.max_score:g}"
                    + (f"; short: {', '.join(short)}" if short else ""),
                )
            )
            # every edition's reference makes every mistake: a notebook of one edition (its
            # wording, its names) must not hide a diagnosis another edition's would show
            for ex in rubric.for_edition(edition):
                for d in ex.diagnoses:
                    rows.append(_diagnosis_row(grader, notebook, rubric, edition, ex, d))
    return rows


def validate_corpus(folder: Path, rubric: Rubric, engine: str) -> list[Row]:
    """One row per corpus file: how many of its expected verdicts the grader meets (a file
    fails on any unmet statement that is not a listed known bug), then the total."""
    from . import corpus

    try:
        expected = corpus.load_expected(folder)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [Row(f"corpus {folder}", False, f"cannot read its expectations: {exc}")]
    if not expected:
        return [Row(f"corpus {folder}", False, "no expected*.yaml with files in it")]
    points = {ex.id: float(ex.points) for ex in rubric.exercises}
    try:  # a malformed expectation is the instructor's to fix: say which, before grading
        for name, spec in expected.items():
            corpus.expectations(name, spec, points, None)
    except (ValueError, TypeError, AttributeError) as exc:
        return [Row(f"corpus {folder}", False, f"cannot read its expectations: {exc}")]
    grader = Grader(rubric, executor(engine))
    results = {name: grader.grade_path(folder / name) for name in expected}
    rows: list[Row] = []
    met = total = bugs = 0
    for a in corpus.agreement(expected, results, points):
        met, total, bugs = met + a.met, total + a.total, bugs + a.known_bugs
        detail = f"{a.met}/{a.total} expected verdicts met"
        if a.known_bugs:
            detail += f", {a.known_bugs} known grader bugs"
        if a.failures:
            detail += "; " + " | ".join(a.failures[:3])
        rows.append(Row(f"corpus {a.file}", not a.failures, detail))
    rows.append(
        Row(
            f"corpus agreement ({folder})",
            met + bugs == total,
            f"{met}/{total} expected verdicts met ({100 * met / max(total, 1):.1f}%)"
            + (f", {bugs} known grader bugs" if bugs else ""),
        )
    )
    return rows


def _prose_rows(rubric: Rubric) -> list[Row]:
    """Each prose concept's precision and recall on its table (see :mod:`grader.prose_tables`)."""
    from .prose_tables import report

    try:
        return [Row(what, ok, detail) for what, ok, detail in report(rubric)]
    except GraderError as exc:
        return [Row("prose tables", False, str(exc))]


def _diagnosis_row(
    grader: Grader,
    notebook: Notebook,
    rubric: Rubric,
    edition: Edition,
    ex: ExerciseSpec,
    d: DiagnosisSpec,
) -> Row:
    what = f"diagnosis {ex.id}/{d.id} ({edition})"
    mutated = variant(notebook, rubric, edition, ex, d)
    if mutated is None:
        return Row(what, False, "no mutant and no `example` to test it with")
    result: SubmissionResult = grader.grade_notebook(mutated)
    target = next((e for e in result.exercises if e.id == ex.id), None)
    if target is None:
        return Row(what, False, "exercise not graded")
    found = d.id in target.diagnoses
    lost = target.score < target.max_score - 1e-9
    detail = f"{'detected' if found else 'NOT detected'}, {target.score:g}/{target.max_score:g}"
    return Row(what, found and lost, detail)


def _print_rows(rows: Sequence[Row]) -> None:
    width = max(len(r.what) for r in rows)
    for r in rows:
        print(f"{r.what:<{width}}  {'ok  ' if r.ok else 'FAIL'}  {r.detail}")
    failed = sum(not r.ok for r in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")


# ---------------------------------------------------------------------------- assign

# locate.PLACEHOLDERS: never read as the student's words. In the reference's language.
_STUBS = {
    "en": ("# YOUR CODE HERE", "*Your answer here.*"),
    "zh": ("# 在这里写代码", "*在这里写下你的答案。*"),
}
_CODE_STUB = "# YOUR CODE HERE\n"


def _stub(source: str, code_stub: str = _CODE_STUB) -> str:
    """Keep function/class signatures and docstrings; drop bodies and other code."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return code_stub
    lines = source.splitlines()
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            header = lines[node.lineno - 1 : node.body[0].lineno - 1]
            out.extend(ln for ln in header if not ln.lstrip().startswith("#"))
            doc = ast.get_docstring(node)
            indent = " " * (node.body[0].col_offset)
            if doc:
                out.append(f'{indent}"""{doc}"""')
            out.append(f"{indent}...  {code_stub.strip()}")
            out.append("")
    return "\n".join(out).rstrip() + "\n" if out else code_stub


def assign(reference: Path, rubric: Rubric, out: Path) -> Notebook:
    import nbformat

    notebook = load(reference)
    edition = detect_edition(notebook, rubric)
    code_stub, prose_stub = _STUBS.get(detect_language(notebook), _STUBS["en"])
    answers = locate(notebook, rubric, edition)
    owner = {i: eid for eid, a in answers.items() for i in a.cells}
    starts = {min(a.cells) for a in answers.values() if a.cells}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["grader"] = {"rubric": rubric.id, "edition": edition}
    for cell in notebook.cells:
        eid = owner.get(cell.index)
        if cell.kind == "code":
            src = _stub(cell.source, code_stub + "\n") if eid else cell.source
            new = nbformat.v4.new_code_cell(src)
        elif eid and cell.index not in starts:
            new = nbformat.v4.new_markdown_cell(prose_stub)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source)
        if eid:
            new.metadata["grader"] = {"exercise": eid}
            new.metadata["tags"] = [f"exercise:{eid}"]
        new["id"] = f"cell-{cell.index}"  # stable: regenerating gives a clean diff
        nb.cells.append(new)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    return notebook


# ---------------------------------------------------------------------------- entry


def override(argv: Sequence[str]) -> int:
    """``grade override STUDENT EXERCISE SCORE --reason ...``: an instructor's score that
    survives regrading (stored in the gradebook, applied to every later result)."""
    from .gradebook import Gradebook

    p = argparse.ArgumentParser(
        prog="grade override", description="Set an exercise score by hand (kept on regrade)."
    )
    p.add_argument("student")
    p.add_argument("exercise")
    p.add_argument("score", type=float)
    p.add_argument("--reason", required=True)
    p.add_argument("--author", default="")
    p.add_argument("--gradebook", default="gradebook.db")
    args = p.parse_args(argv)
    try:
        with Gradebook(args.gradebook) as book:
            book.set_override(args.student, args.exercise, args.score, args.reason, args.author)
    except GraderError as exc:
        print(f"grade override: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.student} / {args.exercise}: score set to {args.score:g} ({args.reason})")
    return 0


def main(command: str, argv: Sequence[str]) -> int:
    if command == "override":
        return override(argv)
    if command == "pack":
        from .pack.command import main as pack_main

        return pack_main(argv)
    if command == "validate":
        p = argparse.ArgumentParser(
            prog="grade validate", description="Check rubrics against their references."
        )
        p.add_argument("--rubrics", type=Path, default=None)
        p.add_argument("--engine", default="default", help="default: warm on Linux")
        p.add_argument("--json", action="store_true", help="print rows as JSON")
        p.add_argument(
            "--corpus",
            type=Path,
            action="append",
            default=[],
            metavar="DIR",
            help="also grade a folder of example submissions with expected*.yaml verdicts "
            "and report the agreement (repeatable)",
        )
        args = p.parse_args(argv)
        rows = validate(args.rubrics or default_rubrics_dir(), args.engine)
        if args.corpus:
            try:
                rubric = load_all(args.rubrics or default_rubrics_dir())[0]
            except GraderError as exc:
                rows.append(Row("load rubrics", False, str(exc)))
            else:
                for folder in args.corpus:
                    rows.extend(validate_corpus(folder, rubric, args.engine))
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], indent=1))
        else:
            _print_rows(rows)
        return 0 if all(r.ok for r in rows) else 1
    p = argparse.ArgumentParser(
        prog="grade assign", description="Make a student notebook from a reference notebook."
    )
    p.add_argument("reference", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--rubrics", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        rubric = load_all(args.rubrics or default_rubrics_dir())[0]
        assign(args.reference, rubric, args.output)
    except GraderError as exc:
        print(f"grade assign: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0
