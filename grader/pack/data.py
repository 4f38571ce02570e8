"""Plain data for the public pack: arrays and values as JSON, and content keys.

A value is encoded as JSON without pickle or ``.npy``: an array is
``{"array": {"dtype": "float64", "shape": [2, 3], "data": [...]}}`` (row-major, non-finite
floats as the strings ``"nan"``, ``"inf"``, ``"-inf"``), a tuple or list is
``{"list": [...]}``, a mapping ``{"dict": {...}}``, a non-finite float ``{"float": "nan"}``;
``bool``, ``int``, finite ``float``, ``str`` and ``None`` are themselves. Python writes a
float's shortest repr, which reads back as the same bits, so a decoded array is equal to the
original bit for bit. :func:`decode` is strict: anything else is a :class:`PackError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import GraderError

DTYPES = frozenset({"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool"})
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class PackError(GraderError):
    """A public pack is missing, unreadable or malformed; or a rubric cannot be packed."""


def _number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode(value: Any) -> Any:
    """``value`` as plain JSON data (see the module's docstring)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.ndarray):
        dtype = value.dtype.name
        if dtype not in DTYPES:
            raise PackError(f"cannot freeze an array of dtype {dtype}")
        flat = value.ravel().tolist()
        data = [_number(x) for x in flat] if value.dtype.kind == "f" else flat
        return {"array": {"dtype": dtype, "shape": list(value.shape), "data": data}}
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": _number(value)}
    if isinstance(value, tuple | list):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, Mapping):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    raise PackError(f"cannot freeze a value of type {type(value).__name__}")


def decode(data: Any) -> Any:
    """The value :func:`encode` made ``data`` from; arrays are read-only, lists are tuples."""
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, dict) and len(data) == 1:
        ((tag, body),) = data.items()
        if tag == "array" and isinstance(body, dict):
            return _array(body)
        if tag == "list" and isinstance(body, list):
            return tuple(decode(v) for v in body)
        if tag == "dict" and isinstance(body, dict):
            return {str(k): decode(v) for k, v in body.items()}
        if tag == "float" and body in _NONFINITE:
            return _NONFINITE[body]
    raise PackError(f"not a packed value: {json.dumps(data)[:80]}")


def _array(body: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    dtype, shape, data = body.get("dtype"), body.get("shape"), body.get("data")
    if dtype not in DTYPES or not isinstance(shape, list) or not isinstance(data, list):
        raise PackError(f"not a packed array: {json.dumps(body)[:80]}")
    if not all(isinstance(s, int) and s >= 0 for s in shape):
        raise PackError(f"not a packed array shape: {shape}")
    if math.prod(shape) != len(data):
        raise PackError(f"a packed array of shape {shape} has {len(data)} values")
    values = [_NONFINITE[x] if isinstance(x, str) and x in _NONFINITE else x for x in data]
    if not all(isinstance(x, int | float) for x in values):
        raise PackError("a packed array holds something that is not a number")
    arr = np.array(values, dtype=dtype).reshape(shape)
    arr.setflags(write=False)
    return arr


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def key(args: tuple[Any, ...]) -> str:
    """A content key of a reference call's arguments: equal for the original values and for
    their decoded copies (dtype, shape and every bit of every array)."""
    return str(_dumps(encode(tuple(args))))
