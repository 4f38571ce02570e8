"""A thread that stops a kernel's process group at its deadline or memory limit."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Literal

from .procs import children

__all__ = ["Watchdog", "children", "kill_group", "tree_pss", "tree_rss"]

Reason = Literal["timeout", "memory"]


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pss(pid: int) -> int:
    """PSS; RSS where it cannot be read (smaps needs ptrace access, which a process can
    refuse by making itself non-dumpable: it must not hide its memory that way)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except PermissionError:
        pass
    return _rss(pid)


def _tree_sum(pid: int, measure: Callable[[int], int]) -> int:
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            total += measure(p)
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(children(p))
    return total


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in bytes (cheap; a page shared
    by several of them, e.g. after a fork, is counted once per process)."""
    return _tree_sum(pid, _rss)


def tree_pss(pid: int) -> int:
    """Proportional memory of ``pid`` and all its descendants, in bytes: a page shared by
    n processes counts 1/n for each (costlier to read than RSS)."""
    return _tree_sum(pid, _pss)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (kernels start in their own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


class Watchdog:
    """Polls a process tree; kills it when the deadline passes or memory exceeds the limit."""

    def __init__(self, pid: int, deadline: float, memory_bytes: int, interval: float = 0.05):
        self.pid = pid
        self.deadline = deadline
        self.memory_bytes = memory_bytes
        self.interval = interval
        self.fired: Reason | None = None
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watchdog-{pid}", daemon=True)
        self._thread.start()

    def usage(self, precise: bool = False) -> int:
        """The memory of the watched processes: RSS, or with ``precise`` PSS."""
        return (tree_pss if precise else tree_rss)(self.pid)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            used = self.usage()
            if used > self.memory_bytes:
                # RSS counts the pages of forked copies (multiprocessing, DataLoader
                # workers, os.fork) once per copy: confirm with the memory really used
                used = self.usage(precise=True)
            self.peak_rss = max(self.peak_rss, used)
            if used > self.memory_bytes:
                self._fire("memory")
            elif time.monotonic() > self.deadline:
                self._fire("timeout")

    def _fire(self, reason: Reason) -> None:
        self.fired = reason
        kill_group(self.pid)
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
