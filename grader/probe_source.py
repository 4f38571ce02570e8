"""The probe's source text, as the grader sends it into a kernel (see docs/design.md,
"The boundary"): read once from ``probe.py``, never imported by the grader. Its code
objects carry the source's digest in their filename, so code an engine compiled in
advance (the warm engine's fork server) is used only if it is of this very source."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path

PROBE_SOURCE = (Path(__file__).resolve().parent / "probe.py").read_text()
PROBE_FILENAME = f"<grader-probe-{hashlib.sha256(PROBE_SOURCE.encode()).hexdigest()[:16]}>"


def pack(text: str) -> str:
    """``text`` as base64 of zlib: IPython tokenises and hashes (in pure Python) every cell
    it runs, so long literals in the grader's cells travel compressed."""
    return base64.b64encode(zlib.compress(text.encode(), 9)).decode("ascii")
