"""Tests for grader.prose: the transparent matcher behind the ``prose`` check.

The patterns here stand in for the YAML rubrics; the wording of the answers is real (from the
spec, the forum thread and student-a.ipynb).
"""

from __future__ import annotations

import time

import pytest

from grader import prose
from grader.prose import Concept, ConceptMatch, judge, normalise, strip_question

# --------------------------------------------------------------------------- rubric stand-ins

CLAIMS_ZERO = Concept(
    "claims-zero-response",
    (r"\bzero[- ]?matri(?:x|ces)\b", r"\ball[- ]zeros?\b", r"\bzeros?\b"),
)
SIZE_CENTRAL = Concept("derivative-size-central", (r"\b2\s*[dk]\s*\+\s*1\b",))
SIZE_MINIMAL = Concept("d-plus-one-taps", (r"(?<![\w+])d\s*\+\s*1\b",))
ATTRIBUTE_ERROR = Concept(
    "autograd-attribute-error", (r"has no attribute\W+grad\b", r"\bAttributeError\b")
)
INPLACE_UNSUPPORTED = Concept(
    "inplace-not-supported", (r"\bin-?place operations? (?:are|is) not supported\b",)
)
AUTOGRAD_WORKS = Concept(
    "autograd-works",
    (r"\bno error\b", r"\bbackward(?:\(\))? works\b", r"\brecords? the in-?place\b"),
)
NORMALISED = Concept("blur-normalised", (r"\bsums? (?:up )?to (?:1|one)\b", r"\bnormali[sz]ed\b"))
PURPOSE = Concept(
    "blur-purpose",
    (r"\b(?:reduc|remov|suppress)\w*\s+(?:the\s+)?noise\b", r"\bdenois", r"\banti-?alias"),
)
UNCHANGED = Concept(
    "unchanged", (r"\bsame\b", r"\bidentical\b", r"\bunchanged\b", r"\bno change\b")
)

Q_APPLY_K = "What happens if you apply the kernel `K` in this section to it?"
Q_MIN_SIZE = "What is the minimum size of a kernel to obtain a derivative of order $d$?"


def mis(text: str, concept: Concept = CLAIMS_ZERO) -> ConceptMatch:
    return judge(text, [], [concept]).misconceptions[0]


def req(text: str, concept: Concept) -> ConceptMatch:
    return judge(text, [concept]).required[0]


# --------------------------------------------------------------------------- claims-zero-response


@pytest.mark.parametrize(
    "text",
    ["zero matrix.", "• zero matrix.", "the output is all zeros", "K gives a zero matrix"],
)
def test_zero_claim_is_found_with_high_confidence(text: str) -> None:
    match = mis(text)
    assert match.found
    assert match.confidence >= 0.8
    assert match.basis == "stated"
    assert match.evidence is not None and "zero" in match.evidence.lower()


@pytest.mark.parametrize(
    "text",
    [
        "the output is not a zero matrix",
        "unlike the vertical edges, it is not zero",
        "The result isn't a zero matrix and the diagonal survives.",
        "A zero matrix is not what you get: +1 on the diagonal, -1 below it.",
        "Instead of a zero matrix we get +1 on the diagonal.",
        "The output is non-zero along the diagonal.",
    ],
)
def test_negated_zero_claim_is_not_found(text: str) -> None:
    match = mis(text)
    assert not match.found
    assert match.basis in ("negated", "absent")
    assert match.confidence >= 0.8


def test_denial_is_less_certain_than_a_statement() -> None:
    denied = mis("the output is not a zero matrix")
    stated = mis("the output is a zero matrix")
    assert denied.basis == "negated"
    assert denied.evidence == "the output is not a zero matrix"
    assert denied.confidence < stated.confidence


def test_negated_ok_concept_counts_negated_matches() -> None:
    loose = Concept("mentions-zero", (r"\bzero matrix\b",), negated_ok=True)
    assert mis("the output is not a zero matrix", loose).found


def test_question_is_uncertain_and_needs_review() -> None:
    verdict = judge("zero matrix?", [], [CLAIMS_ZERO])
    match = verdict.misconceptions[0]
    assert not match.found
    assert match.basis == "question"
    assert match.confidence < prose.REVIEW_BELOW
    assert verdict.needs_review
    assert "questions-only" in verdict.notes


def test_negated_question_is_uncertain_too() -> None:
    match = mis("Isn't it a zero matrix?")
    assert match.basis == "question"
    assert match.confidence < prose.REVIEW_BELOW


@pytest.mark.parametrize(
    "text", ["I think it gives a zero matrix.", "maybe a zero matrix", "Probably all zeros."]
)
def test_hedged_claim_is_found_but_needs_review(text: str) -> None:
    verdict = judge(text, [], [CLAIMS_ZERO])
    match = verdict.misconceptions[0]
    assert match.found
    assert match.basis == "hedged"
    assert 0.5 <= match.confidence < 0.8
    assert verdict.needs_review


def test_not_sure_is_a_hedge_not_a_negation() -> None:
    verdict = judge("Not sure, but I get a zero matrix", [], [CLAIMS_ZERO])
    assert verdict.misconceptions[0].found  # "not sure" does not deny the zero matrix
    assert "abstains" not in verdict.notes  # it does answer


@pytest.mark.parametrize(
    "text", ["dont know.", "I don't know how to do this.", "No idea", "idk", "Not sure."]
)
def test_abstentions(text: str) -> None:
    assert "abstains" in judge(text, [SIZE_MINIMAL]).notes


def test_block_quote_is_weak_evidence() -> None:
    match = mis(
        "> Applying K gives a zero matrix for the section's image.\n\nIt shows the diagonal."
    )
    assert not match.found
    assert match.basis == "quoted"
    assert match.confidence < 0.8


def test_statement_and_denial_conflict() -> None:
    match = mis("It is not a zero matrix. Then again, K.T gives a zero matrix.")
    assert match.found
    assert match.basis == "conflicting"
    assert match.confidence < 0.8


def test_forum_answer_list() -> None:
    text = (
        "1. What happens if you apply the kernel K in this section to it?\n\n"
        "• zero matrix.\n2. What happens if you transpose X?\n\n• No change\n"
        "3. What happens if you transpose K?\n\n• zero matrix."
    )
    verdict = judge(text, [UNCHANGED], [CLAIMS_ZERO], questions=[Q_APPLY_K])
    assert verdict.misconceptions[0].found
    assert verdict.misconceptions[0].evidence == "zero matrix."
    assert verdict.required[0].found  # "No change" is not a negated "change" claim
    assert "copied-question" in verdict.notes


# --------------------------------------------------------------------------- derivative size


def test_central_size_answer_is_the_misconception() -> None:
    verdict = judge("we need a kernel of size 2d+1", [SIZE_MINIMAL], [SIZE_CENTRAL])
    assert verdict.misconceptions[0].found and verdict.misconceptions[0].confidence >= 0.8
    assert not verdict.required[0].found  # "2d+1" does not contain the answer "d+1"
    assert verdict.missing == ("d-plus-one-taps",)
    assert verdict.misconceptions_found == ("derivative-size-central",)


def test_d_plus_one_is_the_required_concept() -> None:
    verdict = judge("d+1 coefficients suffice.", [SIZE_MINIMAL], [SIZE_CENTRAL])
    assert verdict.required[0].found and verdict.required[0].confidence >= 0.8
    assert not verdict.misconceptions[0].found
    assert not verdict.needs_review


def test_latex_answer_is_read() -> None:
    verdict = judge("The minimum is $d + 1$ taps, e.g. $[1, -2, 1]$ for $d=2$.", [SIZE_MINIMAL])
    assert verdict.required[0].found


def test_rejected_central_size_with_denial_after_it() -> None:
    verdict = judge("2d+1 is not minimal; d+1 taps suffice.", [SIZE_MINIMAL], [SIZE_CENTRAL])
    assert verdict.required[0].found
    assert not verdict.misconceptions[0].found
    assert verdict.misconceptions[0].basis == "negated"


@pytest.mark.parametrize(
    ("text", "dropped", "kept"),
    [
        ("I first thought d+1, but that is one-sided, so we went with 2d+1.", "d+1", "2d+1"),
        ("Many people say 2d+1, but the minimum is d+1.", "2d+1", "d+1"),
        ("一开始以为是 2d+1，后来发现 d+1 就够了。", "2d+1", "d+1"),
        ("有人答 2d+1；其实 d+1 就够", "2d+1", "d+1"),
    ],
)
def test_a_claim_first_held_or_reported_is_dropped_up_to_the_turn(
    text: str, dropped: str, kept: str
) -> None:
    verdict = judge(text, [SIZE_MINIMAL], [SIZE_CENTRAL])
    minimal, central = verdict.required[0], verdict.misconceptions[0]
    assert (minimal.found, central.found) == ((True, False) if kept == "d+1" else (False, True))
    denied = central if dropped == "2d+1" else minimal
    assert denied.basis == "negated"


def test_student_a_derivative_answer() -> None:
    text = (
        "need a kernel of size $2d+1$ along the direction in which we're calculating the "
        "derivative.\n\nOne possible way to get the kernel size of k-order derivative in 1D is to "
        "use the finite difference approximation. For example, if we use the central difference "
        "formula to approximate the derivative, then we need a kernel of size 2k+1 to obtain a "
        "derivative of order k."
    )
    verdict = judge(text, [SIZE_MINIMAL], [SIZE_CENTRAL], questions=[Q_MIN_SIZE])
    assert verdict.misconceptions_found == ("derivative-size-central",)
    assert verdict.missing == ("d-plus-one-taps",)
    assert verdict.misconceptions[0].evidence is not None
    assert "2d+1" in verdict.misconceptions[0].evidence


# --------------------------------------------------------------------------- autograd


def test_attribute_error_answer() -> None:
    text = "I get the error 'Conv2d' object has no attribute 'grad'"
    verdict = judge(text, [AUTOGRAD_WORKS], [ATTRIBUTE_ERROR])
    assert verdict.misconceptions[0].found and verdict.misconceptions[0].confidence >= 0.8
    assert not verdict.required[0].found


def test_forum_attribute_error_in_code_fence() -> None:
    text = (
        "``````\n* I am able to do `net.weights.grad`, when I try `net.grad` I get the error "
        "`'Conv2d' object has no attribute 'grad'`\n``````"
    )
    assert mis(text, ATTRIBUTE_ERROR).found


def test_no_error_answer() -> None:
    text = "no error: PyTorch records the in-place writes and backward works"
    verdict = judge(text, [AUTOGRAD_WORKS], [ATTRIBUTE_ERROR, INPLACE_UNSUPPORTED])
    assert verdict.required[0].found and verdict.required[0].confidence >= 0.8
    assert verdict.misconceptions_found == ()
    assert verdict.confidence >= 0.8


def test_mxnet_era_claim() -> None:
    text = "Got Error Message: Inplace operations are not supported using autograd ."
    match = mis(text, INPLACE_UNSUPPORTED)
    assert match.found  # the pattern's own "not" is not a negation of the match
    assert match.confidence >= 0.8


def test_saying_there_is_an_error_does_not_state_no_error() -> None:
    assert not req(
        "It does not work, there is an error when calling backward", AUTOGRAD_WORKS
    ).found


# --------------------------------------------------------------------------- blur


def test_blur_answer_states_both_concepts() -> None:
    text = "non-negative weights that sum to 1, e.g. a Gaussian, to reduce noise"
    verdict = judge(text, [NORMALISED, PURPOSE])
    assert [m.found for m in verdict.required] == [True, True]
    assert min(m.confidence for m in verdict.required) >= 0.8
    assert verdict.required[0].evidence == text  # "e.g." does not end the sentence


def test_blur_weights_that_do_not_sum_to_one() -> None:
    assert not req("Use random weights; they need not sum to 1.", NORMALISED).found


def test_student_a_blur_answer() -> None:
    text = (
        "3. Compute the Gaussian values: For each pixel in the kernel, compute the Gaussian value "
        "based on its distance from the center. The Gaussian values are then normalized to "
        "ensure that they sum up to 1.\n\nWhy might you want to use a blur kernel?\n\n"
        "1. **Noise Reduction**: Blurring can help reduce noise and unwanted artifacts in an "
        "image."
    )
    verdict = judge(text, [NORMALISED, PURPOSE])
    assert verdict.missing == ()
    assert verdict.required[1].evidence is not None
    assert verdict.required[1].evidence.startswith("Noise Reduction:")


# --------------------------------------------------------------------------- short and empty


def test_empty_answer_is_certainly_missing_everything() -> None:
    verdict = judge("", [SIZE_MINIMAL], [CLAIMS_ZERO])
    for match in verdict.required + verdict.misconceptions:
        assert not match.found
        assert match.confidence == 1.0
        assert match.evidence is None
        assert match.basis == "empty"
    assert verdict.words == 0
    assert verdict.notes == ("empty",)
    assert verdict.confidence == 1.0


def test_markup_only_counts_as_empty() -> None:
    assert judge("```\n```\n\n<br>\n$$ $$", [SIZE_MINIMAL]).required[0].basis == "empty"


def test_one_word_answer() -> None:
    verdict = judge("same", [UNCHANGED], [CLAIMS_ZERO])
    assert verdict.required[0].found and verdict.required[0].confidence >= 0.8
    assert "short" in verdict.notes
    assert verdict.words == 1


def test_dont_know_abstains() -> None:
    verdict = judge("`` * dont know.``", [SIZE_MINIMAL], [SIZE_CENTRAL])
    assert "abstains" in verdict.notes and "short" in verdict.notes
    assert not verdict.required[0].found
    assert verdict.required[0].confidence >= 0.9
    assert not verdict.needs_review


def test_long_answer_without_a_match_is_less_certain() -> None:
    short = req("It detects the diagonal edges.", SIZE_MINIMAL)
    long_text = "The kernel responds to the diagonal edges of the image. " * 40
    long = req(long_text, SIZE_MINIMAL)
    assert short.confidence >= 0.9
    assert long.confidence == pytest.approx(prose.ABSENT_LONG)
    assert long.basis == "absent"


def test_long_sentence_still_counts_as_stated() -> None:
    text = "The response " + "along the diagonal " * 15 + "is all zeros."
    match = mis(text)
    assert match.found and 0.8 <= match.confidence < 0.95


def test_evidence_is_trimmed_around_the_match() -> None:
    text = "Along the diagonal " * 20 + "the output is a zero matrix " + "for this image " * 20
    match = mis(text)
    assert match.evidence is not None
    assert len(match.evidence) <= prose.EVIDENCE_CHARS
    assert "zero matrix" in match.evidence
    assert match.evidence.startswith("…") and match.evidence.endswith("…")


# --------------------------------------------------------------------------- questions


def test_strip_question_removes_copies_and_keeps_answers() -> None:
    text = (
        "## 2.4 What is the minimum size of a kernel to obtain a derivative of order d?\n\n"
        "Applying the central stencil, the minimum size of a kernel is 2d+1."
    )
    kept = strip_question(text, [Q_MIN_SIZE])
    assert kept == "Applying the central stencil, the minimum size of a kernel is 2d+1."


def test_strip_question_tolerates_typos_and_numbering() -> None:
    question = (
        "Derive a finite difference operator for the second derivative. What is the minimum "
        "size of the convolutional kernel associated with it?"
    )
    text = "Q2 (b) What is the minimum size of the convolutional kernel associate with it? Three."
    assert strip_question(text, [question]) == "Three."


def test_strip_question_without_questions_only_normalises() -> None:
    assert strip_question("**Zero** matrix.", []) == "Zero matrix."


def test_question_copy_does_not_count_as_the_answer() -> None:
    echo = Concept("order-d", (r"\bderivative of order d\b",))
    text = f"{Q_MIN_SIZE}\n\nI don't know."
    without = judge(text, [echo])
    stripped = judge(text, [echo], questions=[Q_MIN_SIZE])
    assert without.required[0].basis == "question"
    assert without.needs_review
    assert stripped.required[0].basis == "absent"
    assert stripped.required[0].confidence >= 0.9
    assert stripped.words == 3


# --------------------------------------------------------------------------- normalise


def test_normalise_strips_markup_but_keeps_math_and_code() -> None:
    text = (
        "## Blur\n\n**Bold** and *italic* and `net.grad` <b>html</b> &amp; $2d+1$.\n\n"
        "```python\nK = torch.ones(3, 3) / 9  # box blur\n```\n"
        "$$\\frac{\\partial^2 f}{\\partial x^2} \\approx \\text{second}$$"
    )
    assert normalise(text) == (
        "Blur Bold and italic and net.grad html & 2d+1. "
        "K = torch.ones(3, 3) / 9 # box blur "
        "(partial^2 f)/(partial x^2) ~ second"
    )


def test_normalise_keeps_identifiers_with_underscores() -> None:
    assert normalise("the output is $n_h - k_h + 1$ by $n_w - k_w + 1$") == (
        "the output is n_h - k_h + 1 by n_w - k_w + 1"
    )


def test_normalise_matrix_and_links() -> None:
    text = "[the book](https://d2l.ai) uses $\\begin{bmatrix} 1 & -2 & 1 \\end{bmatrix}$"
    assert normalise(text) == "the book uses 1 -2 1"


def test_comment_lines_form_one_block() -> None:
    text = "# the kernel gives\n# all zeros on this image"
    assert mis(text).found


def test_heading_and_answer_are_separate_sentences() -> None:
    text = "### 1.1 What happens if you apply the kernel K?\nzero matrix"
    match = mis(text)
    assert match.found and match.basis == "stated"


# --------------------------------------------------------------------------- concepts


def test_concept_validates_patterns() -> None:
    with pytest.raises(ValueError, match="bad pattern"):
        Concept("broken", ("(unclosed",))
    with pytest.raises(ValueError, match="at least one"):
        Concept("empty", ())


def test_concept_from_mapping() -> None:
    concept = Concept.from_mapping(
        {"id": "d-plus-one", "pattern": r"d\s*\+\s*1", "feedback": "ignored"}
    )
    assert concept.patterns == (r"d\s*\+\s*1",)
    assert not concept.negated_ok
    listed = Concept.from_mapping({"id": "x", "patterns": ["a", "b"], "negated_ok": True})
    assert listed.patterns == ("a", "b") and listed.negated_ok
    with pytest.raises(ValueError, match="'id'"):
        Concept.from_mapping({"patterns": ["a"]})
    with pytest.raises(ValueError, match="patterns"):
        Concept.from_mapping({"id": "x", "patterns": [1]})
    with pytest.raises(ValueError, match="negated_ok"):
        Concept.from_mapping({"id": "x", "patterns": "a", "negated_ok": "yes"})


def test_concepts_are_hashable_values() -> None:
    assert Concept("a", ("x",)) == Concept("a", ("x",))
    assert len({Concept("a", ("x",)), Concept("a", ("x",))}) == 1


def test_verdict_without_concepts() -> None:
    verdict = judge("Some words here.", [])
    assert verdict.confidence == 1.0
    assert verdict.words == 3


def test_long_input_is_truncated_not_slow() -> None:
    verdict = judge("The output is not zero, maybe. " * 20_000, [], [CLAIMS_ZERO])
    assert "truncated" in verdict.notes


@pytest.mark.parametrize(
    "text",
    [
        "e.g. " * 40_000,
        "**a " * 50_000,
        "[" * 200_000,
        "[a](" * 50_000,
        "\\begin{a}" * 20_000,
        "zero " * 40_000,
        "\\frac{" * 30_000,
        "<a" * 100_000,
        "1. " * 60_000,
    ],
)
def test_adversarial_text_stays_fast(text: str) -> None:
    started = time.perf_counter()
    judge(text, [CLAIMS_ZERO], [SIZE_CENTRAL], questions=[Q_APPLY_K])
    assert time.perf_counter() - started < 5.0
