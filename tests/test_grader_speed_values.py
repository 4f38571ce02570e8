"""Decoding arrays with precomputed dtypes and an exact size check."""

from __future__ import annotations

import base64

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
