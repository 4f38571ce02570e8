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
and code comments (the student's words, minus the question text itself). In a Q&A layout, a
marked question in the student's own words ("**Q：图转个置呢？**") opens an *unnamed*
section (:func:`unnamed`): behaviour names it later by what its code computes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import analysis, labels, markup
from .load import FEEDBACK_TAG
from .model import Edition, Notebook
from .rubric import ExerciseSpec, Rubric


@dataclass(frozen=True)
class Answer:
    """Where one exercise's answer is in the notebook."""

    exercise: str
    cells: tuple[int, ...] = ()
    code_cells: tuple[int, ...] = ()
    prose: str = ""
    defines: tuple[str, ...] = ()
    via: str = "none"  # tag | wording | number | content | behaviour | none
    # Code cells held only weakly: they follow a cell that opened several answers at once (a
    # pasted list of questions, a long cell with several headings) or a line that is not a
    # heading (a code comment "# 1", a list item), or they define a listed name. Another
    # exercise's behaviour search may still look at them.
    weak: tuple[int, ...] = ()
    # Where the grader found the answer by what a cell computes ("the learned kernel displayed
    # in cell 15"), for the feedback.
    notes: tuple[str, ...] = ()

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
    opener: int = -1  # the cell whose line opened it
    crowded: bool = False  # that cell opened other answers too
    asked: bool = False  # opened by a marked question ("**Q：** ...", "问：...")
    item: bool = False  # opened by an item of a numbered list


class _Matcher:
    def __init__(self, exercises: Sequence[ExerciseSpec], edition: Edition | None) -> None:
        self.wording = [(e.id, re.compile(p, re.IGNORECASE)) for e in exercises for p in e.wording]
        self.numbers: dict[str, str] = {}
        self.number_of: dict[str, str] = {}
        for e in exercises:
            for ed, num in e.numbers.items():
                if edition is None or ed == edition:
                    self.numbers.setdefault(num, e.id)
                    self.number_of.setdefault(e.id, num)

        # "2" after "**Q2** design kernels": the question whose sub-questions "a)", "b)" name
        self.group: str | None = None
        self.counting = True  # whether numbers name exercises here (see locate)
        # whether a bare number names one ("## 2. ..."); not in a notebook whose headings
        # number its own sections before the book's labels ("## 5. Exercise 3 — Autograd")
        self.bare = True

    def parent(self, line: str) -> str | None:
        """The number of a question that has only sub-questions ("**Q2** design kernels",
        "Exercise 2" in the 1.0 list) when ``line`` is its label, else None."""
        norm = labels.nfkc(line)
        num = labels.number(norm) if labels.LABEL_LINE.match(norm) and self.counting else None
        if num is None or "." in num or num in self.numbers or f"{num}.1" not in self.numbers:
            return None
        return num

    def opened(self, exercise: str) -> None:
        """An answer opened: a group of sub-questions ends where another question starts."""
        if self.number_of.get(exercise, "").split(".")[0] != self.group:
            self.group = None

    def patterns(self, exercise: str) -> list[re.Pattern[str]]:
        return [rx for eid, rx in self.wording if eid == exercise]

    def sub(self, line: str, current: _Section | None) -> tuple[str, str] | None:
        """A sub-question label alone ("(b)", "**b)**", "Part (c)") names question N.b
        (letters count from a = 1) under an open answer of exercise N, or the next one
        under N.a."""
        m = labels.SUB_LABEL.match(line)
        if m is None or not self.counting:
            return None
        letter = (m.group(1) or m.group(2)).lower()
        sub = labels.ROMAN.get(letter) or ord(letter) - ord("a") + 1  # (i) = (a), (ii) = (b)
        if self.group is not None and (
            current is None or self.number_of.get(current.exercise, "").split(".")[0] != self.group
        ):  # "**Q2** design kernels", then "**a)** direction v ...": 2.1
            num = f"{self.group}.{sub}"
            return (self.numbers[num], "number") if num in self.numbers else None
        if current is None or current.exercise not in self.number_of:
            return None
        major, _, minor = self.number_of[current.exercise].partition(".")
        if minor and (not minor.isdigit() or sub != int(minor) + 1):
            return None  # under 2.3, "(b) a Gaussian" is a list of the answer, not 2.2
        num = f"{major}.{sub}"
        return (self.numbers[num], "number") if num in self.numbers else None

    def sub_question(self, line: str, current: str | None) -> tuple[str, str] | None:
        """ "（2）" (full-width parentheses, as Chinese students number sub-questions) after
        exercise 1 or 1.x names exercise 1.2."""
        m = labels.SUB.match(labels.nfkc(line))
        if m is None or not self.counting:
            return None
        n = int(m.group(1))
        if self.group is not None and (
            current is None or self.number_of.get(current, "").split(".")[0] != self.group
        ):  # "**练习 4**" (only sub-questions), then "① ...": 4.1
            eid = self.numbers.get(f"{self.group}.{n}")
            return (eid, "number") if eid is not None else None
        if current is None or current not in self.number_of:
            return None
        major, _, minor = self.number_of[current].partition(".")
        if minor.isdigit() and n <= int(minor):
            return None  # under 2.3, "(1) a Gaussian" numbers the answer's own list
        eid = self.numbers.get(f"{major}.{n}")
        return (eid, "number") if eid is not None else None

    def mirrored(self, outline: dict[int, str]) -> dict[int, str]:
        """A bulleted outline of unnumbered answers, kept when its shape is the exercises'
        own (every position a question, or a question with sub-questions, and every question
        of those groups answered): "- 用 torch.eye(7) …" / "    - 不是全零 …" in the
        book's order under the pasted list of questions."""
        if not outline or not self.counting:
            return {}
        numbers = set(outline.values())
        valid = all(n in self.numbers or f"{n}.1" in self.numbers for n in numbers)
        majors = {n.split(".")[0] for n in numbers}
        complete = all(num in numbers for num in self.numbers if num.split(".")[0] in majors)
        return outline if valid and complete else {}

    def also(self, line: str, exercise: str) -> list[str]:
        """Other questions a title names beside ``exercise``, by their wording in other words
        of the line ("题1　构造对角线边缘的图像，再用 K=[1,-1] 去卷": 1 and 1.1)."""
        line = labels.nfkc(line)
        taken = [m.span() for eid, rx in self.wording if eid == exercise and (m := rx.search(line))]
        out: list[str] = []
        for eid, rx in self.wording:
            m = rx.search(line)
            if (
                m is None
                or eid == exercise
                or eid in out
                or labels.COMPARED.search(line[: m.start()])
            ):
                continue
            if all(m.end() <= a or m.start() >= b for a, b in taken):
                out.append(eid)
                taken.append(m.span())
        return out

    def book_refs(self, line: str) -> list[str]:
        """The book's numbers a student gives beside their own ("**Q3 [1.3] Transpose K**",
        "Q1 [1 + 1.1] ..."), as exercises: they beat the student's own numbering."""
        m = labels.BOOK_REF.match(labels.nfkc(line))
        if m is None or not self.counting:
            return []
        nums = re.findall(r"\d{1,2}(?:\.\d{1,2})?", m.group(1))
        return [self.numbers[n] for n in nums if n in self.numbers]

    def match(self, line: str, structural: bool, numbered: bool) -> tuple[str, str] | None:
        """(exercise id, via) for a line, if it names an exercise. Only *structural* lines
        (headings, a cell's first line, list items, questions, leading code comments) can;
        numbers count only in headings and first lines (not in numbered answer lists)."""
        if not structural:
            return None
        refs = self.book_refs(line) if numbered else []
        if refs:
            return refs[0], "number"
        line = labels.nfkc(line)
        numbered = numbered and self.counting
        # an explicit label ("1.3)", "Exercise 3", "第2题"), not a list's bare "1."
        label = labels.NUMBER.match(line) if numbered and labels.LABEL_LINE.match(line) else None
        num = labels.number(line) if label is not None else None
        best: tuple[tuple[int, int], str] | None = None
        for eid, rx in self.wording:
            m = rx.search(line)
            if m and labels.COMPARED.search(line[: m.start()]):
                continue  # "Same as transposing K.": an answer that refers to another question
            if m and label is not None and num in self.numbers and m.start() > label.end() + 3:
                continue  # "1.3) K.T ... corr2d(X.T, K.T)": the label names it, not words inside
            # the words the line opens with name it ("2. Transposing X changes nothing ...
            # a non-symmetric diagonal image ..."); among matches starting close together,
            # the longest
            key = (m.start() // 12, -len(m.group(0))) if m else None
            if m and key is not None and (best is None or key < best[0]):
                best = (key, eid)
        if best is not None:
            return best[1], "wording"
        if numbered and (self.bare or labels.EXPLICIT.match(line)):
            num = labels.number(line)
            if num is not None and num in self.numbers:
                return self.numbers[num], "number"
        return None


SENTENCE_WORDS = 5  # a comment beside code this long says something about it
UNNAMED = ""  # the exercise of a section opened by a question the text cannot name


def locate(notebook: Notebook, rubric: Rubric, edition: Edition | None) -> dict[str, Answer]:
    """Each exercise's answer as the text places it (tags, wording, numbers, names)."""
    return locate_all(notebook, rubric, edition)[0]


def unnamed(notebook: Notebook, rubric: Rubric, edition: Edition | None) -> tuple[Answer, ...]:
    """The answers to marked questions the text cannot name ("**Q：图转个置呢？**" in the
    student's own words), each with the cells from its question to the next one, in order.
    Their exercise is empty: behaviour names them (grader.behaviour)."""
    return locate_all(notebook, rubric, edition)[1]


def locate_all(
    notebook: Notebook, rubric: Rubric, edition: Edition | None
) -> tuple[dict[str, Answer], tuple[Answer, ...]]:
    """:func:`locate` and :func:`unnamed` from one reading of the notebook."""
    exercises = rubric.for_edition(edition)
    sections, tagged, facts = _scan(notebook, exercises, edition)
    found = tuple(
        Answer(UNNAMED, tuple(s.cells), prose="\n".join(p for p in s.prose if p), via="unnamed")
        for s in sections
        if s.exercise == UNNAMED
    )
    return _answers(notebook, exercises, sections, tagged, facts), found


def _scan(
    notebook: Notebook, exercises: Sequence[ExerciseSpec], edition: Edition | None
) -> tuple[list[_Section], dict[str, list[int]], dict[int, analysis.CellFacts]]:
    matcher = _Matcher(exercises, edition)
    sections: list[_Section] = []
    current: _Section | None = None
    tagged: dict[str, list[int]] = {}
    facts = {c.index: analysis.facts(c.source) for c in notebook.cells if c.kind == "code"}

    # Before a notebook's "Exercises" heading, numbered headings are the student's own
    # numbering of the section ("## 3. Edges", "## 4. Learning the kernel back"), not
    # exercise numbers; the book's wording still names questions there.
    start = labels.exercises_heading(notebook)
    matcher.bare = not any(
        labels.OWN_THEN_LABEL.match(labels.nfkc(line))
        for c in notebook.cells
        if c.kind == "markdown"
        for line in c.source.splitlines()
        if line.lstrip().startswith("#")
    )
    for cell in notebook.cells:
        matcher.counting = start is None or cell.index >= start
        if cell.exercise is not None:
            tagged.setdefault(cell.exercise, []).append(cell.index)
            continue
        before = len(sections)
        if cell.kind == "markdown" or (cell.kind == "raw" and FEEDBACK_TAG not in cell.tags):
            # a raw cell is plain text: students put answers in them too
            current = _scan_markdown(cell.source, cell.index, matcher, sections, current)
        elif cell.kind == "code":
            current = _scan_code(cell.source, cell.index, matcher, sections, current)
        if len(sections) - before > 1:  # a list of questions, or one cell answering several
            for s in sections[before:]:
                s.crowded = True
    return sections, tagged, facts


def _answers(
    notebook: Notebook,
    exercises: Sequence[ExerciseSpec],
    sections: list[_Section],
    tagged: dict[str, list[int]],
    facts: dict[int, analysis.CellFacts],
) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    by_id: dict[str, list[_Section]] = {}
    for s in sections:
        by_id.setdefault(s.exercise, []).append(s)
    named = [s for s in sections if s.exercise != UNNAMED]
    assigned = {i for s in named for i in s.cells} | {i for v in tagged.values() for i in v}
    for ex in exercises:
        cells: list[int] = list(tagged.get(ex.id, []))
        weak: set[int] = set()
        prose: list[str] = []
        via = "tag" if cells else "none"
        for s in by_id.get(ex.id, []):
            cells.extend(s.cells)
            if s.crowded or s.level == 7:  # see Answer.weak
                weak.update(i for i in s.cells if i != s.opener)
            prose.extend(s.prose)
            via = s.via if via == "none" else via
        for i in tagged.get(ex.id, []):
            prose.append(_words(notebook.cells[i].source, notebook.cells[i].kind))
        if ex.names:
            for idx, f in facts.items():
                if idx not in assigned and f.defines & set(ex.names):
                    cells.append(idx)
                    weak.add(idx)
                    via = "content" if via == "none" else via
        if prose and not any(notebook.cells[i].kind == "code" for i in cells):
            # an answer in words that quotes its code ("Blur: `torch.ones((3,3))` pools ..."):
            # the one code cell that holds that code is its code
            pointed = _quoted_code(notebook, "\n".join(prose), facts, assigned)
            if pointed is not None:
                cells.append(pointed)
                weak.add(pointed)
        cells = sorted(set(cells))
        code = tuple(i for i in cells if notebook.cells[i].kind == "code")
        defines = tuple(sorted({n for i in code for n in facts[i].defines}))
        answers[ex.id] = Answer(
            ex.id,
            tuple(cells),
            code,
            "\n".join(p for p in prose if p),
            defines,
            via,
            weak=tuple(i for i in code if i in weak),
        )
    return answers


_QUOTED = re.compile(r"`([^`\n]{6,80})`")
_SPACE = re.compile(r"\s+")


def _quoted_code(
    notebook: Notebook, prose: str, facts: Mapping[int, analysis.CellFacts], assigned: set[int]
) -> int | None:
    """The one code cell, given to no answer, that holds an expression the words quote as
    code (a call: `` `torch.ones((3,3))` ``, not a bare name), or None."""
    for span in _QUOTED.findall(prose):
        if "(" not in span:
            continue
        key = _SPACE.sub("", span)
        holders = [i for i in facts if key in _SPACE.sub("", notebook.cells[i].source)]
        if len(holders) == 1 and holders[0] not in assigned:
            return holders[0]
    return None


def _scan_markdown(
    source: str, index: int, matcher: _Matcher, sections: list[_Section], current: _Section | None
) -> _Section | None:
    kept: list[str] = []
    first = True
    lines = markup.answers_unquoted(markup.dehtml(source).splitlines())
    outline = markup.outline(lines)
    # unnumbered answers in the exercises' own shape: their position names them, whatever
    # words they use
    mirrored = {} if outline else matcher.mirrored(markup.outline(lines, bullets=True))
    # a flat numbered list of answers whose items name their questions by words ("3. K.T
    # compares ...", "5. Second derivative: ..."): an item that names none is an answer of
    # its own (unnamed), not more of the item before it
    items = [n for n, ln in enumerate(lines) if _TOP_ITEM.match(ln)]
    answer_list = not outline and any(matcher.match(lines[n], True, False) for n in items)
    for n, raw in enumerate(lines):
        # a question quoted from the book ("> 2.1 Given a directional vector ...") names its
        # question like an unquoted one; its words stay a quotation in the answer's text
        line = labels.QUOTE.sub("", raw)
        quoted = line != raw
        if not line.strip():
            kept.append(raw)
            continue
        heading = labels.HEADING.match(line)
        level = len(heading.group(1)) if heading else 7
        # A cell's first line counts as a title only when it reads like one (short, or a
        # question); a long first sentence of an answer is the answer.
        norm = labels.nfkc(line)
        question = norm.rstrip().rstrip("*_").rstrip().endswith("?")  # "**Question?**" too
        first_line = first
        titled = first and (markup.words_in(norm) <= 12 or question)
        # "**Ex 1.1** ...", "2.4: ...", "（2）...": a label that cannot be an answer's own words
        # "2. 没报错。…" opening a cell that is not a numbered list: its number names question 2
        lone = (
            first
            and bool(labels.LIST.match(norm))
            and not any(labels.NUMBERED_ITEM.match(ln) for ln in lines[n + 1 :])
        )
        # a list of points opening a cell under an open answer ("1. The output is not zero"
        # then "2. ...", below "## 1.1"): its "1." numbers the point, not question 1
        point = current is not None and n in items and len(items) > 1 and heading is None
        numbered = (
            (titled and not point)
            or lone
            or heading is not None
            or bool(labels.LABEL_LINE.match(norm) or labels.BOLD_NUMBER.match(norm))
        )
        # "Minimum kernel size for a derivative of order d (...):" over a table or a list, or
        # ending the cell (over the code that follows)
        caption = (
            norm.rstrip().rstrip("*_").rstrip().endswith(":")
            and markup.words_in(norm) <= 20
            and _opens_block(lines, n)
        )
        # "**Second derivative:** f''(x) ≈ ...": a run-in heading, named by its bold words only
        run_in = labels.RUN_IN.match(norm)
        structural = (
            numbered
            or bool(labels.LIST.match(norm) or labels.SUB_LABEL.match(norm))
            or question
            or caption
        )
        if heading is None and labels.ANSWER_MARK.match(norm):  # "- 答：...", "Answer: ..."
            structural = numbered = False
        asked = bool(labels.QUESTION_MARK.match(norm))  # "**问：** ...", "Q: ...", whatever its end
        structural = structural or asked
        first = False
        row = markup.table_row(line)
        if row is not None:  # | question (or its number) | answer |: a row is a line of its own
            label, rest = row
            hit = matcher.match(label, True, True) if label else None
            if hit is not None and hit[1] == "number" and not labels.HEADING_COMMENT.match(label):
                hit = None
            if hit is not None and hit[1] == "number" and label.strip().isdigit():
                # "| 3 | autograd | no error |" names question 3 by its words; in
                # "| 3 | [-1, 3, -3, 1] |" the 3 is a value column
                words = rest.split(" | ", 1)[0]
                if not re.search(r"[^\W\d_]{3}", words):
                    hit = None
            if hit is not None:
                _flush(current, index, kept)
                kept = [rest] if rest else []
                current = _Section(hit[0], hit[1], 7, cells=[index], opener=index)
                sections.append(current)
                continue
            kept.append(raw)
            continue
        if n in mirrored:
            _flush(current, index, kept)
            eid = matcher.numbers.get(mirrored[n])
            if eid is None:  # "- 手工设计卷积核：" over 4.1-4.3
                kept, current = [], None
                continue
            kept = [labels.BULLET.sub("", line).strip()]
            current = _Section(eid, "number", level, cells=[index], opener=index)
            sections.append(current)
            continue
        hit = matcher.match(line, structural, numbered)
        lead = (
            labels.lead_in(line)
            if hit is None and (first_line or labels.LIST.match(norm) or run_in)
            else None
        )
        if lead is not None:  # "Transpose K: it detects horizontal edges."
            hit = matcher.match(lead, True, False)
        if hit is None and run_in:  # "**Minimum kernel size for a derivative of degree d:** …"
            hit = matcher.match(run_in.group(1), True, False)
        if hit is None and run_in and matcher.counting:  # "* **K on X (1.1):** …"
            ref = _PAREN_NUMBER.search(run_in.group(1))
            eid = matcher.numbers.get(ref.group(1)) if ref else None
            hit = (eid, "number") if eid is not None else None
        if hit is None and structural:
            hit = matcher.sub(line, current)
        if hit is None and numbered:
            hit = matcher.sub_question(line, current.exercise if current else None)
        if hit is None and n in outline and matcher.counting:  # a nested answer list's "2."
            eid = matcher.numbers.get(outline[n])
            hit = (eid, "number") if eid is not None else None
        if hit is None and numbered and (group := matcher.parent(line)) is not None:
            _flush(current, index, kept)  # "**Q2** design kernels": its "a)" is 2.1
            kept, current, matcher.group = [], None, group
            continue
        if (
            hit is None
            and answer_list
            and n in items
            and (current is None or (current.item and current.opener == index))
        ):  # (an item under an answer opened otherwise is a point of that answer)
            _flush(current, index, kept)
            kept = [raw]
            current = _Section(UNNAMED, "unnamed", level, [index], opener=index, item=True)
            sections.append(current)
            continue
        if (
            hit is None
            and heading is not None
            and labels.QUESTION_HEADING.match(norm.lstrip("#").strip())
        ):  # "## Problem C" in the student's own lettering: an unnamed answer
            _flush(current, index, kept)
            kept = []
            current = _Section(UNNAMED, "unnamed", level, cells=[index], opener=index, asked=True)
            sections.append(current)
            continue
        if hit is None and asked and (current is None or current.asked):
            # Q&A layout: a marked question the grader cannot name by its words (the student's
            # own paraphrase) ends the previous answer and opens an unnamed one: what follows
            # is its answer, named later by what its code computes (:func:`unnamed`)
            _flush(current, index, kept)
            kept = []
            current = _Section(UNNAMED, "unnamed", level, cells=[index], opener=index, asked=True)
            sections.append(current)
            continue
        if (
            hit is not None
            and current is not None
            and hit[0] == current.exercise
            and heading is None
        ):
            hit = None  # the answer mentions its own topic ("Blurring reduces noise")
        if hit is not None:
            _flush(current, index, kept)
            rest = (
                ""
                if asked or quoted
                else _answer_on_label_line(  # an item of an answer outline: after its number
                    line,
                    "number" if n in outline else hit[1],
                    heading is not None,
                    matcher.patterns(hit[0]),
                )
            )
            kept = [rest] if rest else []
            current = _Section(
                hit[0], hit[1], level, [index], opener=index, asked=asked, item=n in items
            )
            sections.append(current)
            matcher.opened(hit[0])
            others = matcher.book_refs(line)[1:] if numbered else []  # "Q1 [1 + 1.1]"
            if heading is not None and hit[1] == "wording":  # a title naming two questions:
                others += matcher.also(line, hit[0])  # both get what follows it
            for other in others:
                sections.append(_Section(other, hit[1], level, current.cells, current.prose, index))
            continue  # the question line itself is not the student's answer
        if heading is not None and current is not None and level <= current.level:
            _flush(current, index, kept)
            kept = []
            current = None
            continue
        kept.append(raw)
    _flush(current, index, kept)
    return current


_PAREN_NUMBER = re.compile(r"\((?:ex\.?\s*|exercise\s*)?(\d{1,2}\.\d{1,2})\)", re.IGNORECASE)
# "3. ...": not an indented sub-item, nor the book's section number ("7.2.3 Edge Detection")
_TOP_ITEM = re.compile(r"^ ?(?:\*\*)?\d{1,2}[.)、](?!\d)\s*\S")


def _opens_block(lines: Sequence[str], n: int) -> bool:
    """Whether line ``n`` is followed by a table, a list or a fenced block, or is the cell's
    last line."""
    rest = [ln for ln in lines[n + 1 :] if ln.strip()]
    return (
        not rest
        or rest[0].lstrip().startswith(("|", "```", "~~~"))
        or bool(labels.LIST.match(labels.nfkc(rest[0])))
    )


def _answer_on_label_line(
    line: str, via: str, heading: bool, wording: Sequence[re.Pattern[str]] = ()
) -> str:
    """What follows the label on the line that names a question: "**Q1.1** not a zero
    matrix", "2.4. d+1", "(b) same thing", "What happens if you transpose K? Vertical edges."
    The question's own words are not the answer, and neither is a heading's title.
    ``wording``: the patterns of the question it names."""
    if heading:
        return ""
    if via == "number":
        m = labels.NUMBER.match(line) or labels.SUB_LABEL.match(line)
        if m is None:  # "**練習 2**　...", "② 把 X 轉置：...": read in NFKC form
            line = labels.nfkc(line)
            m = labels.NUMBER.match(line) or labels.SUB_LABEL.match(line) or labels.SUB.match(line)
        rest = line[m.end() :] if m else ""
        if labels.ALL_BOLD.match(line):  # "**4.2 kernel for an integral**": a title set in bold
            rest = ""
        # "**练习 3.** 如何…表示为矩阵乘法？": the question, then any answer
        if "?" in labels.nfkc(rest):
            rest = labels.nfkc(rest).rsplit("?", 1)[1]
    else:
        norm = labels.nfkc(line)
        label = (
            labels.NUMBER.match(norm) if labels.LABEL_LINE.match(norm) else None
        ) or labels.SUB.match(norm)  # "③ 得到 d 階導數的最小核大小是 d + 1"
        if label is not None:  # "**Ex 1.1** apply $K$: not a zero matrix"
            norm = labels.LABEL_TAIL.sub("", norm[label.end() :])
        lead = labels.LEAD.match(norm)
        body = norm if label is not None else labels.LIST.sub("", norm, count=1)
        titled = any((m := rx.search(body)) is not None and m.start() <= 3 for rx in wording)
        run_in = labels.RUN_IN.match(norm)
        if run_in and "?" not in run_in.group(1):  # "**Minimum kernel size ...:** d + 1"
            rest = norm[run_in.end() - 1 :].rsplit("?", 1)[-1]  # "**B.1.3** What ...?": none
        elif "?" in norm:
            rest = norm.rsplit("?", 1)[1]
        elif label is not None and not titled:
            # "1.2 不变（eye对称，X.T==X），还是能检出": after the number come the student's
            # words, in which the question's wording only occurs
            rest = norm
        elif lead is not None:  # "Transpose K: ...", "二阶导数：[1, -2, 1]"
            rest = norm[lead.end() :]
        elif label is not None and _says_more(norm, wording):
            rest = norm  # "1.3 K.T = [[1],[-1]] = vertical difference → ..."
        elif (
            label is None
            and _about(body, wording)
            and (markup.words_in(body) > 12 or _says_more(body, wording))
        ):
            # "3. Transposing K gives [[1], [-1]], which takes differences between ...": a
            # sentence about the question is the answer (a copy of the question itself is
            # dropped when the answer is judged)
            rest = body
        else:
            rest = ""  # a title: "1.3 Transpose K", "Minimum size of a kernel for order d"
    rest = labels.LABEL_TAIL.sub("", rest).strip()
    if rest.count("**") % 2:  # "1.1 **not** zero": the label's tail took the answer's "**"
        rest = rest.replace("**", "", 1)
    return rest


def _about(body: str, wording: Sequence[re.Pattern[str]]) -> bool:
    """Whether the question's words open the sentence (its subject: "Transposing K gives
    ..."), not a mention deep inside notes ("... for example detecting edges, blurring
    images, or sharpening them")."""
    starts = [m.start() for rx in wording if (m := rx.search(body)) is not None]
    return bool(starts) and markup.words_in(body[: min(starts)]) <= 2


def _says_more(body: str, wording: Sequence[re.Pattern[str]]) -> bool:
    """Whether a line that names a question says more than its title: four words outside
    the question's wording ("Transposing K gives [[1], [-1]], which ..."), not "Transpose K"."""
    rest = body
    for rx in wording:  # every piece of the question's wording, not only the first
        rest = rx.sub(" ", rest)
    return markup.words_in(rest) >= 4


def _scan_code(
    source: str, index: int, matcher: _Matcher, sections: list[_Section], current: _Section | None
) -> _Section | None:
    """A code cell belongs to the answer a leading labelled comment names, else to the open
    section. Further down a long cell (a script, one cell for everything), a comment heading
    after a blank line opens the next answer the way a markdown heading would; each answer
    gets the comments and top-level strings (pasted outputs, explanations) under it."""
    lines = source.splitlines()
    strings = markup.string_lines(source)
    docstrings = markup.docstring_lines(source)  # a function's docstring explains it
    lead = 0
    for n, line in enumerate(lines[:3]):  # a leading comment or docstring may name it
        m = labels.CODE_COMMENT.match(line)
        opened = labels.string_opener(lines, n, strings)
        if not m and opened is None:
            break
        lead = n + 1
        comment = labels.undecorated(m.group(1) if m else opened or "")  # "# ==== Exercise 1 ===="
        if not labels.LABELLED.match(comment):  # "# 2.3 blur", "# Exercise 4": not any comment
            continue
        hit = matcher.match(comment, True, True)
        if hit is not None:
            current = _Section(hit[0], hit[1], 7, opener=index)
            sections.append(current)
            break
    if current is not None:
        current.cells.append(index)
    said = markup.printed_sentences(source)
    kept_as_strings: dict[int, list[tuple[str, str]]] = {}
    for n, num, text in markup.string_answers(source):
        kept_as_strings.setdefault(n, []).append((num, text))
    # "print(corr2d(X, K).sum())  # 答：输出是0": an answer written beside the code
    # ("assert torch.equal(dT, d)  # eye is symmetric, the diagonal is still there"): marked
    # as an answer, or a sentence (a short "# shape 6x7" labels the code)
    beside = {
        n: text
        for n, text in analysis.trailing_comments(source).items()
        if labels.ANSWER_MARK.match(labels.nfkc(text))
        or labels.ARROW.match(text)
        or markup.words_in(text) >= SENTENCE_WORDS
    }
    blank = True
    for n, line in enumerate(lines):
        m = labels.CODE_COMMENT.match(line)
        if (
            m is not None
            and n >= lead
            and line.startswith("#")
            # after a blank line any heading-like comment; right under code only a numbered
            # label ("print(...)" then "# 1.2 transpose X -> ...")
            and (
                (blank and labels.HEADING_COMMENT.match(labels.undecorated(m.group(1))))
                or (blank and labels.RULED.match(m.group(1)))
                or labels.NUMBERED_COMMENT.match(m.group(1))
            )
        ):
            hit = matcher.match(labels.undecorated(m.group(1)), True, True)
            if hit is not None and (current is None or hit[0] != current.exercise):
                current = _Section(hit[0], hit[1], 7, cells=[index], opener=index)
                sections.append(current)
        opened = labels.string_opener(lines, n, strings) if n >= lead and blank else None
        if opened is not None and labels.HEADING_COMMENT.match(labels.undecorated(opened)):
            hit = matcher.match(labels.undecorated(opened), True, True)  # """Ex 2.1 ...
            if hit is not None and (current is None or hit[0] != current.exercise):
                current = _Section(hit[0], hit[1], 7, cells=[index], opener=index)
                sections.append(current)
        for num, text in kept_as_strings.get(n, []):  # ans_1_2 = "...", {"1.1": "..."}
            eid = matcher.numbers.get(num) if matcher.counting else None
            if eid is not None:
                current = _Section(eid, "number", 7, cells=[index], prose=[text], opener=index)
                sections.append(current)
        printed = labels.undecorated(said[n]) if n in said else ""  # print("--- 1.1 apply K ---")
        if printed and labels.PRINTED_LABEL.match(labels.nfkc(printed)):  # print("1.2) ...")
            hit = matcher.match(labels.ANSWER_LEAD.sub("", printed), True, True)
            if hit is not None and (current is None or hit[0] != current.exercise):
                current = _Section(hit[0], hit[1], 7, cells=[index], opener=index)
                sections.append(current)
        blank = not line.strip() or (m is not None and blank)
        if current is None:
            continue
        if m is not None and not labels.placeholder(line):
            current.prose.append(m.group(1))
        elif (n in strings or n in docstrings) and line.strip().strip("\"'"):
            text = labels.STRING_QUOTES.sub("", line)
            current.prose.append(re.sub(r"""(?:\"\"\"|\'\'\')\s*$""", "", text).strip())
        elif n in said:  # print("1.1: not a zero matrix, ...")
            current.prose.append(said[n])
        if n in beside and current is not None:
            current.prose.append(labels.ARROW.sub("", beside[n]).strip())
    return current


def _flush(section: _Section | None, index: int, lines: list[str]) -> None:
    text = "\n".join(ln for ln in lines if not labels.placeholder(ln)).strip()
    if section is None or not text:
        return
    if index not in section.cells:
        section.cells.append(index)
    section.prose.append(text)


def _words(source: str, kind: str) -> str:
    """The student's words in a tagged cell: markdown minus headings (the template's
    questions) and placeholders, or a code cell's comments."""
    if kind == "markdown":
        lines = [ln for ln in source.splitlines() if not labels.HEADING.match(ln)]
    else:
        lines = [m.group(1) for ln in source.splitlines() if (m := labels.CODE_COMMENT.match(ln))]
    return "\n".join(ln for ln in lines if not labels.placeholder(ln)).strip()


def located_ids(answers: Mapping[str, Answer]) -> set[str]:
    return {k for k, a in answers.items() if a.found}
