"""Decoding arrays with precomputed dtypes and an exact size check."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from grader.errors import ProbeProtocolError
from grader.values import DTYPES, decode, encode


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("shape", [(0,), (3,), (2, 3), (1, 0, 4)])
def test_round_trip(dtype: str, shape: tuple[int, ...]) -> None:
    arr = (np.arange(int(np.prod(shape))) % 2).astype(dtype).reshape(shape)
    got = decode(encode(arr))
    assert got.data.dtype == np.dtype(dtype) and got.data.shape == shape  # type: ignore[union-attr]
    assert np.array_equal(got.data, arr) and not got.data.flags.writeable  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", [[2**62, 4], [2**40, 2**30], [2**70], [3, 2**64, 0]])
def test_huge_shapes_fail_as_before(shape: list[int]) -> None:
    """Sizes past int64 are checked with numpy's (wrapping) product, as they always were: a
    wrapped size of 0 passes the size check and then fails to reshape."""
    payload = {"t": "array", "kind": "numpy", "dtype": "uint8", "shape": shape, "b64": ""}
    wrapped = int(np.prod(shape))
    with pytest.raises(ValueError if wrapped == 0 else ProbeProtocolError):
        decode(payload)


def test_payload_must_match_shape() -> None:
    b64 = base64.b64encode(bytes(8)).decode()
    payload = {"t": "array", "kind": "numpy", "dtype": "float32", "shape": [3], "b64": b64}
    with pytest.raises(ProbeProtocolError):
        decode(payload)


def _encode_before(value: np.ndarray, kind: str = "torch") -> dict[str, object]:
    """encode() of an array as it was written before the dtype-name table."""
    arr = np.ascontiguousarray(np.asarray(value))
    if str(arr.dtype) not in DTYPES:
        arr = arr.astype(np.float64)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return {
        "t": "array",
        "kind": kind,
        "dtype": str(arr.dtype),
        "shape": list(arr.shape),
        "b64": base64.b64encode(le.tobytes()).decode("ascii"),
    }


def _outcome(fn: Any, value: np.ndarray, kind: str) -> object:
    try:
        return fn(value, kind)
    except Exception as exc:  # e.g. bytes or objects that are not numbers
        return type(exc)


@pytest.mark.filterwarnings("ignore:Casting complex values")
def test_encode_names_dtypes_as_str_did() -> None:
    codes = sorted(set(np.typecodes["All"]) | {"int64", "longlong", "intc", "uint16", "uint64"})
    seen = 0
    for code in codes:
        try:
            dtype = np.dtype(code)
            arr = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
        except (TypeError, ValueError):
            continue
        for variant in (dtype, dtype.newbyteorder(">"), np.dtype(dtype, metadata={"m": 1})):
            try:
                value = arr.astype(variant)
            except (TypeError, ValueError):
                continue
            assert _outcome(encode, value, "numpy") == _outcome(_encode_before, value, "numpy")
            assert _outcome(encode, value.T, "torch") == _outcome(_encode_before, value.T, "torch")
            seen += 1
    assert seen > 40
