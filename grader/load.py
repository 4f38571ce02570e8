"""Read a submission file, in any supported format, into a :class:`~grader.model.Notebook`.

Supported formats (``Notebook.format``):

- ``ipynb``: nbformat v4 JSON (any minor version); ``ipynb-v3``: nbformat v3 JSON, upgraded
  to v4 with nbformat's converter;
- ``py:percent``, ``py:light`` (or another jupytext script format): scripts, via jupytext;
- ``md``: jupytext Markdown, or plain Markdown with ```python fenced code blocks;
- ``transcript``: a notebook pasted as text, with ``In [N]:`` markers before each code
  cell and the outputs pasted inline after the code.

How the format is chosen:

1. Content that starts with ``{`` and parses as notebook JSON is a notebook, whatever the
   file's extension. Other JSON is an error, except in ``.py`` and ``.md`` files.
2. ``.ipynb`` files must be notebook JSON, unless their content is one of the text formats
   below (a note says so).
3. ``.py`` files are jupytext scripts (format guessed by jupytext), unless they have
   ``In [N]:`` markers at line starts and do not parse as Python (then: transcript).
4. ``.md``/``.markdown`` files are jupytext Markdown, unless they have ``In [N]:`` markers
   and no ```python block (then: transcript).
5. Any other file (``.txt``, no extension, ...) is sniffed: ``In [N]:`` markers ->
   transcript; ``# %%`` markers -> Python script; ```python blocks -> Markdown; otherwise it
   is not a notebook.

The loader never changes the student's code: code that does not parse is loaded as it is
(the executor reports the ``SyntaxError``). ``Notebook.notes`` lists, in plain words,
anything it repaired or noticed.
"""

from __future__ import annotations

import ast
import codecs
import json
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import fastjsonschema
import nbformat
from nbformat import validator
from nbformat.v4.convert import upgrade_cell

from .errors import InputError, NotANotebookError
from .memo import Memo
from .model import Cell, CellKind, Notebook

__all__ = ["MAX_BYTES", "STORED_TEXT_LIMIT", "load"]

MAX_BYTES = 20 * 1024 * 1024  # larger submissions are refused
STORED_TEXT_LIMIT = 20_000  # characters of stored output text kept per cell

_CELL_KINDS: tuple[CellKind, ...] = ("code", "markdown", "raw")
FEEDBACK_TAG = "grader-feedback"  # the grader's own feedback cells (raw, no answer in them)
_MAGIC_BYTES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or a .docx/.xlsx document)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_BINARY_PROBE = 8192  # bytes (and characters) inspected to tell binary from text

_NO_NOTEBOOK = (
    "no notebook content found (expected notebook JSON, 'In [N]:' markers, "
    "'# %%' cell markers or ```python code blocks)"
)
_TEXT_SUFFIXES = (".py", ".md", ".markdown")  # their own format, even when they start with {
_JSON_START = re.compile(r"\s*\{")
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html)\b", re.IGNORECASE)
_PERCENT = re.compile(r"^#\s?%%", re.MULTILINE)
_FENCE = re.compile(r"^( {0,3})(`{3,})[ \t]*(?:python3?|py|ipython3?)[ \t]*$", re.I | re.M)
_PROMPT = r"[ \t]*(?:(?:\d+|None|\*)[ \t]*)?\]:"
_IN = re.compile(rf"^[ \t]*In ?\[{_PROMPT}[ \t]?(.*)$", re.MULTILINE)
# A text file with Markdown structure (a heading, a fenced block, numbered answers) is a write-up
_WRITEUP = re.compile(r"^ {0,3}(?:#{1,6}[ \t]+\S|`{3,})", re.MULTILINE)
_NUMBERED = re.compile(r"^[ \t]*\d{1,2}(?:\.\d{1,2})*[.)][ \t]+\S", re.MULTILINE)
_OUT = re.compile(rf"^[ \t]*Out ?\[{_PROMPT}[ \t]?(.*)$")
_CONTINUATION = re.compile(r"^[ \t]*\.\.\.:(?: |$)")  # IPython console "   ...: "
_MAGIC_LINE = re.compile(r"^([ \t]*)[%!].*$", re.MULTILINE)
_HEADING = re.compile(r"#{1,6}[ \t]+\S")
_OUTPUT_START = re.compile(
    r"[(\[]*(?:tensor|array)\(|Parameter containing:|torch\.Size\(|(?i:epoch)\s*\d"
    r"|<[\w.]+|Traceback \(most recent call last\)|-{5,}\s*$|\w+(?:Error|Exception|Warning)\b"
)
_PUNCTUATION = ".,;:!?()[]\"'*_`"
_REPR_CALLS = frozenset({"tensor", "array", "Size", "Parameter", "device"})
_MAX_UNPARSED_LINES = 400  # past this much code that does not parse, stop parsing it
_AST_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_EXERCISE_TAG = re.compile(r"exercise:\s*(\S.*)", re.IGNORECASE)


@dataclass(frozen=True)
class _Parsed:
    format: str
    cells: list[Cell]
    notes: list[str]

    def with_note(self, note: str) -> _Parsed:
        return replace(self, notes=[note, *self.notes])


def load(path: str | os.PathLike[str]) -> Notebook:
    """Read the submission at ``path`` into a :class:`Notebook`.

    Raises :class:`InputError` when the file cannot be read (missing, a directory, empty,
    larger than :data:`MAX_BYTES`) and :class:`NotANotebookError` when it was read but is
    not a notebook in any supported format. Both messages are one line.
    """
    name = str(path)
    file = Path(path)
    text, decode_notes = _decode(_read(file, name), name)
    if not text.strip():
        raise InputError(name, "file is empty")
    parsed = _parse(text, file.suffix.lower(), name)
    cells = tuple(
        cell if cell.index == i else replace(cell, index=i) for i, cell in enumerate(parsed.cells)
    )
    return Notebook(name, parsed.format, cells, (*decode_notes, *parsed.notes))


# --------------------------------------------------------------------------- bytes -> text


def _read(file: Path, name: str) -> bytes:
    try:
        info = file.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(name, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(name, "not a regular file")
        _check_size(info.st_size, name)
        with file.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(name, _os_problem(exc)) from None
    except ValueError:  # e.g. a NUL character in the path
        raise InputError(name, "invalid file name") from None
    _check_size(len(data), name)
    return data


def _check_size(size: int, name: str) -> None:
    if size > MAX_BYTES:
        megabytes = size / (1024 * 1024)
        limit = MAX_BYTES // (1024 * 1024)
        raise InputError(name, f"file is too large ({megabytes:.1f} MB; the limit is {limit} MB)")


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied (the file cannot be read)"
    return f"cannot be read ({exc.strerror or exc})"


def _decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """Decode UTF-8 (BOM tolerated), UTF-16 with a BOM, or else Latin-1; refuse binary data."""
    for magic, what in _MAGIC_BYTES:
        if data.startswith(magic):
            raise NotANotebookError(name, f"{what}, not a notebook")
    notes: list[str] = []
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise NotANotebookError(name, "a binary file, not a notebook") from None
        notes.append("the file is encoded as UTF-16, not UTF-8")
    elif b"\x00" in data[:_BINARY_PROBE]:
        raise NotANotebookError(name, "a binary file, not a notebook")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = data.decode("latin-1")
            notes.append(
                f"the file is not valid UTF-8 (bad byte at offset {exc.start}); read it as "
                "Latin-1, so some non-English characters may be wrong"
            )
    if _mostly_control(text[:_BINARY_PROBE]):
        raise NotANotebookError(name, "a binary file, not a notebook")
    return text.replace("\r\n", "\n").replace("\r", "\n"), notes


# C0 controls but tab, newline, vertical tab, form feed, carriage return and escape; DEL; C1
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")


def _mostly_control(sample: str) -> bool:
    control = len(_CONTROL.findall(sample))
    return control > len(sample) // 10


# --------------------------------------------------------------------------- format choice


def _parse(text: str, suffix: str, name: str) -> _Parsed:
    json_error: NotANotebookError | None = None
    if suffix == ".ipynb" or _JSON_START.match(text):
        try:
            parsed = _parse_json(text, name)
        except NotANotebookError as exc:
            if _JSON_START.match(text) and suffix not in _TEXT_SUFFIXES:
                raise
            json_error = exc
        else:
            if suffix == ".ipynb":
                return parsed
            named = f"is named {suffix}" if suffix else "has no extension"
            return parsed.with_note(f"the file {named} but holds notebook JSON")
    kind = _text_kind(text, suffix)
    if kind is None:
        if _HTML_START.match(text):
            raise NotANotebookError(name, "an HTML page, not a notebook (save the raw .ipynb)")
        raise json_error or NotANotebookError(name, _NO_NOTEBOOK)
    parsed = _parse_text(text, kind, name)
    if kind == "md" and not _FENCE.search(text) and suffix not in _TEXT_SUFFIXES:
        parsed = parsed.with_note("no code found: read as a Markdown write-up")
    if suffix == ".ipynb":
        return parsed.with_note(
            f"the file is named .ipynb but is not JSON; read as {parsed.format}"
        )
    return parsed


def _text_kind(text: str, suffix: str) -> str | None:
    """The text format of ``text``: "transcript", "py", "md", or None if none fits."""
    has_prompts = _IN.search(text) is not None
    if suffix == ".py":
        return "transcript" if has_prompts and _parse_python(text) is None else "py"
    if suffix in (".md", ".markdown"):
        return "transcript" if has_prompts and not _FENCE.search(text) else "md"
    if has_prompts:
        return "transcript"
    if _PERCENT.search(text):
        return "py"
    if _FENCE.search(text) or (suffix in (".txt", "") and _is_writeup(text)):
        return "md"
    return None


def _is_writeup(text: str) -> bool:
    return bool(_WRITEUP.search(text)) or len(_NUMBERED.findall(text, 0, 200_000)) >= 2


def _parse_text(text: str, kind: str, name: str) -> _Parsed:
    if kind == "transcript":
        return _Parsed("transcript", _transcript_cells(text), [])
    import jupytext.formats  # imported when needed: ~0.3 s that .ipynb files never use

    if kind == "md":
        text = _FENCE.sub(r"\1\2python", text)
        # ':::' lines (Yuque, Feishu and Docusaurus callouts) make jupytext guess Pandoc
        # Markdown, which needs the pandoc program: to a student they are plain Markdown
        guessed = jupytext.formats.guess_format(text, ".md")[0]
        reader = "md:" + ("markdown" if guessed == "pandoc" else guessed)
        return _parse_jupytext(text, "md", name, reader)

    return _parse_jupytext(text, "py:" + jupytext.formats.guess_format(text, ".py")[0], name)


def _one_line(text: object, limit: int = 160) -> str:
    words = " ".join(str(text).split())
    return words if len(words) <= limit else words[: limit - 3] + "..."


# --------------------------------------------------------------------------- JSON notebooks


def _json_problem(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"


def _parse_json(text: str, name: str) -> _Parsed:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotANotebookError(name, _json_problem(exc)) from None
    except RecursionError:
        raise NotANotebookError(name, "not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        what = type(data).__name__.replace("str", "string").replace("dict", "object")
        raise NotANotebookError(
            name, f"JSON but not a Jupyter notebook (the top level is a {what}, not an object)"
        )
    major = _version_number(data.get("nbformat"))
    if major == 3 or (major is None and "worksheets" in data):
        return _parse_v3(data, name)
    if major is not None and major < 3:
        raise NotANotebookError(
            name, f"nbformat v{major} is too old to read (open and save it in Jupyter first)"
        )
    return _parse_v4(data, major, name)


def _version_number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _parse_v4(data: dict[str, Any], major: int | None, name: str) -> _Parsed:
    raw_cells = data.get("cells")
    if not isinstance(raw_cells, list):
        raise NotANotebookError(name, "JSON but not a Jupyter notebook (no 'cells' list)")
    notes: list[str] = []
    if major is None:
        notes.append("the file does not say which nbformat version it is; read it as v4")
    elif major > 4:
        notes.append(f"nbformat v{major} is newer than this grader knows; read it as v4")
    minor = _version_number(data.get("nbformat_minor"))
    current = int(nbformat.v4.nbformat_minor)
    notes += _schema_notes(data, 4, current if minor is None else min(minor, current))
    cells, cell_notes = _cells_from_dicts(raw_cells)
    notes += cell_notes + _language_notes(data.get("metadata"))
    return _Parsed("ipynb", cells, notes)


def _parse_v3(data: dict[str, Any], name: str) -> _Parsed:
    """Upgrade each v3 cell (``input``, ``heading`` cells, ``pyout``...) with nbformat."""
    worksheets = data.get("worksheets")
    if not isinstance(worksheets, list):
        raise NotANotebookError(name, "JSON but not a Jupyter notebook (no 'worksheets' list)")
    notes = ["upgraded from nbformat v3", *_schema_notes(data, 3, 0)]
    upgraded: list[object] = []
    for sheet in worksheets:
        sheet_cells = sheet.get("cells") if isinstance(sheet, dict) else None
        for cell in sheet_cells if isinstance(sheet_cells, list) else ():
            upgraded.append(_upgrade_v3_cell(cell))
    cells, cell_notes = _cells_from_dicts(upgraded)
    return _Parsed("ipynb-v3", cells, notes + cell_notes + _language_notes(data.get("metadata")))


def _upgrade_v3_cell(cell: object) -> object:
    """The v4 form of a v3 cell; anything that cannot be upgraded is returned unchanged."""
    if not isinstance(cell, dict):
        return cell
    node = nbformat.from_dict(cell)
    for key in ("input", "source"):
        if isinstance(node.get(key), list):
            node[key] = _text(node[key])
    if node.get("cell_type") == "code":
        node.setdefault("outputs", [])
    try:
        return upgrade_cell(node)
    except (AttributeError, KeyError, TypeError, ValueError):
        return cell


def _schema_notes(data: dict[str, Any], major: int, minor: int) -> list[str]:
    if major == 4 and _valid_v4(data, minor):
        return []
    errors = list(validator.iter_validate(data, version=major, version_minor=minor))
    if not errors:
        return []
    first = errors[0]
    where = _schema_location(list(first.absolute_path))
    count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
    return [
        f"the file does not fully follow the notebook format ({count}; first, {where}: "
        f"{_one_line(first.message, 120)}); read it anyway"
    ]


# A v4 notebook is valid iff its top level (with no cells) and each of its cells (against the
# schema's "cell" definition: "cells" is an array of those, nothing else) are valid. Verdicts
# on cells are remembered by content: book and template cells recur in every submission.
_CELL_VERDICTS: Memo[tuple[int, str], bool] = Memo(max_entries=8192, max_cost=32 * 1024 * 1024)
_CELLS_ARRAY = {"type": "array", "items": {"$ref": "#/definitions/cell"}}
_V4_CHECKERS: dict[int, tuple[Callable[[Any], Any], Callable[[Any], Any]] | None] = {}


def _valid_v4(data: dict[str, Any], minor: int) -> bool:
    """True when nbformat's validator (fastjsonschema) finds no problem in the v4 notebook
    ``data``; False when it may (nbformat then finds and words the problems itself)."""
    checkers = _v4_checkers(minor)
    cells = data.get("cells")
    if checkers is None or not isinstance(cells, list):
        return False
    whole, cell = checkers
    try:
        whole({**data, "cells": []})
        for raw in cells:
            text = json.dumps(raw)
            if not _CELL_VERDICTS.get(
                (minor, text), partial(_passes, cell, raw), partial(_cost, text)
            ):
                return False
    except Exception:  # a problem (or an oddity) of this notebook: nbformat's own path decides
        return False
    return True


def _passes(check: Callable[[Any], Any], value: object) -> bool:
    try:
        check(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _cost(text: str, verdict: bool) -> int:
    return 2 * len(text) + 200


def _v4_checkers(minor: int) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """nbformat's compiled validator of v4.``minor`` notebooks and one, compiled from the same
    schema, of a single cell; None unless nbformat validates with fastjsonschema."""
    if minor not in _V4_CHECKERS:
        checkers = None
        try:
            v = validator.get_validator(4, minor)
            whole = getattr(v, "_validator", None)
            schema: Any = getattr(v, "_schema", None)
            if (
                v is not None
                and v.name == "fastjsonschema"
                and callable(whole)
                and isinstance(schema, dict)
                and {k: x for k, x in schema["properties"]["cells"].items() if k != "description"}
                == _CELLS_ARRAY
            ):
                cell = fastjsonschema.compile(
                    {
                        "$schema": schema["$schema"],
                        "$ref": "#/definitions/cell",
                        "definitions": schema["definitions"],
                    }
                )
                checkers = (whole, cell)
        except Exception:  # not the schema layout expected: nbformat alone validates
            checkers = None
        _V4_CHECKERS[minor] = checkers
    return _V4_CHECKERS[minor]


def _schema_location(path: Sequence[object]) -> str:
    if len(path) >= 2 and path[0] == "cells" and isinstance(path[1], int):
        rest = "/".join(str(p) for p in path[2:])
        return f"cell {path[1] + 1}" + (f" {rest}" if rest else "")
    return "/".join(str(p) for p in path) or "top level"


def _language_notes(metadata: object) -> list[str]:
    if not isinstance(metadata, dict):
        return []
    kernelspec, info = metadata.get("kernelspec"), metadata.get("language_info")
    language = (kernelspec.get("language") if isinstance(kernelspec, dict) else None) or (
        info.get("name") if isinstance(info, dict) else None
    )
    if isinstance(language, str) and language.lower() not in ("python", "python3", "ipython"):
        return [f"the notebook's kernel language is {language!r}, not Python"]
    return []


def _cells_from_dicts(raw_cells: Iterable[object]) -> tuple[list[Cell], list[str]]:
    cells: list[Cell] = []
    skipped: list[str] = []
    unknown: list[str] = []
    for position, raw in enumerate(raw_cells, start=1):
        if not isinstance(raw, Mapping):
            skipped.append(str(position))
            continue
        kind = raw.get("cell_type")
        if kind not in _CELL_KINDS:
            unknown.append(f"{position} ({_one_line(kind, 30)!r})")
        cells.append(_cell_from_dict(raw, len(cells)))
    notes = []
    if skipped:
        notes.append(f"skipped entries of 'cells' that are not cells: {', '.join(skipped)}")
    if unknown:
        notes.append(f"cells of unknown type read as raw cells: {', '.join(unknown)}")
    return cells, notes


def _cell_from_dict(raw: Mapping[str, Any], index: int = 0) -> Cell:
    kind = raw.get("cell_type")
    metadata = raw.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    tags = _tags(metadata.get("tags"))
    outputs = raw.get("outputs")
    if _is_feedback(metadata):  # the grader's own feedback in an annotated copy: not an answer
        return Cell(index, "raw", _text(raw.get("source")), tags=(*tags, FEEDBACK_TAG))
    return Cell(
        index=index,
        kind=kind if kind in _CELL_KINDS else "raw",
        source=_text(raw.get("source")),
        tags=tags,
        exercise=_exercise(metadata, tags),
        stored_text=_stored_text(outputs) if isinstance(outputs, list) else "",
    )


def _is_feedback(metadata: Mapping[str, Any]) -> bool:
    grader = metadata.get("grader")
    return isinstance(grader, Mapping) and grader.get("feedback") is True


def _text(value: object) -> str:
    """nbformat multiline text: a string, or a list of strings to concatenate."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(item for item in value if isinstance(item, str))
    return ""


def _tags(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(tag for tag in value if isinstance(tag, str))
    return ()


def _exercise(metadata: Mapping[str, Any], tags: Sequence[str]) -> str | None:
    """``metadata["grader"]["exercise"]`` if set, else the first ``exercise:<id>`` tag."""
    grader = metadata.get("grader")
    if isinstance(grader, Mapping):
        exercise = grader.get("exercise")
        if isinstance(exercise, str) and exercise.strip():
            return exercise.strip()
    for tag in tags:
        match = _EXERCISE_TAG.fullmatch(tag.strip())
        if match:
            return match.group(1).strip()
    return None


def _stored_text(outputs: list[object]) -> str:
    """Stream text, text/plain of results and displays, and ``ename: evalue`` of errors."""
    pieces = (_output_text(out) for out in outputs if isinstance(out, Mapping))
    return "\n".join(p.rstrip("\n") for p in pieces if p.strip())[:STORED_TEXT_LIMIT]


def _output_text(output: Mapping[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text"))
    if kind in ("execute_result", "display_data"):
        data = output.get("data")
        return _text(data.get("text/plain")) if isinstance(data, Mapping) else ""
    if kind == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
    return ""


# --------------------------------------------------------------------------- jupytext


def _parse_jupytext(text: str, fmt: str, name: str, reader: str | None = None) -> _Parsed:
    """``text`` read by jupytext in format ``reader`` (default ``fmt``), reported as ``fmt``."""
    try:
        import jupytext

        notebook = jupytext.reads(text, fmt=reader or fmt)
    except Exception as exc:  # jupytext raises many types on odd input
        raise NotANotebookError(name, f"cannot be read as {fmt} ({_one_line(exc)})") from None
    cells, notes = _cells_from_dicts(notebook.cells)
    return _Parsed(fmt, cells, notes)


# --------------------------------------------------------------------------- transcripts
#
# A block is the text from one "In [N]:" marker to the next. It holds, in order: the code;
# the pasted output (after an "Out[N]:" marker or a blank line); markdown (from a heading
# or prose paragraph). Paragraphs are runs of non-blank lines. In the IPython console
# style ("In [1]: x = 1"), the code is the prompt line and its "   ...:" lines.


def _transcript_cells(text: str) -> list[Cell]:
    lines = text.split("\n")
    prompts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _IN.match(line))]
    console = _is_console(lines, prompts)
    cells = _markdown_cells(lines[: prompts[0][0]])
    ends = [start for start, _ in prompts[1:]] + [len(lines)]
    for (start, inline), end in zip(prompts, ends, strict=True):
        block = lines[start + 1 : end]
        if console and inline.strip():
            code, rest = _console_code(inline, block)
            output, markdown = _split_tail(rest)
        else:
            code, output, markdown = _split_block([inline, *block])
        cells.append(Cell(index=0, kind="code", source=code, stored_text=output))
        cells += _markdown_cells(markdown)
    return cells


def _is_console(lines: Sequence[str], prompts: Sequence[tuple[int, str]]) -> bool:
    """IPython console style: "   ...:" lines, or an "Out[N]:" line right after a prompt."""
    if any(_CONTINUATION.match(line) for line in lines):
        return True
    return any(
        inline.strip() and start + 1 < len(lines) and _OUT.match(lines[start + 1])
        for start, inline in prompts
    )


def _console_code(first: str, block: list[str]) -> tuple[str, list[str]]:
    """The code of an IPython console cell (prompt and "...:" lines) and the lines after it."""
    count = next((i for i, line in enumerate(block) if not _CONTINUATION.match(line)), len(block))
    code = [first, *(_CONTINUATION.sub("", line, count=1) for line in block[:count])]
    return _trim(code), block[count:]


def _markdown_cells(lines: list[str]) -> list[Cell]:
    source = _trim(lines)
    return [Cell(index=0, kind="markdown", source=source)] if source else []


def _trim(lines: Sequence[str]) -> str:
    """Join ``lines`` without the blank lines at both ends (indentation is kept)."""
    kept = [i for i, line in enumerate(lines) if line.strip()]
    return "\n".join(lines[kept[0] : kept[-1] + 1]) if kept else ""


def _paragraphs(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of the runs of non-blank lines."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate([*lines, ""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _split_block(block: list[str]) -> tuple[str, str, list[str]]:
    """Split a Jupyter-style block into (code, stored output text, markdown lines)."""
    spans = _paragraphs(block)
    markdown_at = _markdown_start(block, spans, first=1)
    head = block[:markdown_at]
    output_at = _output_start(head, [span for span in spans if span[0] < markdown_at])
    output, _ = _split_tail(head[output_at:])
    return _trim(head[:output_at]), output, block[markdown_at:]


def _split_tail(lines: list[str]) -> tuple[str, list[str]]:
    """Split the lines after a cell's code into (stored output text, markdown lines)."""
    markdown_at = _markdown_start(lines, _paragraphs(lines), first=0)
    output = [_unprompt(line) for line in lines[:markdown_at]]
    return _trim(output)[:STORED_TEXT_LIMIT], lines[markdown_at:]


def _unprompt(line: str) -> str:
    match = _OUT.match(line)
    return match.group(1) if match else line


def _markdown_start(block: Sequence[str], spans: Sequence[tuple[int, int]], first: int) -> int:
    """Line where the markdown starts (``len(block)`` when there is none).

    Markdown starts at the first heading or prose paragraph, looking from paragraph
    ``first`` (1 when the first paragraph is certainly code).
    """
    paragraphs = [list(block[start:end]) for start, end in spans]
    for j in range(first, len(paragraphs)):
        following = paragraphs[j + 1] if j + 1 < len(paragraphs) else []
        if _is_markdown_paragraph(paragraphs[j], following):
            return spans[j][0]
    return len(block)


def _is_markdown_paragraph(para: Sequence[str], following: Sequence[str]) -> bool:
    """A heading that is not a code comment, or sentences that are not output.

    A paragraph of ``#`` lines alone is a comment if the next paragraph is code.
    """
    if _looks_like_output(para):
        return False
    if _HEADING.match(para[0]) and all(line.lstrip().startswith("#") for line in para):
        return not _is_code(following)
    if _parse_python("\n".join(para)) is not None:
        return False
    return _HEADING.match(para[0]) is not None or _looks_like_prose(para)


def _looks_like_prose(para: Sequence[str]) -> bool:
    """Five or more words nearly all made of letters only, or a longer paragraph whose
    words are mostly letters (an answer with some inline math: ``[1, -2, 1]``)."""
    words = " ".join(para).split()
    letters = sum(1 for word in words if word.strip(_PUNCTUATION).isalpha())
    if len(words) >= 12 and words[0][:1].isalpha():  # output rarely starts with a word
        return letters >= 0.6 * len(words)
    return len(words) >= 5 and letters >= 0.8 * len(words)


def _output_start(head: Sequence[str], spans: Sequence[tuple[int, int]]) -> int:
    """Line where the pasted output starts (``len(head)`` when there is none).

    A paragraph after a blank line is output if it looks like output (``tensor(...)``,
    ``epoch 1, ...``, a bare value), or if the code above parses and stops parsing with it,
    or if it is a lone name that the code above never defines (``done`` printed by
    ``print("done")``). An indented paragraph continues the code.

    The code is parsed a top-level chunk at a time (``head[known:start]``; everything before
    ``known`` parses), so a long cell costs linear time.
    """
    marker = next((i for i, line in enumerate(head) if _OUT.match(line)), len(head))
    known = 0
    defined: set[str] = set()
    for start, end in spans[1:]:
        if start >= marker:
            break
        para = head[start:end]
        if _looks_like_output(para):
            return start
        if para[0][:1].isspace() or start - known > _MAX_UNPARSED_LINES:
            continue
        above = _parse_python("\n".join(head[known:start]))
        if above is None:  # not Python (yet): the paragraph may complete it
            continue
        defined |= _defined_names(above)
        below = _parse_python("\n".join(para))
        if below is None and _parse_python("\n".join(head[known:end])) is None:
            return start
        if below is not None and _lone_name(below) not in (None, *defined):
            return start
        known = start
    return marker


def _lone_name(module: ast.Module) -> str | None:
    """The name, when ``module`` is just one bare name."""
    if len(module.body) == 1 and isinstance(module.body[0], ast.Expr):
        value = module.body[0].value
        return value.id if isinstance(value, ast.Name) else None
    return None


def _defined_names(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).partition(".")[0])
    return names


def _looks_like_output(para: Sequence[str]) -> bool:
    if _OUTPUT_START.match(para[0]):
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expression = ast.parse("\n".join(para), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return False
    is_string = isinstance(expression, ast.Constant) and isinstance(expression.value, str)
    return not is_string and _is_displayed_value(expression)


def _is_displayed_value(node: ast.expr) -> bool:
    """A value as IPython displays it: literals, containers, ``tensor([...])``, ``Size(...)``."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _is_displayed_value(node.operand)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_displayed_value(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        keys_ok = all(key is not None and _is_displayed_value(key) for key in node.keys)
        return keys_ok and all(_is_displayed_value(value) for value in node.values)
    if isinstance(node, ast.Call):
        return (
            _dotted_name(node.func).rpartition(".")[2] in _REPR_CALLS
            and all(_is_displayed_value(arg) for arg in node.args)
            and all(_is_displayed_value(kw.value) or _dotted_name(kw.value) for kw in node.keywords)
        )
    return False


def _dotted_name(node: ast.expr) -> str:
    """``torch.float32`` for that attribute chain; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _is_code(para: Sequence[str]) -> bool:
    if not para or _looks_like_output(para):
        return False
    module = _parse_python("\n".join(para))
    return module is not None and bool(module.body)


def _parse_python(source: str) -> ast.Module | None:
    """The AST of ``source`` (IPython magics and shell lines count as statements), or None."""
    masked = _MAGIC_LINE.sub(r"\1pass", source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = compile(masked, "<cell>", "exec", _AST_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return tree if isinstance(tree, ast.Module) else None
