"""The source check's memo of each cell's functions: content-keyed, bounded, exact."""

from __future__ import annotations

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
