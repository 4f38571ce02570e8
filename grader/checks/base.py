"""Helpers shared by the built-in check types: schema pieces, comparison, wording."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..i18n import N_
from ..memo import value_key
from ..model import EDITIONS
from ..rubric import CheckSpec, Reference

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

NAMES: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
TOLERANCE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rtol": {"type": "number", "minimum": 0},
        "atol": {"type": "number", "minimum": 0},
    },
}
COMMON: dict[str, Any] = {
    "type": {"type": "string"},
    "points": {"type": "number", "minimum": 0},
    "name": {"type": "string"},
    "public": {"type": "boolean"},
    "feedback": {"type": "object"},
    "editions": {"type": "array", "items": {"enum": list(EDITIONS)}, "minItems": 1},
    # the public pack (grader/pack, docs/rubrics.md "The public part"): which generated cases
    # a student may see (the first N, or these indices), and whether a predicate written in
    # Python may be published with it
    "public_cases": {
        "oneOf": [
            {"type": "integer", "minimum": 1},
            {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        ]
    },
    "public_predicate": {"type": "boolean"},
}


def schema(required_fields: Sequence[str], /, **props: Any) -> dict[str, Any]:
    """The JSON Schema of a check: the common fields plus the type's own ``props``."""
    return {
        "type": "object",
        "required": ["type", "points", *required_fields],
        "additionalProperties": False,
        "properties": {**COMMON, **props},
    }


def require_regex(spec: CheckSpec, *fields: str) -> None:
    """The options ``fields`` that are given are valid regexes."""
    for f in fields:
        pattern = spec.options.get(f)
        if pattern is None:
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            raise spec.error(f, f"not a valid regular expression: {exc}") from None


def require_functions(spec: CheckSpec, reference: Reference | None, *fields: str) -> None:
    """Every named option must be a function of the reference module."""
    for f in fields:
        name = spec.options.get(f)
        if name is None:
            continue
        if reference is None:
            raise spec.error(f, "the rubric names no reference module")
        if not reference.has(str(name)):
            raise spec.error(f, f"the reference {reference.name!r} has no function {name!r}")


def tolerance(spec: CheckSpec) -> tuple[float, float]:
    tol: Mapping[str, float] = spec.options.get("tolerance", {})
    return float(tol.get("rtol", 1e-4)), float(tol.get("atol", 1e-5))


def same(a: FloatArray | None, b: FloatArray | None, rtol: float, atol: float) -> bool:
    """Numeric equality decided here, in the grader's process, with numpy only."""
    if a is None or b is None:
        return False
    if a.shape != b.shape:
        squeezed_a, squeezed_b = np.squeeze(a), np.squeeze(b)
        if squeezed_a.shape != squeezed_b.shape or a.size != b.size:
            return False
        a, b = squeezed_a, squeezed_b
    return allclose(a, b, rtol, atol)


_F64 = np.dtype(np.float64)


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08) -> bool:
    """``bool(np.allclose(a, b, rtol=rtol, atol=atol))``. For two float64 arrays of one shape
    and finite tolerances it evaluates numpy's own formula (``isclose``) directly, without the
    conversions, checks and broadcasting that cost more than the comparison on small arrays."""
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.dtype == _F64
        and b.dtype == _F64
        and a.shape == b.shape
        and math.isfinite(rtol)
        and math.isfinite(atol)
    ):
        with np.errstate(invalid="ignore"):
            close = np.less_equal(np.abs(a - b), atol + rtol * np.abs(b)) & np.isfinite(b) | (
                a == b
            )
        return bool(close.all())
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


def difference(got: FloatArray, expected: FloatArray, limit: int = 3) -> str:
    """A short description of how two arrays differ: shapes, or a few differing entries."""
    if got.shape != expected.shape:
        return N_("shape {got}, expected {expected}").format(
            got=shape_text(got.shape), expected=shape_text(expected.shape)
        )
    diff = np.abs(got - expected)
    if diff.size == 0:
        return "empty arrays"
    where = np.argwhere(~np.isclose(got, expected, rtol=1e-4, atol=1e-5))
    parts = [
        f"[{', '.join(map(str, idx))}] is {got[tuple(idx)]:.4g}, "
        f"expected {expected[tuple(idx)]:.4g}"
        for idx in where[:limit]
    ]
    more = f" (and {len(where) - limit} more)" if len(where) > limit else ""
    return N_("{k} of {n} entries differ: {entries}").format(
        k=len(where), n=diff.size, entries="; ".join(parts) + more
    )


def verdict(value: Any) -> tuple[float, str, tuple[str, ...]]:
    """A predicate's answer: (fraction, message[, diagnosis ids]) or a bool."""
    if isinstance(value, tuple) and len(value) >= 2:
        diags = tuple(str(d) for d in value[2]) if len(value) > 2 else ()
        return float(value[0]), str(value[1]), diags
    return (1.0, "", ()) if value else (0.0, "", ())


def remembered(
    reference: Reference,
    use: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    compute: Callable[[], T],
    cost: Callable[[T], int] | None = None,
) -> T:
    """``compute()``, a pure function of reference function ``fn`` applied to ``args`` (in
    the way named by ``use``), remembered by the rubric's Reference. Only arguments with a
    content key (:func:`grader.memo.value_key`: grader-side arrays and plain data) are
    remembered; an exception is never remembered. ``compute`` must return something
    immutable (a tuple, a read-only array)."""
    key = value_key(args)
    if key is None:
        return compute()
    value: T = reference.memo.get((use, fn, key), compute, cost)
    return value


def frozen_array(value: Any) -> FloatArray:
    """``np.asarray(value, dtype=float64)`` as a read-only copy (safe to share)."""
    arr = np.array(value, dtype=np.float64)
    arr.setflags(write=False)
    return arr


def array_cost(arr: FloatArray | None) -> int:
    return 256 + (arr.nbytes if arr is not None else 0)


def verdict_cost(v: tuple[float, str, tuple[str, ...]]) -> int:
    return 256 + len(v[1]) + sum(len(d) for d in v[2])
