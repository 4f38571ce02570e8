"""The warm engine's fork server and the grader's side of it: availability, the code
bundle a server runs alone, servers that die or are attacked, everything stopped with the
grader, and the bwrap sandbox whose namespace is cleared after each kernel
(grader/execute/warm/server.py, bootstrap.py, reaper.py, pool.py, factory.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import (
    MiB,
    bwrap_options,
    bwrap_or_skip,
    gone,
    in_threads,
    kernel_options,
    needs_warm,
    run_once,
)

from grader.errors import SandboxUnavailable
from grader.execute.kernel import (
    Kernel,
    KernelDied,
)
from grader.execute.warm import WarmFactory, warm_available

pytestmark = needs_warm


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


# ------------------------------------------------------------------ the pool and its servers


@pytest.mark.kernel
def test_close_kills_the_process_group(factory: WarmFactory, tmp_path: Path) -> None:
    k = factory.start(kernel_options(tmp_path / "wd"))
    text = k.execute("import subprocess\nsubprocess.Popen(['sleep', '60']).pid", 10).text
    pids = [getattr(k, "pid"), int(text)]  # noqa: B009
    k.close()
    k.close()  # idempotent
    assert all(gone(pid) for pid in pids)


@pytest.mark.kernel
def test_concurrent_starts(factory: WarmFactory, tmp_path: Path) -> None:
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            k = factory.start(kernel_options(tmp_path / f"wd{i}"))
            try:
                results[i] = k.execute(f"import torch\nint(torch.ones(3).sum()) + {i}", 30).text
            finally:
                k.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    in_threads(worker, 6, 60)
    assert not errors
    assert results == {i: f"{3 + i}\n" for i in range(6)}


@pytest.mark.kernel
def test_server_survives_a_hostile_child_and_is_restarted(tmp_path: Path) -> None:
    with WarmFactory(preload=()) as f:
        pid = int(f.server_info()["pid"])
        k = f.start(kernel_options(tmp_path / "a"))
        k.execute("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", 10)
        assert gone(pid)
        assert k.execute("'the kernel outlives its server'", 10).text
        k.close()
        k = f.start(kernel_options(tmp_path / "b"))  # a new server
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
    assert gone(int(server)) and gone(int(child))
    assert not os.path.exists(runtime)


# ------------------------------------------------------------------ the bwrap sandbox
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

    bwrap_or_skip()
    monkeypatch.setenv("SECRET_API_TOKEN", "must not reach the kernel")
    code = f"SECRET = {str(secret / 'solution.py')!r}\n" + _FACTS
    seen = []
    for name, engine in (("warm", factory), ("nbclient", NbclientFactory())):
        result = run_once(engine, bwrap_options(tmp_path / name, hidden=(secret,)), code)
        assert result.error is None, result
        seen.append(result.text)
    assert "SECRET_API_TOKEN" not in seen[0] and "'secret': False" in seen[0]
    assert "'net': 'OSError'" in seen[0] and "'write usr': 'OSError'" in seen[0]
    assert seen[0] == seen[1]


@pytest.mark.kernel
def test_bwrap_kernel_cannot_touch_its_server(factory: WarmFactory, tmp_path: Path) -> None:
    bwrap_or_skip()
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
    k = factory.start(bwrap_options(tmp_path / "a"))
    server = k.server_pid
    assert server is not None and server != k.pid
    try:
        assert k.execute(code, 30).text == (
            "['PermissionError', 'PermissionError', 'PermissionError', -1, 1, 1]\n"
        )
    finally:
        k.close()
    k = factory.start(bwrap_options(tmp_path / "b"))
    try:
        assert k.server_pid == server  # the same server, alive, serves the next notebook
    finally:
        k.close()


@pytest.mark.kernel
def test_nothing_of_a_kernel_survives_into_the_next(factory: WarmFactory, tmp_path: Path) -> None:
    bwrap_or_skip()
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
    first = factory.start(bwrap_options(tmp_path / "a"))
    workdir = Path(first.execute(leave, 30).text.strip().strip("'"))
    server = first.server_pid
    assert server is not None
    assert len(_tree(server)) >= 3  # server, kernel, daemon
    first.close()
    report = factory.last_cleanup
    assert report is not None and report["ok"] is True and report["killed"] >= 1, report
    assert _tree(server) == [server]  # seen from the host: only the server is left
    assert not workdir.exists()
    second = factory.start(bwrap_options(tmp_path / "b"))
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
    bwrap_or_skip()
    k = factory.start(bwrap_options(tmp_path / "wd", memory_bytes=1024 * MiB))
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
    bwrap_or_skip()
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
    k = factory.start(bwrap_options(tmp_path / "wd", max_processes=16, max_file_bytes=8 * MiB))
    try:
        assert k.execute(code, 60).text == "(True, 'BlockingIOError', 27, 27)\n"
    finally:
        k.close()


@pytest.mark.kernel
def test_bwrap_interrupt_and_deadline(factory: WarmFactory, tmp_path: Path) -> None:
    bwrap_or_skip()
    k = factory.start(bwrap_options(tmp_path / "a"))
    try:
        result = k.execute("while True:\n    pass", 1)
        assert result.timed_out and result.error == ("KeyboardInterrupt", "")
        assert k.execute("'still here'", 10).text == "'still here'\n"
    finally:
        k.close()
    k = factory.start(bwrap_options(tmp_path / "b", deadline=1.5))
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
    bwrap_or_skip()
    kernels: dict[int, Kernel] = {}
    errors: list[BaseException] = []

    def start(i: int) -> None:  # from short-lived threads: the sandboxes must outlive them
        try:
            kernels[i] = factory.start(bwrap_options(tmp_path / f"wd{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    in_threads(start, 2, 120)
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
    bwrap_or_skip()
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
    assert all(gone(pid, within=10) for pid in inside)
    assert os.path.isdir(runtime)  # nobody could remove it; the next factory does
    WarmFactory(preload=()).close()
    assert not os.path.exists(runtime)


def test_bwrap_that_cannot_start_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.execute import sandbox

    monkeypatch.setattr(sandbox, "BWRAP", "grader-no-such-bwrap")
    with WarmFactory(preload=()) as f, pytest.raises(SandboxUnavailable):
        f.start(bwrap_options(tmp_path / "wd"))


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


# ------------------------------------------------------------------ the server's code bundle
def test_every_import_of_the_servers_modules_is_in_its_bundle() -> None:
    """What a server imports of the grader (at any depth, lazily too) is one of the
    modules it is sent; its packages are empty shells, so anything else would fail."""
    from test_import_cycles import import_graph

    from grader.execute.warm.bootstrap import SERVER_MODULES

    graph = import_graph()
    shells = {name.rpartition(".")[0] for name in SERVER_MODULES} | {"grader"}
    for position, name in enumerate(SERVER_MODULES):
        before = set(SERVER_MODULES[:position]) | shells
        assert graph[name] <= before, f"{name} imports {sorted(graph[name] - before)}"


@pytest.mark.kernel
def test_a_server_runs_from_its_bundle_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server and its kernels read nothing of the grader's source tree: an audit hook
    installed before the bootstrap stops the server at the first file it opens there."""
    from conftest import ROOT

    from grader.execute.warm import bootstrap

    program = bootstrap.bootstrap_program()
    guard = (
        "import sys\n"
        f"_tree = {str(ROOT / 'grader')!r}\n"
        "def _guard(event, args):\n"
        "    if event == 'open' and str(args[0]).startswith(_tree):\n"
        "        raise RuntimeError(f'the server opened {args[0]}')\n"
        "sys.addaudithook(_guard)\n"
    )
    monkeypatch.setattr(bootstrap, "bootstrap_program", lambda: guard + program)
    with WarmFactory(preload=()) as alone:
        kernel = alone.start(kernel_options(tmp_path / "wd"))
        try:
            assert kernel.execute("6 * 7", 30).text == "42\n"
            failed = kernel.execute("1 / 0", 30)
            assert failed.error is not None and failed.error[0] == "ZeroDivisionError"
        finally:
            kernel.close()
        assert "the server opened" not in alone._pool.servers[0].tail()
