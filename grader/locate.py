"""Find each exercise's answer in a free-form notebook.

Order of evidence, strongest first:

1. cell metadata (template notebooks tag cells with the exercise id);
2. the wording of the book's question (either edition) in a heading, a list item, a line
   of markdown or a leading code comment;
3. the exercise number of the detected edition ("2.3", "Q2 (c)", "Exercise 4.1");
4. content: a code cell that defines a name the rubric lists for the exercise.

A matched line opens a *section* that runs until the next matched line, or the next
unmatched heading at the same or a higher level (``# 2. Design some kernels manually.``
closes ``## 1.3``). Everything in a section belongs to its exercise: code cells, markdown
and code comments (the student's words, minus the question text itself).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import analysis
from .model import EDITIONS, Edition, Notebook
from .rubric import ExerciseSpec, Rubric

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
# Lines are matched in NFKC form, so full-width digits and punctuation ("１．", "（1）", "？")
# read as ASCII; Chinese numbering ("练习1", "第1题", "1、") and no space after "1." count too.
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)、])(?:\s+|(?=[\u3400-\u9fff]))")
_NUMBER = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:exercises?|ex\.?|q(?:uestion)?\.?|problem|task|part"
    r"|练习|习题|问题|第)?\s*"
    r"(\d{1,2})题?(?:\s*[.)]?\s*(?:\(?([0-9]{1,2}|[a-d])\)?))?(?:[.):*、]|\s|$|(?=[\u3400-\u9fff]))",
    re.IGNORECASE,
)
_SUB = re.compile(r"^\s*(?:#+\s*)?(?:\*\*)?\s*（\s*(\d)\s*）")
_CODE_COMMENT = re.compile(r"^\s*#+\s?(.*)$")
_LABELLED = re.compile(
    r"\s*(?:\*\*)?(?:exercises?\b|ex\b\.?|q(?:uestion)?\.?\s*\d|problem\b|task\b|part\b"
    r"|练习|习题|问题|第\s*\d|（\s*\d|\d{1,2}(?:\.\d{1,2})?[.):\s、])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Answer:
    """Where one exercise's answer is in the notebook."""

    exercise: str
    cells: tuple[int, ...] = ()
    code_cells: tuple[int, ...] = ()
    prose: str = ""
    defines: tuple[str, ...] = ()
    via: str = "none"  # tag | wording | number | content | none

    @property
    def found(self) -> bool:
        return bool(self.cells)


@dataclass
class _Section:
    exercise: str
    via: str
    level: int  # heading level that opened it; 7 for a non-heading line
    cells: list[int] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)


def detect_edition(notebook: Notebook, rubric: Rubric) -> Edition | None:
    """The book edition whose signals (regexes in the rubric) occur most often."""
    text = "\n".join(c.source for c in notebook.cells)
    lowered = text.lower() if text.isascii() else None
    scores = {
        ed: sum(_count(p, text, lowered) for p in signals)
        for ed, signals in rubric.editions.items()
    }
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] == 0 or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    best = ranked[0][0]
    for edition in EDITIONS:
        if edition == best:
            return edition
    return None


_SIGNAL_FLAGS = re.IGNORECASE | re.MULTILINE
_PREFIXES: dict[str, str] = {}
_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-,:;'\"/<>=@%&~`"
)


def _count(pattern: str, text: str, lowered: str | None) -> int:
    """``len(re.findall(pattern, text, re.IGNORECASE | re.MULTILINE))``.

    When every match of the pattern starts with a literal prefix and the text is ASCII
    (``lowered`` is its lower case), only the places where the prefix occurs are tried,
    the way ``findall`` would (leftmost first, going on after each match's end)."""
    prefix = _PREFIXES.get(pattern)
    if prefix is None:
        prefix = _literal_prefix(pattern)
        if len(_PREFIXES) < 4096:  # rubric signals: few, and fixed
            _PREFIXES[pattern] = prefix
    if not prefix or lowered is None:
        return len(re.findall(pattern, text, _SIGNAL_FLAGS))
    rx = re.compile(pattern, _SIGNAL_FLAGS)
    count = pos = 0
    while (at := lowered.find(prefix, pos)) >= 0:
        m = rx.match(text, at)
        if m is not None:  # the prefix is not empty, so neither is the match
            count += 1
            pos = m.end()
        else:
            pos = at + 1
    return count


def _literal_prefix(pattern: str) -> str:
    """The lower-case ASCII text every match of ``pattern`` starts with ("" if unknown): its
    leading plain characters and escaped punctuation, after an optional ``\\b``. Patterns
    with ``|`` anywhere, or that start with anything else, have none."""
    if "|" in pattern:
        return ""
    i = 2 if pattern.startswith("\\b") else 0
    chars: list[str] = []
    while i < len(pattern):
        ch = pattern[i]
        if ch in _PLAIN:
            chars.append(ch)
            i += 1
        elif ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in ".()[]{}*+?^$|\\":
            chars.append(pattern[i + 1])
            i += 2
        else:
            break
    if i < len(pattern) and pattern[i] in "?*{" and chars:
        chars.pop()  # the last character is optional or repeated: not part of the prefix
    prefix = "".join(chars)
    return prefix.lower() if prefix.isascii() else ""


def _nfkc(text: str) -> str:
    """Full-width forms as ASCII: "（1）如果转置Ｘ？" -> "(1)如果转置X?"."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _words_in(line: str) -> int:
    """Words in a line; Chinese has no spaces, so two CJK characters count as one word."""
    cjk = sum(1 for ch in line if "\u3400" <= ch <= "\u9fff")
    return len(line.split()) + cjk // 2


def _number(text: str) -> str | None:
    m = _NUMBER.match(_nfkc(text))
    if not m:
        return None
    major, minor = m.group(1), m.group(2)
    if minor is None:
        return major
    if minor.isalpha():
        minor = str(ord(minor.lower()) - ord("a") + 1)
    return f"{major}.{minor}"


class _Matcher:
    def __init__(self, exercises: Sequence[ExerciseSpec], edition: Edition | None) -> None:
        self.wording = [(e.id, re.compile(p, re.IGNORECASE)) for e in exercises for p in e.wording]
        self.numbers: dict[str, str] = {}
        for e in exercises:
            for ed, num in e.numbers.items():
                if edition is None or ed == edition:
                    self.numbers.setdefault(num, e.id)
        self.number_of = {eid: num for num, eid in self.numbers.items()}

    def sub_question(self, line: str, current: str | None) -> tuple[str, str] | None:
        """ "（2）" (full-width parentheses, as Chinese students number sub-questions) after
        exercise 1 or 1.x names exercise 1.2."""
        m = _SUB.match(line)
        if m is None or current is None or current not in self.number_of:
            return None
        major = self.number_of[current].split(".")[0]
        eid = self.numbers.get(f"{major}.{int(m.group(1))}")
        return (eid, "number") if eid is not None else None

    def match(self, line: str, structural: bool, numbered: bool) -> tuple[str, str] | None:
        """(exercise id, via) for a line, if it names an exercise. Only *structural* lines
        (headings, a cell's first line, list items, questions, leading code comments) can;
        numbers count only in headings and first lines (not in numbered answer lists)."""
        if not structural:
            return None
        line = _nfkc(line)
        best: tuple[int, str] | None = None
        for eid, rx in self.wording:
            m = rx.search(line)
            if m and (best is None or len(m.group(0)) > best[0]):
                best = (len(m.group(0)), eid)
        if best is not None:
            return best[1], "wording"
        if numbered:
            num = _number(line)
            if num is not None and num in self.numbers:
                return self.numbers[num], "number"
        return None


def locate(notebook: Notebook, rubric: Rubric, edition: Edition | None) -> dict[str, Answer]:
    exercises = rubric.for_edition(edition)
    matcher = _Matcher(exercises, edition)
    sections: list[_Section] = []
    current: _Section | None = None
    tagged: dict[str, list[int]] = {}
    facts = {c.index: analysis.facts(c.source) for c in notebook.cells if c.kind == "code"}

    for cell in notebook.cells:
        if cell.exercise is not None:
            tagged.setdefault(cell.exercise, []).append(cell.index)
            continue
        if cell.kind == "markdown":
            current = _scan_markdown(cell.source, cell.index, matcher, sections, current)
        elif cell.kind == "code":
            current = _scan_code(cell.source, cell.index, matcher, sections, current)

    answers: dict[str, Answer] = {}
    by_id: dict[str, list[_Section]] = {}
    for s in sections:
        by_id.setdefault(s.exercise, []).append(s)
    assigned = {i for s in sections for i in s.cells} | {i for v in tagged.values() for i in v}
    for ex in exercises:
        cells: list[int] = list(tagged.get(ex.id, []))
        prose: list[str] = []
        via = "tag" if cells else "none"
        for s in by_id.get(ex.id, []):
            cells.extend(s.cells)
            prose.extend(s.prose)
            via = s.via if via == "none" else via
        for i in tagged.get(ex.id, []):
            prose.append(_words(notebook.cells[i].source, notebook.cells[i].kind))
        if ex.names:
            for idx, f in facts.items():
                if idx not in assigned and f.defines & set(ex.names):
                    cells.append(idx)
                    via = "content" if via == "none" else via
        cells = sorted(set(cells))
        code = tuple(i for i in cells if notebook.cells[i].kind == "code")
        defines = tuple(sorted({n for i in code for n in facts[i].defines}))
        answers[ex.id] = Answer(
            ex.id, tuple(cells), code, "\n".join(p for p in prose if p), defines, via
        )
    return answers


def _scan_markdown(
    source: str, index: int, matcher: _Matcher, sections: list[_Section], current: _Section | None
) -> _Section | None:
    kept: list[str] = []
    first = True
    for line in source.splitlines():
        if not line.strip():
            kept.append(line)
            continue
        heading = _HEADING.match(line)
        level = len(heading.group(1)) if heading else 7
        # A cell's first line counts as a title only when it reads like one (short, or a
        # question); a long first sentence of an answer is the answer.
        norm = _nfkc(line)
        question = norm.rstrip().endswith("?")
        titled = first and (_words_in(norm) <= 12 or question)
        numbered = titled or heading is not None
        structural = numbered or bool(_LIST.match(norm)) or question
        first = False
        hit = matcher.match(line, structural, numbered)
        if hit is None and numbered:
            hit = matcher.sub_question(line, current.exercise if current else None)
        if (
            hit is not None
            and current is not None
            and hit[0] == current.exercise
            and heading is None
        ):
            hit = None  # the answer mentions its own topic ("Blurring reduces noise")
        if hit is not None:
            _flush(current, index, kept)
            kept = []
            current = _Section(hit[0], hit[1], level, cells=[index])
            sections.append(current)
            continue  # the question line itself is not the student's answer
        if heading is not None and current is not None and level <= current.level:
            _flush(current, index, kept)
            kept = []
            current = None
            continue
        kept.append(line)
    _flush(current, index, kept)
    return current


def _scan_code(
    source: str, index: int, matcher: _Matcher, sections: list[_Section], current: _Section | None
) -> _Section | None:
    lines = source.splitlines()
    for line in lines[:3]:  # a leading comment may name the exercise
        m = _CODE_COMMENT.match(line)
        if not m:
            break
        comment = m.group(1)
        if not _LABELLED.match(comment):  # "# 2.3 blur", "# Exercise 4": not any comment
            continue
        hit = matcher.match(comment, True, True)
        if hit is not None:
            current = _Section(hit[0], hit[1], 7)
            sections.append(current)
            break
    if current is not None:
        current.cells.append(index)
        comments = [
            m.group(1)
            for ln in lines
            if (m := _CODE_COMMENT.match(ln)) and ln.strip() not in PLACEHOLDERS
        ]
        current.prose.extend(comments)
    return current


PLACEHOLDERS = frozenset(
    {
        "*Your answer here.*",
        "YOUR ANSWER HERE",
        "# YOUR CODE HERE",
        "*在这里写下你的答案。*",  # grade assign's stubs for a Chinese reference
        "# 在这里写代码",
    }
)


def _flush(section: _Section | None, index: int, lines: list[str]) -> None:
    text = "\n".join(ln for ln in lines if ln.strip() not in PLACEHOLDERS).strip()
    if section is None or not text:
        return
    if index not in section.cells:
        section.cells.append(index)
    section.prose.append(text)


def _words(source: str, kind: str) -> str:
    """The student's words in a tagged cell: markdown minus headings (the template's
    questions) and placeholders, or a code cell's comments."""
    if kind == "markdown":
        lines = [ln for ln in source.splitlines() if not _HEADING.match(ln)]
    else:
        lines = [m.group(1) for ln in source.splitlines() if (m := _CODE_COMMENT.match(ln))]
    return "\n".join(
        ln
        for ln in lines
        if ln.strip() not in PLACEHOLDERS and ln.strip() not in ("YOUR CODE HERE", "在这里写代码")
    ).strip()


def located_ids(answers: Mapping[str, Answer]) -> set[str]:
    return {k for k, a in answers.items() if a.found}
