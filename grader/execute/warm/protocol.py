"""The warm engine's wire protocol: length-prefixed JSON frames on a kernel's socket.

Used in the grader process (:mod:`.handle`) and in every kernel child (:mod:`.child`).
"""

from __future__ import annotations

import json
import struct
from typing import Any

_HEADER = struct.Struct("!Q")
_MAX_FRAME = 1 << 30


# ==================================================================================== framing
def pack_frame(obj: Any) -> bytes:
    data = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return _HEADER.pack(len(data)) + data


def next_frame(buf: bytearray) -> Any | None:
    """Pop one decoded frame from ``buf`` if a whole one is there."""
    if len(buf) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(buf)
    if size > _MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    end = _HEADER.size + size
    if len(buf) < end:
        return None
    data = bytes(buf[_HEADER.size : end])
    del buf[:end]
    return json.loads(data)
