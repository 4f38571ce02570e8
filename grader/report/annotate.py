"""Annotated copies of submissions: the student's notebook with the grader's feedback inside.

:func:`annotate` returns a v4 notebook made of

* a summary cell at the top (total, one row per exercise, problems running the notebook);
* the student's cells, unchanged, outputs included;
* after the last cell of each exercise (``ExerciseResult.cells``), a markdown feedback cell
  with the exercise's score, status, feedback lines, diagnoses and needs-review note; when
  several exercises end at the same cell their feedback cells follow it in rubric order;
* at the end, under a heading "Not found in your notebook", the feedback cells of the
  exercises whose answer was not found (no cells, or cell numbers outside the notebook).

Every inserted cell is markdown with ``metadata["grader"]["feedback"] = True``; exercise
feedback cells also carry ``metadata["grader"]["exercise"] = <exercise id>`` and the summary
cell ``metadata["grader"]["summary"] = True``.

How the student's cells are read: notebook JSON (nbformat v4, or v3 upgraded with nbformat's
converter) is read as it is, so outputs are kept, and cell ``i`` is the ``i``-th entry of
``cells`` that is a JSON object, which is how :func:`grader.load.load` numbers them. Any other
format (a jupytext script, Markdown, a pasted transcript, or a ``.ipynb`` that is not JSON) is
read with :func:`grader.load.load` and its cells written into a new notebook (without outputs,
which those formats do not have; the summary says so).

Everything that comes from the student or the grader is escaped for Markdown: text cannot add
HTML, links, math or formatting to the feedback cells, and multi-line feedback (quoted output)
is shown in a code block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from grader.i18n import N_, Translator
from grader.load import load
from grader.model import ExerciseResult, Notebook, SubmissionResult
from grader.report.json_report import feedback_of
from grader.report.text import clean, execution_problems, fmt_num, one_line

__all__ = ["NOT_FOUND_HEADING", "annotate", "dumps", "is_feedback_cell"]

NOT_FOUND_HEADING = N_("Not found in your notebook")
_ENGLISH = Translator("en", {})
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~$&])")  # meaningful anywhere in a line
_MD_LINE_START = re.compile(r"^(?:([#>=+-])|(\d+)([.)]))")  # headings, lists, quotes
_BACKTICKS = re.compile(r"`+")


def annotate(
    notebook_path: str | Path,
    result: SubmissionResult,
    *,
    public_only: bool = False,
    hide_expected: bool = False,
    t: Translator = _ENGLISH,
) -> NotebookNode:
    """The notebook at ``notebook_path`` with ``result``'s feedback cells inserted, their
    fixed words in ``t``'s language (``result`` is shown as given: localise it first).

    Raises :class:`grader.errors.InputError` (or ``OSError``) when the file cannot be read as
    a notebook in any format the grader supports.
    """
    path = Path(notebook_path)
    nb = _read_json_notebook(path)
    rebuilt_from: str | None = None
    if nb is None:
        loaded = load(path)
        nb = _from_loaded(loaded)
        rebuilt_from = loaded.format
    cells: list[Any] = list(nb.cells)
    with_ids = _cell_ids_allowed(nb)
    used_ids = {str(c.get("id")) for c in cells if isinstance(c, dict) and c.get("id")}

    def new_cell(source: str, meta: dict[str, Any]) -> NotebookNode:
        cell: NotebookNode = nbformat.v4.new_markdown_cell(source, metadata={"grader": meta})
        if with_ids:  # stable ids: an unchanged re-run writes the same file
            base = "grader-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(meta.get("exercise", "summary")))
            cell["id"] = _unique_id(base[:60], used_ids)
        else:
            cell.pop("id", None)
        return cell

    after: dict[int, list[NotebookNode]] = {}
    not_found: list[NotebookNode] = []
    for exercise in result.exercises:
        cell = new_cell(
            _exercise_markdown(exercise, public_only, hide_expected, t),
            {"feedback": True, "exercise": exercise.id},
        )
        inside = [i for i in exercise.cells if 0 <= i < len(cells)]
        if inside:
            after.setdefault(max(inside), []).append(cell)
        else:
            not_found.append(cell)

    out: list[Any] = [
        new_cell(_summary_markdown(result, rebuilt_from, t), {"feedback": True, "summary": True})
    ]
    for index, original in enumerate(cells):
        out.append(original)
        out.extend(after.get(index, ()))
    if not_found:
        out.append(new_cell("## " + t.gettext(NOT_FOUND_HEADING), {"feedback": True}))
        out.extend(not_found)
    nb.cells = out
    return nb


def is_feedback_cell(cell: Any) -> bool:
    """Whether ``cell`` was inserted by :func:`annotate`."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    grader = meta.get("grader") if isinstance(meta, dict) else None
    return isinstance(grader, dict) and grader.get("feedback") is True


def dumps(nb: NotebookNode) -> str:
    """The notebook as ``.ipynb`` JSON text.

    Unlike ``nbformat.writes`` this does not validate (and log about) notebooks that a student's
    editor saved slightly out of schema: they are written as they were read.
    """
    text: str = nbformat.v4.writes(nb)
    return text if text.endswith("\n") else text + "\n"


# --------------------------------------------------------------------------- reading


def _read_json_notebook(path: Path) -> NotebookNode | None:
    """The notebook JSON at ``path`` as a v4 NotebookNode, or None if it is not notebook JSON."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    major = raw.get("nbformat")
    if major == 3 or (major is None and "worksheets" in raw):
        try:
            converted: NotebookNode = nbformat.reads(text, as_version=4)
        except Exception:  # nbformat's converter raises many types on odd input
            return None
        converted.cells = [c for c in converted.get("cells", []) if isinstance(c, dict)]
        return converted
    if not isinstance(raw.get("cells"), list) or (isinstance(major, int) and major < 3):
        return None
    raw["cells"] = [c for c in raw["cells"] if isinstance(c, dict)]
    raw.setdefault("metadata", {})
    raw["nbformat"] = 4
    raw.setdefault("nbformat_minor", 5)
    try:  # joins multiline strings and drops transient fields, as nbformat's reader does
        node: NotebookNode = nbformat.v4.to_notebook_json(raw)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return node


def _from_loaded(notebook: Notebook) -> NotebookNode:
    nb: NotebookNode = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cells = []
    for cell in notebook.cells:
        meta: dict[str, Any] = {}
        if cell.tags:
            meta["tags"] = list(cell.tags)
        if cell.kind == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
        elif cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
        cells.append(new)
    nb.cells = cells
    return nb


def _cell_ids_allowed(nb: NotebookNode) -> bool:
    """Cell ids exist from nbformat 4.5 on; older notebooks must not get them."""
    minor = nb.get("nbformat_minor")
    return not isinstance(minor, int) or minor >= 5


def _unique_id(base: str, used: set[str]) -> str:
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    used.add(candidate)
    return candidate


# --------------------------------------------------------------------------- markdown


def md(text: str) -> str:
    """One line of plain text, escaped so Markdown (and Jupyter's math) shows it literally."""
    escaped = _MD_INLINE.sub(r"\\\1", one_line(text))
    return _MD_LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)


def _code_span(text: str) -> str:
    """Inline code showing ``text`` literally (one line)."""
    text = one_line(text)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str) -> str:
    text = clean(text).strip("\n")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _score(exercise: ExerciseResult) -> str:
    return f"{fmt_num(exercise.score)}/{fmt_num(exercise.max_score)}"


def _exercise_markdown(
    exercise: ExerciseResult,
    public_only: bool,
    hide_expected: bool = False,
    t: Translator = _ENGLISH,
) -> str:
    title = md(exercise.title) if one_line(exercise.title) else ""
    head = "### " + t.format(N_("Grader feedback: {exercise}"), exercise=md(exercise.id))
    if title and one_line(exercise.title) != one_line(exercise.id):
        head += f" ({title})"
    score = t.format(N_("Score: {score}"), score=_score(exercise))
    blocks = [head, f"**{score}**, {md(t.gettext(exercise.status))}"]
    if exercise.needs_review:
        blocks[-1] += " " + t.gettext(N_("(the instructor will review this exercise)"))
    blocks.extend(_feedback_blocks(feedback_of(exercise, public_only, hide_expected)))
    if exercise.diagnoses:
        codes = ", ".join(_code_span(d) for d in exercise.diagnoses)
        blocks.append(t.format(N_("Diagnoses: {codes}"), codes=codes))
    return "\n\n".join(blocks)


def _feedback_blocks(lines: Iterable[str]) -> list[str]:
    blocks: list[str] = []
    bullets: list[str] = []
    for line in lines:
        text = clean(line).strip("\n")
        if not text.strip():
            continue
        if "\n" in text:
            if bullets:
                blocks.append("\n".join(bullets))
                bullets = []
            blocks.append(_code_block(text))
        else:
            bullets.append(f"- {md(text)}")
    if bullets:
        blocks.append("\n".join(bullets))
    return blocks


def _summary_markdown(
    result: SubmissionResult, rebuilt_from: str | None, t: Translator = _ENGLISH
) -> str:
    total = "**" + t.format(
        N_("Total: {score}"), score=f"{fmt_num(result.score)}/{fmt_num(result.max_score)}"
    )
    total += "**"
    if result.max_score > 0:
        total += f" ({fmt_num(100 * result.score / result.max_score)}%)"
    blocks = ["## " + t.gettext(N_("Grader feedback")), total]
    if result.student and one_line(result.student):
        blocks[-1] += ", " + t.format(N_("student {student}"), student=md(result.student))
    if result.exercises:
        head = [t.gettext(N_("Exercise")), t.gettext(N_("Score")), t.gettext(N_("Status"))]
        rows = ["| " + " | ".join(head) + " |", "|---|---|---|"]
        review = ", " + t.gettext(N_("needs review"))
        for ex in result.exercises:
            status = md(t.gettext(ex.status)) + (review if ex.needs_review else "")
            name = md(ex.id)
            if one_line(ex.title) and one_line(ex.title) != one_line(ex.id):
                name += f" {md(ex.title)}"
            rows.append(f"| {name} | {_score(ex)} | {status} |")
        blocks.append("\n".join(rows))
        blocks.append(
            t.format(
                N_(
                    "A feedback cell like this one follows the last cell of each exercise; "
                    "exercises whose answer was not found are at the end, under *{heading}*."
                ),
                heading=t.gettext(NOT_FOUND_HEADING),
            )
        )
    if result.diagnoses:
        codes = ", ".join(_code_span(d) for d in result.diagnoses)
        blocks.append(t.format(N_("Diagnoses: {codes}"), codes=codes))
    problems = _problems(result, t)
    if problems:
        blocks.append(
            t.gettext(N_("Running your notebook:"))
            + "\n\n"
            + "\n".join(f"- {md(p)}" for p in problems)
        )
    if rebuilt_from is not None:
        blocks.append(
            t.format(
                N_(
                    "Your submission was a {format} file: this notebook was rebuilt from its "
                    "cells, without outputs."
                ),
                format=md(rebuilt_from),
            )
        )
    return "\n\n".join(blocks)


def _problems(result: SubmissionResult, t: Translator = _ENGLISH) -> Sequence[str]:
    return execution_problems(result.execution, t)
