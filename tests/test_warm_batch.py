"""The warm engine as the batch default: servers started ahead and kept, captures that come
with their cell, and a batch graded by threads of the grader process."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import (
    ROOT,
    RUBRIC,
    bwrap_options,
    bwrap_or_skip,
    bwrap_works,
    needs_warm,
)

from grader import batch
from grader.batch import BatchConfig, grade_many
from grader.execute import executor
from grader.execute.kernel import KernelOptions, Limits
from grader.execute.warm import WarmFactory
from grader.load import load
from grader.session import GradingSession

pytestmark = needs_warm


def _live_servers(factory: WarmFactory) -> list[Any]:
    return [s for s in factory._pool.servers if s.alive()]


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[GradingSession]:
    """Every grading session ``grade_many`` opens during the test, in order."""
    made: list[GradingSession] = []

    class Recorded(GradingSession):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(batch, "GradingSession", Recorded)
    return made


# ------------------------------------------------------------------ prepared servers
@pytest.mark.kernel
def test_prepared_servers_start_at_once_and_are_kept_for_concurrent_kernels(
    tmp_path: Path,
) -> None:
    bwrap_or_skip()
    with WarmFactory(preload=()) as factory:
        factory.prepare(bwrap_options(tmp_path / "p"), 2)
        prepared = _live_servers(factory)
        assert len(prepared) == 2  # started before any kernel was asked for

        # one kernel, then the other server idle: both are kept (reserve of 2)
        factory.start(bwrap_options(tmp_path / "a")).close()
        assert _live_servers(factory) == prepared

        # two kernels at once use the two prepared sandboxes: no third server
        kernels = [factory.start(bwrap_options(tmp_path / f"k{i}")) for i in range(2)]
        try:
            servers = {getattr(k, "server_pid") for k in kernels}  # noqa: B009
            assert servers == {s.host_pid for s in prepared}
        finally:
            for k in kernels:
                k.close()
        assert _live_servers(factory) == prepared


@pytest.mark.kernel
def test_without_prepare_a_spare_server_is_not_kept(tmp_path: Path) -> None:
    """The reserve is what keeps the second server: without it, as before, one stays."""
    bwrap_or_skip()
    with WarmFactory(preload=()) as factory:
        kernels = []
        for i in range(2):  # the second start finds the first server busy
            kernels.append(factory.start(bwrap_options(tmp_path / f"k{i}")))
        for k in kernels:
            k.close()
        assert len(_live_servers(factory)) == 1


@pytest.mark.kernel
def test_a_servers_first_kernel_finds_the_same_scratch_space_as_the_next(tmp_path: Path) -> None:
    """What the server's own start left in /tmp and /dev/shm (imports' caches, the shell it
    builds for its kernels) is wiped before its first kernel, as a kernel's is before the
    next one."""
    bwrap_or_skip()
    listing = (
        "import os\nprint(sorted(os.path.join(d, f) for w in ('/tmp', '/dev/shm')"
        " for d, _, fs in os.walk(w) for f in fs + ['']))"
    )
    seen = []
    with WarmFactory() as factory:
        for name in ("first", "second"):
            kernel = factory.start(bwrap_options(tmp_path / name))
            try:
                out = kernel.execute(listing, 30)
            finally:
                kernel.close()
            assert out.error is None, out.error
            seen.append(re.sub(r"/work/k-\d+/", "/work/k-N/", out.text))  # its workdir
    assert seen[0] == seen[1]


@pytest.mark.kernel
def test_a_kernel_closed_without_waiting_hands_its_clean_server_to_the_next(
    tmp_path: Path,
) -> None:
    """close(wait=False) returns once the kernel is killed; the next start waits for that
    server's clean-up instead of starting another, and gets a clean sandbox."""
    bwrap_or_skip()
    with WarmFactory(preload=()) as factory:
        factory.prepare(bwrap_options(tmp_path / "p"), 1)
        (server,) = _live_servers(factory)
        first = factory.start(bwrap_options(tmp_path / "a"))
        first.execute("open('/tmp/left-behind', 'w').write('x')", 30)
        started = time.monotonic()
        first.close(wait=False)
        returned = time.monotonic() - started
        second = factory.start(bwrap_options(tmp_path / "b"))
        try:
            assert second.server_pid == server.host_pid  # the same sandbox, not a new one
            assert _live_servers(factory) == [server]
            seen = second.execute("import os\nprint(os.path.exists('/tmp/left-behind'))", 30)
            assert seen.text.strip() == "False", seen
            assert factory.last_cleanup is not None and factory.last_cleanup["ok"] is True
        finally:
            second.close()
        assert returned < 1.0  # it did not wait for the exit and the clean-up
        # a kernel closed without waiting, then the engine closed at once: no error, and
        # no process of the sandbox is left
        third = factory.start(bwrap_options(tmp_path / "c"))
        pid = third.pid
        third.close(wait=False)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert not server.alive()


@pytest.mark.kernel
@pytest.mark.parametrize("engine", ["warm", "nbclient"])
def test_the_probe_is_installed_from_its_own_source(tmp_path: Path, engine: str) -> None:
    """A warm kernel finds the probe compiled by its server and the setup cell takes it;
    code left under that name that is not of the probe's source is ignored."""
    from grader.execute.driver import PROBE_FILENAME, _setup_code

    factory: Any = executor(engine, sandbox="none")._driver.factory
    workdir = tmp_path / "wd"
    workdir.mkdir()
    kernel = factory.start(KernelOptions(workdir, Limits(), time.monotonic() + 120))
    try:
        look = (
            "import sys\n"
            "print(getattr(getattr(sys, '_grader_probe_code', None), 'co_filename', None))"
        )
        before = kernel.execute(look, 30).text.strip()
        if engine == "warm":
            assert before == PROBE_FILENAME  # compiled by the server, for the setup cell
        else:
            assert before == "None"
            kernel.execute(
                "import sys\nsys._grader_probe_code = compile('planted = 1', '<planted>', 'exec')",
                30,
            )
        assert kernel.execute(_setup_code([]), 60).error is None
        after = kernel.execute(
            "print(hasattr(sys, '_grader_probe_code'), 'planted' in dir(),"
            " __grader__.reply.__code__.co_filename)",
            30,
        )
        assert after.text.split() == ["False", "False", PROBE_FILENAME], after
    finally:
        kernel.close()


# ------------------------------------------------------------------ captures
def _notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.mark.kernel
@pytest.mark.parametrize("engine", ["warm", "nbclient"])
def test_a_cell_brings_its_capture_and_a_removed_hook_falls_back(
    tmp_path: Path, engine: str
) -> None:
    path = _notebook(
        tmp_path / "nb.ipynb",
        [
            "x = 1 + 1\nx",
            "get_ipython().events.callbacks['post_run_cell'].clear()",
            "y = [1, 2, 3]\ny",
            "z = 'after'",
        ],
    )
    run = executor(engine, sandbox="none")
    factory: Any = run._driver.factory
    requests: list[str] = []
    start = factory.start

    def counting_start(options: KernelOptions) -> Any:
        kernel = start(options)
        execute = kernel.execute

        def counted(code: str, timeout: float) -> Any:
            requests.append(code)
            return execute(code, timeout)

        kernel.execute = counted
        return kernel

    factory.start = counting_start
    with run.run(load(path)) as live:
        cells = {c.index: c for c in live.execution.cells}
    captures = [r for r in requests if "__grader__.reply_capture(" in r]
    # cell 1's capture came with it; the hook is gone from cell 2 on: three requests
    assert len(captures) == 3, requests
    assert "x = 1 + 1" not in "".join(captures)
    assert cells[0].bindings["x"] == 2 and cells[0].results == (2,)
    assert cells[2].bindings["y"] == (1, 2, 3)  # (its displayed result needs the hook)
    assert cells[3].bindings["z"] == "after"
    assert all("grader" not in c.text for c in cells.values())  # replies are not output


# ------------------------------------------------------------------ the batch runner
@pytest.mark.kernel
@pytest.mark.slow
def test_a_warm_batch_is_graded_by_threads_with_prepared_servers(
    tmp_path: Path, sessions: list[GradingSession]
) -> None:
    good = tmp_path / "good.ipynb"
    good.write_bytes((ROOT / "reference" / "d2l-1.0.ipynb").read_bytes())
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ not a notebook")
    partial = _notebook(tmp_path / "partial.ipynb", ["import torch\nX = torch.eye(8)\nX"])
    files = [str(good), str(bad), str(partial)]
    config = BatchConfig(
        str(RUBRIC), engine="warm", jobs=2, gradebook=None, sandbox="auto", regrade=True
    )
    before = threading.active_count()
    interval = sys.getswitchinterval()
    seen: list[str] = []
    handoff: list[float] = []
    factories: list[Any] = []

    def on_result(result: Any, _: bool) -> None:
        seen.append(result.path)
        handoff.append(sys.getswitchinterval())
        factories.append(sessions[-1].factory("warm"))
        servers.append(sorted(s.key.mode for s in _live_servers(factories[-1])))

    servers: list[list[str]] = []
    results = grade_many(config, files, on_result=on_result)
    assert [r.path for r in results] == files and sorted(seen) == sorted(files)
    # the grading threads hand the GIL over within 1 ms while they run, then as before
    assert handoff == [0.001] * 3 and sys.getswitchinterval() == interval
    assert [r.status for r in results] == ["graded", "invalid", "graded"]
    assert results[0].score == results[0].max_score
    assert 0 < results[2].score < results[2].max_score
    # graded in this process by one session, whose engine held the two prepared servers
    # (of this batch's sandbox) while it ran; the session closed it, and the grading
    # threads are gone
    assert len(sessions) == 1 and sessions[0].closed and len(set(map(id, factories))) == 1
    factory = factories[0]
    mode = "bwrap" if config.sandbox != "none" and bwrap_works() else "plain"
    assert servers[-1] == [mode] * (2 if mode == "bwrap" else 1)
    assert factory.closed and not _live_servers(factory)
    for thread in threading.enumerate():  # the last kernels' clean-ups, closed without
        if thread.name in ("warm-close", "grader-prepare"):  # waiting, and the servers'
            thread.join(30)  # start, finish in the background
    assert threading.active_count() <= before + 1, [t.name for t in threading.enumerate()]


@pytest.mark.kernel
@pytest.mark.slow
def test_interrupting_a_warm_batch_stops_its_kernels(
    tmp_path: Path, sessions: list[GradingSession]
) -> None:
    files = []
    for i in range(4):
        path = tmp_path / f"s{i}.ipynb"
        path.write_bytes((ROOT / "reference" / "d2l-1.0.ipynb").read_bytes())
        files.append(str(path))
    config = BatchConfig(str(RUBRIC), engine="warm", jobs=2, gradebook=None, sandbox="none")

    factories: list[Any] = []

    def stop(*_: Any) -> None:
        factories.append(sessions[-1].factory("warm"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade_many(config, files, on_result=stop)
    factory = factories[0]
    assert factory.closed and sessions[0].closed
    assert not [s for s in factory._pool.servers if s.alive()]
    # the next batch gets a fresh engine
    assert grade_many(config, files[:1])[0].status == "graded"
    assert len(sessions) == 2 and sessions[1].closed


@pytest.mark.kernel
def test_a_changed_rubric_is_used_by_the_next_batch_of_the_same_process(tmp_path: Path) -> None:
    """Batches share this process's engine and graders: a rubric edited between two
    batches (a library user, a notebook session) must not be graded with the old one."""
    import shutil

    course = tmp_path / "course"
    shutil.copytree(ROOT / "rubrics", course / "rubrics")
    shutil.copytree(ROOT / "reference", course / "reference")
    rubric = course / "rubrics" / "conv-layer.yaml"
    path = _notebook(tmp_path / "nb.ipynb", ["import torch\nX = torch.eye(8)\nX"])
    config = BatchConfig(str(rubric), engine="warm", jobs=1, gradebook=None, sandbox="none")
    first = grade_many(config, [str(path)])[0]
    old = "title: The cross-correlation operation `corr2d`"
    rubric.write_text(rubric.read_text().replace(old, "title: Renamed corr2d"))
    second = grade_many(config, [str(path)])[0]
    titles = [{e.id: e.title for e in r.exercises}["corr2d"] for r in (first, second)]
    assert titles == ["The cross-correlation operation `corr2d`", "Renamed corr2d"]


@pytest.mark.kernel
def test_a_library_user_grading_twice_in_one_process_gets_nothing_from_the_first_run(
    tmp_path: Path, sessions: list[GradingSession]
) -> None:
    """Each ``grade_many`` opens its own session and closes it: its engine (servers and
    kernels), its graders, the grader's memo tables and the GIL hand-over are gone when
    it returns, and the next call starts from nothing."""
    from grader import memo

    files = [
        str(_notebook(tmp_path / f"nb{i}.ipynb", [f"import torch\nX = torch.eye({i + 2})\nX"]))
        for i in range(2)
    ]
    config = BatchConfig(str(RUBRIC), engine="warm", jobs=2, gradebook=None, sandbox="none")
    interval = sys.getswitchinterval()
    factories: list[Any] = []
    remembered: list[int] = []

    def on_result(*_: Any) -> None:
        factories.append(sessions[-1].factory("warm"))
        remembered.append(sum(len(table) for table in memo._ALL))

    first = grade_many(config, files, on_result=on_result)
    assert sum(len(table) for table in memo._ALL) == 0  # while it ran: remembered[0] > 0
    second = grade_many(config, files, on_result=on_result)
    assert [r.score for r in first] == [r.score for r in second]
    assert len(sessions) == 2 and all(s.closed for s in sessions)
    assert factories[0] is factories[1] and factories[2] is factories[3]
    assert factories[0] is not factories[2]
    assert factories[0].closed and not _live_servers(factories[0])
    assert factories[2].closed and not _live_servers(factories[2])
    assert remembered[0] > 0 and sum(len(table) for table in memo._ALL) == 0
    assert sys.getswitchinterval() == interval


# ------------------------------------------------------------------ font list seeding
@pytest.mark.kernel
def test_a_sandboxed_server_reads_the_users_matplotlib_font_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing the system's fonts again in every fresh sandbox costs ~0.3 s per server; the
    user's font list is copied in instead (here one with a marker font added to it)."""
    import json

    bwrap_or_skip()
    from grader.execute.warm.bootstrap import matplotlib_font_caches

    real = matplotlib_font_caches()
    if not real:
        pytest.skip("no matplotlib font list in this user's cache (make install builds it)")
    name, text = next(iter(real.items()))
    fonts = json.loads(text)
    marker = dict(fonts["ttflist"][0], name="GraderSeedMarker")
    fonts["ttflist"].append(marker)
    (tmp_path / "mpl").mkdir()
    (tmp_path / "mpl" / name).write_text(json.dumps(fonts))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    with WarmFactory() as factory:
        kernel = factory.start(bwrap_options(tmp_path / "wd"))
        try:
            code = (
                "import matplotlib.font_manager as fm\n"
                "print(any(f.name == 'GraderSeedMarker' for f in fm.fontManager.ttflist))"
            )
            assert kernel.execute(code, 30).text == "True\n"
        finally:
            kernel.close()


def test_only_font_lists_are_seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.execute.warm.server import seed_matplotlib

    target = tmp_path / "mpl"
    monkeypatch.setenv("MPLCONFIGDIR", str(target))
    (tmp_path / "mpl").mkdir()
    (target / "fontlist-v1.json").write_text("kept")
    seed_matplotlib(
        {
            "fontlist-v1.json": "not over an existing file",
            "fontlist-v2.json": "{}",
            "../fontlist-v3.json": "outside",
            "matplotlibrc": "backend: qt",
        }
    )
    assert sorted(p.name for p in target.iterdir()) == ["fontlist-v1.json", "fontlist-v2.json"]
    assert (target / "fontlist-v1.json").read_text() == "kept"
    assert not (tmp_path / "fontlist-v3.json").exists()


# ------------------------------------------------------------------ first-use warm-ups
@pytest.mark.kernel
def test_the_server_warms_first_uses_without_threads_or_visible_traces(tmp_path: Path) -> None:
    """The server runs torch's and matplotlib's first uses once (with one intra-op thread,
    so no thread pool is forked); a child still starts like a fresh kernel."""
    with WarmFactory() as factory:
        info = factory.server_info()
        assert info["threads"] == 1
        assert {"warm-up torch", "warm-up matplotlib"} <= set(info["units"])
        options = KernelOptions(tmp_path, Limits(), time.monotonic() + 60)
        kernel = factory.start(options)
        try:
            code = (
                "import sys\n"
                "before = 'matplotlib.backends.backend_agg' in sys.modules\n"
                "import matplotlib.pyplot as plt\n"
                "print(before, plt.get_fignums(), plt.figure().number)"
            )
            assert kernel.execute(code, 30).text == "False [] 1\n"
            # what the server imported is frozen: a kernel's collections never walk it
            # (and so never write to its server's pages), with a fresh process's settings
            code = (
                "import gc, torch\n"
                "frozen = gc.get_freeze_count()\n"
                "print(frozen > 100_000, gc.isenabled(), gc.get_threshold())"
            )
            assert kernel.execute(code, 30).text == "True True (700, 10, 10)\n"
        finally:
            kernel.close()


# ------------------------------------------------------------------ the server's code
def test_the_server_bundle_carries_each_modules_source_and_its_compiled_code() -> None:
    import base64
    import importlib.util
    import json
    import marshal
    import os

    from grader.execute.warm import bootstrap

    fd = bootstrap.bundle_file()
    try:
        with os.fdopen(os.dup(fd), "rb") as fh:
            bundle = json.loads(fh.read())
    finally:
        os.close(fd)
    assert bundle["magic"] == importlib.util.MAGIC_NUMBER.hex()
    names = [m[0] for m in bundle["modules"]]
    assert names == list(bootstrap.SERVER_MODULES)
    for name, path, source, packed in bundle["modules"]:
        assert source == Path(path).read_text(encoding="utf-8")
        code = marshal.loads(base64.b64decode(packed))
        assert code.co_filename == path  # tracebacks in the server name the real file
        compiled = compile(source, path, "exec")
        assert code.co_names == compiled.co_names, name  # the same module, not a stale one


@pytest.mark.kernel
def test_a_server_of_another_python_version_compiles_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled code is only for an interpreter with the same bytecode magic; any other
    (``WarmFactory(python=...)``) compiles the source it is sent. Here the code sent is
    not even marshal data: a server that used it could not start."""
    import base64
    import importlib.util

    from grader.execute.warm import bootstrap

    real = bootstrap._module_code
    monkeypatch.setattr(
        bootstrap, "_module_code", lambda path: (real(path)[0], base64.b64encode(b"junk").decode())
    )
    monkeypatch.setattr(importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    try:
        with WarmFactory(preload=()) as factory:
            options = KernelOptions(tmp_path, Limits(), time.monotonic() + 60)
            kernel = factory.start(options)
            try:
                assert kernel.execute("6 * 7", 30).text == "42\n"
            finally:
                kernel.close()
    finally:
        monkeypatch.undo()


def test_the_gil_handoff_is_restored_after_the_last_of_overlapping_batches() -> None:
    interval = sys.getswitchinterval()
    first = GradingSession.prompt_handoff()
    second = GradingSession.prompt_handoff()
    first.__enter__()
    second.__enter__()
    assert sys.getswitchinterval() == min(interval, 0.001)
    first.__exit__(None, None, None)  # another batch still runs
    assert sys.getswitchinterval() == min(interval, 0.001)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == interval
