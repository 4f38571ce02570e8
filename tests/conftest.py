"""Shared test helpers: paths of the course material, a rubric loaded once, the ``grade``
command run as a subprocess, and the warm engine's kernel options and fixtures."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from grader.execute.kernel import Kernel, KernelOptions, Limits, SandboxChoice
from grader.model import Cell, Notebook
from grader.rubric import Rubric, load_rubric

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "rubrics" / "conv-layer.yaml"
SHARED = ROOT.parent / "shared" / "submissions"
CORPUS = ROOT / "tests" / "corpus"


def code_notebook(*sources: str) -> Notebook:
    """A notebook of code cells, in this order."""
    return Notebook("t.ipynb", "ipynb", tuple(Cell(i, "code", s) for i, s in enumerate(sources)))


def exercise(sub: Mapping[str, Any], exercise_id: str) -> dict[str, Any]:
    """One exercise of a submission in a JSON report."""
    found: dict[str, Any] = next(e for e in sub["exercises"] if e["id"] == exercise_id)
    return found


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment for a ``grade`` subprocess, without ``GITHUB_STEP_SUMMARY``: a test
    run inside GitHub Actions must not write into the real job summary."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env.update(extra or {})
    return env


def run_grade(
    args: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m grader.cli ARGS`` (the ``grade`` command) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="session")
def shared_submissions() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the real submissions folder {SHARED} is not beside this checkout")
    return SHARED


# ------------------------------------------------------------------ kernels
def _warm_available() -> tuple[bool, str]:
    from grader.execute.warm import warm_available

    return warm_available()


#: For the warm engine's test modules (``pytestmark = needs_warm``): it needs Linux.
needs_warm = pytest.mark.skipif(not _warm_available()[0], reason=_warm_available()[1])


def in_threads(target: Callable[[int], object], count: int, timeout: float) -> None:
    """Run ``target(0)`` .. ``target(count - 1)`` at once, each in its own thread."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


def kernel_options(
    workdir: Path,
    deadline: float = 120.0,
    sandbox: str = "none",
    hidden: tuple[Path, ...] = (),
    **limits: int | float,
) -> KernelOptions:
    """Options of one kernel in ``workdir`` (made), ``deadline`` s from now."""
    workdir.mkdir(parents=True, exist_ok=True)
    return KernelOptions(
        workdir,
        Limits(**limits),  # type: ignore[arg-type]
        time.monotonic() + deadline,
        sandbox=SandboxChoice(sandbox),  # type: ignore[arg-type]
        hidden=hidden,
    )


def bwrap_options(
    workdir: Path, deadline: float = 120.0, hidden: tuple[Path, ...] = (), **limits: int | float
) -> KernelOptions:
    return kernel_options(workdir, deadline, "bwrap", hidden, **limits)


def bwrap_works() -> bool:
    from grader.execute.sandbox import probe_bwrap

    return probe_bwrap().available


def bwrap_or_skip() -> None:
    from grader.execute.sandbox import probe_bwrap

    status = probe_bwrap()
    if not status.available:
        pytest.skip(f"bwrap cannot start here: {status.reason}")


def gone(pid: int, within: float = 3.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``within`` s."""
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


def run_once(factory: Any, options: KernelOptions, code: str, timeout: float = 60) -> Any:
    """Start one kernel of ``factory``, run ``code`` in it, close it: its RawResult."""
    kernel = factory.start(options)
    try:
        return kernel.execute(code, timeout)
    finally:
        kernel.close()


@pytest.fixture(scope="module")
def factory() -> Iterator[Any]:
    """One warm fork server per test module (its start-up imports torch once)."""
    from grader.execute.warm import WarmFactory

    with WarmFactory() as f:
        yield f


@pytest.fixture
def kernel(factory: Any, tmp_path: Path) -> Iterator[Kernel]:
    k = factory.start(kernel_options(tmp_path / "wd"))
    yield k
    k.close()


def default_sigint() -> None:
    """``preexec_fn`` for a child a test interrupts with SIGINT: a test run started in the
    background by a non-interactive shell (``nohup make test &``) ignores SIGINT, and the
    child would inherit that; a terminal's Ctrl-C reaches a process whose SIGINT is default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@functools.cache
def _course_grader(engine: str) -> Any:
    from grader.execute import executor
    from grader.pipeline import Grader

    return Grader(load_rubric(RUBRIC), executor(engine, sandbox="auto"))


_BATCHED: dict[tuple[str, str], Any] = {}


def grade_batch(paths: Sequence[Path], engine: str) -> None:
    """Grade the ``paths`` that ``engine`` has not graded yet in one batch of two workers, the
    way a class is graded, for :func:`graded_submission` (run 1) to return: the corpus is
    graded in half the time it takes one file after another."""
    todo = list(dict.fromkeys(p for p in paths if p.is_file() and (str(p), engine) not in _BATCHED))
    if not todo:
        return
    from grader.batch import BatchConfig, grade_many

    config = BatchConfig(str(RUBRIC), engine=engine, jobs=2, gradebook=None, sandbox="auto")
    for path, result in zip(todo, grade_many(config, [str(p) for p in todo]), strict=True):
        _BATCHED[(str(path), engine)] = result


@functools.cache
def graded_submission(path: Path, engine: str, run: int = 1) -> Any:
    """``path`` graded with the course's rubric by ``engine`` (sandbox auto), once per test
    session and run number: the corpus checks (test_corpus.py) and the engine comparison
    (test_engines_equivalence.py) share the nbclient grading of every corpus file (graded in
    a batch by :func:`grade_batch` where a test asks for many). A later run is graded on its
    own, by a grader of its own process' making."""
    if run == 1 and (str(path), engine) in _BATCHED:
        return _BATCHED[(str(path), engine)]
    return _course_grader(engine).grade_path(path)
