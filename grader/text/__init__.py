"""Language handling for students' written answers: folding text to one form, and words.

:func:`fold` maps text with Chinese or full-width characters to the form the rubric's
patterns are written in (NFKC: full-width letters, digits and punctuation to ASCII; OpenCC:
traditional to simplified characters; Chinese sentence punctuation to ASCII followed by a
space; a space between Chinese and Latin letters or digits, so that ``\\b`` and ``\\w`` in
patterns work in mixed sentences). Text without such characters is returned unchanged.
:mod:`grader.text.zh` holds the Chinese words (segmentation with jieba, loaded lazily).
"""

from __future__ import annotations

from .fold import cjk_word_count, fold, has_cjk, needs_fold

__all__ = ["cjk_word_count", "fold", "has_cjk", "needs_fold"]
