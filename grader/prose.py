"""Judge a student's written answer against a rubric's concepts: transparent and deterministic.

No model and no network: each concept is a set of case-insensitive regexes, matched sentence by
sentence in the normalised text (markdown and LaTeX noise stripped, see :func:`normalise`). A
pattern is matched within one sentence, never across two. Text with Chinese or full-width
characters is folded first (:mod:`grader.text`: NFKC, traditional to simplified, spaces between
Chinese and Latin), ``。`` ends a sentence, a sentence ending in ``吗``/``呢`` is a question,
Chinese hedges (``可能``, ``我觉得``) hedge, and Chinese negation is read from jieba's words
(:mod:`grader.text.zh`: ``不是零矩阵`` denies, ``不变`` and ``非常`` do not).

Confidence model (documented constants below; all scores are in 0..1):

- Every match ("hit") gets a weight: 1 for a plain declarative sentence, times
  :data:`HEDGED` (0.6) if the sentence hedges ("maybe", "I think", "not sure", a "?" inside),
  :data:`QUESTION` (0.5) if it is a question (ends with "?"), :data:`QUOTED` (0.3) if it is in
  a block quote (usually the book's text), :data:`LONG_SENTENCE` (0.9) if it has more than 40
  words.
- A hit in a declarative sentence whose clause negates it before the match ("not", "no",
  "isn't", "doesn't", "never", "instead of", ..., or "non-" right before it) or right after it
  ("... is not") is a *denial*, unless the concept is ``negated_ok``; so is a claim the sentence
  reports of others to set it right ("a common mistake is to say ...", "很多人会说 ...") or
  says the student first held and dropped ("I first thought d + 1, but ...", "一开始以为 ...").
  Hits in questions and quotes are never denials: there, they only make the verdict uncertain.
- Statement score P = :data:`STATED` (0.95) x the best weight of a non-denial hit; denial score
  N = :data:`DENIED` (0.9) x the best weight of a denial.
- found = P >= :data:`FOUND_AT` (0.5). If found: confidence = P x (1 - 0.3 N) (a denial elsewhere
  in the answer lowers it). If not found: confidence = (N if there is a denial, else absence)
  x (1 - P), where absence is 1.0 for an empty answer, 0.95 up to 20 words, falling linearly to
  0.75 at 300 words (a long answer may say it in words the patterns miss).

So a clear statement scores 0.95, a hedged one 0.57 (found, needs review), a statement only in a
question 0.50 (not found, needs review), a clear denial 0.9 (not found). The verdict's confidence
is the lowest of its concepts' (1.0 if there are none); :attr:`ProseVerdict.needs_review` is true
below :data:`REVIEW_BELOW` (0.6). Pass the exercise's question texts (``questions=``) so that
sentences copying them are dropped first (see :func:`strip_question`).
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import islice
from typing import Final

from .memo import Memo
from .text import cjk_word_count, fold, has_cjk, needs_fold
from .text import zh as _zh

__all__ = [
    "Concept",
    "ConceptMatch",
    "ProseVerdict",
    "judge",
    "normalise",
    "strip_question",
]

MAX_TEXT: Final = 200_000  # characters judged; the rest is ignored (note "truncated")
EVIDENCE_CHARS: Final = 160
STATED: Final = 0.95
DENIED: Final = 0.9
HEDGED: Final = 0.6
QUESTION: Final = 0.5
QUOTED: Final = 0.3
LONG_SENTENCE: Final = 0.9
LONG_SENTENCE_WORDS: Final = 40
CONFLICT: Final = 0.3
FOUND_AT: Final = 0.5
ABSENT_SHORT: Final = 0.95  # confidence that an unmentioned concept is absent, short answer
ABSENT_LONG: Final = 0.75  # ... and for an answer of ABSENT_LONG_WORDS words or more
ABSENT_SHORT_WORDS: Final = 20
ABSENT_LONG_WORDS: Final = 300
MAX_HITS: Final = 8  # matches looked at per pattern and sentence
SHORT_WORDS: Final = 4  # answers of at most this many words are noted "short"
COPY_OVERLAP: Final = 0.8  # token overlap above which a sentence copies a question
REVIEW_BELOW: Final = 0.6


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class Concept:
    """A concept from a rubric: regexes (case-insensitive) that state it."""

    id: str
    patterns: tuple[str, ...]
    # If False, a match negated in its clause ("not", "no", "isn't", ...) does not count.
    negated_ok: bool = False
    compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw: object = self.patterns
        patterns = (raw,) if isinstance(raw, str) else tuple(self.patterns)
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise ValueError(f"concept {self.id!r}: needs at least one non-empty pattern")
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise ValueError(f"concept {self.id!r}: bad pattern {pattern!r}: {exc}") from exc
        object.__setattr__(self, "patterns", patterns)
        object.__setattr__(self, "compiled", tuple(compiled))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Concept:
        """Build from rubric data: ``{id, patterns: str | [str, ...], negated_ok?}``.

        ``pattern`` is accepted for ``patterns``; other keys are ignored. Raises ValueError.
        """
        cid = data.get("id")
        if not isinstance(cid, str) or not cid:
            raise ValueError("concept needs a non-empty string 'id'")
        raw = data.get("patterns", data.get("pattern"))
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
            raise ValueError(f"concept {cid!r}: 'patterns' must be a string or a list of strings")
        negated_ok = data.get("negated_ok", False)
        if not isinstance(negated_ok, bool):
            raise ValueError(f"concept {cid!r}: 'negated_ok' must be true or false")
        return cls(cid, tuple(str(p) for p in raw), negated_ok)


@dataclass(frozen=True)
class ConceptMatch:
    id: str
    found: bool
    confidence: float  # 0..1, confidence in ``found``
    evidence: str | None  # the sentence that matched, trimmed to <= 160 characters
    # Why: "stated", "hedged", "conflicting" (found); "question", "quoted", "negated",
    # "absent", "empty" (not found).
    basis: str = ""


@dataclass(frozen=True)
class ProseVerdict:
    required: tuple[ConceptMatch, ...]
    misconceptions: tuple[ConceptMatch, ...]
    confidence: float  # overall: the lowest concept confidence (1.0 without concepts)
    words: int  # words of the answer, without the sentences that copy the question
    # Plain-word facts about the answer: "empty", "short", "abstains" (e.g. "dont know"),
    # "questions-only", "copied-question" (sentences dropped), "truncated".
    notes: tuple[str, ...] = ()

    @property
    def needs_review(self) -> bool:
        return self.confidence < REVIEW_BELOW

    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of required concepts not found."""
        return tuple(m.id for m in self.required if not m.found)

    @property
    def misconceptions_found(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.misconceptions if m.found)


def judge(
    text: str,
    required: Sequence[Concept],
    misconceptions: Sequence[Concept] = (),
    *,
    questions: Sequence[str] = (),
) -> ProseVerdict:
    """Which required concepts the answer states and which misconceptions it shows."""
    groups = [_block_sentences(block) for block in _blocks(text[:MAX_TEXT])]
    all_sentences = [s for group in groups for s in group]
    sentences = _drop_copies(all_sentences, questions)
    if len(sentences) < len(all_sentences):  # some copy the question: drop them
        kept = {id(s) for s in sentences}
        groups = [tuple(s for s in group if id(s) in kept) for group in groups]
    words = sum(s.words for s in sentences)
    req = tuple(_judge_concept(c, groups, words) for c in required)
    mis = tuple(_judge_concept(c, groups, words) for c in misconceptions)
    confidence = min((m.confidence for m in req + mis), default=1.0)
    notes = _notes(text, sentences, words, copied=len(all_sentences) - len(sentences))
    return ProseVerdict(req, mis, confidence, words, notes)


def normalise(text: str) -> str:
    """The text without markdown/LaTeX/HTML noise, whitespace collapsed.

    ``$...$`` delimiters go but their content stays (``$2d+1$`` -> ``2d+1``), ``\\frac{a}{b}`` ->
    ``a/b``, ``\\text{x}`` -> ``x``, other commands lose their backslash; ``**bold**``,
    ``*italic*``, backticks, headings, bullets, block quotes and HTML tags are removed; code
    fences go but the code stays as text.
    """
    return " ".join(block.text for block in _blocks(text[:MAX_TEXT]))


def strip_question(text: str, questions: Sequence[str]) -> str:
    """The normalised sentences of ``text`` that do not (nearly) copy one of ``questions``.

    A sentence copies a question when the token overlap of the two (2 x matched / total, digits
    and case ignored; against each question sentence and each whole question) is at least
    :data:`COPY_OVERLAP`. Sentences are returned one a line.
    """
    return "\n".join(s.text for s in _drop_copies(_sentences(text[:MAX_TEXT]), questions))


# --------------------------------------------------------------------------- normalising

_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)\b[^<>]*>")
_UNICODE = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-", "\u00a0": " "}
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_WRAPPER = re.compile(
    r"\\(?:text\w*|math\w*|operatorname|vec|hat|bar|tilde|boldsymbol|mbox)\s*\{([^{}]*)\}"
)
# Bounded repeats everywhere below: the text is untrusted and must not cost quadratic time.
_ENVIRONMENT = re.compile(r"\\begin\s*\{([^{}]{0,40})\}(.{0,4000}?)\\end\s*\{\1\}", re.DOTALL)
_LATEX_SYMBOLS: Final = (
    (re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}"), " "),
    (re.compile(r"\\(?:left|right|displaystyle)\b"), ""),
    (re.compile(r"\\(?:[,;:! ]|q?quad\b)"), " "),
    (re.compile(r"\\times\b"), " x "),
    (re.compile(r"\\cdot\b"), " * "),
    (re.compile(r"\\(?:approx|sim)\b"), " ~ "),
    (re.compile(r"\\(?:leq?|leqslant)\b"), " <= "),
    (re.compile(r"\\(?:geq?|geqslant)\b"), " >= "),
    (re.compile(r"\\(?:neq?)\b"), " != "),
    (re.compile(r"\\(?:to|rightarrow)\b"), " -> "),
    (re.compile(r"\\(?:l|c)?dots\b"), "..."),
    (re.compile(r"\\\\"), "; "),
    (re.compile(r"\\[()\[\]]"), " "),
    (re.compile(r"\\([A-Za-z]+)"), r"\1"),
    (re.compile(r"\\([^A-Za-z\s])"), r"\1"),
    (re.compile(r"[{}$]"), " "),
)
# (pattern, replacement, a substring every match contains: without it the pattern is skipped)
_INLINE: Final = (
    (re.compile(r"!\[([^\[\]]{0,300})\]\([^()\s]{0,500}\)"), r"\1", "]("),
    (re.compile(r"\[([^\[\]]{0,300})\]\([^()\s]{0,500}\)"), r"\1", "]("),
    (re.compile(r"`+"), "", "`"),
    (re.compile(r"\*\*(?=\S)((?:[^*]|\*(?!\*))+?)(?<=\S)\*\*"), r"\1", "**"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), r"\1", "*"),
    (re.compile(r"(?<![\w\\])_(?=\S)([^_]+?)(?<=\S)_(?!\w)"), r"\1", "_"),
    (re.compile(r"\|"), " ", "|"),
    # 【不是】 (folded to "[不是]"): brackets for emphasis around a Chinese word, read as the
    # word, not as a clause break
    (re.compile(r"\[\s*([\u3400-\u9fff]{1,6})\s*\]"), r"\1", "["),
)
_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*[\w+-]*\s*$")
_RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_HEADING = re.compile(r"^\s*(#{1,6})\s*")
_ITEM = re.compile(r"^\s*(?:[-*+•‣◦▪]|\d{1,2}[.)]|\(?[a-h]\))\s+")
_NUMBERING = re.compile(r"^(?:q(?:uestion)?\s*)?\d{1,2}(?:\.\d{1,2})*[.):]?\s+", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])(?=\s|$)")


@dataclass(frozen=True)
class _Block:
    """A paragraph, list item, heading or comment block: where sentences cannot span."""

    text: str
    quoted: bool


def _clean_latex(text: str) -> str:
    # Every pattern but the last of _LATEX_SYMBOLS needs a backslash; most prose has none.
    if "\\" in text:
        if "\\begin" in text:
            text = _ENVIRONMENT.sub(lambda m: " " + m.group(2).replace("&", " ") + " ", text)
        for _ in range(4):  # nested \frac / \text
            text, fracs = _FRAC.subn(r"(\1)/(\2)", text)
            text, wrappers = _WRAPPER.subn(r"\1", text)
            if not fracs and not wrappers:
                break  # unchanged: further rounds would change nothing either
        for pattern, repl in _LATEX_SYMBOLS[:-1]:
            text = pattern.sub(repl, text)
    pattern, repl = _LATEX_SYMBOLS[-1]
    return pattern.sub(repl, text)


def _clean_inline(line: str) -> str:
    for pattern, repl, needs in _INLINE:
        if needs in line:
            line = pattern.sub(repl, line)
    return line


def _prepare(text: str) -> str:
    """Whole-text cleaning: HTML, entities, unicode punctuation, LaTeX."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "<" in text:
        text = _TAG.sub(lambda m: "\n" if m.group(2).lower() in ("br", "p", "li") else " ", text)
    text = html.unescape(text).translate(_UNICODE)
    if needs_fold(text):  # Chinese or full-width: half-width, simplified, spaced
        text = fold(text)
    return _clean_latex(text)


def _blocks(text: str) -> list[_Block]:
    """The blocks of ``text``. Blank lines end every block, so the runs of non-blank lines of
    the prepared text ("paragraphs") are read one by one (and remembered)."""
    blocks: list[_Block] = []
    paragraph: list[str] = []
    for raw in _prepare(text).split("\n"):
        if raw.strip():
            paragraph.append(raw)
        elif paragraph:
            blocks += _paragraph_blocks("\n".join(paragraph))
            paragraph = []
    if paragraph:
        blocks += _paragraph_blocks("\n".join(paragraph))
    return blocks


# The blocks of recent paragraphs: students keep the book's and the template's paragraphs.
_PARAGRAPHS: Memo[str, tuple[_Block, ...]] = Memo(max_entries=8192, max_cost=16 * 1024 * 1024)


def _paragraph_blocks(paragraph: str) -> tuple[_Block, ...]:
    return _PARAGRAPHS.get(
        paragraph,
        lambda: tuple(_scan_blocks(paragraph)),
        lambda found: 200 + 2 * len(paragraph) + sum(100 + len(b.text) for b in found),
    )


def _scan_blocks(prepared: str) -> list[_Block]:
    blocks: list[_Block] = []
    lines: list[str] = []
    quoted = False
    kind = ""  # "", "heading" or "comment" (consecutive single-# lines form one block)

    def flush() -> None:
        joined = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(" ".join(lines).split()))
        if joined:
            blocks.append(_Block(joined, quoted))
        lines.clear()

    for raw in prepared.split("\n"):
        if _FENCE.match(raw) or _RULE.match(raw) or not raw.strip():
            flush()
            kind = ""
            continue
        line, line_quoted, line_kind, starts = _line(raw)
        if starts or line_quoted != quoted or line_kind != kind or kind == "heading":
            flush()
        quoted, kind = line_quoted, line_kind
        lines.append(line)
    flush()
    return blocks


def _line(raw: str) -> tuple[str, bool, str, bool]:
    """(cleaned text, in a block quote, kind, starts a new block) for one line."""
    line = raw.replace("`", "")
    quote = _QUOTE.match(line)
    if quote:
        line = line[quote.end() :]
    heading = _HEADING.match(line)
    if heading:
        line = _NUMBERING.sub("", line[heading.end() :])
        comment = len(heading.group(1)) == 1
        return _clean_inline(line), bool(quote), "comment" if comment else "heading", not comment
    item = _ITEM.match(line)
    if item:
        line = line[item.end() :]
    return _clean_inline(line), bool(quote), "", bool(item)


# --------------------------------------------------------------------------- sentences

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|fig|eq|resp|al|w\.r\.t|dr|mr|ms)|\.\.)$", re.IGNORECASE
)
_WORD = re.compile(r"\w+(?:'\w+)?")
_HEDGE = re.compile(
    r"\b(?:maybe|perhaps|probably|possibly|presumably|i\s+think|i\s+guess|i\s+believe"
    r"|i\s+suppose|i\s+assume|not\s+sure|unsure|not\s+certain|seems?|apparently)\b|\?(?=.)"
    r"|(?<!不)可能|也许|大概|或许|好像|似乎|我觉得|我猜|不确定|不太确定|估计",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Sentence:
    text: str
    quoted: bool
    question: bool
    hedged: bool
    words: int


def _sentences(text: str) -> list[_Sentence]:
    return [s for block in _blocks(text) for s in _block_sentences(block)]


# The sentences of recent blocks (paragraphs, list items, headings): answers keep the book's
# and the template's paragraphs, and each answer is judged by several checks.
_SENTENCES: Memo[_Block, tuple[_Sentence, ...]] = Memo(max_entries=8192, max_cost=16 * 1024 * 1024)


def _block_sentences(block: _Block) -> tuple[_Sentence, ...]:
    return _SENTENCES.get(
        block,
        lambda: tuple(_sentence(part, block.quoted) for part in _split(block.text)),
        lambda found: 200 + 2 * len(block.text) + 150 * len(found),
    )


def _split(text: str) -> Iterator[str]:
    start = 0
    for end in _SENTENCE_END.finditer(text):
        tail = max(start, end.start() - 8)  # abbreviations are short
        if end.group().startswith(".") and _ABBREVIATION.search(text, tail, end.start()):
            continue
        part = text[start : end.end()].strip()
        if part:
            yield part
        start = end.end()
    rest = text[start:].strip()
    if rest:
        yield rest


def _sentence(text: str, quoted: bool) -> _Sentence:
    bare = text.rstrip("\"')] ")
    question = bare.endswith("?") or bare.rstrip(".!").endswith(("吗", "么", "呢"))
    hedged = _HEDGE.search(text.rstrip("\"')] ?")) is not None
    words = cjk_word_count(text) if has_cjk(text) else len(_WORD.findall(text))
    return _Sentence(text, quoted, question, hedged, words)


# --------------------------------------------------------------------------- questions


def _tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if not t.isdigit()]


def _drop_copies(sentences: list[_Sentence], questions: Sequence[str]) -> list[_Sentence]:
    targets: list[list[str]] = []
    for question in questions:
        parts = _sentences(question)
        targets.append(_tokens(" ".join(p.text for p in parts)))
        targets.extend(_tokens(p.text) for p in parts)
    targets = [t for t in targets if t]
    if not targets:
        return sentences
    return [s for s in sentences if not _copies(_tokens(s.text), targets)]


def _copies(tokens: list[str], targets: list[list[str]]) -> bool:
    if not tokens:
        return False
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(tokens)
    for target in targets:
        matcher.set_seq1(target)
        if matcher.real_quick_ratio() >= COPY_OVERLAP and matcher.ratio() >= COPY_OVERLAP:
            return True
    return False


# --------------------------------------------------------------------------- matching

_CLAUSE_BREAK = re.compile(
    r"[,;:()\[\]]|\s-\s|\b(?:but|however|whereas|while|although|though|and|so|because|since"
    r"|yet|unlike|except|then)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not(?!\s+(?:only|just|sure|certain)\b)|no(?!\s+(?:doubt|matter)\b)|never|neither"
    r"|nor|none\s+of|cannot|without|instead\s+of|rather\s+than"
    r"|(?:is|are|was|were|do|does|did|has|have|had|ca|could|wo|would|should|must|need)n'?t)\b",
    re.IGNORECASE,
)
_NON_PREFIX = re.compile(r"\bnon[-\s]?$", re.IGNORECASE)
_NEGATED_AFTER = re.compile(
    r"^\s*(?:(?:is|are|was|were|does|do|did|will|would|should|can)\s+not\b"
    r"|(?:is|are|was|were|does|do|did|wo|would|should|ca)n'?t\b)",
    re.IGNORECASE,
)
# A sentence that only says the student does not know ("dont know.", "No idea how to do it").
_ABSTAIN = re.compile(
    r"^\W*(?:i\s+|i'?m\s+|i\s+am\s+)?(?:really\s+)?"
    r"(?:(?:do\s+not|don'?t)\s+know|(?:have\s+)?no\s+(?:idea|clue)|idk|not\s+sure)\b"
    r"(?:\s+(?:how|what|why|which|if|whether)\b.*)?\W*$"
    r"|^\W*(?:我)?(?:也)?(?:不知道|不会|不懂|不清楚|没有思路|没思路)\W*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Hit:
    sentence: _Sentence
    start: int
    end: int
    denial: bool
    weight: float
    label: str  # "stated", "hedged", "question", "quoted"


def _hits(concept: Concept, sentences: Sequence[_Sentence], joined: str) -> Iterator[_Hit]:
    """The concept's matches in ``sentences``; ``joined`` is their texts joined by newlines.

    A pattern that cannot see past its match (see :func:`_context_free`) is searched for in
    ``joined`` first: a sentence can match it only if the search from the sentence's start
    finds a match that starts inside the sentence, so the sentences before the next such
    match are skipped. Other patterns are tried on every sentence.
    """
    starts: list[int] = []
    offset = 0
    for sentence in sentences:
        starts.append(offset)
        offset += len(sentence.text) + 1
    candidates: list[list[re.Pattern[str]]] = [[] for _ in sentences]
    for pattern in concept.compiled:
        if not _context_free(pattern.pattern):
            for tried in candidates:
                tried.append(pattern)
            continue
        i = 0
        while i < len(sentences):
            found = pattern.search(joined, starts[i])
            if found is None:
                break
            i = bisect_right(starts, found.start()) - 1  # the sentence the match starts in
            candidates[i].append(pattern)
            i += 1
    for sentence, patterns in zip(sentences, candidates, strict=True):
        spans = _spans(patterns, sentence.text) if patterns else []
        if spans:
            breaks = [m.span() for m in _CLAUSE_BREAK.finditer(sentence.text)]
            for start, end in spans:
                yield _hit(concept, sentence, start, end, breaks)


_CONTEXT_FREE_CACHE: dict[str, bool] = {}
_ESCAPE = re.compile(r"\\.", re.DOTALL)


def _context_free(pattern: str) -> bool:
    """Whether a match of ``pattern`` depends only on the characters it matches and on
    whether the characters next to it are word characters (``\\b``), so that a sentence has
    a match only if the newline-joined text of all sentences has one there. Conservative: any
    anchor, lookaround, inline flag, atomic group or possessive quantifier says no."""
    known = _CONTEXT_FREE_CACHE.get(pattern)
    if known is None:
        if any(a in pattern for a in ("\\A", "\\Z", "\\B")):
            known = False
        else:
            bare = _ESCAPE.sub("", pattern).replace("[^", "[")
            known = not (
                "^" in bare
                or "$" in bare
                or any(q in bare for q in ("*+", "++", "?+", "}+"))
                or re.search(r"\(\?(?![:P])", bare) is not None
            )
        if len(_CONTEXT_FREE_CACHE) < 4096:  # rubric patterns: few, and fixed
            _CONTEXT_FREE_CACHE[pattern] = known
    return known


def _spans(patterns: Sequence[re.Pattern[str]], text: str) -> list[tuple[int, int]]:
    """The first matches of the concept's patterns; of overlapping ones, only the longest."""
    spans = [
        m.span()
        for pattern in patterns
        for m in islice(pattern.finditer(text), MAX_HITS)
        if m.end() > m.start()
    ]
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        if all(end <= k_start or start >= k_end for k_start, k_end in kept):
            kept.append((start, end))
    return sorted(kept)[:MAX_HITS]


def _hit(
    concept: Concept, sentence: _Sentence, start: int, end: int, breaks: list[tuple[int, int]]
) -> _Hit:
    weight, label = 1.0, "stated"
    if sentence.hedged:
        weight, label = weight * HEDGED, "hedged"
    if sentence.question:
        weight, label = weight * QUESTION, "question"
    quoted = sentence.quoted
    if quoted:
        weight, label = weight * QUOTED, "quoted"
    if sentence.words > LONG_SENTENCE_WORDS:
        weight *= LONG_SENTENCE
    ambiguous = sentence.question or quoted
    denial = not (concept.negated_ok or ambiguous) and (
        _negated(sentence.text, start, end, breaks) or _reported(sentence.text, start, end)
    )
    return _Hit(sentence, start, end, denial, weight, label)


def _reported(text: str, start: int, end: int) -> bool:
    """Whether the match text[start:end] is a claim reported to be set right: a report
    (:data:`_REPORTED`) before it, or around it (a match may begin its clause), with no turn
    (:data:`_TURN`: "but", "其实") in between: in "Many say 2d+1, but the minimum is d+1" only
    the 2d+1 is reported."""
    turn = max((m.end() for m in _TURN.finditer(text, 0, start)), default=0)
    return bool(_REPORTED.search(text, turn, end))


# Where a sentence turns from what was reported to what the student says ("so" does not: in
# "很多人以为 K 只看竖边，所以会得到零矩阵" the zero is still what they think).
_TURN = re.compile(
    r"\b(?:but|however|actually|in\s+fact|instead|whereas|later|then\s+(?:we|i))\b"
    r"|\bturn(?:s|ed)\s+out\b|但|可是|不过|其实|实际上|事实上|而是|后来|然而|居然|竟然|却|没想到|反而"
    r"|[;；]",
    re.IGNORECASE,
)


# What others say, reported to be set right: "Many people say the output is a zero matrix",
# "a common mistake is ...", "很多人会说…", "有人答 2d+1"; and what the student first thought and
# then dropped: "I first thought d + 1, but ...", "at first we guessed ...", "一开始以为…"
_REPORTED = re.compile(
    r"\b(?:many|some|most)\s+(?:people|students|others|classmates)\b[^.]{0,20}?"
    r"\b(?:say|said|think|claim|believe|answer|write)|\ba\s+(?:common|typical|classic)\s+"
    r"(?:mistake|misconception|error|trap)\b|\bit\s+is\s+tempting\s+to\s+(?:say|think)"
    r"|\b(?:i|we)\s+(?:first|initially|originally)\s+(?:thought(?!\s+(?:about|of)\b)|guessed"
    r"|assumed|believed|said|wrote|answered)|\b(?:at\s+first|initially|originally)\s*,?\s+"
    r"(?:i|we)\s+(?:thought(?!\s+(?:about|of)\b)|guessed|assumed|believed|said|wrote|answered)"
    r"|\b(?:i|we)\s+used\s+to\s+think"
    r"|很多人|有人|不少人|有的人|有些人|常见的?(?:错误|误解)|容易误以为|容易以为"
    r"|(?:起初|最初|一开始|开始|刚开始|原先|本来|原来)(?:我|我们)?(?:以为|觉得|认为|猜|写的?是|答的?是)"
    r"|(?:我|我们)(?:起初|最初|一开始|开始|刚开始|原先|本来|原来)(?:以为|觉得|认为|猜|写的?是|答的?是)"
    r"|原以为|本以为",
    re.IGNORECASE,
)


def _negated(text: str, start: int, end: int, breaks: list[tuple[int, int]]) -> bool:
    """Whether the match text[start:end] is negated within its clause (``breaks`` bound it)."""
    clause_start = max((b_end for b_start, b_end in breaks if b_end <= start), default=0)
    clause_end = min((b_start for b_start, _ in breaks if b_start >= end), default=len(text))
    before, after = text[clause_start:start], text[end:clause_end]
    return bool(
        _NEGATION.search(before)
        or _NON_PREFIX.search(before)
        or _NEGATED_AFTER.match(after)
        or (has_cjk(text) and _zh.negated(text, clause_start, start, end, clause_end))
    )


# The hits of a concept's patterns in recent blocks' sentences, keyed by the patterns, whether
# negation counts and the sentences themselves (their text and what was read from it).
_HITS: Memo[tuple[tuple[str, ...], bool, tuple[_Sentence, ...]], tuple[_Hit, ...]] = Memo(
    max_entries=16384, max_cost=16 * 1024 * 1024
)


def _block_hits(concept: Concept, group: tuple[_Sentence, ...]) -> tuple[_Hit, ...]:
    if not group:
        return ()
    return _HITS.get(
        (concept.patterns, concept.negated_ok, group),
        lambda: tuple(_hits(concept, group, "\n".join(s.text for s in group))),
        lambda found: 200 + sum(len(s.text) for s in group) + 150 * len(found),
    )


def _judge_concept(
    concept: Concept, groups: Sequence[tuple[_Sentence, ...]], words: int
) -> ConceptMatch:
    """``groups``: the sentences of each block (sentences hold no newline)."""
    hits = [hit for group in groups for hit in _block_hits(concept, group)]
    stated = max((h for h in hits if not h.denial), key=lambda h: h.weight, default=None)
    denied = max((h for h in hits if h.denial), key=lambda h: h.weight, default=None)
    p = STATED * stated.weight if stated else 0.0
    n = DENIED * denied.weight if denied else 0.0
    if stated is not None and p >= FOUND_AT:
        basis = "conflicting" if denied else stated.label
        return _match(concept, True, p * (1 - CONFLICT * n), stated, basis)
    confidence = (n if denied else _absence(words)) * (1 - p)
    if stated:
        return _match(concept, False, confidence, stated, stated.label)
    if denied:
        return _match(concept, False, confidence, denied, "negated")
    return _match(concept, False, confidence, None, "absent" if words else "empty")


def _match(
    concept: Concept, found: bool, confidence: float, hit: _Hit | None, basis: str
) -> ConceptMatch:
    evidence = _evidence(hit.sentence.text, hit.start, hit.end) if hit else None
    return ConceptMatch(concept.id, found, round(confidence, 3), evidence, basis)


def _absence(words: int) -> float:
    """Confidence that a concept the patterns did not find is really absent."""
    if words == 0:
        return 1.0
    span = ABSENT_LONG_WORDS - ABSENT_SHORT_WORDS
    fraction = min(1.0, max(0, words - ABSENT_SHORT_WORDS) / span)
    return ABSENT_SHORT - (ABSENT_SHORT - ABSENT_LONG) * fraction


def _evidence(text: str, start: int, end: int) -> str:
    if len(text) <= EVIDENCE_CHARS:
        return text
    width = EVIDENCE_CHARS - 2  # room for the two ellipses
    lo = max(0, min(start - (width - (end - start)) // 2, len(text) - width))
    hi = lo + width
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def _notes(text: str, sentences: Sequence[_Sentence], words: int, copied: int) -> tuple[str, ...]:
    notes: list[str] = []
    if words == 0:
        notes.append("empty")
    elif words <= SHORT_WORDS:
        notes.append("short")
    if any(_ABSTAIN.match(s.text) for s in sentences):
        notes.append("abstains")
    if sentences and all(s.question for s in sentences):
        notes.append("questions-only")
    if copied:
        notes.append("copied-question")
    if len(text) > MAX_TEXT:
        notes.append("truncated")
    return tuple(notes)
