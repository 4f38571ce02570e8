"""A function that *builds the matrix* of a cross-correlation, for ``function`` checks with
``matrix_form: true``.

"How do you represent a cross-correlation as a matrix multiplication?" is often answered by
a function that returns the (doubly blocked Toeplitz) matrix W of a kernel for an input
shape, ``toeplitz_matrix(K, n_h, n_w)`` or ``kernel_matrix(K, (n_h, n_w))``, with the
product ``W @ X.reshape(-1)`` written where it is used. Such a function is called with the
grader's hidden inputs in the forms students write, and W is judged in the grader: the
product ``W @ vec(X)`` is computed here, in numpy, on the grader's own X.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import FloatArray, same
from .context import CheckContext

# argument forms for a case (X, K), by the function's positional arity
_FORMS: dict[int, tuple[Callable[[Any, Any], tuple[Any, ...]], ...]] = {
    1: (lambda X, K: (K,),),  # the shape fixed inside (right for one input size at most)
    2: (lambda X, K: (K, tuple(X.shape)), lambda X, K: (K, X)),
    3: (lambda X, K: (K, int(X.shape[0]), int(X.shape[1])),),
}


@dataclass(frozen=True)
class Built:
    function: str
    passed: int
    total: int


def find_builder(
    ctx: CheckContext,
    names: Sequence[str],
    cases: Sequence[tuple[Any, Any]],
    reference: Callable[..., Any],
    dtype: str = "float32",
) -> Built | None:
    """The first of ``names`` (functions of the student) whose matrix W, for the first case
    and then every case, gives ``W @ vec(X) == vec(reference(X, K))``."""
    namespace = ctx.namespace()
    for name in names:
        arity = namespace.get(name, {}).get("params")
        for form in _FORMS.get(arity, ()) if isinstance(arity, int) else ():
            calls = [form(*_cast(case, dtype)) for case in cases]
            outcomes = ctx.call_many(name, calls[:1])
            if not _right(outcomes[0].array, cases[0], reference):
                continue
            outcomes = ctx.call_many(name, calls)
            passed = sum(
                _right(o.array, case, reference) for o, case in zip(outcomes, cases, strict=True)
            )
            return Built(name, passed, len(cases))
    return None


def _cast(case: tuple[Any, Any], dtype: str) -> tuple[Any, Any]:
    return tuple(a.astype(dtype) if isinstance(a, np.ndarray) else a for a in case)  # type: ignore[return-value]


def _right(W: FloatArray | None, case: tuple[Any, Any], reference: Callable[..., Any]) -> bool:
    X, K = (np.asarray(a, dtype=np.float64) for a in case)
    expected = np.asarray(reference(X, K), dtype=np.float64)
    if W is None or W.ndim != 2 or W.shape != (expected.size, X.size):
        return False
    got = (W.astype(np.float64) @ X.reshape(-1)).reshape(expected.shape)
    return same(got, expected, 1e-4, 1e-4)
