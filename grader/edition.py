"""Which edition of the book a notebook follows: the rubric's signals, counted.

Each edition lists regexes (``editions: {d2l-1.0: {signals: [...]}}``) that its questions,
headings and code carry ("7.2", "directional vector", "LazyConv2d"; "6.2", "kernel for an
integral"; "图像卷积"). The edition whose signals occur most often wins; a tie is no edition,
except that the Chinese book (the 0.17 exercises with 0.17's code) wins a tie with 0.17 in a
notebook written in Chinese, and a notebook written in Chinese that quotes the Chinese book
at all is read as it even when its code outnumbers the book's words.
"""

from __future__ import annotations

import re

from .model import EDITIONS, Edition, Notebook
from .rubric import Rubric
from .text.fold import fold, has_cjk


def detect_edition(notebook: Notebook, rubric: Rubric) -> Edition | None:
    """The book edition whose signals (regexes in the rubric) occur most often."""
    text = "\n".join(c.source for c in notebook.cells)
    if has_cjk(text):  # the signals are written in simplified characters: 圖像卷積 -> 图像卷积
        text = fold(text)
    lowered = text.lower() if text.isascii() else None
    scores = {
        ed: sum(_count(p, text, lowered) for p in signals)
        for ed, signals in rubric.editions.items()
    }
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] == 0:
        return None
    tied = [ed for ed, n in ranked if n == ranked[0][1]]
    if len(tied) > 1 and "d2l-zh-2.0" in tied and set(tied) <= {"d2l-zh-2.0", "d2l-0.17"}:
        # the Chinese book carries 0.17's "6.2" and code: a tie in a Chinese notebook is it
        tied = ["d2l-zh-2.0"] if has_cjk(text) else tied
    if len(tied) > 1:
        return None
    best = tied[0]
    if best == "d2l-0.17" and scores.get("d2l-zh-2.0", 0) > 0 and _cjk_chars(text) >= 40:
        # the same exercise list: a notebook written in Chinese that quotes the Chinese
        # book at all ("图像卷积") is read as the Chinese edition, even if its code ("6.2",
        # "nn.Conv2d(1, 1") outnumbers the book's Chinese words
        best = "d2l-zh-2.0"
    for edition in EDITIONS:
        if edition == best:
            return edition
    return None


def _cjk_chars(text: str) -> int:
    return len(_CJK.findall(text))


_CJK = re.compile(r"[\u3400-\u9fff]")
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
