"""Kernels written inline in code (grader.checks.literals): read from the source, never run."""

from __future__ import annotations

import numpy as np

from grader.checks.literals import inline_arrays


def test_tensor_constructors_with_list_literals_are_read_in_source_order() -> None:
    source = (
        "x = torch.arange(6.0)\n"
        "print(corr2d(x.reshape(1, -1) ** 2, torch.tensor([[1.0, -2.0, 1.0]])))\n"
        "b = np.array([1, 2, 1]) / 4\n"
    )
    found = inline_arrays(source, {})
    assert [a.tolist() for a in found] == [[[1.0, -2.0, 1.0]], [1.0, 2.0, 1.0]]


def test_filled_shapes_use_literal_sizes_or_integers_the_run_bound() -> None:
    source = "k = torch.ones(1, n)\nz = torch.zeros((2, 3))\nf = np.full((1, 3), 0.5)\n"
    found = inline_arrays(source, {"n": 5.0})
    assert [a.shape for a in found] == [(1, 5), (2, 3), (1, 3)]
    assert np.allclose(found[2], 0.5)


def test_nothing_is_guessed_or_evaluated() -> None:
    source = (
        "k = torch.ones(1, m)\n"  # m unknown
        "big = torch.ones(10**9)\n"  # not a literal size
        "t = torch.tensor(make())\n"  # not a literal list
        "torch.ones(1, 10_000_000)\n"  # too large to build
    )
    assert inline_arrays(source, {}) == []
    assert inline_arrays("def broken(:\n", {}) == []
