"""Execution: run a notebook in a fresh process and keep a live handle to probe it.

An *engine* is a :class:`KernelFactory` (start a process that runs code with IPython
semantics); the :class:`Driver` runs notebooks on any engine, so engines can be swapped
(``--engine``) with identical verdicts. ``ReplayExecutor`` replays a recorded run so that
rubric tests need no kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from ..errors import ExecutionError
from ..model import Notebook
from .driver import Driver, LiveRun
from .kernel import (
    Kernel,
    KernelDied,
    KernelFactory,
    KernelOptions,
    Limits,
    RawResult,
    Run,
    SandboxChoice,
)


class Executor(Protocol):
    name: str

    def run(self, notebook: Notebook) -> AbstractContextManager[Run]: ...


class DriverExecutor:
    """An :class:`Executor` over one engine."""

    def __init__(
        self,
        factory: KernelFactory,
        limits: Limits | None = None,
        sandbox: SandboxChoice | None = None,
        hidden: Sequence[Path] = (),
        *,
        owns_factory: bool = True,
    ) -> None:
        self.name = factory.name
        self._owns_factory = owns_factory
        self.sandbox = sandbox or SandboxChoice()
        self._driver = Driver(factory, limits, self.sandbox, tuple(hidden))

    def run(self, notebook: Notebook) -> AbstractContextManager[LiveRun]:
        return self._driver.run(notebook)

    def prepare(self, count: int = 1) -> None:
        """Get ready to run ``count`` notebooks at once (the warm engine starts its fork
        servers now, in the background); engines with nothing to prepare ignore it."""
        self._driver.prepare(count)

    def close(self) -> None:
        """Stop what the engine keeps between notebooks (the warm engine's servers and
        kernels) if this executor made its factory; a shared factory is its owner's to
        close (a grading session's)."""
        if self._owns_factory:
            self._driver.factory.close()


def _nbclient(python: str | None = None) -> KernelFactory:
    from .nbclient_engine import NbclientFactory

    return NbclientFactory(python)


def _warm(python: str | None = None) -> KernelFactory:
    from .warm import WarmFactory

    return WarmFactory(python=python)


# engine name -> factory of kernels run by an interpreter (None: the grader's own)
ENGINES: dict[str, Callable[[str | None], KernelFactory]] = {
    "nbclient": _nbclient,
    "warm": _warm,
}


def default_engine() -> str:
    """``warm`` where it can run (Linux), else ``nbclient``: the same verdicts either way."""
    from .warm import warm_available

    return "warm" if warm_available()[0] else "nbclient"


def resolve_sandbox(requested: str) -> SandboxChoice:
    """``--sandbox auto|bwrap|weak|none`` -> the isolation to use, with a note for the user
    when it is weaker than bwrap. Raises SandboxUnavailable for ``bwrap`` that cannot start."""
    from . import sandbox

    if requested not in ("auto", "bwrap", "weak", "none"):
        raise ExecutionError(f"unknown sandbox {requested!r}; choose auto, bwrap, weak or none")
    status = sandbox.choose(requested)  # type: ignore[arg-type]
    return SandboxChoice(status.mode, "" if status.mode == "bwrap" else status.reason)


def course_paths(
    rubric_path: str | Path | None, submissions: Sequence[str | Path] = ()
) -> tuple[Path, ...]:
    """What a submission must not see: the course's reference/ and rubrics/, the folders of
    the submissions (other students' work), and the default private paths."""
    from . import sandbox

    paths: list[Path] = []
    if rubric_path is not None:
        course = Path(rubric_path).resolve().parent.parent
        paths += [course / "reference", course / "rubrics", Path(rubric_path).resolve().parent]
    paths += [Path(s).resolve().parent for s in submissions]
    paths += list(sandbox.default_hidden())
    return tuple(dict.fromkeys(p for p in paths if p.exists()))


def executor(
    engine: str = "default",
    limits: Limits | None = None,
    sandbox: str = "auto",
    hidden: Sequence[Path] = (),
    factory: KernelFactory | None = None,
    python: str | None = None,
) -> DriverExecutor:
    """The executor for an engine name (``--engine``; ``default``: :func:`default_engine`)
    and sandbox (``--sandbox``), whose kernels ``python`` runs (``--kernel-python``; None:
    the grader's own interpreter). ``factory``: the engine's factory to share (a grading
    session's, see :mod:`grader.session`); else a new one, which the executor's ``close``
    stops (a warm factory also stops at exit)."""
    if engine == "default":
        engine = default_engine()
    if engine not in ENGINES:
        raise ExecutionError(
            f"unknown engine {engine!r}; choose one of: {', '.join(sorted(ENGINES))}"
        )
    owns_factory = factory is None
    if factory is None:
        factory = ENGINES[engine](python)
    return DriverExecutor(
        factory, limits, resolve_sandbox(sandbox), hidden, owns_factory=owns_factory
    )


__all__ = [
    "ENGINES",
    "Driver",
    "DriverExecutor",
    "Executor",
    "Kernel",
    "KernelDied",
    "KernelFactory",
    "KernelOptions",
    "Limits",
    "LiveRun",
    "RawResult",
    "Run",
    "default_engine",
    "executor",
]
