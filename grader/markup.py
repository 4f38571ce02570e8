"""How students' text is shaped, read without running anything: Markdown written in HTML,
answers set off as quotations, numbered outlines, table rows, the strings and printed
sentences of code cells. Used by :mod:`grader.locate`."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Sequence

from . import analysis


def words_in(line: str) -> int:
    """Words in a line; Chinese has no spaces, so two CJK characters count as one word."""
    cjk = sum(1 for ch in line if "\u3400" <= ch <= "\u9fff")
    return len(line.split()) + cjk // 2


_STRING_START = re.compile(r"^[rRbBuUfF]{0,2}(\"\"\"|\'\'\'|\"|\')")

_HTML_TAG = re.compile(
    r"<\s*(/?)\s*(h[1-6]|p|br|b|strong|i|em|code|details|summary|div|span|li|ul|ol|u|font|center"
    r"|blockquote|hr|table|thead|tbody|tr|td|th)\b[^>]*>",
    re.IGNORECASE,
)


def dehtml(source: str) -> str:
    """Markdown cells written in HTML (``<p><b>1.1</b> ...</p>``, ``<details><summary>``,
    ``<h3>``, ``&times;``, ``<table>`` rows) as the plain Markdown they stand for."""
    if "<" not in source or not _HTML_TAG.search(source):
        return html.unescape(source) if "&" in source else source

    def tag(m: re.Match[str]) -> str:
        closing, name = m.group(1), m.group(2).lower()
        if name in ("b", "strong"):
            return "**"
        if name == "code":
            return "`"
        if name[0] == "h" and name[1:].isdigit():
            return "\n" if closing else "\n" + "#" * int(name[1]) + " "
        if name == "li":
            return "" if closing else "\n- "
        if name in ("p", "br", "div", "details", "summary", "ul", "ol", "blockquote", "hr"):
            return "\n"
        if name == "tr":  # a table row as a Markdown row: | 1.1 | apply K | not zero |
            return "" if closing else "\n|"
        if name in ("td", "th"):
            return " |" if closing else " "
        if name in ("table", "thead", "tbody"):
            return "\n"
        return ""

    return html.unescape(_HTML_TAG.sub(tag, source))


_QUOTED_ANSWER = re.compile(
    r"^\s*>\s?(?=\s*(?:\*\*)?\s*(?:answer|ans\.?|a|答案?|解答|回答)\s*(?:\*\*)?\s*[:：])",
    re.IGNORECASE,
)


def answers_unquoted(lines: list[str]) -> list[str]:
    """A blockquote that starts with an answer mark ("> **A:** ...", "> 答：...") is the
    student's own answer set off, not a quotation: its lines lose the ">"."""
    out: list[str] = []
    quoted = False
    for line in lines:
        if _QUOTED_ANSWER.match(line):
            quoted = True
        elif not line.lstrip().startswith(">"):
            quoted = False
        out.append(re.sub(r"^\s*>\s?", "", line) if quoted else line)
    return out


def outline(lines: Sequence[str], bullets: bool = False) -> dict[int, str]:
    """Question numbers by position in a nested numbered list that mirrors the exercises:
    "1. ..." / "    1. ..." / "    2. ..." / "2. ..." read as 1, 1.1, 1.2, 2 (students and
    Markdown number every item "1." alike, so the position counts, not the digit). Only a
    list with at least three top-level items and a nested one is such an outline; a list
    of points inside one answer is not. With ``bullets``, a bulleted list is read the same way
    (the caller keeps it only if it mirrors the exercises exactly)."""
    item = _BULLET_ITEM if bullets else _OUTLINE_ITEM  # bullets: "- ..." / "    - ..."
    items = [
        (n, len(m.group(1).expandtabs(4))) for n, ln in enumerate(lines) if (m := item.match(ln))
    ]
    if not items:
        return {}
    top = min(indent for _, indent in items)
    out: dict[int, str] = {}
    major = minor = 0
    for n, indent in items:
        if indent <= top + 1:
            major, minor = major + 1, 0
            out[n] = str(major)
        elif major:
            minor += 1
            out[n] = f"{major}.{minor}"
    # "    - 1.1 不是全 0" under "1. ...": nested items that carry their own numbers
    labelled = [
        n
        for n, ln in enumerate(lines)
        if (m := _LABELLED_SUB.match(ln)) and len(m.group(1).expandtabs(4)) > top + 1
    ]
    nested = any("." in v for v in out.values()) or bool(labelled)
    return out if major >= 3 and nested else {}


_OUTLINE_ITEM = re.compile(r"^(\s*)\d{1,2}[.)]\s+\S")
_BULLET_ITEM = re.compile(r"^(\s*)[-*•+]\s+\S")
_LABELLED_SUB = re.compile(r"^(\s*)[-*•]\s+(?:\*\*)?\d{1,2}\.\d{1,2}\b")

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def table_row(line: str) -> tuple[str, str] | None:
    """(first cell, the other cells) of a markdown table row; ``("", "")`` for the rule
    under the header; None for other lines."""
    if not line.lstrip().startswith("|"):
        return None
    if _TABLE_RULE.match(line):
        return "", ""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return cells[0], " | ".join(c for c in cells[1:] if c)


def string_blocks(source: str) -> list[str]:
    """The text of each top-level triple-quoted string of a code cell (see string_lines)."""
    lines = source.splitlines()
    blocks: list[list[str]] = []
    last = -2
    for n in sorted(string_lines(source)):
        if n != last + 1:
            blocks.append([])
        blocks[-1].append(lines[n])
        last = n
    return ["\n".join(b) for b in blocks]


def string_lines(source: str) -> set[int]:
    """0-based numbers of the lines of top-level string statements (docstrings, outputs
    pasted as strings), found by the tokenizer-free rule: a line at column 0 that opens a
    triple-quoted string, up to the line that closes it."""
    out: set[int] = set()
    lines = source.splitlines()
    n = 0
    while n < len(lines):
        m = _STRING_START.match(lines[n])
        if m is None or len(m.group(1)) != 3:
            n += 1
            continue
        quote = m.group(1)
        rest = lines[n][m.end() :]
        if rest.lstrip().startswith((")", ",", "]", "}")):  # '"""))' closes a call's string
            n += 1
            continue
        end = n
        if quote not in rest:
            end = next((k for k in range(n + 1, len(lines)) if quote in lines[k]), len(lines) - 1)
        out.update(range(n, end + 1))
        n = end + 1
    return out


def docstring_lines(source: str) -> set[int]:
    """0-based numbers of the lines of the docstrings of a cell's functions and classes
    ("\"\"\"练习2.3 答案：模糊核 = 非负、和为 1 的加权平均……\"\"\""): the student's words about
    the code, read with ``ast`` (nothing runs); none if the cell does not parse."""
    if '"""' not in source and "'''" not in source:
        return set()
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return set()
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and first.end_lineno is not None
            ):
                out.update(range(first.lineno - 1, first.end_lineno))
    return out


def printed_sentences(source: str) -> dict[int, str]:
    """The sentences a cell prints as its answer (``print("1.2答：还是能检测到…")``): each
    top-level ``print`` (or ``display(Markdown(...))``, see :func:`_shown_call`) of string
    literals only, f-strings' words included, that says something (three words, or four
    Chinese characters), by the 0-based line of the call."""
    if "print" not in source and "Markdown" not in source:
        return {}
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return {}
    out: dict[int, str] = {}
    for stmt in tree.body:
        call = _shown_call(stmt.value) if isinstance(stmt, ast.Expr) else None
        if call is None:
            continue
        said = [_literal_text(a) for a in call.args]
        if not said or any(t is None for t in said):
            continue  # print("X =", X): a label for a value, not an answer
        text = " ".join(t for t in said if t)
        if len(text.split()) >= 3 or words_in(text) - len(text.split()) >= 2:
            out[stmt.lineno - 1] = text
    return out


_SHOWN = ("print", "Markdown", "display", "HTML", "Latex")


def _shown_call(node: ast.expr) -> ast.Call | None:
    """The call whose arguments a statement shows as text: ``print(...)``, and the notebook
    forms ``display(Markdown(...))``, ``Markdown(...)``, ``IPython.display.Markdown(...)``
    (Colab students answer with them); None for anything else."""
    if not isinstance(node, ast.Call):
        return None
    name = analysis.callee(node.func)
    if name not in _SHOWN:
        return None
    if name == "display":
        # display(Markdown("...")); display("text") shows the string's repr, not words
        return _shown_call(node.args[0]) if len(node.args) == 1 else None
    return node


def _literal_text(node: ast.expr) -> str | None:
    """The words of a string literal, stripped; of an f-string, its literal parts with "…"
    for each value (f"1.1: the output has {n} non-zero entries" -> "1.1: the output has …
    non-zero entries"); None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value.strip() if isinstance(node.value, str) else None
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = [str(v.value) if isinstance(v, ast.Constant) else "…" for v in node.values]
    if not any(isinstance(v, ast.Constant) and str(v.value).strip() for v in node.values):
        return None  # f"{X}": a value, not words
    return "".join(parts).strip()


_ANSWER_NAME = re.compile(
    r"^(?:ans(?:wer)?|a|q|ex(?:ercise)?|problem)_?(\d{1,2})(?:_(\d{1,2}))?$", re.I
)
_ANSWER_KEY = re.compile(r"^\s*(?:q|ex\.?|exercise|problem)?\s*(\d{1,2}(?:\.\d{1,2})?)\s*$", re.I)


def string_answers(source: str) -> list[tuple[int, str, str]]:
    """Answers a code cell keeps as strings: ``ans_1_2 = ("Transposing X ...")`` and
    ``answers = {"1.1": "not zero ...", "2.4": "d + 1"}``, as (0-based line, question number,
    text), in source order. Read with ``ast``; nothing runs."""
    if "=" not in source:
        return []
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return []
    out: list[tuple[int, str, str]] = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
            continue
        target, value = stmt.targets[0], stmt.value
        if not isinstance(target, ast.Name):
            continue
        named = _ANSWER_NAME.match(target.id)
        if named and isinstance(value, ast.Constant) and isinstance(value.value, str):
            num = named.group(1) + (f".{named.group(2)}" if named.group(2) else "")
            out.append((stmt.lineno - 1, num, value.value))
        elif isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values, strict=True):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    continue
                if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                    continue
                if m := _ANSWER_KEY.match(key.value):
                    out.append((key.lineno - 1, m.group(1), item.value))
    return out
