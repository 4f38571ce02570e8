"""The warm engine's kernel child: the same RawResults as the nbclient engine, the same
limits and failures, and cells sent ahead (grader/execute/warm/child.py, capture.py,
shell.py and the grader's handle.py).

Kernel-starting tests share one fork server per module (conftest's ``factory``); the
equivalence tests run every snippet in one warm kernel and one nbclient kernel, in the
same order, so the two kernels' states stay comparable; the same comparison runs with
the shortcuts into IPython's internals turned off (warm/shortcuts.py).
"""

from __future__ import annotations

import contextlib
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MiB, code_notebook, gone, kernel_options, needs_warm, run_once

from grader.execute.kernel import (
    REPLY_MIME,
    Kernel,
    KernelDied,
    Limits,
    RawResult,
)
from grader.execute.warm import WarmFactory, WarmKernel
from grader.execute.warm.capture import Outputs

pytestmark = needs_warm


def test_outputs_follow_nbclient_rules() -> None:
    out = Outputs(cap=10)
    out.stream("stdout", "abc")
    out.message("clear_output", {"wait": True})
    out.stream("stdout", "def")  # the pending clear happens before this output
    out.message("display_data", {"data": {"text/plain": "'x'"}, "transient": {"display_id": "d"}})
    out.message(
        "update_display_data", {"data": {"text/plain": "'y'"}, "transient": {"display_id": "d"}}
    )
    out.message("display_data", {"data": {REPLY_MIME: {"ok": True}, "text/plain": "r"}})
    out.message("display_data", {"data": {"image/png": "..."}})  # nothing _raw_result keeps
    assert out.export() == [
        {"output_type": "stream", "name": "stdout", "text": "def"},
        {"output_type": "display_data", "data": {"text/plain": "'y'"}},
        {"output_type": "display_data", "data": {REPLY_MIME: {"ok": True}, "text/plain": "r"}},
    ]
    out.reset()
    out.stream("stdout", "0123456789abc")  # beyond the cap: dropped in the child already
    out.stream("stdout", "more")
    out.stream("stderr", "e")
    assert out.export() == [
        {"output_type": "stream", "name": "stdout", "text": "0123456789"},
        {"output_type": "stream", "name": "stderr", "text": "e"},
    ]


# ------------------------------------------------------------- equivalence with nbclient
SNIPPETS = {
    "expression": "1 + 1",
    "print": "print('hello', 42)",
    "print-then-result": "print('a', end='')\n[1, 2]",
    "stderr-warning": "import warnings\nwarnings.warn('careful')",
    "stderr-write": "import sys\nsys.stderr.write('to stderr\\n')",
    "error": "1 / 0",
    "name-error": "undefined_name",
    "custom-error": "class Boom(Exception):\n    pass\nraise Boom('bang')",
    "syntax-error": "def f(:\n    pass",
    "reply-display": (
        "import IPython.display as d\n"
        f"d.display({{{REPLY_MIME!r}: {{'id': 'r1', 'ok': True, 'v': (1, 2)}}}}, raw=True)"
    ),
    "trailing-semicolon": "x = 5\nx;",
    "time-magic": "%time y = sum(range(1000))",
    "display-then-result": "from IPython.display import display\ndisplay('shown')\n'result'",
    "clear-output": (
        "from IPython.display import clear_output\nprint('a')\nclear_output()\nprint('b')"
    ),
    "shell-escape": "!echo bang",
    "input": "input('name? ')",
    "sys-exit": "import sys\nsys.exit(3)",
    "shell-class": "get_ipython().__class__.__name__",
    "modules-before-import": (
        "import sys\n[m in sys.modules for m in ('torch', 'numpy', 'matplotlib')]"
    ),
    "submodule-attribute": "import matplotlib\nhasattr(matplotlib, 'pyplot')",
    "torch": "import torch\ntorch.ones(2, 2) @ torch.ones(2, 2)",
    "matplotlib-inline": "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]);",
    "top-level-await": "import asyncio\nawait asyncio.sleep(0, 'awaited')",
    "asyncio-run": "import asyncio\nasyncio.run(asyncio.sleep(0))",
    "async-def-no-await": "async def f():\n    return 1\n\nf.__name__",
    "await-in-a-string": "print('await and async are only words here')",
    "unknown-magic": "%notamagic 1",
    "main-module": "import sys\nsys.modules['__main__'] is get_ipython().user_module",
    "one-shell": "type(get_ipython()).instance() is get_ipython()",
    "compiler": "c = type(get_ipython().compile)\nc.__module__, c.__name__",
    "cell-file": "import inspect\ndef f(): pass\ninspect.getfile(f).rsplit('/', 1)[-1]",
    "sys-hooks": (
        "import sys\n[type(h).__name__ for h in (sys.stdout, sys.stderr, sys.displayhook)]"
        " + [getattr(sys.excepthook, '__qualname__', '?')]"
    ),
    "cwd": "import os\nos.path.basename(os.getcwd())",
    "garbage-collector": "import gc\ngc.isenabled(), gc.get_threshold()",
    # what a shell takes from its process when it is built (the warm server builds it)
    "shell-environment": (
        "import os\n[os.environ.get(k) for k in ('TERM', 'CLICOLOR', 'FORCE_COLOR', 'PAGER')]"
    ),
    "shell-directories": (
        "import os\nfrom IPython.paths import get_ipython_dir\nip = get_ipython()\n"
        "(ip.ipython_dir == get_ipython_dir(),"
        " ip.profile_dir.location == os.path.join(ip.ipython_dir, 'profile_default'),"
        " [os.path.isdir(os.path.join(ip.profile_dir.location, d)) for d in ('startup', 'log')])"
    ),
    "shell-state": (
        "ip = get_ipython()\n"
        "(sorted(ip.config), sorted(ip.extension_manager.loaded), ip.stdin_encoding,"
        " ip.execution_count > 1, sorted(k for k in ip.user_ns_hidden if not k.startswith('_i')))"
    ),
}


def _normalise(result: RawResult) -> tuple[object, ...]:
    def clean(text: str) -> str:
        text = re.sub(r"ipykernel_\d+", "ipykernel_PID", text)
        text = re.sub(r"\d+(\.\d+)? ?[μnm]?s\b", "T", text)
        return re.sub(r"0x[0-9a-f]+", "0xADDR", text)

    error = None if result.error is None else (result.error[0], clean(result.error[1]))
    return clean(result.text), clean(result.stderr), result.replies, error, result.timed_out


@pytest.fixture(scope="module", params=[True, False], ids=["shortcuts", "no-shortcuts"])
def kernel_pair(
    request: pytest.FixtureRequest,
    factory: WarmFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Kernel, Kernel]]:
    """A warm kernel (with the shortcuts into IPython's internals, and without: see
    grader/execute/warm/shortcuts.py) and an nbclient kernel, side by side."""
    from grader.execute.nbclient_engine import NbclientFactory

    with contextlib.ExitStack() as stack:
        source = factory if request.param else stack.enter_context(WarmFactory(shortcuts=False))
        warm = source.start(kernel_options(tmp_path_factory.mktemp("pair") / "wd"))
        reference = NbclientFactory().start(kernel_options(tmp_path_factory.mktemp("pair") / "wd"))
        yield warm, reference
        warm.close()
        reference.close()


@pytest.mark.kernel
@pytest.mark.parametrize("code", list(SNIPPETS.values()), ids=list(SNIPPETS))
def test_same_raw_result_as_nbclient(kernel_pair: tuple[Kernel, Kernel], code: str) -> None:
    warm, reference = kernel_pair
    expected = _normalise(reference.execute(code, 60))
    got = _normalise(warm.execute(code, 60))
    assert got == expected


@pytest.mark.kernel
def test_each_kernel_has_the_servers_shell_made_its_own(
    factory: WarmFactory, tmp_path: Path
) -> None:
    """The shell is built once by the server; what a shell takes from its process when it
    is built is each kernel's own: its working directory, environment, connection file,
    and its session's id and pid (jupyter_client sends nothing from another pid)."""
    seen = []
    for name in ("one", "two"):
        kernel = factory.start(kernel_options(tmp_path / name))
        try:
            out = kernel.execute(
                "import os, pathlib\nip = get_ipython()\n"
                "session = ip.display_pub.session\n"
                "print(_dh == [pathlib.Path.cwd()], ip.starting_dir == os.getcwd(),"
                " session.pid == os.getpid(), session is ip.displayhook.session,"
                " os.environ['PAGER'], ip.config.IPKernelApp.connection_file, session.session)",
                30,
            )
        finally:
            kernel.close()
        assert out.error is None, out.error
        *facts, connection_file, session_id = out.text.split()
        assert facts == ["True", "True", "True", "True", "cat"]
        seen.append((connection_file, session_id))
    assert seen[0][0] != seen[1][0] and seen[0][1] != seen[1][1]


@pytest.mark.kernel
def test_driver_verdicts_match_nbclient(factory: WarmFactory) -> None:
    from grader.execute.driver import Driver
    from grader.execute.nbclient_engine import NbclientFactory

    sources = [
        "import torch\nfrom torch import nn",
        "def corr2d(X, K):\n    h, w = K.shape\n"
        "    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))\n"
        "    for i in range(Y.shape[0]):\n        for j in range(Y.shape[1]):\n"
        "            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()\n    return Y",
        "X = torch.arange(9.0).reshape(3, 3)\nK = torch.tensor([[0.0, 1.0], [2.0, 3.0]])\n"
        "corr2d(X, K)",
        "print(later)",
        "later = 'defined late'",
        "1 / 0",
        "np.zeros(2)",
        "!pip install d2l\nprint('after install line')",
    ]
    notebook = code_notebook(*sources)

    def verdicts(engine: object) -> list[str]:
        with Driver(engine, Limits()).run(notebook) as live:  # type: ignore[arg-type]
            call = live.probe({"op": "namespace"})
            cells = [
                repr((c.index, c.text, c.error, c.timed_out, c.attempts, c.bindings, c.results))
                for c in live.execution.cells
            ]
            return [*cells, repr(live.execution.notes), repr(call)]

    assert verdicts(factory) == verdicts(NbclientFactory())


# ----------------------------------------------------------------------- isolation
@pytest.mark.kernel
def test_fresh_state_for_each_notebook(factory: WarmFactory, tmp_path: Path) -> None:
    first = factory.start(kernel_options(tmp_path / "a"))
    try:
        code = (
            "leaked = 1\nimport torch\n"
            "torch.allclose = lambda *a, **k: True\n"
            "torch.allclose(torch.zeros(1), torch.ones(1))"
        )
        assert first.execute(code, 30).text == "True\n"
        second = factory.start(kernel_options(tmp_path / "b"))  # while the first is still alive
        try:
            fresh = "import sys\nlen(In), 'leaked' in dir(), 'torch' in sys.modules"
            assert second.execute(fresh, 30).text == "(2, False, False)\n"
            same = "import torch\ntorch.allclose(torch.zeros(1), torch.ones(1))"
            assert second.execute(same, 30).text == "False\n"
        finally:
            second.close()
    finally:
        first.close()


@pytest.mark.kernel
def test_each_kernel_draws_its_own_random_seeds(factory: WarmFactory, tmp_path: Path) -> None:
    # as fresh processes do: torch from the OS at start, random and numpy at import
    code = (
        "import random, numpy, torch\n(torch.initial_seed(), random.random(), numpy.random.rand())"
    )
    seen = []
    for name in ("a", "b"):
        k = factory.start(kernel_options(tmp_path / name))
        try:
            seen.append(eval(k.execute(code, 30).text))
        finally:
            k.close()
    assert all(x != y for x, y in zip(*seen, strict=True)), seen


@pytest.mark.kernel
def test_fd_level_output_is_captured_in_order(kernel: Kernel) -> None:
    # ipykernel forwards fds 1 and 2 from a watcher thread, so whether this output
    # lands in the cell is a race there; here it is drained before the next display.
    code = "import os\nprint('py')\nos.system('echo shell; echo err >&2')\nos.write(1, b'raw\\n')"
    result = kernel.execute(code, 10)
    assert (result.text, result.stderr) == ("py\nshell\nraw\n4\n", "err\n")
    assert kernel.execute("import sys\nsys.stdout.fileno() > 2", 10).text == "True\n"


@pytest.mark.kernel
def test_torch_ops_work_in_children(kernel: Kernel) -> None:
    code = textwrap.dedent(
        """
        import torch
        from torch import nn
        a = torch.randn(128, 128)
        w = torch.randn(128, 128, requires_grad=True)
        (a @ w).relu().sum().backward()
        conv = nn.Conv2d(1, 2, kernel_size=3)
        conv(torch.randn(4, 1, 16, 16)).sum().backward()
        from torch.utils.data import DataLoader, TensorDataset
        loader = DataLoader(TensorDataset(torch.arange(10.0)), batch_size=3, num_workers=2)
        total = sum(float(batch[0].sum()) for batch in loader)
        print(tuple(w.grad.shape), tuple(conv.weight.grad.shape), total)
        torch.get_num_threads()
        """
    )
    result = kernel.execute(code, 60)
    assert result.error is None, result
    assert result.text == "(128, 128) (2, 1, 3, 3) 45.0\n1\n"


# ------------------------------------------------------------------------- sandboxes
@pytest.mark.kernel
def test_weak_sandbox_matches_the_nbclient_engines(
    factory: WarmFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from grader.execute.nbclient_engine import NbclientFactory

    if shutil.which("setpriv") is None:
        pytest.skip("the nbclient engine's weak sandbox needs setpriv")
    monkeypatch.setenv("SECRET_API_TOKEN", "must not reach the kernel")
    code = textwrap.dedent(
        """
        import os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(sorted(os.environ), os.environ["HOME"] == os.getcwd())
        print({k: status[k].strip() for k in ("NoNewPrivs", "CapEff", "CapPrm", "CapBnd")})
        """
    )
    seen = []
    for name, engine in (("warm", factory), ("nbclient", NbclientFactory())):
        result = run_once(engine, kernel_options(tmp_path / name, sandbox="weak"), code)
        assert result.error is None, result
        seen.append(result.text)
    assert "SECRET_API_TOKEN" not in seen[0]
    assert seen[0] == seen[1]


# ---------------------------------------------------------------- limits and failures
@pytest.mark.kernel
def test_timeout_interrupts_and_the_kernel_stays_usable(kernel: Kernel) -> None:
    start = time.monotonic()
    result = kernel.execute("while True:\n    pass", 1)
    assert result.timed_out
    assert result.error == ("KeyboardInterrupt", "")
    assert time.monotonic() - start < 4
    assert kernel.execute("'still here'", 10).text == "'still here'\n"


@pytest.mark.kernel
def test_a_kernel_that_ignores_the_interrupt_is_reported_and_killed(
    factory: WarmFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.execute.warm import handle

    monkeypatch.setattr(handle, "INTERRUPT_GRACE", 0.5)
    k = factory.start(kernel_options(tmp_path / "wd"))
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result = k.execute(code, 1)
    assert result.timed_out and result.error is not None
    assert k.execute("None", 1).timed_out  # what the driver's _ensure_responsive sees
    pid = getattr(k, "pid")  # noqa: B009
    k.close()
    assert gone(pid)


@pytest.mark.kernel
@pytest.mark.parametrize(
    "code",
    [
        "import os\nos._exit(1)",
        "import ctypes\nctypes.string_at(0)",
        "import os, signal\nos.killpg(0, signal.SIGKILL)",
    ],
    ids=["os-exit", "segfault", "killpg"],
)
def test_a_dead_child_raises_kernel_died(factory: WarmFactory, tmp_path: Path, code: str) -> None:
    k = factory.start(kernel_options(tmp_path / "wd"))
    try:
        with pytest.raises(KernelDied) as died:
            k.execute(code, 10)
        assert died.value.reason == "crashed"
        with pytest.raises(KernelDied):
            k.execute("1", 10)
    finally:
        k.close()
    assert factory.start(kernel_options(tmp_path / "next")).execute("'server fine'", 10).text


@pytest.mark.kernel
@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(3 * 1024**3)",  # one allocation: refused by RLIMIT_AS
        "import numpy as np\nxs = [np.ones(100 * 2**20 // 8) for _ in range(30)]",  # watchdog
    ],
    ids=["one-allocation", "gradual"],
)
def test_memory_blow_up(factory: WarmFactory, tmp_path: Path, code: str) -> None:
    k = factory.start(kernel_options(tmp_path / "wd", memory_bytes=1024 * MiB))
    try:
        result = k.execute(code, 30)
    except KernelDied as exc:
        assert exc.reason == "memory"
    else:
        assert result.error is not None and result.error[0] in ("MemoryError", "RuntimeError")
        assert k.execute("'alive'", 10).text == "'alive'\n"
    finally:
        k.close()


@pytest.mark.kernel
def test_notebook_deadline_kills_the_kernel(factory: WarmFactory, tmp_path: Path) -> None:
    k = factory.start(kernel_options(tmp_path / "wd", deadline=1.5))
    try:
        start = time.monotonic()
        with pytest.raises(KernelDied) as died:
            k.execute("import time\ntime.sleep(30)", 60)
        assert died.value.reason == "timeout"
        assert time.monotonic() - start < 5
    finally:
        k.close()


# ------------------------------------------------------------------ cells sent ahead
def _with_probe(kernel: Kernel) -> WarmKernel:
    from grader.execute.driver import _setup_code

    assert kernel.execute(_setup_code([]), 60).error is None
    assert isinstance(kernel, WarmKernel)
    return kernel


@pytest.mark.kernel
def test_a_cell_sent_ahead_runs_once_right_after_a_clean_predecessor(kernel: Kernel) -> None:
    warm = _with_probe(kernel)
    warm.execute("n = 0", 30)
    warm.send_ahead("n += 1\nn")
    first = warm.execute("m = 1", 30)
    assert first.error is None and first.replies[-1].get("capture") is True
    ahead = warm.execute("n += 1\nn", 30)  # its result, not a second run
    assert ahead.text == "1\n" and ahead.error is None and ahead.seconds > 0
    assert warm.execute("n", 30).text == "1\n"


@pytest.mark.kernel
def test_a_cell_sent_ahead_is_skipped_after_an_error_and_runs_when_sent(kernel: Kernel) -> None:
    warm = _with_probe(kernel)
    warm.execute("order = []", 30)
    warm.send_ahead("order.append('next')")
    assert warm.execute("1 / 0", 30).error == ("ZeroDivisionError", "division by zero")
    warm.execute("order.append('rest')", 30)  # e.g. the rest of a cell after a failed import
    assert warm.execute("order.append('next')", 30).error is None  # skipped, sent now
    assert warm.execute("order", 30).text == "['rest', 'next']\n"


@pytest.mark.kernel
def test_without_the_capture_a_cell_sent_ahead_waits(kernel: Kernel) -> None:
    """Without the probe's capture the driver asks for it before the next cell: the kernel
    must not have run that cell yet."""
    assert isinstance(kernel, WarmKernel)  # no probe installed: no capture is published
    kernel.execute("n = 0", 30)
    kernel.send_ahead("n += 1")
    kernel.execute("m = 1", 30)
    assert kernel.execute("n", 30).text == "0\n"
    assert kernel.execute("n += 1\nn", 30).text == "1\n"


@pytest.mark.kernel
def test_another_step_after_a_clean_predecessor_keeps_the_order_of_effects(
    kernel: Kernel,
) -> None:
    warm = _with_probe(kernel)
    warm.execute("log = []", 30)
    warm.send_ahead("log.append('ahead')")
    warm.execute("log.append('first')", 30)
    # the driver took another step: the cell sent ahead had already run, and is not
    # run again when its turn comes
    assert warm.execute("log", 30).text == "['first', 'ahead']\n"
    assert warm.execute("log.append('ahead')", 30).error is None
    assert warm.execute("log", 30).text == "['first', 'ahead']\n"


@pytest.mark.kernel
def test_a_cell_sent_ahead_has_its_own_time_limit(kernel: Kernel) -> None:
    warm = _with_probe(kernel)
    warm.send_ahead("import time\ntime.sleep(30)")
    warm.execute("m = 1", 30)
    slow = warm.execute("import time\ntime.sleep(30)", 1.0)
    assert slow.timed_out and slow.seconds < 10
    assert warm.execute("'alive'", 30).text == "'alive'\n"


@pytest.mark.kernel
def test_several_cells_sent_ahead_run_in_order_without_the_grader(kernel: Kernel) -> None:
    warm = _with_probe(kernel)
    warm.execute("log = []", 30)
    chain = ("log.append('a')", "log.append('b')\n'b'", "log.append('c')")
    warm.send_ahead(*chain)
    warm.execute("log.append('first')", 30)
    # another step: by its turn the kernel has run the whole chain, each once
    assert warm.execute("log", 30).text == "['first', 'a', 'b', 'c']\n"
    results = [warm.execute(code, 30) for code in chain]
    assert [r.error for r in results] == [None, None, None]
    assert results[1].text == "'b'\n"
    assert warm.execute("log", 30).text == "['first', 'a', 'b', 'c']\n"


@pytest.mark.kernel
def test_an_error_in_a_chain_sent_ahead_skips_the_rest_until_sent_again(kernel: Kernel) -> None:
    warm = _with_probe(kernel)
    warm.execute("log = []", 30)
    chain = ("log.append(1)", "1 / 0", "log.append(3)", "log.append(4)")
    warm.send_ahead(*chain)
    assert warm.execute("log.append(0)", 30).error is None
    assert warm.execute(chain[0], 30).error is None
    assert warm.execute(chain[1], 30).error == ("ZeroDivisionError", "division by zero")
    assert warm.execute("log", 30).text == "[0, 1]\n"  # what followed the error waits
    warm.send_ahead(chain[3])
    assert warm.execute(chain[2], 30).error is None  # skipped before, sent now
    assert warm.execute(chain[3], 30).error is None
    assert warm.execute("log", 30).text == "[0, 1, 3, 4]\n"


@pytest.mark.kernel
def test_cells_sent_ahead_keep_the_drivers_order_with_deferred_cells(factory: WarmFactory) -> None:
    """A cell that failed on a name defined later runs right after the cell defining it,
    before the next one: nothing is sent ahead of such a cell."""
    from grader.execute.driver import Driver

    sources = [
        "log = []",
        "log.append(('uses', later))",
        "later = 'x'\nlog.append('defines')",
        "log.append('after')",
        "log",
    ]
    notebook = code_notebook(*sources)
    with Driver(factory, Limits()).run(notebook) as live:
        last = live.execution.cells[-1]
        assert last.text == "['defines', ('uses', 'x'), 'after']\n"


@pytest.mark.kernel
def test_without_the_shortcuts_nothing_is_sent_ahead(tmp_path: Path) -> None:
    with WarmFactory(preload=(), shortcuts=False) as plain:
        kernel = plain.start(kernel_options(tmp_path / "wd"))
        try:
            kernel.send_ahead("ran_ahead = True")
            assert kernel.execute("first = 1", 30).error is None
            assert kernel.execute("'ran_ahead' in dir()", 30).text == "False\n"
        finally:
            kernel.close()
