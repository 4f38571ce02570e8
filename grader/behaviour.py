"""Locate, second pass: find answers by what the cells computed.

The text pass (:mod:`grader.locate`) places each answer from headings, wording, numbers,
tags and names, before anything runs. Students often leave an answer where the text says
nothing (a learned kernel displayed after their own words, code cells after a pasted list of
questions, one long script), so after execution a check that finds nothing right in the
answer's own cells may look further, through this object:

- **Where it may look** (:meth:`Attribution.places`): every code cell except those the text
  gives firmly to another question (under its markdown heading, or labelled by a leading
  comment). Cells the text gives to nobody come first (tier 1), then cells held only weakly
  by another answer (tier 2: the code after a cell that opened several answers at once or
  after a label that is not a heading, a cell found by a defined name, the section's own
  code, the cells of an exercise's sub-questions or of its parent: "1" and "1.1").
- **Behaviour only credits.** A value, display or function found outside the answer's own
  cells is taken only if the exercise's reference predicate fully accepts it (and the cell
  shows the check's ``evidence``, where it declares one: a learned kernel comes from a cell
  that trains). A wrong value elsewhere is never charged to an exercise: that would be a
  guess about what the student meant.
- **One thing answers one question.** What a check took by behaviour is claimed for its
  exercise; another exercise's search skips it (one displayed matrix is not both "apply K"
  and "transpose X").
- **The answer grows.** A cell taken by behaviour joins the exercise's answer (its other
  checks, e.g. the source check of a function, see it, and the report lists it), with a note
  saying where the answer was found.

One ``Attribution`` lives for one submission's grading; the checks of a submission run in
the rubric's order, so earlier exercises claim first. Results stay frozen: an adopted answer
is a new :class:`~grader.locate.Answer`.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from . import analysis, markup
from .locate import SENTENCE_WORDS, Answer
from .model import Edition, Notebook
from .rubric import Rubric

FREE, WEAK = 1, 2  # tiers of the cells outside an answer (0: the answer's own cells)


@dataclass(frozen=True)
class Place:
    """A code cell that may hold an exercise's answer, and how far it is from the text."""

    cell: int  # 0-based notebook index
    tier: int  # FREE: the text gives it to nobody; WEAK: held weakly by another answer


class Attribution:
    """Who holds which cell, what was claimed, and the answers as they grow."""

    def __init__(
        self,
        notebook: Notebook,
        rubric: Rubric,
        answers: Mapping[str, Answer],
        edition: Edition | None = None,
        unnamed: Sequence[Answer] = (),
    ):
        self.notebook = notebook
        self._rubric, self._edition = rubric, edition
        # grader.locate.unnamed: answers to questions the text cannot name, with their keys
        self._unnamed = [(("unnamed", i), u) for i, u in enumerate(unnamed)]
        self._answers = dict(answers)
        self._section = {ex.id for ex in rubric.exercises if ex.kind == "section"}
        self._family = _families(rubric)
        self._claims: dict[Hashable, str] = {}
        self._defs: dict[str, str] | None = None  # top-level functions' code, by name
        self._runs: dict[int, str] = {}  # runs_code, by cell
        # cell -> exercises holding it firmly / weakly (by the text)
        self._firm: dict[int, set[str]] = {}
        self._weak: dict[int, set[str]] = {}
        # markdown cells that hold several answers (a pasted list of questions): their words
        # are the questions', no evidence about the code after them
        count: dict[int, int] = {}
        for a in answers.values():
            for i in a.cells:
                count[i] = count.get(i, 0) + 1
        self._lists = {i for i, n in count.items() if n > 1}
        for eid, a in answers.items():
            weak = set(a.weak)
            for i in a.code_cells:
                firm = i not in weak and eid not in self._section
                (self._firm if firm else self._weak).setdefault(i, set()).add(eid)

    # ------------------------------------------------------------------ answers
    @property
    def answers(self) -> Mapping[str, Answer]:
        return self._answers

    def answer(self, exercise: str) -> Answer:
        return self._answers.get(exercise) or Answer(exercise=exercise)

    def adopt(self, exercise: str, cell: int, note: str) -> None:
        """Make ``cell`` part of ``exercise``'s answer, found by behaviour."""
        a = self.answer(exercise)
        notes = a.notes if note in a.notes else (*a.notes, note)
        if cell in a.code_cells:
            self._answers[exercise] = replace(a, notes=notes)
            return
        source = self.notebook.cells[cell].source
        defines = set(a.defines) | set(analysis.facts(source).defines)
        # the cell's comments, unless the text gives it to another question (a parent's or a
        # sub-question's cell speaks for this one too: "# ex 1" over the code of 1 and 1.1)
        comments = _comments(source) if not self.held_by_another(cell, exercise) else ""
        # the words of the unnamed answer the cell is in, for an answer without words of its own
        said = self._unnamed_words(cell, exercise) if not a.prose.strip() else ""
        self._answers[exercise] = replace(
            a,
            cells=tuple(sorted({*a.cells, cell})),
            code_cells=tuple(sorted({*a.code_cells, cell})),
            defines=tuple(sorted(defines)),
            prose="\n".join(p for p in (a.prose, comments, said) if p),
            via=a.via if a.found else "behaviour",
            weak=tuple(sorted({*a.weak, cell})),
            notes=notes,
        )

    def _unnamed_words(self, cell: int, exercise: str) -> str:
        """The words of the unnamed answer (a question in the student's own words, see
        :func:`grader.locate.unnamed`) whose code ``cell`` is, claimed for ``exercise``:
        behaviour named its question. Empty if there is none or another exercise has it."""
        for key, u in self._unnamed:
            if cell in u.cells and not self.taken(key, exercise):
                self.claim(key, exercise)
                return u.prose
        return ""

    def words_by_meaning(self, exercise: str, says: Callable[[str], bool]) -> Answer | None:
        """For an answer the text did not place: the first unnamed answer no other exercise
        has whose words ``says`` accepts (the caller tests the exercise's required concepts,
        never a misconception: meaning only credits), claimed for ``exercise``; else None."""
        for key, u in self._unnamed:
            if u.prose.strip() and not self.taken(key, exercise) and says(u.prose):
                self.claim(key, exercise)
                return u
        return None

    def sibling_words(self, exercise: str) -> list[Answer]:
        """The answers of the other sub-questions of ``exercise``'s question (2.2 and 2.4 of
        one edition), that have words: a student may answer two in one place."""
        ex = next((e for e in self._rubric.exercises if e.id == exercise), None)
        if ex is None:
            return []
        majors = {
            (ed, n.split(".")[0])
            for ed, n in ex.numbers.items()
            if "." in n and self._edition in (None, ed)
        }
        out: list[Answer] = []
        for other in self._rubric.exercises:
            if other.id == exercise or other.id not in self._answers:
                continue
            if any((ed, n.split(".")[0]) in majors for ed, n in other.numbers.items() if "." in n):
                a = self._answers[other.id]
                if a.prose.strip():
                    out.append(a)
        return out

    # ------------------------------------------------------------------ where to look
    def places(self, sources: Sequence[str]) -> list[Place]:
        """Code cells outside the ``sources`` answers that may hold their answer, nearest
        tier first, later cells first within a tier (a student's last attempt)."""
        own: set[int] = set()
        for eid in sources:
            own.update(self.answer(eid).code_cells)
        mine = set(sources)
        kin = mine.union(*(self._family.get(e, set()) for e in sources))
        out: list[Place] = []
        for cell in self.notebook.cells:
            i = cell.index
            if cell.kind != "code" or i in own:
                continue
            firm = self._firm.get(i, set()) - mine
            if firm - kin:
                continue  # the text gives it to another question
            tier = WEAK if firm or self._weak.get(i, set()) - mine else FREE
            out.append(Place(i, tier))
        out.sort(key=lambda p: (p.tier, -p.cell))
        return out

    def held_by_another(self, cell: int, exercise: str) -> bool:
        """Whether the text gives ``cell`` firmly to a question other than ``exercise`` (or
        its parent and sub-questions)."""
        kin = {exercise, *self._family.get(exercise, set())}
        return bool(self._firm.get(cell, set()) - kin)

    def defined_in(self, name: str) -> int | None:
        """The code cell that last defines ``name`` (a function or class), if any."""
        where = None
        for cell in self.notebook.cells:
            if cell.kind == "code" and name in analysis.facts(cell.source).defines:
                where = cell.index
        return where

    def shows(self, cell: int, evidence: str | None, exercise: str | None = None) -> bool:
        """Whether ``cell`` (its code, or the markdown just before it) matches the check's
        ``evidence`` regex; any cell does when there is none. A markdown cell holding several
        answers (a pasted list of questions) speaks only through ``exercise``'s own answer
        in it ("b. 积分：就是累加" under "（4）"), never through the questions' words."""
        if not evidence:
            return True
        rx = re.compile(evidence, re.IGNORECASE)
        if rx.search(self.notebook.cells[cell].source) or rx.search(self.runs_code(cell)):
            return True
        before = self.notebook.cells[cell - 1] if cell > 0 else None
        if before is None or before.kind == "code":
            return False
        if before.index not in self._lists:
            return bool(rx.search(before.source))
        own = self.answer(exercise) if exercise is not None else None
        return own is not None and before.index in own.cells and bool(rx.search(own.prose))

    def definition(self, name: str) -> str:
        """The code of the notebook's top-level function ``name`` (its last definition)."""
        self._load_defs()
        assert self._defs is not None
        return self._defs.get(name, "")

    def _load_defs(self) -> None:
        if self._defs is None:
            self._defs = {}
            for c in self.notebook.cells:
                if c.kind == "code":
                    self._defs.update(analysis.called_functions(c.source)[1])

    def runs_code(self, cell: int) -> str:
        """The code of the notebook's functions that ``cell`` calls, and of those they call
        (``main()`` runs ``check_section()``, which trains): a cell is what it runs."""
        if cell in self._runs:
            return self._runs[cell]
        self._load_defs()
        assert self._defs is not None
        todo = list(analysis.called_functions(self.notebook.cells[cell].source)[0])
        seen: set[str] = set()
        parts: list[str] = []
        while todo and len(seen) < 32:
            name = todo.pop()
            if name in seen or name not in self._defs:
                continue
            seen.add(name)
            parts.append(self._defs[name])
            body = self._defs[name].split("\n", 1)[-1]  # its calls, not its own name
            todo.extend(analysis.called_functions(textwrap.dedent(body))[0])
        self._runs[cell] = "\n".join(parts)
        return self._runs[cell]

    # ------------------------------------------------------------------ claims
    def claim(self, key: Hashable, exercise: str) -> None:
        self._claims.setdefault(key, exercise)

    def owner(self, key: Hashable) -> str | None:
        """The exercise that claimed ``key``, if any."""
        return self._claims.get(key)

    def taken(self, key: Hashable, exercise: str) -> bool:
        """Whether another exercise already claimed ``key``."""
        owner = self._claims.get(key)
        return owner is not None and owner != exercise


def _families(rubric: Rubric) -> dict[str, set[str]]:
    """Exercises and their sub-questions ("1" and "1.1" of one edition): the code under a
    heading for exercise 1 often answers 1.1-1.3 too, so each may look in the other's cells
    (as weakly held ones)."""
    out: dict[str, set[str]] = {}
    for a in rubric.exercises:
        for b in rubric.exercises:
            if any(
                num.startswith(f"{b.numbers.get(ed)}.")
                for ed, num in a.numbers.items()
                if b.numbers.get(ed)
            ):
                out.setdefault(a.id, set()).add(b.id)
                out.setdefault(b.id, set()).add(a.id)
    return out


def _comments(source: str) -> str:
    """A cell's comment lines, and the comments beside its code that say something."""
    lines = (ln.strip() for ln in source.splitlines())
    own = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
    beside = [
        text
        for text in analysis.trailing_comments(source).values()
        if markup.words_in(text) >= SENTENCE_WORDS
    ]
    return "\n".join(own + beside)
