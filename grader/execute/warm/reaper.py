"""Clearing a sandbox's PID namespace after its kernel. Runs in an exclusive fork server.

A ``bwrap`` server is the init of its sandbox's PID namespace and holds one kernel at a
time. When the kernel ends, however it ends, the server SIGKILLs every other process of
its namespace (``kill(-1)``, repeated until ``/proc`` shows only itself; orphans are
re-parented to it and reaped), empties ``/tmp``, ``/dev/shm``, the work and run
directories and System V IPC, and reports; only then is the server given the next
notebook (see :meth:`.pool.Pool.release`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Sequence
from typing import Any

from ..files import clear_dir
from ..procs import libc as procs_libc
from ..procs import namespace_pids


def reap() -> list[int]:
    """Reap every child that has exited; their pids."""
    reaped: list[int] = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append(pid)


def sweep(limit: float = 5.0) -> tuple[int, str]:
    """As the init of a PID namespace: SIGKILL every other process in it and reap them,
    until /proc shows only this one. Returns (how many there were, what is left or '')."""
    if os.getpid() != 1:  # kill(-1) outside a namespace would hit the whole host
        return 0, "the server is not the init of a PID namespace"
    seen: set[int] = set()
    end = time.monotonic() + limit
    while True:
        reap()  # orphans are re-parented to the init: every zombie is ours
        others = namespace_pids() - {1}
        if not others:
            return len(seen), ""
        seen |= others
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # every process we may signal, except ourselves
        if time.monotonic() > end:
            return len(seen), f"{len(others)} process(es) survive SIGKILL"
        time.sleep(0.001)


def _mount_points() -> set[str]:
    points: set[str] = set()
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4:
                points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def wipe(roots: Sequence[tuple[str, int]]) -> str:
    """Empty each writable root (restoring its mode first); mount points inside a root are
    left to their own entry. Returns what could not be removed, or ''."""
    mounts = _mount_points()
    problems: list[str] = []
    for root, mode in roots:
        inside = root.rstrip("/") + "/"
        skip = frozenset(m for m in mounts if m.startswith(inside))
        try:
            os.chmod(root, mode)
            clear_dir(root, skip)
        except OSError as exc:
            problems.append(f"{root}: {exc}")
    return "; ".join(problems)


def _clear_sysv_ipc() -> str:
    """Remove the namespace's System V shared memory, message queues and semaphores."""
    libc = procs_libc()
    left: list[str] = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            with contextlib.suppress(ValueError, IndexError):
                ident = int(row.split()[1])
                if kind == "sem":
                    result = libc.semctl(ident, 0, 0)  # IPC_RMID
                else:
                    result = getattr(libc, f"{kind}ctl")(ident, 0, None)
                if result != 0:
                    left.append(f"{kind} {ident}")
    return f"System V IPC left: {', '.join(left)}" if left else ""


def cleanup(pid: int, roots: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """After an exclusive server's kernel ended: nothing of it may reach the next one."""
    killed, left = sweep()
    problems = [p for p in (left, wipe(roots), _clear_sysv_ipc()) if p]
    return {
        "event": "clean",
        "pid": pid,
        "ok": not problems,
        "killed": killed,
        "detail": "; ".join(problems),
    }
