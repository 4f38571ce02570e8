"""Processes seen through /proc, and prctl. Standard library only.

Runs in the grader process (the watchdog's process trees, host pids of sandboxed
processes) and in the warm engine's fork server and kernels (``prctl``, the pids of a
PID namespace).
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47


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


def namespace_pids() -> set[int]:
    """Every pid in this process's PID namespace (as /proc shows them)."""
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def pidfd_pid(pidfd: int) -> int | None:
    """The pid, in the reader's PID namespace, of the process a pidfd refers to."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as fh:
            for line in fh:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
                    return pid if pid > 0 else None
    except (OSError, ValueError, IndexError):
        pass
    return None


def find_nspid(root: int, nspid: int) -> int | None:
    """The host pid of the process at or under ``root`` whose innermost pid is ``nspid``
    (for kernels without pidfd support)."""
    stack, seen = [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    levels = line.split()[1:]
                    if len(levels) > 1 and int(levels[-1]) == nspid:
                        return pid
                    break
        stack.extend(children(pid))
    return None


@functools.lru_cache(maxsize=1)
def libc() -> Any:
    """The C library, with ``errno`` kept for :func:`os_error`."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, arg: int) -> int:
    """``prctl(option, arg, 0, 0, 0)``; its C result (0, or -1 with errno set)."""
    import ctypes

    zero = ctypes.c_ulong(0)
    return int(libc().prctl(option, ctypes.c_ulong(arg), zero, zero, zero))


def os_error(what: str) -> OSError:
    """The OSError of the last failed libc call (its errno)."""
    import ctypes

    errno = ctypes.get_errno()
    return OSError(errno, f"{what}: {os.strerror(errno)}")
