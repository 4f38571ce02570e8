"""Public packs: the rubric's public checks, frozen as data, for students' repositories.

``grade pack -o DIR`` writes one (:func:`write_pack`); ``grade --check --pack DIR
notebook.ipynb`` grades from it alone (:func:`load_pack`). ``grade --check`` with the full
course grades from the same frozen public part, built in memory (:func:`public_rubric`),
so both give the same verdicts. :func:`scan` is the leak scan every written pack passes.
See docs/rubrics.md ("The public part") and docs/ci.md.
"""

from __future__ import annotations

from .data import PackError
from .freeze import Frozen, freeze, is_pack, left_out, public_rubric
from .leaks import scan
from .store import PACK_DIR, find_pack, is_pack_path, load_any, load_pack, write_pack

__all__ = [
    "PACK_DIR",
    "Frozen",
    "PackError",
    "find_pack",
    "freeze",
    "is_pack",
    "is_pack_path",
    "left_out",
    "load_any",
    "load_pack",
    "public_rubric",
    "scan",
    "write_pack",
]
