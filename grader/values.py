"""Values crossing the kernel boundary, on the grader's side.

``decode`` turns the plain data the probe sent into :mod:`grader.model` values with a strict
parser: only known tags, only whitelisted dtypes, sizes checked against the byte count. It
never evaluates, unpickles or imports anything that came from a submission. ``encode``
turns the grader's own numpy inputs into the same plain data for the probe.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ProbeProtocolError
from .model import Array, Opaque, Value

DTYPES = frozenset(
    {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
)
_NATIVE = {name: np.dtype(name) for name in DTYPES}
_NAME_OF = {np.dtype(name): name for name in DTYPES}  # byte-swapped dtypes are not equal
_LITTLE_ENDIAN = {name: np.dtype(name).newbyteorder("<") for name in DTYPES}
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 6


def decode(data: Any, depth: int = 0) -> Value:
    """Decode one encoded value; raise ProbeProtocolError on anything malformed."""
    if not isinstance(data, Mapping) or depth > MAX_DEPTH:
        raise ProbeProtocolError("value is not an encoded mapping")
    tag = data.get("t")
    if tag == "none":
        return None
    if tag == "bool":
        return _typed(data.get("v"), bool)
    if tag == "num":
        v = data.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ProbeProtocolError("num value is not a number")
        return v
    if tag == "str":
        return _typed(data.get("v"), str)
    if tag == "seq":
        items = data.get("v")
        if not isinstance(items, list):
            raise ProbeProtocolError("seq value is not a list")
        return tuple(decode(x, depth + 1) for x in items)
    if tag == "array":
        return _decode_array(data)
    if tag == "opaque":
        params = data.get("params")
        return Opaque(
            type_name=str(data.get("type", "?"))[:100],
            callable=bool(data.get("callable", False)),
            params=params if isinstance(params, int) and not isinstance(params, bool) else None,
        )
    raise ProbeProtocolError(f"unknown value tag {tag!r}")


def _typed(v: Any, tp: type[bool] | type[str]) -> bool | str:
    if not isinstance(v, tp):
        raise ProbeProtocolError(f"expected {tp.__name__}")
    return v


def _decode_array(data: Mapping[str, Any]) -> Array:
    dtype = data.get("dtype")
    shape = data.get("shape")
    kind = data.get("kind")
    if dtype not in DTYPES:
        raise ProbeProtocolError(f"dtype {dtype!r} is not allowed")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ProbeProtocolError("array shape is not a list of sizes")
    if kind not in ("torch", "numpy"):
        raise ProbeProtocolError("array kind must be torch or numpy")
    b64 = data.get("b64")
    if not isinstance(b64, str) or len(b64) > MAX_BYTES * 4 // 3 + 4:
        raise ProbeProtocolError("array payload missing or too large")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProbeProtocolError("array payload is not base64") from exc
    np_dtype = _LITTLE_ENDIAN[dtype]
    count = math.prod(shape)
    if count >= 1 << 63:  # as numpy's int64 product gives it (wrapped around)
        count = int(np.prod(shape))
    if count * np_dtype.itemsize != len(raw):
        raise ProbeProtocolError("array payload does not match its shape")
    arr = np.frombuffer(raw, dtype=np_dtype).reshape(shape).astype(_NATIVE[dtype])
    arr.setflags(write=False)
    return Array(data=arr, kind=kind, requires_grad=data.get("grad") is True)


def encode(value: npt.ArrayLike | float | int | str | None, kind: str = "torch") -> dict[str, Any]:
    """Encode one of the grader's own inputs for the probe."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int | float):
        return {"t": "num", "v": value}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, Sequence) and not isinstance(value, np.ndarray):
        return {"t": "seq", "v": [encode(v, kind) for v in value]}
    arr = np.ascontiguousarray(np.asarray(value))
    name = _NAME_OF.get(arr.dtype)  # str(arr.dtype) if that is in DTYPES (str() is slow)
    if name is None:
        arr = arr.astype(np.float64)
        name = "float64"
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return {
        "t": "array",
        "kind": kind,
        "dtype": name,
        "shape": list(arr.shape),
        "b64": base64.b64encode(le.tobytes()).decode("ascii"),
    }


def as_array(value: Value) -> npt.NDArray[np.float64] | None:
    """A float64 view of a value if it is numeric array-like, else None."""
    if isinstance(value, Array):
        return value.data.astype(np.float64)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return np.asarray(float(value))
    if isinstance(value, tuple) and value and all(isinstance(v, int | float) for v in value):
        return np.asarray([float(v) for v in value])  # type: ignore[arg-type]
    return None


def encode_value(value: Value) -> dict[str, Any]:
    """Encode a decoded value again (for recordings); inverse of ``decode``."""
    if isinstance(value, Array):
        out = encode(value.data, value.kind if value.kind != "list" else "numpy")
        out["grad"] = value.requires_grad
        return out
    if isinstance(value, Opaque):
        return {
            "t": "opaque",
            "type": value.type_name,
            "callable": value.callable,
            "params": value.params,
        }
    if isinstance(value, tuple):
        return {"t": "seq", "v": [encode_value(v) for v in value]}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return {"t": "num", "v": str(value)}
    return encode(value)
