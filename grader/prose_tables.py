"""Measure the rubric's prose concepts on tables of answers: precision and recall.

A table (YAML, one per concept, ``<concept id>.yaml`` in a tables directory) lists answers
that must state the concept (``match``) and near-misses that must not (``miss``), each by
language::

    concept: d-plus-one          # a required concept's id, or a prose diagnosis's id
    match:
      en: ["d + 1 taps", ...]
      zh: ["至少需要 d+1 个点", ...]
    miss:
      en: ["2d + 1", ...]
      zh: ["需要 2d+1 个元素", ...]

An answer "matches" when the matcher (:func:`grader.prose.judge`) finds the concept in it:
stated, or hedged, and not denied. Precision is matched-and-expected over matched; recall
matched-and-expected over expected (100% when there is nothing to count).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import RubricError
from .prose import Concept, judge
from .rubric import Rubric

MIN_ROWS = 10  # answers per side (match, miss) and language a table must have


@dataclass(frozen=True)
class Row:
    text: str
    lang: str
    expect: bool  # True: must match; False: a near-miss that must not


@dataclass(frozen=True)
class Table:
    concept: str
    rows: tuple[Row, ...]
    path: str

    def count(self, expect: bool, lang: str | None = None) -> int:
        return sum(r.expect is expect and (lang is None or r.lang == lang) for r in self.rows)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.lang for r in self.rows))


@dataclass(frozen=True)
class RubricConcept:
    """A prose concept of a rubric: a check's required concept or a prose diagnosis."""

    where: str  # "<exercise id>/<concept id>"
    concept: Concept
    diagnosis: bool


@dataclass(frozen=True)
class Score:
    where: str
    tp: int
    fp: int
    fn: int
    tn: int
    wrong: tuple[Row, ...]  # the rows judged against their expectation

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def perfect(self) -> bool:
        return not self.wrong


def concepts(rubric: Rubric) -> list[RubricConcept]:
    """Every distinct prose concept of ``rubric`` (same id and patterns: listed once)."""
    seen: dict[tuple[str, tuple[str, ...], bool], RubricConcept] = {}
    for ex in rubric.exercises:
        for check in ex.checks:
            if check.type != "prose":
                continue
            for c in check.options.get("required", ()):
                concept = Concept(c["id"], tuple(c["patterns"]), bool(c.get("negated_ok", False)))
                key = (concept.id, concept.patterns, concept.negated_ok)
                seen.setdefault(key, RubricConcept(f"{ex.id}/{concept.id}", concept, False))
        for d in ex.diagnoses:
            if d.prose:
                concept = Concept(d.id, tuple(d.prose))
                key = (concept.id, concept.patterns, False)
                seen.setdefault(key, RubricConcept(f"{ex.id}/{d.id}", concept, True))
    return list(seen.values())


def tables_dir(rubric: Rubric) -> Path:
    """Where a rubric's tables live: ``tests/prose_tables`` beside its ``rubrics/``."""
    return Path(rubric.path).resolve().parent.parent / "tests" / "prose_tables"


def load_table(path: Path) -> Table:
    """Read one table; a malformed one raises :class:`RubricError` naming file and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RubricError(str(path), None, "table", f"cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("concept"), str):
        raise RubricError(str(path), None, "concept", "a table needs a string 'concept'")
    rows: list[Row] = []
    for side, expect in (("match", True), ("miss", False)):
        by_lang = data.get(side)
        if not isinstance(by_lang, dict):
            raise RubricError(str(path), None, side, "must map languages to lists of answers")
        for lang, texts in by_lang.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
                raise RubricError(str(path), None, f"{side}.{lang}", "must be a list of strings")
            rows.extend(Row(t, str(lang), expect) for t in texts)
    return Table(data["concept"], tuple(rows), str(path))


def load_tables(directory: Path) -> dict[str, Table]:
    tables = [load_table(p) for p in sorted(directory.glob("*.yaml"))]
    return {t.concept: t for t in tables}


def matches(concept: Concept, text: str, *, diagnosis: bool) -> bool:
    """Whether the matcher finds ``concept`` in the answer ``text``."""
    if diagnosis:
        return judge(text, [], [concept]).misconceptions[0].found
    return judge(text, [concept]).required[0].found


def measure(item: RubricConcept, table: Table) -> Score:
    tp = fp = fn = tn = 0
    wrong: list[Row] = []
    for row in table.rows:
        got = matches(item.concept, row.text, diagnosis=item.diagnosis)
        tp += got and row.expect
        fp += got and not row.expect
        fn += not got and row.expect
        tn += not got and not row.expect
        if got is not row.expect:
            wrong.append(row)
    return Score(item.where, tp, fp, fn, tn, tuple(wrong))


def report(rubric: Rubric, directory: Path | None = None) -> Iterator[tuple[str, bool, str]]:
    """(what, ok, detail) per prose concept of ``rubric``: its table's precision and recall.

    Without a tables directory, one row says so (a copied rubric need not bring tables). A
    concept without a table, or a table with fewer than :data:`MIN_ROWS` answers a side in
    one of its languages, fails.
    """
    directory = directory or tables_dir(rubric)
    if not directory.is_dir():
        yield ("prose tables", True, f"none at {directory}: concepts not measured")
        return
    tables = load_tables(directory)
    for item in concepts(rubric):
        what = f"prose {item.where}"
        table = tables.get(item.concept.id)
        if table is None:
            yield (what, False, f"no table {item.concept.id}.yaml in {directory}")
            continue
        score = measure(item, table)
        sizes = ", ".join(
            f"{lang} {table.count(True, lang)}+/{table.count(False, lang)}-"
            for lang in table.languages
        )
        small = [
            lang
            for lang in table.languages or ("any",)
            if table.count(True, lang) < MIN_ROWS or table.count(False, lang) < MIN_ROWS
        ]
        detail = (
            f"precision {score.precision:.0%}, recall {score.recall:.0%} ({sizes})"
            + (f"; fewer than {MIN_ROWS} answers a side in {', '.join(small)}" if small else "")
            + "".join(
                f"; {'missed' if r.expect else 'wrongly matched'} [{r.lang}] {r.text[:60]!r}"
                for r in score.wrong[:3]
            )
        )
        yield (what, score.perfect and not small, detail)
