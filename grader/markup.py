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
        end = n
        if quote not in rest:
            end = next((k for k in range(n + 1, len(lines)) if quote in lines[k]), len(lines) - 1)
        out.update(range(n, end + 1))
        n = end + 1
    return out


def printed_sentences(source: str) -> dict[int, str]:
    """The sentences a cell prints as its answer (``print("1.2答：还是能检测到…")``): each
    top-level ``print`` of string literals only that says something (three words, or four
    Chinese characters), by the 0-based line of the call."""
    if "print" not in source:
        return {}
    try:
        tree = ast.parse(analysis.parseable(source))
    except (SyntaxError, ValueError):
        return {}
    out: dict[int, str] = {}
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "print"
        ):
            continue
        if not call.args or not all(
            isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args
        ):
            continue  # print("X =", X): a label for a value, not an answer
        said = [str(a.value).strip() for a in call.args if isinstance(a, ast.Constant)]
        text = " ".join(t for t in said if t)
        if len(text.split()) >= 3 or words_in(text) - len(text.split()) >= 2:
            out[stmt.lineno - 1] = text
    return out


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
