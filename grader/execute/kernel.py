"""The small interface an execution engine implements: run code, report what happened.

Everything notebook-level (cell order, deferral of out-of-order cells, restarts after a
crash, the probe protocol) lives in :mod:`grader.execute.driver` and is shared by every
engine, so engines differ only in how they start a process and move code and outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..model import Execution

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
    """One live process that runs code with IPython semantics.

    ``execute`` and ``close`` are what every engine implements; ``send_ahead`` is an
    optional capability with a default that does nothing (engines subclass this protocol
    to inherit it), so the driver calls it on any kernel instead of probing for it.
    """

    def execute(self, code: str, timeout: float) -> RawResult:
        """Run ``code``; interrupt it after ``timeout`` s. Raise KernelDied if the process
        is gone."""
        ...

    def close(self, wait: bool = True) -> None:
        """Stop the process and everything it started. Idempotent. With ``wait=False`` the
        engine may finish in the background what no longer concerns the caller (the warm
        engine: the process's exit and its sandbox's clean-up before reuse)."""
        ...

    def send_ahead(self, *codes: str) -> None:
        """Let the kernel run ``codes``, the driver's next cells, each as soon as the
        request before it ends cleanly, without waiting for the grader; the next
        ``execute`` calls with these codes take their results. By default nothing is sent
        ahead: each ``execute`` runs its code then."""
        return None


class KernelFactory(Protocol):
    """Starts kernels. ``prepare`` and ``close`` are optional capabilities with defaults
    that do nothing (engines subclass this protocol to inherit them)."""

    name: str

    def start(self, options: KernelOptions) -> Kernel: ...

    def prepare(self, options: KernelOptions, count: int = 1) -> None:
        """Start in the background what ``count`` concurrent kernels with ``options`` will
        need (the warm engine's fork servers). By default there is nothing to prepare."""
        return None

    def close(self) -> None:
        """Stop what the factory keeps between kernels. By default it keeps nothing."""
        return None


class Run(Protocol):
    """What checks see of an executed submission: its record and a probe channel.
    ``probe_many`` is a capability with a default (one ``probe`` after another); a run that
    can send several requests in one round trip (the driver's :class:`LiveRun`) overrides
    it. Runs subclass this protocol to inherit the default."""

    execution: Execution

    @property
    def alive(self) -> bool: ...

    def probe(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def probe_many(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The replies to ``requests``, in order."""
        return [self.probe(request) for request in requests]
