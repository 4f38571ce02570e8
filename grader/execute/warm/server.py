"""The fork server's loop. Runs in the fork server (started by :mod:`.bootstrap`)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from types import CodeType
from typing import Any

from ..procs import PR_SET_DUMPABLE, namespace_pids, prctl
from .child import child_main, ipykernel_launcher
from .reaper import cleanup, reap, sweep, wipe
from .shell import ShellTypes, build_kernel_shell
from .vault import DEFAULT_PRELOAD, preload_modules


def seed_matplotlib(files: Mapping[str, str]) -> None:
    """Server side, before the preload: put the font lists into this sandbox's empty
    ``MPLCONFIGDIR`` (never over a file that is there)."""
    target = os.environ.get("MPLCONFIGDIR")
    if not target or not files:
        return
    with contextlib.suppress(OSError):
        os.makedirs(target, mode=0o700, exist_ok=True)
        for name, text in files.items():
            if os.path.basename(name) != name or not name.startswith("fontlist-v"):
                continue
            with (
                contextlib.suppress(FileExistsError),
                open(os.path.join(target, name), "x", encoding="utf-8") as fh,
            ):
                fh.write(text)


def _enter_exclusive(host_pidns: str) -> None:
    """Checks and settings of a sandboxed (exclusive) server, before anything is imported."""
    if os.getpid() != 1 or os.readlink("/proc/self/ns/pid") == host_pidns:
        raise RuntimeError("an exclusive fork server must be the init of its own PID namespace")


def serve(
    fd: int,
    preload: Sequence[str],
    exclusive: bool = False,
    host_pidns: str = "",
    scratch: Sequence[str] = (),
    bundle: Mapping[str, Any] | None = None,
    shortcuts: bool = True,
) -> None:
    """The fork server's main loop. ``bundle``: what the bootstrap read (the font lists to
    seed matplotlib with, the probe's source).

    Every server is not dumpable (a kernel cannot ptrace it or read its memory; children
    become dumpable again), works from ``/`` and has no '' on its import path (nothing a
    kernel writes can be imported by it). An exclusive server forks one kernel at a time
    and, when it ends, clears the namespace (:func:`cleanup`) and reports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctl = socket.socket(fileno=fd)
    started = time.perf_counter()
    path0 = sys.path[0] if sys.path else ""
    try:
        if exclusive:
            _enter_exclusive(host_pidns)
        if prctl(PR_SET_DUMPABLE, 0) != 0:
            raise OSError("cannot make the fork server non-dumpable")
        os.chdir("/")
        sys.path[:] = [p for p in sys.path if p not in ("", ".")]
        bundle = bundle or {}
        seed_matplotlib(bundle.get("matplotlib", {}))
        # Importing torch creates a few hundred thousand tracked objects, and the
        # collector's older generations would be walked again and again while they grow,
        # then in full when the shell is built (docs/performance.md). Young
        # garbage is still collected during the preload, so the heap the children inherit
        # stays compact (a preload with the collector off left holes that made every
        # child slower); what it imported is then frozen (``gc.freeze``: a few hundred
        # garbage objects stay with it), so the collections while the kernels' shell is
        # built and every collection in a child skip it, and a child writes fewer pages
        # of its server's memory.
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], 1000, 1000)
        try:
            vault = preload_modules(preload)
            gc.freeze()
            shell_types = ShellTypes.build(shortcuts)
        finally:
            gc.set_threshold(*thresholds)
        probe_code = compile_probe(bundle.get("probe", {}))
        ipykernel_launcher()
        # Hidden once, here, rather than in every child: the server itself only uses the
        # standard library and the shell machinery from now on (each child checks that
        # no unit was restored).
        vault.hide()
        if shortcuts:
            build_kernel_shell(shell_types)
        if not vault.intact():
            raise RuntimeError("building the shell imported a preloaded module")
        gc.freeze()  # the shell too: a kernel's collections skip it, as the preload
        roots = [(p, os.stat(p).st_mode & 0o7777) for p in ("/tmp", "/dev/shm", *scratch)]
        if exclusive and (problem := wipe(roots)):  # caches the imports left in /tmp
            raise OSError(problem)
    except BaseException as exc:
        traceback.print_exc()
        ctl.send(json.dumps({"ready": False, "fatal": repr(exc)}).encode())
        raise SystemExit(1) from exc
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        print(f"warm: WARNING: {threads} threads after preload; fork may deadlock", file=sys.stderr)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sys.stdout.flush()
    sys.stderr.flush()
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "seconds": time.perf_counter() - started,
        "hidden": vault.hidden,
        "units": [u.name for u in vault.units],
        "threads": threads,
        "exclusive": exclusive,
    }
    own: list[int] = []
    with contextlib.suppress(OSError, AttributeError):
        own.append(os.pidfd_open(os.getpid()))  # the grader reads our host pid from it
    socket.send_fds(ctl, [json.dumps(ready).encode()], own)
    for extra in own:
        os.close(extra)
    kernels: set[int] = set()
    while True:
        try:
            watched: list[Any] = [ctl, wake_r]
            readable, _, _ = select.select(watched, [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        for pid in reap():
            if pid in kernels:
                kernels.discard(pid)
                if exclusive:
                    try:
                        ctl.send(json.dumps(cleanup(pid, roots)).encode())
                    except OSError:
                        return
        if ctl not in readable:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
        except OSError:
            return
        if not msg:
            return  # the grader closed the factory (or died)
        try:
            request = json.loads(msg)
        except ValueError:
            request = None
        refusal = None
        if not isinstance(request, dict) or request.get("op") != "fork" or len(fds) != 2:
            refusal = "bad request"
        elif exclusive and kernels:
            refusal = "busy: a sandboxed server holds one kernel at a time"
        elif exclusive and namespace_pids() != {1}:
            refusal = sweep()[1] or None  # never expected: the last cleanup did this
        if refusal is not None or request is None:
            for extra in fds:
                os.close(extra)
            ctl.send(json.dumps({"error": refusal}).encode())
            continue
        chan_fd, log_fd = fds
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(chan_fd)
            os.close(log_fd)
            ctl.send(json.dumps({"error": f"fork failed: {exc}"}).encode())
            continue
        if pid == 0:  # ---------------------------------------------------------- child
            status = 1
            try:
                child_main(
                    chan_fd,
                    log_fd,
                    request,
                    vault,
                    shell_types,
                    [ctl.fileno(), wake_r, wake_w],
                    path0,
                    probe_code,
                )
                status = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                os._exit(status)
        kernels.add(pid)
        os.close(chan_fd)
        os.close(log_fd)
        pidfd: list[int] = []
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):
                pidfd.append(os.pidfd_open(pid))
        try:
            socket.send_fds(ctl, [json.dumps({"pid": pid}).encode()], pidfd)
        except OSError:
            return
        finally:
            for extra in pidfd:
                os.close(extra)


def compile_probe(probe: Mapping[str, str]) -> CodeType | None:
    """The probe's code, compiled once here instead of by every kernel's setup cell (which
    uses it only if its filename carries the digest of the probe source it was sent).
    ``dont_inherit``: no ``__future__`` flag of this module, as in a fresh kernel's cell."""
    if probe.get("source") and probe.get("filename"):
        return compile(probe["source"], probe["filename"], "exec", dont_inherit=True)
    return None


# ================================================================================ entry point
def main(argv: Sequence[str] | None = None, bundle: Mapping[str, Any] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="grader warm fork server (internal)")
    parser.add_argument("--serve", type=int, required=True, help="control socket fd")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD))
    parser.add_argument("--exclusive", action="store_true", help="one kernel at a time")
    parser.add_argument("--host-pidns", default="", help="the grader's PID namespace")
    parser.add_argument("--scratch", action="append", default=[], help="writable root")
    parser.add_argument("--no-shortcuts", action="store_true", help="see warm/shortcuts.py")
    args = parser.parse_args(argv)
    names = [n for n in args.preload.split(",") if n]
    serve(
        args.serve,
        names,
        args.exclusive,
        args.host_pidns,
        args.scratch,
        bundle,
        shortcuts=not args.no_shortcuts,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (torch's atexit hooks): nothing left to do
