"""The source check's memo of each cell's functions: content-keyed, bounded, exact."""

from __future__ import annotations

from typing import Any

from grader.checks import source

CELL = """
def corr2d(X, K):
    return X @ K

def plain(X, K):
    return X * K

class Layer:
    def forward(self, x):
        return x @ x
"""


def test_functions_of_a_cell() -> None:
    source._FUNCTIONS.clear()
    got = source._functions(CELL, {"MatMult"}, set())
    assert got == (("corr2d", True), ("plain", False))
    assert source._functions(CELL, {"Mult"}, set()) == (("corr2d", False), ("plain", True))
    assert source._functions(CELL, set(), {"matmul"}) == (("corr2d", False), ("plain", False))
    assert source._functions("def f(:\n", {"MatMult"}, set()) is None


def test_memo_is_hit_on_equal_content_only() -> None:
    source._FUNCTIONS.clear()
    source._functions(CELL, {"MatMult"}, set())
    hits = source._FUNCTIONS.hits
    assert source._functions(CELL, {"MatMult"}, set()) == (("corr2d", True), ("plain", False))
    assert source._FUNCTIONS.hits == hits + 1
    changed = CELL.replace("X @ K", "torch.matmul(X, K)")
    assert source._functions(changed, {"MatMult"}, set()) == (("corr2d", False), ("plain", False))
    assert source._functions(changed, {"MatMult"}, {"matmul"})[0] == ("corr2d", True)  # type: ignore[index]
    assert source._FUNCTIONS.hits == hits + 1


def test_memo_is_bounded() -> None:
    source._FUNCTIONS.clear()
    limit = source._FUNCTIONS.max_entries
    for i in range(limit + 10):
        source._functions(f"def f{i}(): pass\n", {"MatMult"}, set())
    assert len(source._FUNCTIONS) == limit
    source._FUNCTIONS.clear()


# --------------------------------------------------------------------------- allclose


def test_allclose_is_numpys_allclose() -> None:
    import numpy as np

    from grader.checks.base import allclose

    rng = np.random.default_rng(0)
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-310, 1e308, -1e308, 1.0, 2.0])
    tolerances = [(1e-4, 1e-5), (0.0, 0.0), (1e-4, 0.0), (0.0, 1e-4), (1e-3, 1e-3), (2.0, 1e308)]
    tolerances += [(float("inf"), 0.0), (1e-4, float("nan"))]
    for _ in range(400):
        shape = tuple(rng.integers(0, 4, size=rng.integers(0, 3)))
        a = rng.standard_normal(shape)
        if rng.random() < 0.5:
            a.flat[:] = rng.choice(specials, size=a.size)
        b = a + rng.choice([0.0, 1e-9, 1e-5, 1e-3, 1.0]) * rng.standard_normal(shape)
        if rng.random() < 0.3:
            b.flat[:] = rng.choice(specials, size=b.size)
        rtol, atol = tolerances[rng.integers(len(tolerances))]
        with np.errstate(all="ignore"):
            want = bool(np.allclose(a, b, rtol=rtol, atol=atol))
            assert allclose(a, b, rtol, atol) is want
            assert allclose(a, b) is bool(np.allclose(a, b))
    # other dtypes, shapes that broadcast, non-arrays: numpy's own allclose
    assert allclose(np.ones(3, np.float32), np.ones(3)) is True
    assert allclose(np.ones((2, 3)), np.ones(3)) is True
    assert allclose([1.0, 2.0], (1.0, 2.0 + 1e-12)) is True
    assert allclose(np.ones(3), np.zeros(3)) is False


# --------------------------------------------------------------------------- prose concepts


def test_prose_concepts_are_remembered_by_content() -> None:
    import pytest

    from grader.checks import prose as prose_check
    from grader.prose import Concept

    memo = prose_check._CONCEPTS
    memo.clear()
    first = prose_check._concept("zero", ("zero matrix", r"all\W+zeros?"), False)
    assert first == Concept("zero", ("zero matrix", r"all\W+zeros?"), False)
    assert prose_check._concept("zero", ("zero matrix", r"all\W+zeros?"), False) is first
    assert memo.hits == 1
    assert prose_check._concept("zero", ("zero matrix", r"all\W+zeros?"), True).negated_ok
    other = prose_check._concept("zero", ("zero matrix",), False)
    assert other.patterns == ("zero matrix",) and len(other.compiled) == 1
    assert prose_check._concept("nil", ("zero matrix",), False).id == "nil"
    assert memo.hits == 1
    with pytest.raises(ValueError):
        prose_check._concept("bad", ("(",), False)
    assert len(memo) == 4  # the bad pattern raised and was not remembered
    for i in range(memo.max_entries + 5):
        prose_check._concept(f"c{i}", ("x",), False)
    assert len(memo) == memo.max_entries
    memo.clear()


# --------------------------------------------------------------------------- module gradients


def test_expected_gradients_are_remembered_by_content() -> None:
    import dataclasses
    import types

    import numpy as np
    from conftest import RUBRIC

    from grader.checks import module
    from grader.memo import Memo
    from grader.rubric import load_rubric
    from grader.values import encode

    warm = load_rubric(RUBRIC).reference
    assert warm is not None
    cold = dataclasses.replace(warm, memo=Memo(0, 0))
    spec = types.SimpleNamespace(options={"grads": "grads_conv2d"})
    X, weight, bias = np.arange(30.0).reshape(5, 6), np.ones((2, 2)), np.array([0.5])
    right = warm.function("grads_conv2d")(X, weight, bias)
    replies = [
        {name: encode(value) for name, value in right.items()},
        {"weight": encode(right["weight"] + 1), "bias": encode(right["bias"])},
        {"weight": encode(right["weight"])},
        {},
        None,
    ]

    def problems(ref: Any, x: Any) -> list[str | None]:
        ctx = types.SimpleNamespace(reference=ref)
        return [module._grad_problem(ctx, spec, r, x, weight, bias) for r in replies]  # type: ignore[arg-type]

    want = problems(cold, X)
    assert want[0] is None and all(want[1:]) and len(set(want[1:])) == 3
    assert problems(warm, X) == want
    hits = warm.memo.hits
    assert problems(warm, X.copy()) == want  # equal content: from the memo
    assert warm.memo.hits == hits + len(replies)
    misses = warm.memo.misses
    other = problems(warm, X[:4])  # a different input: computed once
    assert warm.memo.misses == misses + 1 and other == problems(cold, X[:4])
    assert other[0] is not None  # the right gradients for X are wrong for X[:4]


# --------------------------------------------------------------------------- request keys


def test_request_keys_are_sorted_json_dumps() -> None:
    import json

    import numpy as np

    from grader.checks import context
    from grader.values import encode

    requests: list[dict[str, Any]] = [
        {"op": "namespace"},
        {"op": "get", "name": "X\u00e9"},
        {"target": "corr2d", "op": "call", "args": [encode(np.eye(3)), encode(2.5), encode(None)]},
        {"op": "module", "target": "C", "params": {"weight": encode(np.ones(2)), "bias": encode(1)},
         "inputs": [encode(np.eye(2))], "init_args": [encode([1, 2])], "backward": True},
        {"op": "call", "target": "f", "args": [{"t": "num", "v": float("nan")}]},
    ]  # fmt: skip
    for request in requests:
        assert context._request_key(request) == json.dumps(request, sort_keys=True)
