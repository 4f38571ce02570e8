"""The execution engine against real Jupyter kernels: errors, timeouts, memory, crashes."""

from __future__ import annotations

import time

import pytest
from conftest import code_notebook

from grader.execute import Limits, executor
from grader.model import Execution, Notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
GiB = 1024**3


def run(nb: Notebook, limits: Limits) -> Execution:
    with executor("nbclient", limits).run(nb) as live:
        return live.execution


def test_errors_warnings_deferral_imports_and_cell_timeout() -> None:
    nb = code_notebook(
        "import warnings\nwarnings.warn('deprecated thing')\nx = np.ones(3)\nx",  # np: no import
        "print(later * 2)",  # uses a name that only the next cell defines
        "later = 21",
        "1 / 0",
        "import time\ntime.sleep(60)",  # interrupted after the cell timeout
        "!pip install d2l==1.0.3\nafter = 'still running'\nafter",
    )
    start = time.monotonic()
    ex = run(nb, Limits(cell_timeout=3))
    assert time.monotonic() - start < 30
    by = {c.index: c for c in ex.cells}
    assert by[0].error is None  # a stderr warning is not a failure
    assert "added missing `import numpy as np`" in ex.notes
    assert by[1].error is None and by[1].attempts == 2 and "42" in by[1].text
    assert by[1].first_error is not None and by[1].first_error.ename == "NameError"
    assert by[3].error is not None and by[3].error.ename == "ZeroDivisionError"
    assert by[3].error.cell == 4
    assert by[4].timed_out and by[4].error is not None and by[4].error.ename == "Timeout"
    assert by[5].error is None and by[5].results == ("still running",)
    assert any("skipped `!pip install d2l==1.0.3`" in n for n in ex.notes)
    assert ex.killed is None


def test_notebook_timeout_stops_the_run() -> None:
    nb = code_notebook("import time\ntime.sleep(30)", "x = 1")
    start = time.monotonic()
    ex = run(nb, Limits(cell_timeout=60, notebook_timeout=5))
    assert time.monotonic() - start < 20
    assert ex.killed == "timeout"
    assert ex.cells[0].error is not None
    assert all(c.index != 1 for c in ex.cells)  # nothing ran after the deadline


def test_memory_limit_kills_the_cell_and_the_rest_still_runs() -> None:
    nb = code_notebook(
        "import torch\nbig = []\nfor _ in range(40):\n    big.append(torch.ones(256, 1024, 1024))",
        "y = 2 + 2\ny",
    )
    ex = run(nb, Limits(memory_bytes=1 * GiB))
    assert ex.killed == "memory"
    first = ex.cells[0]
    assert first.error is not None and first.error.ename in ("MemoryLimit", "RuntimeError")
    rest = [c for c in ex.cells if c.index == 1]
    assert rest and rest[0].results == (4,)


def test_a_dead_kernel_is_reported_and_the_rest_is_graded() -> None:
    nb = code_notebook("a = 1", "import os\nos._exit(3)", "b = a + 1\nb")
    ex = run(nb, Limits())
    assert ex.killed == "crashed"
    crashed = next(c for c in ex.cells if c.index == 1)
    assert crashed.error is not None and crashed.error.ename == "KernelDied"
    last = next(c for c in ex.cells if c.index == 2)
    assert last.error is None and last.results == (2,)
    assert any("restarted" in n for n in ex.notes)


def test_a_cell_that_ignores_interrupts_is_killed() -> None:
    nb = code_notebook(
        "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
        "    except KeyboardInterrupt:\n        pass",
        "z = 3\nz",
    )
    start = time.monotonic()
    ex = run(nb, Limits(cell_timeout=2))
    assert time.monotonic() - start < 45
    assert next(c for c in ex.cells if c.index == 1).results == (3,)
    assert next(c for c in ex.cells if c.index == 0).error is not None


def test_probe_calls_student_functions_with_plain_data() -> None:
    import numpy as np

    from grader.values import as_array, decode, encode

    nb = code_notebook(
        "import torch\ndef double(x):\n    print('noise')\n    return x * 2\n"
        "def slow(x):\n    import time\n    time.sleep(30)"
    )
    with executor("nbclient", Limits(probe_timeout=1)).run(nb) as live:
        reply = live.probe({"op": "call", "target": "double", "args": [encode(np.eye(2))]})
        out = as_array(decode(reply["value"]))
        assert out is not None and np.array_equal(out, 2 * np.eye(2))
        slow = live.probe({"op": "call", "target": "slow", "args": [encode(1.0)]})
        assert slow["ok"] is False and slow["ename"] == "Timeout"
        missing = live.probe({"op": "call", "target": "nothere", "args": []})
        assert missing["ename"] == "NameError"


@pytest.mark.parametrize("engine", ["warm", "nbclient"])
def test_a_batch_of_probe_requests_is_answered_in_order_in_one_round_trip(engine: str) -> None:
    import numpy as np

    from grader.values import as_array, decode, encode

    nb = code_notebook(
        "calls = []\ndef double(x):\n    calls.append(float(x.sum()))\n    return x * 2\n"
        "def slow(x):\n    import time\n    time.sleep(30)"
    )
    requests = [
        {"op": "call", "target": "double", "args": [encode(np.ones(2))]},
        {"op": "call", "target": "slow", "args": [encode(1.0)]},  # times out alone
        {"op": "call", "target": "nothere", "args": []},
        {"op": "call", "target": "double", "args": [encode(np.full((40, 40), 5.0))]},
    ]
    with executor(engine, Limits(probe_timeout=1), sandbox="none").run(nb) as live:
        executes = []
        kernel = live._kernel
        assert kernel is not None
        execute = kernel.execute
        kernel.execute = lambda code, t: executes.append(code) or execute(code, t)  # type: ignore[method-assign]
        replies = live.probe_many(requests)
        assert len(executes) == 1 and "reply_packed(" in executes[0]  # a long request
        assert [r["ok"] for r in replies] == [True, False, False, True]
        assert replies[1]["ename"] == "Timeout" and replies[2]["ename"] == "NameError"
        out = as_array(decode(replies[3]["value"]))
        assert out is not None and np.array_equal(out, np.full((40, 40), 10.0))
        calls = live.probe({"op": "get", "name": "calls"})
        assert decode(calls["value"]) == (2.0, 8000.0)  # in order, each once


def test_a_deep_directory_tree_left_behind_does_not_crash_cleanup() -> None:
    nb = code_notebook(
        "import os\np = 'd'\nfor _ in range(1500):\n    os.mkdir(p)\n    os.chdir(p)\n"
        "os.chmod('.', 0)\nwhere = os.getcwd()"
    )
    runner = executor("nbclient", Limits())
    with runner.run(nb) as live:
        assert live.execution.cells[0].error is None
    # leaving the context removed the workdir without RecursionError


def test_cells_sent_ahead_stop_where_the_driver_may_take_another_step() -> None:
    """The chain of cells an engine may run ahead: in order, at most AHEAD, never a cell to
    skip (it crashed the kernel) or to replay, nor anything after a cell that defines a
    name deferred cells wait for (they run first)."""
    from grader import analysis
    from grader.execute.driver import AHEAD, _ahead_of, _CellState, _Progress

    sources = ["a = 1", "b = 2", "later = 3", "c = 4", "d = 5", "e = 6"]
    cells = [_CellState(i, s, analysis.facts(s)) for i, s in enumerate(sources)]
    progress = _Progress()
    assert [c.index for c in _ahead_of(cells, 0, progress, set())] == [1, 2, 3, 4, 5]
    assert [c.index for c in _ahead_of(cells, 0, progress, {"later"})] == [1, 2]
    assert _ahead_of(cells, 2, progress, {"later"}) == []
    progress.skip.add(4)
    assert [c.index for c in _ahead_of(cells, 0, progress, set())] == [1, 2, 3]
    many = [_CellState(i, f"x{i} = {i}", analysis.facts(f"x{i} = {i}")) for i in range(40)]
    assert len(_ahead_of(many, 0, _Progress(), set())) == AHEAD
