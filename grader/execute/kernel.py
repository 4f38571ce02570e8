"""The small interface an execution engine implements: run code, report what happened.

Everything notebook-level (cell order, deferral of out-of-order cells, restarts after a
crash, the probe protocol) lives in :mod:`grader.execute.driver` and is shared by every
engine, so engines differ only in how they start a process and move code and outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

REPLY_MIME = "application/vnd.grader.reply+json"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission."""

    cell_timeout: float = 30.0
    notebook_timeout: float = 300.0
    memory_bytes: int = 2048 * MiB
    probe_timeout: float = 5.0  # one call of a student function
    probe_budget: float = 60.0  # all probe calls of one submission together
    max_output_bytes: int = 1 * MiB  # text kept per cell
    max_processes: int = 64
    max_file_bytes: int = 64 * MiB


@dataclass(frozen=True)
class RawResult:
    """What one ``execute`` produced, before the driver interprets it."""

    text: str = ""  # stdout and text/plain of results and displays (not stderr)
    stderr: str = ""
    replies: tuple[Mapping[str, Any], ...] = ()  # display data of REPLY_MIME
    error: tuple[str, str] | None = None  # (ename, evalue)
    timed_out: bool = False
    seconds: float = 0.0


class KernelDied(Exception):
    """The kernel process is gone. ``reason`` says why, as far as the engine knows."""

    def __init__(self, reason: Literal["timeout", "memory", "crashed"], detail: str = "") -> None:
        self.reason: Literal["timeout", "memory", "crashed"] = reason
        self.detail = detail
        super().__init__(f"kernel {reason}: {detail}" if detail else f"kernel {reason}")


@dataclass(frozen=True)
class SandboxChoice:
    """The isolation every kernel of a run gets (see :mod:`grader.execute.sandbox`)."""

    mode: Literal["bwrap", "weak", "none"] = "none"
    note: str = ""  # said once to the user, and recorded in each execution's notes


@dataclass(frozen=True)
class KernelOptions:
    workdir: Path
    limits: Limits
    deadline: float  # time.monotonic() value at which the whole notebook must stop
    env: Mapping[str, str] = field(default_factory=dict)
    sandbox: SandboxChoice = field(default_factory=SandboxChoice)
    hidden: tuple[Path, ...] = ()  # paths the submission must not see (reference, rubrics...)


class Kernel(Protocol):
    """One live process that runs code with IPython semantics."""

    def execute(self, code: str, timeout: float) -> RawResult:
        """Run ``code``; interrupt it after ``timeout`` s. Raise KernelDied if the process
        is gone."""
        ...

    def close(self, wait: bool = True) -> None:
        """Stop the process and everything it started. Idempotent. With ``wait=False`` the
        engine may finish in the background what no longer concerns the caller (the warm
        engine: the process's exit and its sandbox's clean-up before reuse)."""
        ...


class KernelFactory(Protocol):
    name: str

    def start(self, options: KernelOptions) -> Kernel: ...
