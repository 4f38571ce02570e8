"""The warm engine (fork server): same RawResults as the nbclient engine, and robust.

Kernel-starting tests share one fork server per module (its start-up imports torch once);
the equivalence tests run every snippet in one warm kernel and one nbclient kernel, in the
same order, so the two kernels' states stay comparable.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import code_notebook

from grader.errors import SandboxUnavailable
from grader.execute.kernel import (
    REPLY_MIME,
    Kernel,
    KernelDied,
    KernelOptions,
    Limits,
    RawResult,
    SandboxChoice,
)
from grader.execute.warm import WarmFactory, WarmKernel, warm_available
from grader.execute.warm.capture import Outputs

MiB = 1024 * 1024
AVAILABLE, WHY = warm_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY)


def _options(
    workdir: Path, deadline: float = 120.0, sandbox: str = "none", **limits: int | float
) -> KernelOptions:
    workdir.mkdir(parents=True, exist_ok=True)
    return KernelOptions(
        workdir,
        Limits(**limits),  # type: ignore[arg-type]
        time.monotonic() + deadline,
        sandbox=SandboxChoice(sandbox),  # type: ignore[arg-type]
    )


def _gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def factory() -> Iterator[WarmFactory]:
    with WarmFactory() as f:
        yield f


@pytest.fixture
def kernel(factory: WarmFactory, tmp_path: Path) -> Iterator[Kernel]:
    k = factory.start(_options(tmp_path / "wd"))
    yield k
    k.close()


# ------------------------------------------------------------------- no kernel needed
def test_warm_available_reports_a_reason() -> None:
    ok, why = warm_available()
    assert isinstance(ok, bool) and why
    assert ok == sys.platform.startswith("linux")


def test_importing_the_module_is_cheap() -> None:
    code = textwrap.dedent(
        """
        import sys
        import grader.execute
        before = set(sys.modules)
        import grader.execute.warm
        heavy = {"torch", "IPython", "ipykernel", "jupyter_client", "nbclient", "matplotlib"}
        print(sorted({m.split(".")[0] for m in set(sys.modules) - before} & heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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


@pytest.fixture(scope="module")
def kernel_pair(
    factory: WarmFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Kernel, Kernel]]:
    from grader.execute.nbclient_engine import NbclientFactory

    warm = factory.start(_options(tmp_path_factory.mktemp("pair") / "wd"))
    reference = NbclientFactory().start(_options(tmp_path_factory.mktemp("pair") / "wd"))
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
        kernel = factory.start(_options(tmp_path / name))
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
    first = factory.start(_options(tmp_path / "a"))
    try:
        code = (
            "leaked = 1\nimport torch\n"
            "torch.allclose = lambda *a, **k: True\n"
            "torch.allclose(torch.zeros(1), torch.ones(1))"
        )
        assert first.execute(code, 30).text == "True\n"
        second = factory.start(_options(tmp_path / "b"))  # while the first is still alive
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
        k = factory.start(_options(tmp_path / name))
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
        k = engine.start(_options(tmp_path / name, sandbox="weak"))
        try:
            result = k.execute(code, 60)
        finally:
            k.close()
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
    k = factory.start(_options(tmp_path / "wd"))
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result = k.execute(code, 1)
    assert result.timed_out and result.error is not None
    assert k.execute("None", 1).timed_out  # what the driver's _ensure_responsive sees
    pid = getattr(k, "pid")  # noqa: B009
    k.close()
    assert _gone(pid)


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
    k = factory.start(_options(tmp_path / "wd"))
    try:
        with pytest.raises(KernelDied) as died:
            k.execute(code, 10)
        assert died.value.reason == "crashed"
        with pytest.raises(KernelDied):
            k.execute("1", 10)
    finally:
        k.close()
    assert factory.start(_options(tmp_path / "next")).execute("'server fine'", 10).text


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
    k = factory.start(_options(tmp_path / "wd", memory_bytes=1024 * MiB))
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
    k = factory.start(_options(tmp_path / "wd", deadline=1.5))
    try:
        start = time.monotonic()
        with pytest.raises(KernelDied) as died:
            k.execute("import time\ntime.sleep(30)", 60)
        assert died.value.reason == "timeout"
        assert time.monotonic() - start < 5
    finally:
        k.close()


@pytest.mark.kernel
def test_close_kills_the_process_group(factory: WarmFactory, tmp_path: Path) -> None:
    k = factory.start(_options(tmp_path / "wd"))
    text = k.execute("import subprocess\nsubprocess.Popen(['sleep', '60']).pid", 10).text
    pids = [getattr(k, "pid"), int(text)]  # noqa: B009
    k.close()
    k.close()  # idempotent
    assert all(_gone(pid) for pid in pids)


@pytest.mark.kernel
def test_concurrent_starts(factory: WarmFactory, tmp_path: Path) -> None:
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            k = factory.start(_options(tmp_path / f"wd{i}"))
            try:
                results[i] = k.execute(f"import torch\nint(torch.ones(3).sum()) + {i}", 30).text
            finally:
                k.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {i: f"{3 + i}\n" for i in range(6)}


@pytest.mark.kernel
def test_server_survives_a_hostile_child_and_is_restarted(tmp_path: Path) -> None:
    with WarmFactory(preload=()) as f:
        pid = int(f.server_info()["pid"])
        k = f.start(_options(tmp_path / "a"))
        k.execute("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", 10)
        assert _gone(pid)
        assert k.execute("'the kernel outlives its server'", 10).text
        k.close()
        k = f.start(_options(tmp_path / "b"))  # a new server
        assert k.execute("1 + 1", 10).text == "2\n"
        assert int(f.server_info()["pid"]) != pid
        k.close()


@pytest.mark.kernel
def test_everything_stops_when_the_grader_exits(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from grader.execute.kernel import KernelOptions, Limits
        from grader.execute.warm import WarmFactory
        f = WarmFactory(preload=())
        k = f.start(KernelOptions(Path({str(tmp_path)!r}), Limits(), time.monotonic() + 60))
        k.execute("1", 10)
        print(f.server_info()["pid"], k.pid, f.runtime)
        """
    )  # no close(): atexit must do it
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    server, child, runtime = out.stdout.split()
    assert _gone(int(server)) and _gone(int(child))
    assert not os.path.exists(runtime)


# ---------------------------------------------------------------------------- timing
@pytest.mark.kernel
def test_print_start_and_first_execute_times(factory: WarmFactory, tmp_path: Path) -> None:
    from grader.execute.nbclient_engine import NbclientFactory

    code = "import torch\nfloat(torch.ones(3).sum())"
    for name, engine in (("warm", factory), ("nbclient", NbclientFactory())):
        start = time.perf_counter()
        k = engine.start(_options(tmp_path / name))
        started = time.perf_counter()
        result = k.execute(code, 60)
        done = time.perf_counter()
        k.close()
        assert result.text == "3.0\n"
        print(
            f"\n{name:>8}: start {started - start:6.3f} s + first execute (import torch) "
            f"{done - started:6.3f} s = {done - start:6.3f} s"
        )


# ------------------------------------------------------------------ the bwrap sandbox
def _bwrap_skip() -> None:
    from grader.execute.sandbox import probe_bwrap

    status = probe_bwrap()
    if not status.available:
        pytest.skip(f"bwrap cannot start here: {status.reason}")


def _bwrap(
    workdir: Path, deadline: float = 120.0, hidden: tuple[Path, ...] = (), **limits: int | float
) -> KernelOptions:
    workdir.mkdir(parents=True, exist_ok=True)
    return KernelOptions(
        workdir,
        Limits(**limits),  # type: ignore[arg-type]
        time.monotonic() + deadline,
        sandbox=SandboxChoice("bwrap"),
        hidden=hidden,
    )


def _tree(pid: int) -> list[int]:
    from grader.execute.watchdog import children

    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        stack.extend(children(p))
    return found


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("course") / "reference"
    folder.mkdir()
    (folder / "solution.py").write_text("ANSWER = 42\n")
    return folder


_FACTS = textwrap.dedent(
    """
    import os, socket, stat
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    def attempt(fn):
        try:
            fn()
            return "ok"
        except Exception as exc:
            return type(exc).__name__
    def write(path):
        with open(path, "w") as fh:
            fh.write("x")
    facts = {
        "env": sorted(os.environ),
        "home is cwd": os.environ["HOME"] == os.getcwd(),
        "caps": {k: status[k].strip() for k in ("NoNewPrivs", "CapEff", "CapPrm", "CapBnd")},
        "uid": (os.getuid(), os.getgid()),
        "hostname": socket.gethostname(),
        "parent": os.getppid(),
        "root": sorted(os.listdir("/")),
        "secret": os.path.exists(SECRET),
        "net": attempt(lambda: socket.create_connection(("1.1.1.1", 80), timeout=2)),
        "write usr": attempt(lambda: write("/usr/grader-test")),
        "write cwd": attempt(lambda: write("here")),
        "write tmp": attempt(lambda: write("/tmp/here")),
        "write shm": attempt(lambda: write("/dev/shm/here")),
        "new userns": attempt(lambda: os.unshare(os.CLONE_NEWUSER)),
    }
    print(facts)
    """
)


@pytest.mark.kernel
def test_bwrap_kernel_sees_what_an_nbclient_bwrap_kernel_sees(
    factory: WarmFactory, tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.execute.nbclient_engine import NbclientFactory

    _bwrap_skip()
    monkeypatch.setenv("SECRET_API_TOKEN", "must not reach the kernel")
    code = f"SECRET = {str(secret / 'solution.py')!r}\n" + _FACTS
    seen = []
    for name, engine in (("warm", factory), ("nbclient", NbclientFactory())):
        k = engine.start(_bwrap(tmp_path / name, hidden=(secret,)))
        try:
            result = k.execute(code, 60)
        finally:
            k.close()
        assert result.error is None, result
        seen.append(result.text)
    assert "SECRET_API_TOKEN" not in seen[0] and "'secret': False" in seen[0]
    assert "'net': 'OSError'" in seen[0] and "'write usr': 'OSError'" in seen[0]
    assert seen[0] == seen[1]


@pytest.mark.kernel
def test_bwrap_kernel_cannot_touch_its_server(factory: WarmFactory, tmp_path: Path) -> None:
    _bwrap_skip()
    code = textwrap.dedent(
        """
        import ctypes, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        os.kill(1, signal.SIGKILL)  # the server is the namespace's init: dropped
        os.kill(1, signal.SIGTERM)
        out = []
        for name in ("mem", "environ", "maps"):
            try:
                open(f"/proc/1/{name}", "rb").read(1)
                out.append("read")
            except OSError as exc:
                out.append(type(exc).__name__)
        out.append(libc.ptrace(16, 1, 0, 0))  # PTRACE_ATTACH
        out.append(os.getppid())
        out.append(sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[0])
        out
        """
    )
    k = factory.start(_bwrap(tmp_path / "a"))
    server = k.server_pid
    assert server is not None and server != k.pid
    try:
        assert k.execute(code, 30).text == (
            "['PermissionError', 'PermissionError', 'PermissionError', -1, 1, 1]\n"
        )
    finally:
        k.close()
    k = factory.start(_bwrap(tmp_path / "b"))
    try:
        assert k.server_pid == server  # the same server, alive, serves the next notebook
    finally:
        k.close()


@pytest.mark.kernel
def test_nothing_of_a_kernel_survives_into_the_next(factory: WarmFactory, tmp_path: Path) -> None:
    _bwrap_skip()
    leave = textwrap.dedent(
        """
        import ctypes, os, subprocess
        if os.fork() == 0:  # a double-forked daemon in its own session
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "300"])
            os._exit(0)
        os.wait()
        for path in ("mine.txt", "/tmp/mine.txt", "/dev/shm/mine.txt"):
            with open(path, "w") as fh:
                fh.write("answers")
        deep = "/tmp/locked/" + "/".join(["d"] * 40)
        os.makedirs(deep)
        os.symlink("/usr", deep + "/usr-link")
        os.chmod("/tmp/locked", 0)
        os.chmod(".", 0)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmget(1234, 4096, 0o1000 | 0o600)  # IPC_CREAT
        os.getcwd()
        """
    )
    first = factory.start(_bwrap(tmp_path / "a"))
    workdir = Path(first.execute(leave, 30).text.strip().strip("'"))
    server = first.server_pid
    assert server is not None
    assert len(_tree(server)) >= 3  # server, kernel, daemon
    first.close()
    report = factory.last_cleanup
    assert report is not None and report["ok"] is True and report["killed"] >= 1, report
    assert _tree(server) == [server]  # seen from the host: only the server is left
    assert not workdir.exists()
    second = factory.start(_bwrap(tmp_path / "b"))
    try:
        assert second.server_pid == server
        look = textwrap.dedent(
            """
            import os
            procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            (procs == [1, os.getpid()], os.listdir("/tmp"), os.listdir("/dev/shm"),
             os.listdir(".."), open("/proc/sysvipc/shm").read().count(chr(10)))
            """
        )
        text = second.execute(look, 30).text
        procs_ok, tmp, shm, siblings, shm_lines = eval(text)
        assert procs_ok and "mine.txt" not in tmp and "locked" not in tmp, text
        assert shm == [] and len(siblings) == 1 and shm_lines == 1, text
    finally:
        second.close()


@pytest.mark.kernel
@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\nxs = [np.ones(100 * 2**20 // 8) for _ in range(30)]",
        textwrap.dedent(
            """
            import os, time
            if os.fork() == 0:  # memory held by a daemon outside the kernel's process tree
                os.setsid()
                if os.fork() == 0:
                    import numpy as np
                    xs = [np.ones(100 * 2**20 // 8) for _ in range(30)]
                    time.sleep(60)
                os._exit(0)
            time.sleep(30)
            """
        ),
    ],
    ids=["kernel", "daemon"],
)
def test_bwrap_memory_limit(factory: WarmFactory, tmp_path: Path, code: str) -> None:
    _bwrap_skip()
    k = factory.start(_bwrap(tmp_path / "wd", memory_bytes=1024 * MiB))
    try:
        start = time.monotonic()
        with pytest.raises(KernelDied) as died:
            k.execute(code, 60)
        assert died.value.reason == "memory"
        assert time.monotonic() - start < 20
    finally:
        k.close()
    assert factory.last_cleanup is not None and factory.last_cleanup["ok"] is True


@pytest.mark.kernel
def test_bwrap_process_and_file_limits(factory: WarmFactory, tmp_path: Path) -> None:
    _bwrap_skip()
    code = textwrap.dedent(
        """
        import subprocess
        procs, error = [], None
        try:
            for _ in range(40):
                procs.append(subprocess.Popen(["sleep", "30"]))
        except OSError as exc:
            error = type(exc).__name__
        for p in procs:
            p.kill()
            p.wait()
        def write(path, size):
            try:
                with open(path, "wb") as fh:
                    fh.write(b"x" * size)
                return "ok"
            except OSError as exc:
                return exc.errno
        len(procs) < 16, error, write("big", 9 * 2**20), write("/tmp/big", 9 * 2**20)
        """
    )
    k = factory.start(_bwrap(tmp_path / "wd", max_processes=16, max_file_bytes=8 * MiB))
    try:
        assert k.execute(code, 60).text == "(True, 'BlockingIOError', 27, 27)\n"
    finally:
        k.close()


@pytest.mark.kernel
def test_bwrap_interrupt_and_deadline(factory: WarmFactory, tmp_path: Path) -> None:
    _bwrap_skip()
    k = factory.start(_bwrap(tmp_path / "a"))
    try:
        result = k.execute("while True:\n    pass", 1)
        assert result.timed_out and result.error == ("KeyboardInterrupt", "")
        assert k.execute("'still here'", 10).text == "'still here'\n"
    finally:
        k.close()
    k = factory.start(_bwrap(tmp_path / "b", deadline=1.5))
    try:
        with pytest.raises(KernelDied) as died:
            k.execute("import time\ntime.sleep(30)", 60)
        assert died.value.reason == "timeout"
    finally:
        k.close()


@pytest.mark.kernel
def test_overlapping_bwrap_kernels_get_separate_sandboxes(
    factory: WarmFactory, tmp_path: Path
) -> None:
    _bwrap_skip()
    kernels: dict[int, Kernel] = {}
    errors: list[BaseException] = []

    def start(i: int) -> None:  # from short-lived threads: the sandboxes must outlive them
        try:
            kernels[i] = factory.start(_bwrap(tmp_path / f"wd{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors and len(kernels) == 2
        assert getattr(kernels[0], "server_pid") != getattr(kernels[1], "server_pid")  # noqa: B009
        kernels[0].execute("open('/tmp/zero', 'w').write('0')", 10)
        look = (
            "import os\nsorted(p for p in os.listdir('/proc') if p.isdigit()), os.listdir('/tmp')"
        )
        procs, tmp = eval(kernels[1].execute(look, 10).text)
        assert len(procs) == 2 and "zero" not in tmp
    finally:
        for k in kernels.values():
            k.close()


@pytest.mark.kernel
def test_bwrap_sandbox_dies_with_the_grader(tmp_path: Path) -> None:
    _bwrap_skip()
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from grader.execute.kernel import KernelOptions, Limits, SandboxChoice
        from grader.execute.warm import WarmFactory
        f = WarmFactory(preload=())
        k = f.start(KernelOptions(Path({str(tmp_path)!r}), Limits(), time.monotonic() + 60,
                                  sandbox=SandboxChoice("bwrap")))
        k.execute("import os\\nif os.fork() == 0:\\n    os.setsid()\\n    os.execvp('sleep', "
                  "['sleep', '300'])", 10)
        print(k.server_pid, f.runtime, flush=True)
        time.sleep(300)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        server, runtime = proc.stdout.readline().split()
        inside = _tree(int(server))
        assert len(inside) == 3  # server, kernel, daemon
    finally:
        proc.kill()  # SIGKILL: no atexit, no finalizer
        proc.wait()
    assert all(_gone(pid, within=10) for pid in inside)
    assert os.path.isdir(runtime)  # nobody could remove it; the next factory does
    WarmFactory(preload=()).close()
    assert not os.path.exists(runtime)


def test_bwrap_that_cannot_start_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.execute import sandbox

    monkeypatch.setattr(sandbox, "BWRAP", "grader-no-such-bwrap")
    with WarmFactory(preload=()) as f, pytest.raises(SandboxUnavailable):
        f.start(_bwrap(tmp_path / "wd"))


def test_remove_tree_handles_what_a_student_leaves(tmp_path: Path) -> None:
    from grader.execute.files import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    victim = tmp_path / "victim"
    deep = victim.joinpath(*["d"] * 300)
    deep.mkdir(parents=True)
    (deep / "file").write_text("x")
    (deep / "link").symlink_to(outside)
    (victim / "link").symlink_to(outside)
    os.chmod(victim / "d", 0)
    os.chmod(victim.joinpath(*["d"] * 150), 0o100)
    assert remove_tree(victim)
    assert not victim.exists()
    assert (outside / "keep.txt").read_text() == "keep"


@pytest.mark.kernel
def test_print_bwrap_start_and_first_execute_times(factory: WarmFactory, tmp_path: Path) -> None:
    from grader.execute.nbclient_engine import NbclientFactory

    _bwrap_skip()
    code = "import torch\nfloat(torch.ones(3).sum())"
    factory.start(_bwrap(tmp_path / "warm-up")).close()  # the server is started
    times = {}
    for name, engine in (("warm", factory), ("nbclient", NbclientFactory())):
        start = time.perf_counter()
        k = engine.start(_bwrap(tmp_path / name))
        started = time.perf_counter()
        result = k.execute(code, 60)
        done = time.perf_counter()
        k.close()
        assert result.text == "3.0\n"
        times[name] = done - start
        print(
            f"\n{name:>8} in bwrap: start {started - start:6.3f} s + first execute "
            f"(import torch) {done - started:6.3f} s = {done - start:6.3f} s"
        )
    assert times["warm"] < times["nbclient"] / 4


def test_cell_names_hash_like_ipykernel() -> None:
    """The warm kernel's compiler names cells with the same murmur2 as ipykernel's (the
    names show in tracebacks), for every length modulo 4 and for non-ASCII text."""
    import random

    from ipykernel.compiler import murmur2_x86

    from grader.execute.warm.shell import _murmur2_x86

    rng = random.Random(7)
    alphabet = "ab =()\n\té中🙂\x00"
    for length in [*range(40), 999, 4096]:
        text = "".join(rng.choice(alphabet) for _ in range(length))
        for seed in (0xC70F6907, 0, 0xFFFFFFFF):
            assert _murmur2_x86(text, seed) == murmur2_x86(text, seed), (text, seed)


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
