"""Execution: run a notebook in a fresh process and keep a live handle to probe it.

An *engine* is a :class:`KernelFactory` (start a process that runs code with IPython
semantics); the :class:`Driver` runs notebooks on any engine, so engines can be swapped
(``--engine``) with identical verdicts. ``ReplayExecutor`` replays a recorded run so that
rubric tests need no kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import ExecutionError
from ..model import Execution, Notebook
from .driver import Driver, LiveRun
from .kernel import Kernel, KernelDied, KernelFactory, KernelOptions, Limits, RawResult


class Run(Protocol):
    """What checks see of an executed submission: its record and a probe channel."""

    execution: Execution

    @property
    def alive(self) -> bool: ...

    def probe(self, request: dict[str, Any]) -> dict[str, Any]: ...


class Executor(Protocol):
    name: str

    def run(self, notebook: Notebook) -> AbstractContextManager[Run]: ...


class DriverExecutor:
    """An :class:`Executor` over one engine."""

    def __init__(self, factory: KernelFactory, limits: Limits | None = None) -> None:
        self.name = factory.name
        self._driver = Driver(factory, limits)

    def run(self, notebook: Notebook) -> AbstractContextManager[LiveRun]:
        return self._driver.run(notebook)


def _nbclient() -> KernelFactory:
    from .nbclient_engine import NbclientFactory

    return NbclientFactory()


ENGINES: dict[str, Callable[[], KernelFactory]] = {"nbclient": _nbclient}


def executor(engine: str = "nbclient", limits: Limits | None = None) -> DriverExecutor:
    """The executor for an engine name (``--engine``)."""
    try:
        factory = ENGINES[engine]()
    except KeyError:
        raise ExecutionError(
            f"unknown engine {engine!r}; choose one of: {', '.join(sorted(ENGINES))}"
        ) from None
    return DriverExecutor(factory, limits)


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
    "executor",
]
