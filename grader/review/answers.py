"""What the review page shows of each answer, and how answers are grouped.

:func:`answer_cells` reads the cells the grader attributed to an exercise back from the
submission file (the gradebook keeps their positions, ``ExerciseResult.cells``), with the
outputs saved in the file: text, error tracebacks, PNG/JPEG pictures, and HTML outputs as
their source text (never rendered). Reading is parsing only: nothing is executed, unpickled
or evaluated, and every string reaches the page through the templates' autoescaping.

:func:`question` gathers every student's answer to one exercise and groups the answers with
the same grader's verdict (:func:`grader.gradebook.verdict_of`: score, status, review flag,
feedback quoting the values on the hidden inputs, diagnoses): a group is judged once.
Groups that need a look (``needs_review``, or an override to re-check) come first, then the
larger groups.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from grader.errors import GraderError
from grader.gradebook import Override, verdict_of
from grader.load import load
from grader.model import ExerciseResult, SubmissionResult
from grader.report.text import clean

__all__ = ["Answer", "Group", "Output", "Shown", "answer_cells", "question"]

MAX_TEXT = 4000  # characters of one output shown
MAX_IMAGE = 2_000_000  # bytes of base64 of one picture
MAX_FILE = 20_000_000  # bytes of a submission read for display
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_IMAGES = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class Output:
    kind: Literal["text", "error", "image", "html"]
    text: str = ""  # text, traceback, or the HTML source (shown as text)
    src: str = ""  # data: URI of a picture


@dataclass(frozen=True)
class Shown:
    """One attributed cell as the student saved it."""

    index: int  # 0-based, as in ExerciseResult.cells
    kind: str
    source: str
    outputs: tuple[Output, ...] = ()


@dataclass(frozen=True)
class Answer:
    student: str
    path: str
    graded: ExerciseResult  # as the grader scored it
    override: Override | None
    recheck: bool  # the grader's verdict changed since the override was decided
    cells: tuple[Shown, ...]
    problem: str = ""  # why the cells cannot be shown

    @property
    def score(self) -> float:
        return self.graded.score if self.override is None else self.override.score


@dataclass(frozen=True)
class Group:
    key: str  # the verdict fingerprint
    graded: ExerciseResult  # the first answer's verdict (the same for all)
    answers: tuple[Answer, ...]

    @property
    def needs_look(self) -> bool:
        return any(
            (a.override is None and a.graded.needs_review) or a.recheck for a in self.answers
        )

    @property
    def undecided(self) -> int:
        return sum(1 for a in self.answers if a.override is None)


def question(
    exercise: str,
    results: Sequence[tuple[str, SubmissionResult]],
    overrides: Mapping[str, Mapping[str, Override]],
) -> list[Group]:
    """Every answer to ``exercise`` in ``results`` (student, result as graded), grouped."""
    groups: dict[str, list[Answer]] = {}
    for student, result in results:
        if result.status != "graded":
            continue
        graded = next((e for e in result.exercises if e.id == exercise), None)
        if graded is None:
            continue
        o = overrides.get(student, {}).get(exercise)
        cells, problem = answer_cells(result.path, graded.cells)
        answer = Answer(
            student=student,
            path=result.path,
            graded=graded,
            override=o,
            recheck=o is not None and o.to_recheck(graded),
            cells=cells,
            problem=problem,
        )
        groups.setdefault(verdict_of(graded), []).append(answer)
    out = [
        Group(key, answers[0].graded, tuple(sorted(answers, key=lambda a: a.student)))
        for key, answers in groups.items()
    ]
    out.sort(key=lambda g: (not g.needs_look, -len(g.answers), g.graded.score, g.key))
    return out


def answer_cells(path: str, cells: Sequence[int]) -> tuple[tuple[Shown, ...], str]:
    """The cells ``cells`` of the submission at ``path``; (cells, "") or ((), why not)."""
    if not cells:
        return (), "the grader found no cell for this exercise"
    try:
        st = os.stat(path)
    except OSError as exc:
        return (), f"the submission file cannot be read ({exc.strerror or exc})"
    if st.st_size > MAX_FILE:
        return (), "the submission file is too large to show"
    everything, problem = _read(path, st.st_mtime_ns, st.st_size)
    shown = tuple(everything[i] for i in cells if 0 <= i < len(everything))
    return shown, problem


@functools.lru_cache(maxsize=4096)
def _read(path: str, mtime_ns: int, size: int) -> tuple[tuple[Shown, ...], str]:
    """All cells of a submission (cached while the file is unchanged)."""
    if path.lower().endswith(".ipynb"):
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError) as exc:
            return (), f"the submission cannot be read as a notebook ({exc})"
        raw = data.get("cells") if isinstance(data, dict) else None
        if isinstance(raw, list):
            return tuple(
                _cell(i, c) for i, c in enumerate(c for c in raw if isinstance(c, Mapping))
            ), ""
    try:
        notebook = load(path)
    except GraderError as exc:
        return (), str(exc)
    return tuple(
        Shown(
            c.index,
            c.kind,
            c.source,
            (Output("text", c.stored_text[:MAX_TEXT]),) if c.stored_text else (),
        )
        for c in notebook.cells
    ), ""


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""


def _cell(index: int, raw: Mapping[str, Any]) -> Shown:
    kind = raw.get("cell_type")
    outputs = raw.get("outputs")
    shown = []
    if isinstance(outputs, list):
        shown = [o for out in outputs if isinstance(out, Mapping) for o in _outputs(out)]
    return Shown(
        index=index,
        kind=kind if isinstance(kind, str) else "raw",
        source=clean(_text(raw.get("source"))),
        outputs=tuple(shown),
    )


def _outputs(out: Mapping[str, Any]) -> list[Output]:
    kind = out.get("output_type")
    if kind == "stream":
        return [Output("text", clean(_text(out.get("text")))[:MAX_TEXT])]
    if kind == "error":
        trace = "\n".join(_text(t) for t in out.get("traceback") or [] if isinstance(t, str))
        head = f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}"
        return [Output("error", clean(trace or head)[:MAX_TEXT])]
    data = out.get("data")
    if not isinstance(data, Mapping):
        return []
    found: list[Output] = []
    for mime in _IMAGES:
        src = _image(mime, data.get(mime))
        if src:
            found.append(Output("image", src=src))
            break
    if not found and data.get("text/plain") is not None:
        found.append(Output("text", clean(_text(data.get("text/plain")))[:MAX_TEXT]))
    if data.get("text/html") is not None:
        found.append(Output("html", clean(_text(data.get("text/html")))[:MAX_TEXT]))
    return found


def _image(mime: str, value: object) -> str:
    """A ``data:`` URI of a PNG/JPEG output whose base64 is well formed, else ""."""
    text = "".join(_text(value).split())
    if not text or len(text) > MAX_IMAGE or not _BASE64.fullmatch(text):
        return ""
    try:
        head = base64.b64decode(text[:24] + "=" * (-len(text[:24]) % 4), validate=True)
    except (binascii.Error, ValueError):
        return ""
    magic = b"\x89PNG" if mime == "image/png" else b"\xff\xd8"
    return f"data:{mime};base64,{text}" if head.startswith(magic) else ""
