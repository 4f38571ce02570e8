"""Shortcuts in loading and locating give exactly what the plain computations give."""

from __future__ import annotations

import random
import re

import pytest

from grader import edition
from grader import load as load_module

SIGNALS = [
    r"\b7\.2\b",
    "directional vector",
    "associated? with it",
    r"nn\.Conv2d\(\s*1\s*,\s*1",
    "ab+c",
    "a{2}b",
    r"\bx",
    "x|y",
    "^ab",
    "ab$",
    "aa",
    "A.b",
    r"a\.\.?",
    "it's",
    "Ab",
]


def test_literal_prefixes() -> None:
    assert edition._literal_prefix(r"\b7\.2\b") == "7.2"
    assert edition._literal_prefix("associated? with it") == "associate"
    assert edition._literal_prefix(r"nn\.Conv2d\(\s*1") == "nn.conv2d("
    assert edition._literal_prefix("LazyConv2d") == "lazyconv2d"
    for none in ("x|y", "^ab", "a{2}b", "(?i)ab", r"\sab", "[ab]c"):
        assert edition._literal_prefix(none) == ""


@pytest.mark.parametrize("seed", range(20))
def test_signal_counts_equal_findall(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "aAbBcx7.2 \n-yY'stijk"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.1:
            text += "\u212a\u017f"  # Kelvin sign, long s: case-fold onto ASCII letters
        pattern = rng.choice(SIGNALS)
        want = len(re.findall(pattern, text, re.IGNORECASE | re.MULTILINE))
        lowered = text.lower() if text.isascii() else None
        assert edition._count(pattern, text, lowered) == want, (pattern, text)


def _old_mostly_control(sample: str) -> bool:
    control = sum(
        1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b") or 127 <= ord(ch) < 160
    )
    return control > len(sample) // 10


def test_control_characters_counted_as_before() -> None:
    every = "".join(chr(i) for i in range(400))
    assert len(load_module._CONTROL.findall(every)) == 59
    rng = random.Random(3)
    for _ in range(2000):
        sample = "".join(
            chr(rng.choice([rng.randint(0, 200), 97, 10])) for _ in range(rng.randint(0, 50))
        )
        assert load_module._mostly_control(sample) == _old_mostly_control(sample)
