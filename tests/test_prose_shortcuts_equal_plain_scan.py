"""The prose matcher's shortcuts give the verdicts of the plain sentence-by-sentence scan."""

from __future__ import annotations

import random
import re
from itertools import islice

import pytest

from grader import prose
from grader.prose import MAX_HITS, Concept, judge

PATTERNS = [
    r"\bnot\b",
    r"zero",
    r"diagonal\W+edge",
    r"(size|minimum)\D{0,40}\b3\b",
    r"^the",
    r"edge$",
    r"(?<=a )kernel",
    r"kernel(?! size)",
    r"(?i)BLUR",
    r"[^a-z]+1",
    r"(?:sum|summing) to 1",
    r"x*",
    r"\Bern",
    r"a\D*+\b",
]
WORDS = [
    "the",
    "a",
    "kernel",
    "edge",
    "diagonal",
    "not",
    "zero",
    "size",
    "minimum",
    "3",
    "1",
    "-1",
    "sum",
    "summing",
    "to",
    "blur",
    "is",
    "isn't",
    "never",
    "maybe",
    "?",
    ".",
    ",",
    ";",
    "but",
    "and",
    "e.g.",
    "i.e.",
    "`K`",
    "**bold**",
    "$x$",
    "\\frac{1}{2}",
    "1x3",
    "edge.",
]


def _naive_hits(concept: Concept, sentences: list[prose._Sentence]) -> list[prose._Hit]:
    """The matcher before its shortcuts: every pattern on every sentence."""
    out = []
    for sentence in sentences:
        spans = [
            m.span()
            for pattern in concept.compiled
            for m in islice(pattern.finditer(sentence.text), MAX_HITS)
            if m.end() > m.start()
        ]
        kept: list[tuple[int, int]] = []
        for start, end in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
            if all(end <= k0 or start >= k1 for k0, k1 in kept):
                kept.append((start, end))
        if kept:
            breaks = [m.span() for m in prose._CLAUSE_BREAK.finditer(sentence.text)]
            out += [prose._hit(concept, sentence, s, e, breaks) for s, e in sorted(kept)[:MAX_HITS]]
    return out


def _text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 8)):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14)))
        lines.append(rng.choice(["", "> ", "# ", "- ", "1. "]) + line)
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(40))
def test_hits_match_the_plain_scan(seed: int) -> None:
    rng = random.Random(seed)
    text = _text(rng)
    sentences = prose._sentences(text)
    joined = "\n".join(s.text for s in sentences)
    for pattern in PATTERNS:
        for negated_ok in (False, True):
            concept = Concept("c", (pattern, rng.choice(PATTERNS)), negated_ok)
            got = list(prose._hits(concept, sentences, joined))
            assert got == _naive_hits(concept, sentences), (pattern, text)


def test_context_free_is_conservative() -> None:
    free = [r"\bzero\b", r"(?:a|b)c", r"[^x]y", r"(?P<n>a)(?P=n)", r"\D{0,90}\b3\b"]
    bound = [r"^x", r"x$", r"a(?=b)", r"(?<!a)b", r"(?i)x", r"\Ax", r"x\Z", r"a++", r"(?>a)"]
    assert all(prose._context_free(p) for p in free)
    assert not any(prose._context_free(p) for p in bound)


def test_latex_and_inline_cleaning_unchanged_by_shortcuts() -> None:
    text = (
        "Use $\\frac{\\text{a}}{b}$ and \\begin{matrix} 1 & 2 \\end{matrix}; see "
        "[the book](http://x.y) or ![img](a.png), **bold** *it* _u_ a|b `code` <br>x &amp; y"
    )
    assert prose.normalise(text) == (
        "Use (a)/(b) and 1 2; see the book or img, bold it u a b code x & y"
    )
    assert prose.normalise("plain words, no markup at all") == "plain words, no markup at all"


def test_judge_finds_and_denies() -> None:
    c = Concept("zero", (r"zero matrix",))
    assert judge("The result is a zero matrix.", [c]).required[0].found
    denied = judge("The result is not a zero matrix.", [c]).required[0]
    assert not denied.found and denied.basis == "negated"
    assert re.fullmatch(r"0\.9\d*", str(denied.confidence))


# --------------------------------------------------------------------------- the caches


def _clear() -> None:
    prose._PARAGRAPHS.clear()
    prose._SENTENCES.clear()
    prose._HITS.clear()


@pytest.mark.parametrize("seed", range(30))
def test_paragraphs_read_one_by_one_give_the_whole_texts_blocks(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["\n", "\n\n", "> quoted", "# Head", "## 2.1 Q", "- item", "```", "---", "<p>",
              "<b\n\nx>", "\\begin{a}\n\n1 & 2\\end{a}", "\\frac{1}{\n\n2}", "&nbsp;", "\u00a0",
              "text. More", "e.g. this", "**b**", "`c`", "  ", "\x1c"]  # fmt: skip
    text = "".join(rng.choice(pieces + WORDS) + rng.choice([" ", "\n"]) for _ in range(60))
    _clear()
    assert prose._blocks(text) == prose._scan_blocks(prose._prepare(text))
    assert prose._blocks(text) == prose._scan_blocks(prose._prepare(text))  # from the cache


def test_caches_are_hit_on_equal_content_and_results_stay_the_same() -> None:
    _clear()
    concepts = [Concept("zero", ("zero matrix",)), Concept("edge", (r"diagonal\W+edge",))]
    text = "The result is a zero matrix.\n\nA diagonal edge is found. Maybe."
    first = judge(text, concepts)
    hits = (prose._PARAGRAPHS.hits, prose._SENTENCES.hits, prose._HITS.hits)
    again = judge(text, concepts)
    assert again == first
    assert prose._PARAGRAPHS.hits > hits[0]
    assert prose._SENTENCES.hits > hits[1]
    assert prose._HITS.hits > hits[2]
    _clear()
    assert judge(text, concepts) == first


def test_cached_results_depend_on_content_patterns_and_negation() -> None:
    _clear()
    zero = Concept("zero", ("zero matrix",))
    assert judge("It is a zero matrix.", [zero]).required[0].found
    assert not judge("It is not a zero matrix.", [zero]).required[0].found
    # the same sentence, judged for another pattern, or with negation allowed
    assert not judge("It is not a zero matrix.", [Concept("z", ("one matrix",))]).required[0].found
    assert (
        judge("It is not a zero matrix.", [Concept("z", ("zero matrix",), True)]).required[0].found
    )
    # the same words quoted or not
    assert judge("> It is a zero matrix.", [zero]).required[0].basis == "quoted"
    assert judge("It is a zero matrix.", [zero]).required[0].basis == "stated"


def test_caches_are_bounded() -> None:
    _clear()
    for memo in (prose._PARAGRAPHS, prose._SENTENCES, prose._HITS):
        assert memo.max_entries <= 16384 and memo.max_cost <= 16 * 1024 * 1024
    limit = prose._PARAGRAPHS.max_entries
    for i in range(limit + 50):
        prose.normalise(f"paragraph {i}")
    assert len(prose._PARAGRAPHS) == limit
    _clear()
