"""The shapes of question labels and answers in a notebook's text: headings, numbers
("1.1", "Q2 (c)", "第二题", "①", "T1.1"), sub-labels, answer marks ("答：", "A:"), titles,
run-in headings, code comments and printed labels, template blanks. Patterns and small
text helpers only; :mod:`grader.locate` decides what they mean for a notebook's answers.

Lines are matched in NFKC form (:func:`nfkc`), so full-width digits and punctuation read as
ASCII and traditional characters as simplified ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from . import markup
from .model import Notebook
from .text.fold import simplified

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
# Chinese words that label a question ("思考题 1.1", "【练习1.1】", "课后习题2")
ZH_LABEL = r"思考题|课后习?题|练习题?|习题|题目"
# English words that label a question ("Exercise 2", "Q1.1", "Problem 3", "Task 4")
EN_LABEL = r"exercises?|ex\.?|q(?:uestion)?\.?|problem|task"
# Lines are matched in NFKC form, so full-width digits and punctuation ("１．", "（1）", "？")
# read as ASCII; Chinese numbering ("练习1", "第1题", "1、") and no space after "1." count too.
LIST = re.compile(r"^\s*(?:[-*•]|(?:\*\*)?\d+[.)、](?:\*\*)?)(?:\s+|(?=[\u3400-\u9fff]))")
NUMBER = re.compile(
    rf"^\s*(?:#+\s*)?(?:[-*•]\s+)?(?:\*\*)?\s*[【\[]?\s*(?:{EN_LABEL}|part"
    rf"|{ZH_LABEL}|问题|第|[at](?=\d)|ans\.?\s*|answer\s*)?\s*"
    r"(\d{1,2})题?(?:\s*[.)]?\s*(?:\(?([0-9]{1,2}|[a-d](?![a-z]))\)?))?"
    r"(?:[.):*、】\]]|\s|$|(?=[\u3400-\u9fff]))",
    re.IGNORECASE,
)
# "（2）", "(2)", "②" (read as "(2)" by nfkc): sub-question 2 of the open question
SUB = re.compile(r"^\s*(?:#+\s*)?(?:\*\*)?\s*\(\s*(\d)\s*\)")
# A heading that labels a question in the student's own numbering ("## Problem C", "### Q7",
# "## 问题三", "### 题 5"): when its words name no exercise, what follows is an unnamed answer
QUESTION_HEADING = re.compile(
    r"^\s*(?:\*\*)?\s*(?:(?:problem|question|exercise|task|q|ex\.?)\s*[a-z0-9]{1,3}\b"
    r"|(?:问题|题目?|练习)\s*[\d一二三四五六七八九十a-z]{1,3})",
    re.IGNORECASE,
)
# a comment line's text; Colab's form markers are not the student's words ("#@title Ex 1.1 ...")
CODE_COMMENT = re.compile(r"^\s*#+\s?(?:@(?:title|markdown)\b\s*)?(.*)$")
LABELLED = re.compile(
    r"\s*(?:\*\*)?(?:exercises?\b|ex\b\.?|q(?:uestion)?\.?\s*\d|[at]\d|problem\b|task\b|part\b"
    rf"|[【\[]?(?:{ZH_LABEL}|问题)|第\s*\d|（\s*\d|\d{{1,2}}(?:\.\d{{1,2}})?(?:[.):\s、]|$)"
    r"|\(?(?:[a-d]|i{1,3}|iv)\)\s)",  # "# (b) transpose X"
    re.IGNORECASE,
)
# Inside a long cell a comment opens a new answer only when it reads like a heading: a label
# word with a number, "2.3", "3) ..." or a bare number ("# 1.1"), not "# 1 -1 pattern".
HEADING_COMMENT = re.compile(
    rf"\s*(?:\*\*)?(?:(?:{EN_LABEL}|part|[at](?=\d))\s*\d"
    r"|\d{1,2}\.\d{1,2}\b|\d{1,2}[.)、]\s*\S|\d{1,2}(?:\.\d{1,2})?\s*$"
    r"|(?:思考题|练习|习题|题目)\s*\d|第\s*\d|（\s*\d)",
    re.IGNORECASE,
)
SUB_LABEL = re.compile(
    r"^\s*(?:#+\s*)?(?:[-*]\s+)?(?:\*\*)?\s*(?:part\s*)?"
    r"(?:\(([a-d]|i{1,3}|iv)\)|([a-d]|i{1,3}|iv)[).])(?:\*\*)?[.:]?(?:\s|$)",
    re.IGNORECASE,
)
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
LABEL_LINE = re.compile(
    rf"^\s*(?:[-*]\s+)?(?:\*\*)?\s*[【\[]?\s*(?:(?:{EN_LABEL}"
    rf"|{ZH_LABEL}|[at](?=\d)|ans\.?|answer)"
    r"\s*\d|\d{1,2}\.\d{1,2}\b|第\s*\d+\s*题|[(（]\s*\d\s*[)）])",
    re.IGNORECASE,
)
BULLET = re.compile(r"^\s*[-*•]\s")
QUOTE = re.compile(r"^\s*>\s?")
RUN_IN = re.compile(r"^\s*\*\*([^*\n]{1,80}?)[:：]?\*\*\s*[:：]?\s*\S")
ALL_BOLD = re.compile(r"^\s*(?:[-*]\s+)?\*\*[^*]+\*\*\s*$")
# "**Q3 [1.3] Transpose K**", "Problem 5 (book 2.1)": the book's number beside the student's
BOOK_REF = re.compile(
    r"^\s*(?:#+\s*)?(?:[-*]\s+)?(?:\*\*)?\s*(?:q(?:uestion)?|problem|task|ex(?:ercise)?|part|题|t)"
    r"\.?\s*\d{1,2}[.):]?\s*(?:\*\*)?\s*[\[(]\s*(?:book|d2l|ex\.?|exercise|§)?\s*"
    r"(\d{1,2}(?:\.\d{1,2})?(?:\s*(?:\+|&|and|,|/)\s*\d{1,2}(?:\.\d{1,2})?)*)\s*[\])]",
    re.IGNORECASE,
)
# "**3. Autograd on our `Conv2D`.** No error ...": a number set in bold is a label
BOLD_NUMBER = re.compile(r"^\s*\*\*\s*\d{1,2}[.)](?!\d)")
ARROW = re.compile(r"^\s*(?:->|=>|→|⇒)\s*")
BULLET_LABEL = re.compile(
    rf"^\s*[-*•]\s+(?:\*\*)?\s*[【\[]?\s*(?:{EN_LABEL}|{ZH_LABEL}|问题|第)\s*\d",
    re.IGNORECASE,
)
NUMBERED_ITEM = re.compile(r"^\s*\d{1,2}[.)、]")
# A line the student marks as an answer is never a question, whatever words it uses
ANSWER_MARK = re.compile(
    r"^\s*(?:[-*•]\s+)?(?:\*\*)?\s*(?:答案?|回答|解答|answer|ans\.?|a)\s*(?:\*\*)?\s*:",
    re.IGNORECASE,
)
# Words just before a question's wording that make the line refer to it, not ask it
COMPARED = re.compile(
    r"(?:\b(?:same|similar|identical|equal)\s+(?:as|to)|\b(?:like|unlike|than|versus|vs\.?)"
    r"|\bas\s+(?:in|for|with|when)|\bcompared?\s+(?:to|with))\W+(?:\w+\W+){0,2}$"
    r"|(?:和|与|跟|同)\s*$",
    re.IGNORECASE,
)
QUESTION_MARK = re.compile(
    r"^\s*(?:[-*•]\s+)?(?:\*\*)?\s*[【\[]?(?:问题?|题目|q|question)[】\]]?\s*(?:\*\*)?\s*:",
    re.IGNORECASE,
)
LABEL_TAIL = re.compile(r"^[\s*_.:)\]\-–—>=]+")


def nfkc(text: str) -> str:
    """Full-width forms as ASCII, traditional characters as simplified ones, a Chinese
    numeral after a question label as a digit: "（1）如果轉置Ｘ？" -> "(1)如果转置X?",
    "第二题" -> "第2题" (not "一、课本代码", a part of the notes)."""
    if text.isascii():
        return text
    text = CIRCLED.sub(lambda m: f"（{ord(m.group(0)) - 0x245F}）", text)  # ② -> (2)
    text = simplified(unicodedata.normalize("NFKC", text))
    return CN_NUMBERED.sub(lambda m: m.group(1) + str(CN_DIGITS.index(m.group(2)) + 1), text)


CIRCLED = re.compile("[\u2460-\u2468]")  # ① .. ⑨
CN_DIGITS = "一二三四五六七八九"
CN_NUMBERED = re.compile(
    r"(第|思考题|练习|习题|题目)\s*([一二三四五六七八九])(?=题|\s*[:.、】\]\s]|$)"
)


EXERCISES_HEADING = re.compile(
    r"^\s{0,3}#{1,6}\s*(?:\d+(?:\.\d+)*\.?\s*)?(?:exercises?|problems?|homework|"
    r"练习题?|习题|课后习题|思考题|作业)(?![ \t]*\d)[^\d\n]{0,30}$",
    re.IGNORECASE | re.MULTILINE,
)


def exercises_heading(notebook: Notebook) -> int | None:
    """The first markdown cell with an "Exercises" heading, if the notebook has one after
    some other cell (a heading opening the notebook is its title, not a divider)."""
    for cell in notebook.cells:
        if (
            cell.kind == "markdown"
            and cell.index > 0
            and EXERCISES_HEADING.search(nfkc(cell.source))
        ):
            return cell.index
    return None


# "## 5. Exercise 3 — Autograd": the student's own section number before the book's label
OWN_THEN_LABEL = re.compile(
    rf"^\s*(?:#+\s*)?(?:\*\*)?\s*\d{{1,2}}[.)]\s*(?:\*\*)?\s*\[?(?=(?:{EN_LABEL}|{ZH_LABEL})\s*\d)",
    re.IGNORECASE,
)


# a number given with a question word ("Exercise 3", "## 5. Exercise 3", "练习 2"), not bare
EXPLICIT = re.compile(
    rf"^\s*(?:#+\s*)?(?:[-*•]\s+)?(?:\*\*)?\s*(?:\d{{1,2}}[.)]\s*(?:\*\*)?\s*)?[【\[]?\s*"
    rf"(?:{EN_LABEL}|{ZH_LABEL}|问题|第)\s*\d",
    re.IGNORECASE,
)


def number(text: str) -> str | None:
    norm = nfkc(text)
    own = OWN_THEN_LABEL.match(norm)
    if own is not None:  # the label's number, not the section's
        norm = norm[own.end() :]
    m = NUMBER.match(norm)
    if not m:
        return None
    major, minor = m.group(1), m.group(2)
    if minor is None:
        # "- 1.1 not zero" names 1.1; "- 1 for white->black" is a value, not question 1,
        # but "- **Ex 3 (autograd):** ..." is labelled
        return None if BULLET.match(norm) and not BULLET_LABEL.match(norm) else major
    if minor.isalpha():
        minor = str(ord(minor.lower()) - ord("a") + 1)
    return f"{major}.{minor}"


# A short lead-in before a colon: "Transpose K:", "K.T:", "a. 二阶导数：" (NFKC-folded)
# or an arrow: "(iii) degree d -> d+1"
LEAD = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?([^:?]{1,24}?)(?:\*\*)?\s*(?::|->|→|=>|⇒)\s*")


def lead_in(line: str) -> str | None:
    """The lead-in of a line shaped "<a few words>: <answer>", or None."""
    m = LEAD.match(nfkc(line))
    if m is None or markup.words_in(m.group(1)) > 3:
        return None
    return m.group(1)


# "1.2 transpose X", "Exercise 3: autograd": a label even right under a line of code
NUMBERED_COMMENT = re.compile(
    rf"\s*(?:(?:{EN_LABEL})\s*\d|\d{{1,2}}\.\d{{1,2}}\s+[^\W\d]"
    rf"|(?:{ZH_LABEL})\s*\d|\d{{1,2}}\.\d{{1,2}}\s*[:：])",  # "# 练习1.1：输出 8x7 ..."
    re.IGNORECASE,
)
# A printed answer that starts with its question's number: "1.2) ...", "Q3: ...", "4.1答：..."
PRINTED_LABEL = re.compile(
    r"\s*(?:answer|ans\.?|答案?)?\s*"  # "ANSWER 1.1: ..."
    r"(?:(?:exercises?|ex\.?|q(?:uestion)?\.?|problem|练习|习题)\s*\d|\d{1,2}\.\d{1,2}\s*[):：.、答]"
    r"|\d{1,2}\s*[):：、]|\d{1,2}\s*答)",
    re.IGNORECASE,
)
ANSWER_LEAD = re.compile(r"^\s*(?:answer|ans\.?|答案?)\s*(?=\d)", re.IGNORECASE)
# "# ------ learning a kernel": a comment drawn as a rule is a heading, even without a number
RULED = re.compile(r"^\s*[-=*~#]{3,}\s*\S")


STRING_QUOTES = re.compile(r"""^\s*[rRuUbBfF]{0,2}(?:\"\"\"|\'\'\')\s*""")


def string_opener(lines: Sequence[str], n: int, strings: set[int]) -> str | None:
    """The text on the first line of a top-level triple-quoted string (a docstring heading
    a cell: '\"\"\"Ex 1.1  Apply K.'), or None if line ``n`` does not open one."""
    if n not in strings or (n - 1) in strings:
        return None
    text = STRING_QUOTES.sub("", lines[n])
    return re.sub(r"""(?:\"\"\"|\'\'\')\s*$""", "", text).strip()


def undecorated(comment: str) -> str:
    """A comment without the rule students draw around headings: "-- 1.1 apply K --"."""
    return comment.strip().strip("-=*~_#").strip()


PLACEHOLDERS = frozenset(
    {
        "*Your answer here.*",
        "YOUR ANSWER HERE",
        "# YOUR CODE HERE",
        "*在这里写下你的答案。*",  # grade assign's stubs for a Chinese reference
        "# 在这里写代码",
    }
)


# A template's blank, however it is decorated ("# 【在此作答】", "**TODO**", "Your answer here")
PLACEHOLDER_WORDS = frozenset(
    {
        "your answer here",
        "your code here",
        "answer here",
        "write your answer here",
        "todo",
        "tbd",
        "在此作答",
        "在这里作答",
        "请在此作答",
        "此处作答",
        "在这里写下你的答案",
        "在这里写代码",
        "待补充",
    }
)


def placeholder(line: str) -> bool:
    if line.strip() in PLACEHOLDERS:
        return True
    core = line.strip().strip("#*_ \t()（）【】[]<>:：.。!！-").strip().lower()
    # "TODO — ran out of time, will finish later": a note to self, not an answer
    return core in PLACEHOLDER_WORDS or bool(re.match(r"todo\b", core))
