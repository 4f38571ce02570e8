"""Feedback in the student's language: gettext catalogues (Babel), applied at the edge.

Results stay in English, the grader's own language: checks build their feedback from
English message templates marked with :func:`N_` (``N_("`{fn}` is right on all {n} hidden
test inputs.").format(...)``), rubrics write English feedback, and the gradebook, the JSON
report and the class report keep that text. Reporters that speak to a student translate a
result when they show it (:meth:`Translator.localise`):

- the message id is the English text itself; templates keep their ``{name}`` fields, so a
  line such as "`corr2d` is right on all 12 hidden test inputs." is found by matching the
  template and its fields are put into the translated template (fields are translated too:
  "the learned kernel" inside "Judged {label}: {msg}");
- a line made of several messages (a rubric's feedback followed by "Cells: 3, 5.") is
  translated message by message, longest known prefix first;
- text with no translation stays English: a missing translation never fails a report.

Catalogues: ``grader/i18n/locale/<lang>/LC_MESSAGES/grader.po`` for the grader's own strings
(checks, reporters) and ``rubrics/locale/<lang>/LC_MESSAGES/<rubric id>.po`` for a course's
rubric (feedback, hints, titles) and its reference module's predicate messages. They are
compiled to ``.mo`` in memory when first loaded, so an edited ``.po`` takes effect at once.
Extraction (``pybabel extract``) uses ``babel.cfg`` and the extractors in
:mod:`grader.i18n.extract`; see docs/rubrics.md.
"""

from __future__ import annotations

import functools
import io
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from ..model import CheckResult, ExerciseResult, Notebook, SubmissionResult

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
PACKAGE_LOCALE = Path(__file__).resolve().parent / "locale"

__all__ = [
    "LANGUAGES",
    "N_",
    "Language",
    "Translator",
    "detect_language",
    "student_language",
    "translator",
]


def N_(message: str) -> str:
    """Mark an English message (a template with ``{name}`` fields) for translation. It is
    returned unchanged: results are kept in English and translated when a reporter shows
    them to a student."""
    return message


# --------------------------------------------------------------------------- detection

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_LATIN = re.compile(r"[^\W\d_]", re.UNICODE)
_CODE_SPAN = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$", re.DOTALL)
_COMMENT = re.compile(r"#+\s?(.*)$", re.MULTILINE)
# A Chinese word is about 1.5 characters, an English one about 5 letters: the share of
# Chinese is counted in words, and a third of the student's words in Chinese makes it
# a Chinese submission (the questions, code and formulas do not count).
ZH_SHARE = 1 / 3


def _prose(notebook: Notebook) -> str:
    parts: list[str] = []
    for cell in notebook.cells:
        if cell.kind == "markdown":
            parts.append(_CODE_SPAN.sub(" ", cell.source))
        elif cell.kind == "code":
            parts.extend(m.group(1) for m in _COMMENT.finditer(cell.source))
    return "\n".join(parts)


def detect_language(notebook: Notebook) -> Language:
    """``"zh"`` when the notebook's prose (markdown without code and formulas, and code
    comments) is mostly Chinese, else ``"en"``. Japanese and Korean text (kana, hangul)
    is not Chinese."""
    text = _prose(notebook)
    han = len(_HAN.findall(text))
    if han == 0 or len(_KANA_HANGUL.findall(text)) > han / 4:
        return "en"
    latin = sum(1 for ch in _LATIN.findall(text) if not _HAN.match(ch))
    zh_words, en_words = han / 1.5, latin / 5
    return "zh" if zh_words / (zh_words + en_words) >= ZH_SHARE else "en"


def student_language(path: str | Path) -> Language | None:
    """The language of the submission at ``path`` (None if it cannot be read)."""
    from ..errors import InputError
    from ..load import load

    try:
        return detect_language(load(path))
    except (InputError, OSError, ValueError):
        return None


# --------------------------------------------------------------------------- catalogues


@functools.lru_cache(maxsize=32)
def _catalogue(po: Path, mtime: float) -> dict[str, str]:
    """The translations of one ``.po`` file, compiled to ``.mo`` in memory (Babel) and read
    back by gettext: {English message id: translation}, fuzzy and empty entries left out."""
    import gettext

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    compiled = gettext.GNUTranslations(buf)
    out: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and not message.fuzzy:
            text = compiled.gettext(message.id)
            if text != message.id:
                out[message.id] = text
    return out


_FIELD = re.compile(r"\{([A-Za-z_]\w*)(?:![rsa])?(?::[^{}]*)?\}")


def _template(msgid: str) -> re.Pattern[str] | None:
    """A regex matching the messages ``msgid.format(...)`` can make, or None for plain text."""
    pattern = ""
    seen: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(msgid))
    except ValueError:
        return None
    if not any(name for _, name, _, _ in parsed):
        return None
    for literal, name, _spec, _conv in parsed:
        pattern += re.escape(literal)
        if name is None:
            continue
        if not name.isidentifier():
            return None
        if name in seen:
            pattern += f"(?P={name})"
        else:
            seen.add(name)
            pattern += f"(?P<{name}>.+?)"
    return re.compile(pattern, re.DOTALL)


_BOUNDARY = re.compile(r"(?<=[.!?:;])\s+")
_CJK_END = re.compile(r"[\u3000-\u303f\uff00-\uffef\u4e00-\u9fff]$")


class Translator:
    """Translates English grader text into one language (identity for English)."""

    def __init__(self, lang: str, messages: dict[str, str]) -> None:
        self.lang = lang
        self.messages = messages
        templates = []
        for msgid, msgstr in messages.items():
            rx = _template(msgid)
            if rx is not None:
                literal = len(_FIELD.sub("", msgid))
                templates.append((literal, rx, msgstr))
        templates.sort(key=lambda t: -t[0])  # the most specific template first
        self._templates = [(rx, msgstr) for _, rx, msgstr in templates]
        self._cache: dict[str, str] = {}

    # ------------------------------------------------------------------ text
    def gettext(self, message: str) -> str:
        """The translation of a message id (a template), or the message itself."""
        return self.messages.get(message, message)

    def format(self, message: str, **fields: object) -> str:
        """``gettext(message).format(**fields)``, falling back to English if the
        translation's fields do not match."""
        try:
            return self.gettext(message).format(**fields)
        except (KeyError, IndexError, ValueError):
            return message.format(**fields)

    def text(self, text: str) -> str:
        """Any English text the grader produced, translated where the catalogues know it."""
        if not self.messages or not text.strip():
            return text
        cached = self._cache.get(text)
        if cached is None:
            cached = self._text(text, 0)
            if len(self._cache) < 20000:
                self._cache[text] = cached
        return cached

    def _one(self, text: str, depth: int) -> str | None:
        """The translation of ``text`` as one message (plain or template), or None."""
        hit = self.messages.get(text)
        if hit is not None:
            return hit
        if depth > 3 or len(text) > 2000:
            return None
        for rx, msgstr in self._templates:
            m = rx.fullmatch(text)
            if m is None:
                continue
            fields = {k: self._field(v, depth + 1) for k, v in m.groupdict().items()}
            try:
                return _format(msgstr, fields)
            except (KeyError, IndexError, ValueError):
                return None
        return None

    def _field(self, value: str, depth: int) -> str:
        hit = self.messages.get(value)
        if hit is not None:  # a word of the catalogue ("image")
            return hit
        if " " not in value.strip() or value.strip().startswith(("`", "[", "(")):
            return value  # a name, a number, a shape, code: kept as it is
        if depth > 3:
            return value
        return self._one(value, depth) or self._text(value, depth)

    def _text(self, text: str, depth: int) -> str:
        stripped = text.strip()
        whole = self._one(stripped, depth)
        if whole is not None:
            return whole
        cuts = [m.start() for m in _BOUNDARY.finditer(stripped)]
        for cut in reversed(cuts):  # the longest known first part
            head = self._one(stripped[:cut], depth)
            if head is not None:
                return _join(head, self._text(stripped[cut:], depth))
        if cuts:  # the first part is unknown: keep it, translate the rest
            first, rest = stripped[: cuts[0]], stripped[cuts[0] :]
            return _join(first, self._text(rest, depth))
        return stripped

    # ------------------------------------------------------------------ results
    def localise(self, result: SubmissionResult) -> SubmissionResult:
        """``result`` with its exercise titles and feedback in this language."""
        if not self.messages:
            return result
        return replace(result, exercises=tuple(self._exercise(e) for e in result.exercises))

    def _exercise(self, ex: ExerciseResult) -> ExerciseResult:
        return replace(
            ex,
            title=self.text(ex.title),
            feedback=self._lines(ex.feedback),
            checks=tuple(self._check(c) for c in ex.checks),
        )

    def _check(self, check: CheckResult) -> CheckResult:
        return replace(check, feedback=self._lines(check.feedback))

    def _lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.text(line) for line in lines)


_ENGLISH = Translator("en", {})


def _format(template: str, fields: dict[str, str]) -> str:
    return template.format(**fields)


def _join(head: str, tail: str) -> str:
    if not tail:
        return head
    return head + ("" if _CJK_END.search(head) else " ") + tail


def locale_dirs(rubric_path: str | Path | None = None) -> tuple[Path, ...]:
    """Where catalogues are looked for: the rubric's ``locale/`` folder (course strings,
    first: a course may reword the grader's messages too) and the package's."""
    dirs: list[Path] = []
    if rubric_path is not None:
        dirs.append(Path(rubric_path).resolve().parent / "locale")
    else:
        from ..rubric import default_rubrics_dir

        dirs.append(default_rubrics_dir() / "locale")
    dirs.append(PACKAGE_LOCALE)
    return tuple(dirs)


def translator(lang: str, dirs: Sequence[str | Path] | None = None) -> Translator:
    """The translator into ``lang`` ("en": the identity) from the catalogues in ``dirs``
    (default :func:`locale_dirs`). A language without catalogues gives English."""
    if lang == "en":
        return _ENGLISH
    where = tuple(Path(d) for d in dirs) if dirs is not None else locale_dirs()
    # package catalogue first, course catalogue last: the course's wording wins
    order = tuple(reversed(where))
    files = tuple(
        (po, po.stat().st_mtime)
        for d in order
        if (d / lang / "LC_MESSAGES").is_dir()
        for po in sorted((d / lang / "LC_MESSAGES").glob("*.po"))
    )
    return _translator(lang, files)


@functools.lru_cache(maxsize=16)
def _translator(lang: str, files: tuple[tuple[Path, float], ...]) -> Translator:
    """One translator per language and set of catalogue files (as they are now: an edited
    file has a new time and gives a new translator)."""
    messages: dict[str, str] = {}
    for po, mtime in files:
        messages.update(_catalogue(po, mtime))
    return Translator(lang, messages)


def language_of(result: SubmissionResult, choice: str) -> str:
    """The language to show ``result`` in: ``choice`` unless it is "auto", then the
    submission's own (English when unknown)."""
    if choice != "auto":
        return choice
    return result.language or "en"
