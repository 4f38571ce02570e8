import base64

import numpy as np
import pytest

from grader.errors import ProbeProtocolError
from grader.model import Array, Opaque
from grader.values import as_array, decode, encode, encode_value


def test_roundtrip_arrays_and_scalars() -> None:
    for arr in [np.arange(6, dtype=np.float32).reshape(2, 3), np.eye(3), np.array([True, False])]:
        value = decode(encode(arr))
        assert isinstance(value, Array)
        assert value.data.dtype == arr.dtype and np.array_equal(value.data, arr)
        assert not value.data.flags.writeable
    assert decode(encode(3)) == 3 and decode(encode("x")) == "x" and decode(encode(None)) is None
    assert decode({"t": "num", "v": "nan"}) != decode({"t": "num", "v": "nan"})  # a real NaN
    again = decode(encode_value(decode(encode(np.ones((2, 2))))))
    assert isinstance(again, Array) and again.shape == (2, 2)


@pytest.mark.parametrize(
    "bad",
    [
        {"t": "array", "kind": "torch", "dtype": "object", "shape": [1], "b64": ""},
        {"t": "array", "kind": "torch", "dtype": "float32", "shape": [3], "b64": "AAAA"},
        {"t": "array", "kind": "pickle", "dtype": "float32", "shape": [1], "b64": "AAAAAA=="},
        {"t": "array", "kind": "torch", "dtype": "float32", "shape": [-1], "b64": ""},
        {"t": "array", "kind": "torch", "dtype": "float32", "shape": [1], "b64": "!!!"},
        {"t": "eval", "v": "__import__('os')"},
        {"t": "num", "v": True},
        {"t": "num", "v": "1+1"},
        "not a mapping",
    ],
)
def test_decode_rejects_anything_malformed(bad: object) -> None:
    with pytest.raises(ProbeProtocolError):
        decode(bad)


def test_payload_must_match_shape_exactly() -> None:
    good = encode(np.ones(4, dtype=np.float32))
    good["shape"] = [5]
    with pytest.raises(ProbeProtocolError, match="shape"):
        decode(good)
    raw = base64.b64encode(np.ones(4, dtype=np.float32).tobytes()).decode()
    assert decode(
        {"t": "array", "kind": "torch", "dtype": "float32", "shape": [2, 2], "b64": raw}
    ).shape == (2, 2)  # type: ignore[union-attr]


def test_opaque_values_carry_only_a_type_name() -> None:
    value = decode({"t": "opaque", "type": "Conv2D" * 50, "callable": True, "params": 1})
    assert isinstance(value, Opaque) and len(value.type_name) == 100 and value.params == 1
    assert as_array(value) is None
