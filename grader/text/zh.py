"""Chinese words for the prose matcher: negation and clause breaks, by segmentation.

Chinese has no spaces, and its negators are characters that also start ordinary words:
不 negates in 不是零矩阵 but not in 不同 (different), 不变 (unchanged) or 不仅 (not only);
非 negates in 非零 but not in 非常 (very); 而 breaks a clause but 然而 / 而且 are words of
their own. So the words of a sentence come from jieba's segmenter (its dictionary ships in
its wheel), with the section's terms added so that they stay whole (零矩阵, 有限差分, ...).

jieba's dictionary takes about a second to load. It is loaded on the first sentence that
needs it: one with Chinese characters, a match of a concept, and a negator character before
the match in its clause. English batches never load it; a grading process loads it once.
Its prefix cache goes to a private directory (``$XDG_CACHE_HOME/grader``, mode 0700), never
to the shared /tmp, because jieba reads that cache back with ``marshal``.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from typing import Any, Final

from ..memo import Memo

# Words that negate what follows them in their clause.
NEGATORS: Final = frozenset(
    [
        "不",
        "不是",
        "不会",
        "不能",
        "不再",
        "不为",
        "不等于",
        "不全",
        "不全是",
        "不可能",
        "不应",
        "不应该",
        "不用",
        "不需要",
        "不必",
        "不要",
        "不得",
        "不曾",
        "不算",
        "没",
        "没有",
        "没能",
        "未",
        "未能",
        "并未",
        "从未",
        "从没",
        "从来不",
        "无",
        "毫无",
        "并无",
        "非",
        "并非",
        "绝非",
        "而非",
        "而不是",
        "并不",
        "并不是",
        "决不",
        "绝不",
        "别",
        "否",
        "不至于",
        "不会是",
        "不可",
        "难以",
        "不同于",
        "区别于",
        "无法",
        "没法",
        "无从",
        "不能够",
    ]
)
# Words a negator character starts that do not negate.
NOT_NEGATING: Final = frozenset(
    [
        "不同",
        "不变",
        "不断",
        "不仅",
        "不但",
        "不光",
        "不过",
        "不少",
        "不错",
        "不久",
        "不管",
        "不停",
        "不一",
        "不一样",
        "不等",
        "非常",
        "无论",
        "无非",
        "无穷",
        "无限",
        "没错",
        "未来",
        "不止",
        "不只",
        "非得",
        "无需",
        "无须",
    ]
)
# Words that end a clause (as , ; : do): a negation before them does not reach past them.
CLAUSE_WORDS: Final = frozenset(
    [
        "但",
        "但是",
        "然而",
        "而",
        "而是",
        "不过",
        "可是",
        "只是",
        "因为",
        "所以",
        "因此",
        "因而",
        "由于",
        "虽然",
        "尽管",
        "而且",
        "并且",
        "同时",
        "否则",
        "于是",
        "除了",
        "相反",
        "反而",
        "以及",
        "或者",
        "或",
    ]
)
# The section's terms, kept whole by the segmenter (with a frequency that wins).
TERMS: Final = [
    "零矩阵",
    "全零",
    "全为零",
    "全是零",
    "非零",
    "非零值",
    "非零元素",
    "对角线",
    "对角",
    "转置",
    "卷积核",
    "二阶导数",
    "一阶导数",
    "有限差分",
    "前向差分",
    "后向差分",
    "中心差分",
    "中心差分法",
    "向前差分",
    "差分",
    "拉普拉斯",
    "拉普拉斯算子",
    "自动求导",
    "自动微分",
    "求导",
    "互相关",
    "报错",
    "求和",
    "累加",
    "累积和",
    "前缀和",
    "积分图",
    "矩阵乘法",
    "矩阵乘",
    "原地操作",
    "就地操作",
    "滑动窗口",
    "展开",
    "卷积",
    "边缘检测",
    "水平边缘",
    "垂直边缘",
    "竖直边缘",
    "反向传播",
    "梯度",
    "噪声",
    "降噪",
    "去噪",
    "模糊",
    "平滑",
    "抗锯齿",
    "孤立点",
    "泰勒展开",
    "二项式",
    "杨辉三角",
    "帕斯卡",
    "范德蒙德",
]
# Words the segmenter may keep whole that start with a negation (并不需要, 从未见过).
_NEGATING_PREFIXES: Final = (
    "并不",
    "并非",
    "并没",
    "并未",
    "从不",
    "从未",
    "从没",
    "绝不",
    "决不",
    "毫无",
    "并无",
)
_NEGATOR_CHARS: Final = frozenset("不没未无非否别毫绝难")
# Right after the match: the claim is called wrong ("零矩阵是不对的").
_WRONG_AFTER: Final = re.compile(
    r"^[^,.;]{0,6}?\s*(?:的说法|这种说法|这个说法)?\s*(?:是|就是|其实是|显然是)?\s*"
    r"(?:不对|错的|错误的|不正确|不成立|不可能的|误解)"
    r"|^\s*(?:不到|不出|不了)"  # a verb's negated result: 检测不到, 看不出
    r"|^\s*(?:并)?(?:不是|并非|不算)\s*(?:最小|最少|必须|必需|必要|正确|对的)"
)

# "和 <the book's case> 不同/不一样": what the match says is contrasted, not claimed
_CONTRAST_BEFORE: Final = re.compile(r"(?:和|跟|与|同)[^,.;]{0,24}$")
_CONTRAST_AFTER: Final = re.compile(r"^[^,.;]{0,8}?(?:不同|不一样|不一致|相反|有区别)")

# the sentence is about the book's own example (its vertical stripes), set apart by a
# contrast and a colon, or named as the book's: what it says of that example is not a claim
_BOOK_CASE: Final = re.compile(
    r"(?:和|跟|与|同)[^.;]{0,24}(?:不同|不一样)\s*[:：]"
    r"|(?:本节|书上|书中|书里|课本|课文|正文|原文)[^.;,]{0,6}(?:竖条纹?|条纹|竖线|竖直条)"
)

# ... unless the sentence says this case is the same as the book's
_SAME_AS_BOOK: Final = re.compile(
    r"(?:本节|书上|书中|书里|课本|课文|正文|原文)[^.;]{0,24}(?:是一回事|(?<!不)一样|相同|一致|同理)"
)

# where a sentence turns from the book's case back to the student's ("那里…，这里斜线还在")
_TURN: Final = re.compile(r"但是|但|然而|可是|不过|而是|这里|这次|\bbut\b")

_TOKENIZER: Any = None
_LOCK = threading.Lock()
_WORDS: Memo[str, tuple[tuple[str, int, int], ...]] = Memo(
    max_entries=4096, max_cost=8 * 1024 * 1024
)


def words(sentence: str) -> tuple[tuple[str, int, int], ...]:
    """jieba's words of ``sentence`` as (word, start, end), remembered by content."""
    return _WORDS.get(
        sentence,
        lambda: tuple((str(w), int(a), int(b)) for w, a, b in _tokenizer().tokenize(sentence)),
        lambda found: 200 + 2 * len(sentence) + 120 * len(found),
    )


def negated(text: str, clause_start: int, start: int, end: int, clause_end: int) -> bool:
    """Whether the match ``text[start:end]`` is negated in Chinese within its clause
    (``clause_start``..``clause_end``, bounded by punctuation and English clause words)."""
    before = text[clause_start:start].rstrip()
    if before and before[-1] in "非不无没未" and not before.endswith(("差不", "要不")):
        return True  # a negator right before the match: 非|零矩阵, 不|支持, 没|报错
    after = text[end:clause_end]
    if _WRONG_AFTER.match(after):
        return True
    if _CONTRAST_BEFORE.search(text[clause_start:end]) and _CONTRAST_AFTER.match(after):
        return True  # 和正文里竖条纹转置后变成全 0 不同: the book's case, set against this one
    lead = _TURN.split(text[:start])[-1]  # "...不同：... ，但斜线转置后……": back to this case
    if _SAME_AS_BOOK.search(lead):
        return False  # 结果跟书上竖条纹转置以后是一回事：…全 0: said of this case, like the book's
    if _BOOK_CASE.search(lead) or _BOOK_CASE.match(text[start:end].lstrip()):
        return True  # 这与本节的竖条纹不同：竖条纹转置后……输出全为零: said of the book's example
    if not _NEGATOR_CHARS.intersection(before):
        return False  # no negator character at all: no need to segment
    tokens = words(text)
    for word, w_start, w_end in reversed(tokens):
        if w_end > start or w_start < clause_start:
            continue
        if word in CLAUSE_WORDS:
            return False  # the clause starts after this word
        if (
            word in NEGATORS
            or word.startswith(_NEGATING_PREFIXES)
            or (word[0] in "不没未" and word not in NOT_NEGATING)
        ):
            return True
    return False


def _tokenizer() -> Any:
    global _TOKENIZER
    if _TOKENIZER is None:
        with _LOCK:
            if _TOKENIZER is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.tmp_dir = _cache_dir()
                tokenizer.initialize()
                for term in TERMS:
                    tokenizer.add_word(term, freq=200_000)
                _TOKENIZER = tokenizer
    return _TOKENIZER


def _cache_dir() -> str:
    """A directory only this user can write, for jieba's prefix cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "grader")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
        if info.st_uid == os.getuid() and not info.st_mode & 0o022:
            return path
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="grader-jieba-")
