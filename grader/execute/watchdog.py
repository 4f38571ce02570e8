"""A thread that stops a kernel's process group at its deadline or memory limit."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Literal

Reason = Literal["timeout", "memory"]


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (of all its threads), from /proc."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return found


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in bytes."""
    total, stack, seen = 0, [pid], set()
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(children(p))
    return total


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

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            rss = tree_rss(self.pid)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.memory_bytes:
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
