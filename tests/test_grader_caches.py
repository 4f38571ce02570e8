"""The grader's content-keyed caches: cell facts, parsed outputs and reference results.

They must never change a verdict: equal content gives equal answers, anything that differs
(dtype, shape, one element, the Reference) is a different key, and a cached value cannot be
corrupted by a caller.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import RUBRIC
from fakes import FakeRun, context, corr2d, corr2d_loop_bound, runs_for

from grader import analysis
from grader.checks import registry
from grader.checks.property import judge
from grader.memo import Memo, value_key
from grader.model import Array, Cell, CellRun, Execution, Notebook, Opaque
from grader.rubric import Reference, Rubric, load_rubric
from grader.tensor_text import find_arrays, parse_arrays

# --------------------------------------------------------------------------- Memo


def test_memo_bounds_entries_and_cost_and_skips_oversized_values() -> None:
    memo: Memo[int, str] = Memo(max_entries=3, max_cost=80)
    for i in range(5):
        assert memo.get(i, lambda i=i: f"v{i}", lambda _: 1) == f"v{i}"
    assert len(memo) == 3  # the two least recently used were evicted
    assert memo.get(0, lambda: "again") == "again"  # recomputed, not remembered as "v0"
    memo.clear()
    assert memo.get(7, lambda: "big", lambda _: 11) == "big"  # over max_cost // 8: not kept
    assert len(memo) == 0
    memo.get(1, lambda: "a", lambda _: 10)
    assert memo.get(1, lambda: "b") == "a" and memo.hits == 1


def test_memo_does_not_remember_exceptions() -> None:
    memo: Memo[str, int] = Memo(max_entries=8, max_cost=100)
    calls: list[int] = []

    def boom() -> int:
        calls.append(1)
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            memo.get("k", boom)
    assert len(calls) == 2 and len(memo) == 0


def test_disabled_memo_always_computes() -> None:
    memo: Memo[str, int] = Memo(max_entries=0, max_cost=0)
    assert [memo.get("k", lambda n=n: n) for n in range(3)] == [0, 1, 2]  # type: ignore[misc]


# --------------------------------------------------------------------------- value keys


def test_value_key_separates_what_a_predicate_could_tell_apart() -> None:
    base = np.eye(4)
    one_off = base.copy()
    one_off[3, 2] = 1e-12
    variants = [
        base,
        base.astype(np.float32),  # dtype
        base.reshape(2, 8),  # shape (same bytes)
        base.T.copy(order="F"),  # layout (same values)
        one_off,  # one element
        Array(base),
        Array(base, kind="numpy"),
        Array(base, requires_grad=True),
        Array(base.astype(np.float32)),
        (base,),
        0.0,
        -0.0,
        0,
        False,
        "0",
        None,
        Opaque("Net"),
        Opaque("Net", callable=True),
    ]
    keys = [value_key(v) for v in variants]
    assert all(k is not None for k in keys)
    assert len(set(keys)) == len(keys)
    assert value_key(np.eye(4)) == value_key(base)  # equal content, equal key
    assert value_key(Array(np.eye(4))) == value_key(Array(base))


def test_value_key_refuses_what_it_cannot_key_safely() -> None:
    class Sub(np.ndarray):  # type: ignore[type-arg]
        pass

    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("__eq__ must not be called")

        def __hash__(self) -> int:
            raise AssertionError("__hash__ must not be called")

    class MyFloat(float):
        pass

    for value in (
        np.eye(2).view(Sub),
        np.array([object()], dtype=object),
        Hostile(),
        (1.0, Hostile()),
        MyFloat(1.0),
        [1.0, 2.0],
    ):
        assert value_key(value) is None


# --------------------------------------------------------------------------- facts


def test_facts_equal_for_equal_sources_and_immutable() -> None:
    src = "import torch\nX = torch.eye(8)\ndef f(a):\n    return a\n"
    same_text = "".join(list(src))  # an equal string, not the same object
    first, second = analysis.facts(src), analysis.facts(same_text)
    assert first == second
    assert first is second  # remembered
    assert isinstance(first.defines, frozenset) and isinstance(first.uses, frozenset)
    assert isinstance(first.imports, tuple) and isinstance(first.functions, tuple)
    for field in dataclasses.fields(first):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(first, field.name, None)
    assert analysis.facts(src + "Y = 1\n") != first  # a different source, different facts


def test_facts_of_a_broken_cell_are_remembered_too() -> None:
    src = "for i in range(3):\nprint(i)\nimport numpy as np\n"
    assert analysis.facts(src) is analysis.facts(src)
    assert not analysis.facts(src).parses and "np" in analysis.facts(src).defines


# --------------------------------------------------------------------------- parsed outputs


def test_cached_parsed_arrays_are_read_only_and_cannot_be_reenabled() -> None:
    text = "tensor([[1., 2.], [3., 4.]]) and [5, 6]"
    for arr in parse_arrays(text):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[...] = 0
        with pytest.raises(ValueError):
            arr.setflags(write=True)
    assert [a.tolist() for a in parse_arrays(text)] == [[[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0]]


def test_a_caller_cannot_corrupt_a_later_parse() -> None:
    text = "tensor([7., 8., 9.])"
    got = parse_arrays(text)
    mine = got[0].copy()  # how a caller that wants to modify must do it
    mine[0] = -1
    got.clear()  # the returned list is the caller's own
    found = find_arrays(text)
    found.append(found[0])
    again = parse_arrays(text)
    assert len(again) == 1 and again[0].tolist() == [7.0, 8.0, 9.0]
    assert len(find_arrays(text)) == 1


def test_equal_texts_parse_equal_and_different_texts_do_not_collide() -> None:
    a = parse_arrays("tensor([1., 2.])")
    b = parse_arrays("".join(["tensor([1., ", "2.])"]))
    c = parse_arrays("tensor([1., 3.])")
    assert a[0].tolist() == b[0].tolist() == [1.0, 2.0]
    assert c[0].tolist() == [1.0, 3.0]
    empty = find_arrays("tensor([], size=(0, 3))")[0]
    assert empty.values.shape == (0, 3) and not empty.values.flags.writeable


# --------------------------------------------------------------------------- predicate memo


def _reference(name: str, **functions: Callable[..., Any]) -> Reference:
    module = types.ModuleType(f"_test_reference_{name}")
    for fname, fn in functions.items():
        setattr(module, fname, fn)
    return Reference(name, f"<{name}>", module)


def _judge(reference: Reference, predicate: str, value: Any) -> tuple[float, str, tuple[str, ...]]:
    ctx = types.SimpleNamespace(reference=reference)  # judge only asks for the reference
    return judge(ctx, predicate, value)  # type: ignore[arg-type]


def test_predicate_memo_distinguishes_dtype_shape_and_one_element() -> None:
    calls: list[str] = []

    def describe(value: Any) -> tuple[float, str]:
        data = value.data if isinstance(value, Array) else np.asarray(value)
        calls.append("x")
        extra = f" {value.kind} {value.requires_grad}" if isinstance(value, Array) else ""
        return 1.0, f"{data.dtype} {data.shape} {data.sum()!r}{extra}"

    ref = _reference("describe", describe=describe)
    base = np.eye(4)
    one_off = base.copy()
    one_off[0, 3] = 1e-9
    values = [
        base,
        base.astype(np.float32),
        base.reshape(2, 8),
        one_off,
        Array(base),
        Array(base, kind="numpy"),
        Array(base, requires_grad=True),
    ]
    first = [_judge(ref, "describe", v) for v in values]
    assert len(set(first)) == len(values) and len(calls) == len(values)
    again = [_judge(ref, "describe", v) for v in values]
    assert again == first and len(calls) == len(values)  # all hits now
    assert _judge(ref, "describe", np.eye(4)) == first[0] and len(calls) == len(values)


def test_predicate_memo_is_per_reference_and_per_function_object() -> None:
    one = _reference("one", pred=lambda v: (1.0, "from one"))
    two = _reference("two", pred=lambda v: (0.0, "from two"))
    x = np.eye(3)
    assert _judge(one, "pred", x) == (1.0, "from one", ())
    assert _judge(two, "pred", x) == (0.0, "from two", ())
    # the module's function replaced (a reload, a monkeypatch): the old verdict is not used
    one.module.pred = lambda v: (0.5, "replaced")  # type: ignore[attr-defined]
    assert _judge(one, "pred", x) == (0.5, "replaced", ())


def test_predicate_errors_are_verdicts_and_unkeyable_values_are_judged_every_time() -> None:
    calls: list[int] = []

    def pred(value: Any) -> tuple[float, str]:
        calls.append(1)
        raise ValueError("bad")

    ref = _reference("errors", pred=pred)
    for _ in range(2):
        assert _judge(ref, "pred", np.eye(3))[0] == 0.0
    assert len(calls) == 1  # a pure failure is remembered like any verdict
    for _ in range(2):
        _judge(ref, "pred", [1.0, 2.0])  # a list: no safe content key
    assert len(calls) == 3


def test_a_reference_predicate_judged_from_the_memo_matches_a_fresh_judgement(
    rubric: Rubric,
) -> None:
    assert rubric.reference is not None
    fresh = dataclasses.replace(rubric.reference, memo=Memo(0, 0))  # never remembers
    rng = np.random.default_rng(1)
    images = [
        np.eye(8),
        np.eye(6, 8),
        np.tril(np.ones((6, 8))),
        np.fliplr(np.eye(7)),
        rng.random((8, 8)),
        np.ones((5, 5)),
        np.eye(2),
    ]
    for image in images * 2:
        assert _judge(rubric.reference, "pred_diagonal_image", image) == _judge(
            fresh, "pred_diagonal_image", image
        )


# --------------------------------------------------------------------------- whole checks


DIAG = Notebook(
    "t.ipynb",
    "ipynb",
    (
        Cell(0, "markdown", "# 1. Construct an image X with diagonal edges."),
        Cell(1, "code", "X = torch.eye(6, 8)\nX"),
        Cell(2, "markdown", "## 1.1 What happens if you apply the kernel K in this section to it?"),
        Cell(3, "code", "corr2d(X, K)\nprint(corr2d(X, K))"),
    ),
)


def _diag_execution(image: Any, shown: Any) -> Execution:
    return runs_for(
        DIAG,
        c1=CellRun(index=1, bindings={"X": Array(np.asarray(image, dtype=np.float32))}),
        c3=CellRun(
            index=3,
            results=(Array(np.asarray(shown, dtype=np.float32)),),
            text=f"tensor({np.asarray(shown).tolist()})",
        ),
    )


def _run_all_checks(
    rubric: Rubric, execution: Execution, student_corr2d: Callable[..., Any]
) -> list[Any]:
    out = []
    for exercise in (
        "diagonal-edges",
        "diagonal-apply-kernel",
        "diagonal-transpose-input",
        "corr2d",
    ):
        ex = rubric.exercise(exercise)
        for spec in ex.checks:
            fake = FakeRun({"corr2d": student_corr2d})
            ctx = context(rubric, exercise, DIAG, execution, fake)
            out.append(registry()[spec.type].run(spec, ctx))
    return out


def test_whole_checks_give_the_same_results_with_warm_and_disabled_memos() -> None:
    K = np.array([[1.0, -1.0]])
    warm = load_rubric(RUBRIC)  # its own Reference, so its own memo
    assert warm.reference is not None
    cold = dataclasses.replace(warm, reference=dataclasses.replace(warm.reference, memo=Memo(0, 0)))
    tril = np.tril(np.ones((7, 9)))
    cases = [
        (np.eye(6, 8), corr2d(np.eye(6, 8), K), corr2d),
        (np.eye(6, 8), np.zeros((6, 7)), corr2d),
        (tril, corr2d(tril, K), corr2d),
        (tril, corr2d_loop_bound(tril, K), corr2d_loop_bound),
        (np.ones((6, 8)), corr2d(np.ones((6, 8)), K), corr2d),
    ]
    expected = [_run_all_checks(cold, _diag_execution(x, y), f) for x, y, f in cases]
    assert len({str(r) for r in expected}) == len(cases)  # the cases are told apart
    for _ in range(2):  # the second round is served from the memo
        got = [_run_all_checks(warm, _diag_execution(x, y), f) for x, y, f in cases]
        assert got == expected
    assert warm.reference.memo.hits > 0
    assert len(cold.reference.memo) == 0  # type: ignore[union-attr]
