"""Fold text to the form patterns are written in: half-width, simplified, spaced.

Only text with CJK or full-width characters is touched (:func:`needs_fold`), so English
answers are judged exactly as before and pay one regex scan.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from typing import Any, Final

# Ideographs (CJK unified, extension A, compatibility), CJK punctuation, full-width forms.
_WIDE: Final = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# What NFKC leaves alone: ideographic full stop and comma, corner brackets, title marks.
_PUNCT: Final = str.maketrans(
    {
        "。": ". ",
        "、": ", ",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "《": '"',
        "》": '"',
        "〈": '"',
        "〉": '"',
        "【": "[",
        "】": "]",
        "〔": "(",
        "〕": ")",
        "～": "~",
        "・": " ",
    }
)
_CJK_CHAR: Final = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A sentence end or clause mark right before a Chinese character gets its space back.
_MARK_BEFORE_CJK: Final = re.compile(rf"([.!?;:,])(?=[{_CJK_CHAR}])")
_CJK_THEN_LATIN: Final = re.compile(rf"(?<=[{_CJK_CHAR}])(?=[A-Za-z0-9_(\[$\\])")
_LATIN_THEN_CJK: Final = re.compile(rf"(?<=[A-Za-z0-9_)\]$])(?=[{_CJK_CHAR}])")


def needs_fold(text: str) -> bool:
    """Whether ``text`` has CJK or full-width characters (which :func:`fold` changes)."""
    return _WIDE.search(text) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` has a Chinese character."""
    return _CJK.search(text) is not None


def fold(text: str) -> str:
    """``text`` in the patterns' form (see the module doc); unchanged without CJK/full-width."""
    if not needs_fold(text):
        return text
    text = unicodedata.normalize("NFKC", text)
    if has_cjk(text):
        text = _to_simplified(text)
    text = text.translate(_PUNCT)
    text = _MARK_BEFORE_CJK.sub(r"\1 ", text)
    text = _CJK_THEN_LATIN.sub(" ", text)
    return _LATIN_THEN_CJK.sub(" ", text)


def simplified(text: str) -> str:
    """``text`` with traditional Chinese characters as simplified ones (only where it has
    Chinese): the book's wording in the rubric is simplified."""
    return _to_simplified(text) if has_cjk(text) else text


def cjk_word_count(text: str) -> int:
    """Words of a text with Chinese: each run of Chinese characters counts one word per two
    characters (the mean length of a Chinese word), other words as ``\\w+``. A cheap
    estimate: the count only scales confidences and notes, it matches nothing."""
    runs = _CJK_RUN.findall(text)
    rest = _CJK_RUN.sub(" ", text)
    return sum(math.ceil(len(r) / 2) for r in runs) + len(re.findall(r"\w+(?:'\w+)?", rest))


_CONVERTER: Any = None
_LOCK = threading.Lock()


def _to_simplified(text: str) -> str:
    """Traditional to simplified characters with OpenCC (its ``t2s`` phrase tables), loaded
    on first use (~15 ms); simplified text comes back as it was."""
    global _CONVERTER
    if _CONVERTER is None:
        with _LOCK:
            if _CONVERTER is None:
                import opencc

                _CONVERTER = opencc.OpenCC("t2s")
    return str(_CONVERTER.convert(text))
