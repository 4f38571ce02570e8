"""``prose``: the student's words state the required concepts and avoid misconceptions.

A misconception counts unless the answer is complete and every sentence naming the
misconception contrasts or denies it: then it is refuting it, not making it.

A transparent, deterministic matcher (:mod:`grader.prose`): each required concept has
regex patterns and its share of the points; each misconception is a diagnosis of the
exercise with ``prose`` patterns. When the matcher is unsure (hedged, negated or long
answers it cannot place), the result is marked ``needs_review`` for a human instead of
being guessed.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, ClassVar

from ..i18n import N_
from ..memo import Memo
from ..model import CheckResult
from ..prose import Concept, judge, normalise
from ..rubric import CheckSpec, Reference
from . import demonstration as demo
from .base import schema
from .context import CheckContext

_CONCEPT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "patterns"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "patterns": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        # weight 0: advice only, its hint is shown when it is missing but it costs nothing
        "weight": {"type": "number", "minimum": 0},
        "hint": {"type": "string"},
        "negated_ok": {"type": "boolean"},
    },
}
REVIEW_BELOW = 0.6
_REFUTE = re.compile(
    r"\b(not|no|never|but|however|instead|rather|unlike|wrong|incorrect|misconception|would|"
    r"common(ly)?|only because|typo|mxnet|usage|misuse[sd]?)\b|n't\b"
    r"|不是|并非|而非|但是?|然而|不过|不对|错误的|误以为|笔误|常见|只是因为|用法|误用|写错",
    re.IGNORECASE,
)


_RESTATED = re.compile(
    r"\b(?:does\s*not|doesn'?t|do\s*not|don'?t|can'?t|cannot|won'?t|will\s*not|is\s*not|isn'?t)"
    r"\s+(?:\w+\s+){0,2}?(?:see|detect|find|pick|respond|react|notice|sensitive|register)\w*"
    r"|(?:检测|识别|看|探测)(?:不到|不出)|(?:不会|不能|没有)(?:检测|识别|响应|反应)",
    re.IGNORECASE,
)


# "..., so / 所以 <claim>": what comes before a consequence marker is its reason, not a denial
_THEREFORE = re.compile(
    r"\b(?:so|therefore|thus|hence|consequently)\b|所以|因此|因而|于是|故而", re.IGNORECASE
)


def _refuted(text: str, patterns: tuple[str, ...]) -> bool:
    """Every sentence stating the misconception also contrasts or denies it (outside the
    words of the misconception itself, and after the last "so" / "所以" before it: in "K.T
    is not a horizontal edge detector for this, so the output is all zeros" the "not" is the
    reason for the claim, not a denial of it)."""
    sentences = re.split(r"(?<=[.!?])(?<!\.\.\.)\s+|\n{2,}", normalise(text))  # not at "..."
    hits = [(s, m) for s in sentences for p in patterns if (m := re.search(p, s, re.IGNORECASE))]
    return bool(hits) and all(_REFUTE.search(_around(s, m.start(), m.end())) for s, m in hits)


def _around(sentence: str, start: int, end: int) -> str:
    """``sentence`` without ``[start, end)`` and without what precedes a consequence marker
    before it."""
    # a marker inside the match counts too: a pattern may take in its clause ("所以也是全0")
    cut = max((m.end() for m in _THEREFORE.finditer(sentence[:end])), default=0)
    # "... is all zeros - the kernel does not see the diagonal at all": a denial of seeing
    # after the claim restates it
    return sentence[cut:start] + " " + _RESTATED.sub(" ", sentence[end:])


LONG_ANSWER_WORDS = 25


def _shown_line(where: str) -> str:
    return (
        f"Your working, displayed demonstration ({where}: your function agrees with your "
        "section function, and it is right on the grader's hidden inputs) counts as the "
        "written answer."
    )


# The rubric's concepts (their patterns compiled), by content: every run of a check needs the
# same ones. Concepts are frozen; a bad pattern raises and is not remembered.
_CONCEPTS: Memo[tuple[str, tuple[str, ...], bool], Concept] = Memo(max_entries=2048, max_cost=2048)


def _concept(cid: str, patterns: tuple[str, ...], negated_ok: bool = False) -> Concept:
    return _CONCEPTS.get((cid, patterns, negated_ok), partial(Concept, cid, patterns, negated_ok))


def _says(text: str, required: list[Concept], weights: dict[str, float]) -> bool:
    """Whether ``text`` states one of the required concepts that carry points."""
    scored = [c for c in required if weights[c.id] > 0] or required
    return any(m.found for m in judge(text, scored).required)


def _by_meaning(
    ctx: CheckContext, required: list[Concept], weights: dict[str, float]
) -> tuple[str, list[str]]:
    """An answer's words found by what they say, when the text gave it none: an unnamed
    answer (a question in the student's own words) that states one of its required concepts,
    else, for a question that asks only for words, the answer to a sibling sub-question that
    does ("In general a d-th derivative needs d+1 taps" under the second derivative). Only
    credits: a misconception alone names nothing.
    Returns (text, feedback lines)."""

    def says(text: str) -> bool:
        return _says(text, required, weights)

    exercise = ctx.exercise.id
    found = ctx.attribution.words_by_meaning(exercise, says)
    if found is None and all(c.type == "prose" for c in ctx.exercise.checks):
        # a question asking only for words ("the minimum size?") is often answered in passing
        # in its neighbour's answer; one that asks for work is not answered by words there
        found = next((a for a in ctx.attribution.sibling_words(exercise) if says(a.prose)), None)
    if found is None:
        return "", []
    words = [i for i in found.cells if ctx.notebook.cells[i].kind != "code"]
    cell = min(words or found.cells) + 1
    note = N_("Found your written answer by what it says, in cell {cell}.").format(cell=cell)
    return found.prose, [note]


class ProseCheck:
    name: ClassVar[str] = "prose"
    handles: ClassVar[frozenset[str]] = frozenset({"prose"})
    schema: ClassVar[dict[str, Any]] = schema(
        ["required"],
        required={"type": "array", "items": _CONCEPT, "minItems": 1},
        review_below={"type": "number", "minimum": 0, "maximum": 1},
        misconception_penalty={"type": "number", "minimum": 0, "maximum": 1},
        demonstration=demo.SCHEMA,
    )

    def validate(self, spec: CheckSpec, reference: Reference | None) -> None:
        import re

        for i, c in enumerate(spec.options["required"]):
            for j, p in enumerate(c["patterns"]):
                try:
                    re.compile(p)
                except re.error as exc:
                    raise spec.error(f"required[{i}].patterns[{j}]", f"bad regex: {exc}") from None

    def run(self, spec: CheckSpec, ctx: CheckContext) -> CheckResult:
        text = ctx.answer().prose
        required = [
            _concept(c["id"], tuple(c["patterns"]), bool(c.get("negated_ok", False)))
            for c in spec.options["required"]
        ]
        weights = {c["id"]: float(c.get("weight", 1.0)) for c in spec.options["required"]}
        hints = {c["id"]: c.get("hint", "") for c in spec.options["required"]}
        wrong = [_concept(d.id, d.prose) for d in ctx.iter_diagnoses("prose")]
        shown = demo.demonstrated(spec, ctx) if "demonstration" in spec.options else None
        found_at: list[str] = []
        if ctx.answer().via in ("none", "behaviour") and not _says(text, required, weights):
            # the text did not place this answer (behaviour may have found its code, with
            # comments that say nothing): look for its words by their meaning
            more, found_at = _by_meaning(ctx, required, weights)
            text = "\n".join(t for t in (text, more) if t.strip())
        if not text.strip():
            if shown:
                return ctx.result(spec, 1.0, [_shown_line(shown)])
            return ctx.result(
                spec, 0.0, [N_("No written answer was found for this exercise.")], found=False
            )
        verdict = judge(text, required, wrong)
        total = sum(weights.values())
        got = sum(weights[m.id] for m in verdict.required if m.found)
        fraction = got / total if total else 0.0
        if not total:
            fraction = 1.0 if all(m.found for m in verdict.required) else 0.0
        lines: list[str] = list(found_at)
        if shown and fraction < 1.0:  # the demonstration stands for the missing words
            fraction = 1.0
            lines.append(_shown_line(shown))
        diagnoses: list[str] = []
        penalty = float(spec.options.get("misconception_penalty", 0.5))
        complete = fraction >= 1.0 or all(m.found for m in verdict.required)
        patterns = {d.id: d.prose for d in ctx.iter_diagnoses("prose")}
        for m in verdict.misconceptions:
            # A complete answer that names a misconception in a sentence that contrasts or
            # denies it is refuting it ("2d + 1 is common, but not the minimum").
            if m.found and not (complete and _refuted(text, patterns.get(m.id, ()))):
                diagnoses.append(m.id)
                lines.append(ctx.diagnosis(m.id))
                fraction = max(0.0, fraction - penalty)
        for m in verdict.required:
            if not m.found and hints[m.id] and not shown:
                lines.append(hints[m.id])
        review_below = float(spec.options.get("review_below", REVIEW_BELOW))
        unsure = verdict.confidence < review_below
        unplaced = fraction < 1.0 and verdict.words >= LONG_ANSWER_WORDS and not diagnoses
        if unsure or unplaced:
            lines.append(N_("A person will review this written answer."))
        return ctx.result(spec, fraction, lines, diagnoses, needs_review=unsure or unplaced)
