"""A stand-in for a submission's process in check tests: plain Python functions answer the
probe protocol, so checks can be tested in milliseconds without a kernel. (The real probe
is tested against real kernels in test_execute.py, test_attacks.py and
test_engines_equivalence.py.) ``FakeRun`` batches nothing: its ``probe_many`` is the
:class:`~grader.execute.Run` protocol's default, one ``probe`` after another."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from grader.checks import CheckContext
from grader.execute.kernel import Run
from grader.locate import Answer, locate
from grader.model import Array, CellRun, Edition, Execution, Notebook, Value
from grader.probe import Probe
from grader.rubric import Rubric
from grader.values import as_array, decode, encode


class FakeRun(Run):
    """Answers probe requests by calling ``functions`` (numpy in, numpy out)."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]],
        alive: bool = True,
        namespace: Mapping[str, Any] | None = None,
    ) -> None:
        self.functions = dict(functions)
        self._alive = alive
        self.namespace = dict(namespace or {})  # what ``replay`` reads, as the real probe
        self.requests: list[dict[str, Any]] = []

    @property
    def alive(self) -> bool:
        return self._alive

    def probe(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        op = request["op"]
        if op == "namespace":
            ns = {}
            for name, fn in self.functions.items():
                is_class = isinstance(fn, type)
                params = fn.__code__.co_argcount if hasattr(fn, "__code__") else 1
                ns[name] = {
                    "type": "function",
                    "callable": True,
                    "params": params,
                    "is_class": is_class,
                    "owner": True,
                }
            return {"ok": True, "namespace": ns}
        if op == "call":
            fn = self.functions.get(request["target"])
            if fn is None:
                return {"ok": False, "ename": "NameError", "evalue": request["target"]}
            args = [_plain(decode(a)) for a in request["args"]]
            try:
                out = fn(*args)
            except Exception as exc:
                return {"ok": False, "ename": type(exc).__name__, "evalue": str(exc)}
            return {"ok": True, "value": encode(np.asarray(out, dtype=np.float64))}
        if op == "replay":  # the real probe's code, over the test's own namespace
            return Probe(self.namespace).handle(json.dumps(request))
        return {"ok": False, "ename": "ProbeError", "evalue": f"fake has no {op}"}


def _plain(value: Value) -> Any:
    if isinstance(value, Array):
        return np.array(value.data)
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a size (n_h, n_w) stays an int, as in the real probe
    arr = as_array(value)
    return value if arr is None else arr


def context(
    rubric: Rubric,
    exercise: str,
    notebook: Notebook,
    execution: Execution,
    run: FakeRun | None,
    edition: Edition | None = "d2l-1.0",
    answers: Mapping[str, Answer] | None = None,
) -> CheckContext:
    return CheckContext(
        notebook=notebook,
        execution=execution,
        channel=run,
        rubric=rubric,
        exercise=rubric.exercise(exercise),
        answers=answers if answers is not None else locate(notebook, rubric, edition),
        edition=edition,
        cache={},
        seed="test",
    )


def runs_for(notebook: Notebook, **per_cell: Any) -> Execution:
    """An execution record where every code cell ran cleanly, plus given overrides:
    ``per_cell={3: CellRun(...)}``."""
    cells = []
    for c in notebook.cells:
        if c.kind != "code":
            continue
        cells.append(per_cell.get(f"c{c.index}", CellRun(index=c.index)))
    return Execution(cells=tuple(cells), seconds=0.1)


# ----------------------------------------------------------- a student's corr2d, in numpy


def corr2d(X: Any, K: Any) -> Any:
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


def corr2d_loop_bound(X: Any, K: Any) -> Any:
    """The known mistake ``corr2d-loop-bound``: the inner loop runs over the rows."""
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[0]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y
